/** Limits that protect the process: each is a clear error, not an out-of-memory crash or a stack overflow. */
import { describe, expect, test } from "bun:test";
import { open, type Predicate } from "../src/index";
import { MAX_PREDICATE_DEPTH } from "../src/collection/predicate";
import { MAX_DIMENSION } from "../src/collection/config";
import { MAX_ID_BYTES, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH, MAX_SPARSE_ENTRIES } from "../src/collection/validate";
import { MAX_FILTER_TERMS, MAX_NESTING, MAX_STATEMENT_CHARS } from "../src/query/parser";
import { expectCode } from "./helpers";

describe("limits", () => {
  test("dimension", () => {
    using db = open();
    expect(MAX_DIMENSION).toBe(65536);
    expectCode(() => db.createCollection("big", { dimension: MAX_DIMENSION + 1 }), "INVALID_CONFIG");
    expectCode(() => db.exec("CREATE COLLECTION big (DIMENSION 4294967296);"), "INVALID_CONFIG");
    db.createCollection("ok", { dimension: MAX_DIMENSION });
  });

  test("id length", () => {
    using db = open();
    const c = db.createCollection("c", { dimension: 1 });
    const e = expectCode(() => c.insert("x".repeat(MAX_ID_BYTES + 1), [1]), "INVALID_ID");
    expect(e.message).toContain("1024 bytes");
    expectCode(() => c.insert("é".repeat(MAX_ID_BYTES / 2 + 1), [1]), "INVALID_ID"); // bytes, not characters
    c.insert("x".repeat(MAX_ID_BYTES), [1]);
  });

  test("payload size and nesting", () => {
    using db = open();
    const c = db.createCollection("c", { dimension: 1 });
    const e = expectCode(() => c.insert("a", [1], { s: "x".repeat(MAX_PAYLOAD_BYTES) }), "INVALID_PAYLOAD");
    expect(e.message).toContain(`the limit is ${MAX_PAYLOAD_BYTES}`);
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < MAX_PAYLOAD_DEPTH; i++) deep = { d: deep };
    expectCode(() => c.insert("b", [1], deep), "INVALID_PAYLOAD");
    let veryDeep: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i++) veryDeep = { d: veryDeep };
    expectCode(() => c.insert("b", [1], veryDeep), "INVALID_PAYLOAD"); // no stack overflow
    let fine: Record<string, unknown> = { leaf: [1, { "}": "{[" }] };
    for (let i = 0; i < MAX_PAYLOAD_DEPTH - 3; i++) fine = { d: fine };
    c.insert("c", [1], fine);
    expect(c.count()).toBe(1);
    expectCode(() => c.insert({ id: "s", vector: [1], sparse: { indices: { length: MAX_SPARSE_ENTRIES + 1 } as never, values: { length: MAX_SPARSE_ENTRIES + 1 } as never } }), "INVALID_VECTOR");
  });

  test("LIMIT and k", () => {
    using db = open();
    const c = db.createCollection("c", { dimension: 1 });
    c.insert("a", [1]);
    expectCode(() => c.search([1], { k: 1_000_001 }), "INVALID_ARGUMENT");
    const e = expectCode(() => db.exec("SEARCH c NEAR [1] LIMIT 1000001;"), "TYPE_ERROR");
    expect(e.message).toContain("1000000");
    expect(e.column).toBe(25);
    expectCode(() => db.exec("SEARCH c NEAR [1] LIMIT 1e308;"), "TYPE_ERROR");
    expect(db.query("SELECT id FROM c LIMIT 9007199254740991")).toEqual([{ id: "a" }]); // SELECT streams
  });

  test("statement length, nesting and filter size", () => {
    using db = open();
    db.createCollection("c", { dimension: 1 });
    const long = expectCode(() => db.exec(`SELECT id FROM c WHERE id = '${"x".repeat(MAX_STATEMENT_CHARS)}';`), "INVALID_ARGUMENT");
    expect(long.message).toContain(`the limit is ${MAX_STATEMENT_CHARS}`);
    expect(long.line).toBe(1);
    const nested = expectCode(() => db.exec(`SELECT id FROM c WHERE ${"(".repeat(MAX_NESTING + 1)}id = 'a'${")".repeat(MAX_NESTING + 1)};`), "SYNTAX_ERROR");
    expect(nested.message).toContain(`nesting deeper than ${MAX_NESTING} levels`);
    expect(nested.column).toBe(24 + MAX_NESTING);
    expectCode(() => db.exec(`SELECT id FROM c WHERE ${"NOT ".repeat(100_000)}id = 'a';`), "SYNTAX_ERROR");
    expectCode(() => db.exec(`INSERT INTO c VALUES ('a', [1], {"a": ${'{"a": '.repeat(100_000)}1${"}".repeat(100_000)}});`), "SYNTAX_ERROR");
    const terms = expectCode(() => db.exec(`SELECT id FROM c WHERE ${Array.from({ length: MAX_FILTER_TERMS + 1 }, (_, i) => `id = '${i}'`).join(" OR ")};`), "SYNTAX_ERROR");
    expect(terms.message).toContain(`more than ${MAX_FILTER_TERMS} conditions`);
    expect(db.query(`SELECT id FROM c WHERE ${Array.from({ length: MAX_FILTER_TERMS }, (_, i) => `id = '${i}'`).join(" OR ")}`)).toEqual([]);
    expect(db.query(`SELECT id FROM c WHERE ${"(".repeat(MAX_NESTING)}id = 'a'${")".repeat(MAX_NESTING)}`)).toEqual([]);
  });

  test("predicate nesting", () => {
    using db = open();
    const c = db.createCollection("c", { dimension: 1 });
    c.insert("a", [1], { x: 1 });
    const nest = (depth: number): Predicate => {
      let p: Predicate = { field: "x", eq: 1 };
      for (let i = 0; i < depth; i++) p = { not: p };
      return p;
    };
    expect(c.search([1], { where: nest(MAX_PREDICATE_DEPTH) }).length).toBe(1); // an even number of NOTs
    expect(expectCode(() => c.search([1], { where: nest(MAX_PREDICATE_DEPTH + 1) }), "INVALID_ARGUMENT").message).toContain(`at most ${MAX_PREDICATE_DEPTH} levels`);
  });

  test("a syntax error at the end of a very long statement is reported quickly", () => {
    using db = open();
    db.createCollection("c", { dimension: 3 });
    const t0 = performance.now();
    const e = expectCode(() => db.exec(`SEARCH c NEAR [${Array.from({ length: 60_000 }, () => "1").join(",")}] LIMT 3;`), "SYNTAX_ERROR");
    expect(e.message).toContain("expected WHERE or LIMIT");
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
