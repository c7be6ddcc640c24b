import { describe, expect, test } from "bun:test";
import { parse } from "../src/query/parser";
import { one, syntaxError, where } from "./vql_helpers";
import { KEYWORDS } from "../src/query/tokens";

describe("VQL statements parse to the expected AST", () => {
  test("CREATE COLLECTION with every clause", () => {
    expect(
      one("CREATE COLLECTION IF NOT EXISTS docs (DIMENSION 768, METRIC DOT, NORMALIZE) STORAGE MMAP INDEX CLUSTERED (BRANCHING 8, LEAF_SIZE 500, ITERATIONS 15) QUANTIZATION BINARY;"),
    ).toMatchObject({
      kind: "createCollection",
      collection: { name: "docs", pos: { line: 1, column: 33 } },
      ifNotExists: true,
      dimension: 768,
      metric: "dot",
      normalize: true,
      storage: "mmap",
      index: { type: "clustered", branchingFactor: 8, maxLeafSize: 500, maxIterations: 15 },
      quantization: "binary",
    });
    expect(one("create collection d (dimension 3)")).toMatchObject({ metric: "cosine", normalize: false, ifNotExists: false });
    expect(one("CREATE COLLECTION d (METRIC L2, DIMENSION 3) INDEX FLAT QUANTIZATION NONE STORAGE MEMORY")).toMatchObject({
      metric: "l2",
      index: { type: "flat" },
      quantization: "none",
      storage: "memory",
    });
    expect(one("CREATE COLLECTION h (DIMENSION 3) INDEX HNSW (M 32, EF_CONSTRUCTION 100, EF_SEARCH 50) QUANTIZATION SCALAR")).toMatchObject({
      index: { type: "hnsw", m: 32, efConstruction: 100, efSearch: 50 },
      quantization: "scalar",
    });
    expect(one("CREATE COLLECTION c (DIMENSION 3) INDEX CLUSTERED")).toMatchObject({ index: { type: "clustered" } });
  });

  test("DROP, SHOW, DESCRIBE, CHECKPOINT, VACUUM, BUILD INDEX, ALTER", () => {
    expect(one("DROP COLLECTION IF EXISTS docs")).toMatchObject({ kind: "dropCollection", ifExists: true, collection: { name: "docs" } });
    expect(one("DROP COLLECTION docs")).toMatchObject({ ifExists: false });
    expect(one("SHOW COLLECTIONS")).toMatchObject({ kind: "showCollections" });
    expect(one("DESCRIBE docs")).toMatchObject({ kind: "describe", collection: { name: "docs" } });
    expect(one("DESCRIBE COLLECTION docs")).toMatchObject({ kind: "describe" });
    expect(one("CHECKPOINT")).toMatchObject({ kind: "checkpoint" });
    expect(one("BACKUP TO 'copy.db'")).toMatchObject({ kind: "backup", dir: { kind: "literal", value: "copy.db" }, pos: { line: 1, column: 1 } });
    expect(one("backup to $dir")).toMatchObject({ kind: "backup", dir: { kind: "param", name: "dir" } });
    expect(syntaxError("BACKUP 'x'").message).toContain("expected TO");
    expect(one("CHECK")).toMatchObject({ kind: "check", collection: null });
    expect(one("check docs")).toMatchObject({ kind: "check", collection: { name: "docs" } });
    // still usable as a name
    expect(one("CHECK check")).toMatchObject({ kind: "check", collection: { name: "check" } });
    expect(one("VACUUM check")).toMatchObject({ kind: "vacuum", collection: { name: "check" } });
    expect(one("VACUUM docs")).toMatchObject({ kind: "vacuum", collection: { name: "docs" } });
    expect(one("BUILD INDEX ON docs")).toMatchObject({ kind: "buildIndex", collection: { name: "docs" } });
    expect(one("ALTER COLLECTION docs SET STORAGE MMAP")).toMatchObject({ kind: "alterStorage", storage: "mmap" });
  });

  test("INSERT / UPSERT rows with vectors, payloads, NULL, parameters", () => {
    const s = one(`INSERT INTO docs VALUES ('a', [0.1, -2, 3e-2], {"title": "x", "n": 2021, "ok": true, "tags": ["a"], 'k': NULL, plain: 1}), ('b', $v, NULL), ('c', [1,2,3])`);
    expect(s).toMatchObject({ kind: "insert", mode: "insert", collection: { name: "docs" } });
    const rows = (s as unknown as { rows: { id: unknown; vector: unknown; payload: unknown }[] }).rows;
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatchObject({
      id: { kind: "literal", value: "a" },
      vector: { kind: "array", items: [{ value: 0.1 }, { value: -2 }, { value: 0.03 }] },
      payload: { kind: "object", entries: [["title", { value: "x" }], ["n", { value: 2021 }], ["ok", { value: true }], ["tags", { kind: "array" }], ["k", { value: null }], ["plain", { value: 1 }]] },
    });
    expect(rows[1]).toMatchObject({ vector: { kind: "param", name: "v" }, payload: { kind: "literal", value: null } });
    expect(rows[2]).toMatchObject({ payload: { kind: "literal", value: null } });
    expect(one("upsert into docs values ('a', [1])")).toMatchObject({ kind: "insert", mode: "upsert" });
  });

  test("UPDATE, DELETE, SELECT", () => {
    expect(one("UPDATE docs SET PAYLOAD = {\"t\": 1}, VECTOR = [1, 2] WHERE id = 'a'")).toMatchObject({
      kind: "update",
      payload: { kind: "object" },
      vector: { kind: "array" },
      where: { kind: "compare", path: { isId: true }, op: "=", value: { value: "a" } },
    });
    expect(one("DELETE FROM docs")).toMatchObject({ kind: "delete", where: undefined });
    expect(one("DELETE FROM docs WHERE id IN ('a', 'b')")).toMatchObject({ where: { kind: "in", negated: false, values: [{ value: "a" }, { value: "b" }] } });
    expect(one("SELECT * FROM docs")).toMatchObject({ kind: "select", columns: ["id", "payload", "vector"] });
    expect(one("SELECT id, vector FROM docs WHERE x = 1 LIMIT 5")).toMatchObject({ columns: ["id", "vector"], limit: { value: 5 }, where: { kind: "compare" } });
  });

  test("SEARCH, NEAR ID, WITH options, EXPLAIN", () => {
    expect(one("SEARCH docs NEAR [1, 2] WHERE year > 2000 LIMIT 10 WITH (PROBES 8, RERANK 5, EF 64, EXACT)")).toMatchObject({
      kind: "search",
      explain: false,
      near: { kind: "vector", value: { kind: "array" } },
      where: { kind: "compare", op: ">" },
      limit: { value: 10 },
      options: { probes: { value: 8 }, rerank: { value: 5 }, ef: { value: 64 }, exact: true },
    });
    expect(one("SEARCH docs NEAR ID 'a' LIMIT 3")).toMatchObject({ near: { kind: "id", value: { value: "a" } } });
    expect(one("SEARCH docs NEAR $q LIMIT $k")).toMatchObject({ near: { kind: "vector", value: { kind: "param", name: "q" } }, limit: { kind: "param", name: "k" } });
    expect(one("EXPLAIN SEARCH docs NEAR [1] LIMIT 1")).toMatchObject({ kind: "search", explain: true });
  });

  test("COPY FROM and TO", () => {
    expect(one("COPY docs FROM 'items.jsonl'")).toMatchObject({ kind: "copyFrom", file: { value: "items.jsonl" } });
    expect(one("COPY docs TO 'out.csv'")).toMatchObject({ kind: "copyTo", file: { value: "out.csv" } });
  });

  test("filters: precedence, NOT, parentheses, every predicate", () => {
    const f = (where: string) => (one(`SELECT id FROM d WHERE ${where}`) as { where: unknown }).where;
    // AND binds tighter than OR
    expect(f("a = 1 OR b = 2 AND c = 3")).toMatchObject({ kind: "or", left: { kind: "compare" }, right: { kind: "and" } });
    expect(f("(a = 1 OR b = 2) AND c = 3")).toMatchObject({ kind: "and", left: { kind: "or" } });
    expect(f("NOT a = 1")).toMatchObject({ kind: "not", operand: { kind: "compare" } });
    for (const [op, text] of [["=", "="], ["!=", "!="], ["!=", "<>"], ["<", "<"], ["<=", "<="], [">", ">"], [">=", ">="]] as const) {
      expect(f(`a ${text} 1`)).toMatchObject({ kind: "compare", op });
    }
    expect(f("meta.author = 'x'")).toMatchObject({ path: { segments: ["meta", "author"], isId: false } });
    expect(f("payload.year = 1")).toMatchObject({ path: { segments: ["year"] } });
    expect(f('"odd name" = 1')).toMatchObject({ path: { segments: ["odd name"] } });
    expect(f("index = 1 AND limit = 2")).toMatchObject({ left: { path: { segments: ["index"] } }, right: { path: { segments: ["limit"] } } });
    expect(f("a NOT IN (1, 2)")).toMatchObject({ kind: "in", negated: true });
    expect(f("a BETWEEN 1 AND 5 AND b = 2")).toMatchObject({ kind: "and", left: { kind: "between", low: { value: 1 }, high: { value: 5 } } });
    expect(f("a NOT BETWEEN 'a' AND 'z'")).toMatchObject({ kind: "between", negated: true });
    expect(f("a LIKE 'x%'")).toMatchObject({ kind: "like", negated: false });
    expect(f("a NOT LIKE 'x%'")).toMatchObject({ kind: "like", negated: true });
    expect(f("a IS NULL")).toMatchObject({ kind: "isNull", negated: false });
    expect(f("a IS NOT NULL")).toMatchObject({ kind: "isNull", negated: true });
  });

  test("lexical rules: case, comments, strings, numbers, longer_alt, separators", () => {
    expect(parse("select * from d; SELECT * FROM d;; sElEcT * FrOm d")).toHaveLength(3);
    expect(parse("-- a comment; with a semicolon\nSHOW /* inline; */ COLLECTIONS -- trailing")).toHaveLength(1);
    expect(one("SELECT id FROM d WHERE t = 'it''s; not -- a comment'")).toMatchObject({ where: { value: { value: "it's; not -- a comment" } } });
    expect(one('INSERT INTO d VALUES ("a\\"b", [1])')).toMatchObject({ rows: [{ id: { value: 'a"b' } }] });
    const nums = (one("INSERT INTO d VALUES ('x', [1, -2, +3, 1.5, .5, 6.02e23, -1E-3])") as unknown as { rows: { vector: { items: { value: number }[] } }[] }).rows[0]!.vector.items.map((i) => i.value);
    expect(nums).toEqual([1, -2, 3, 1.5, 0.5, 6.02e23, -0.001]);
    // `limits` is a name, not LIMIT + s; `index_x` a name, not INDEX + _x
    expect(one("SELECT * FROM limits")).toMatchObject({ collection: { name: "limits" } });
    expect(one("SELECT * FROM index_x LIMIT 1")).toMatchObject({ collection: { name: "index_x" }, limit: { value: 1 } });
    expect(one("SELECT * FROM efs")).toMatchObject({ collection: { name: "efs" } });
    expect(parse("")).toEqual([]);
    expect(parse("  -- nothing\n ; ;")).toEqual([]);
    expect(KEYWORDS).toContain("SEARCH");
  });
});

describe("syntax errors name the token, what would fit, and the position", () => {
  test("the issue's example: a misspelt LIMIT", () => {
    const e = syntaxError("SEARCH docs\n  NEAR [0.1, 0.2]\n  WHERE a = 1 LIMT 10;");
    expect(where(e)).toEqual(['near "LIMT": expected AND, OR or LIMIT', 3, 15]);
    expect([e.line, e.column]).toEqual([3, 15]);
    const e2 = syntaxError("SEARCH docs NEAR [0.1, 0.2] LIMT 10");
    expect(where(e2)).toEqual(['near "LIMT": expected WHERE or LIMIT', 1, 29]);
  });

  test("at end of input the position is just after the last token", () => {
    const e = syntaxError("SEARCH docs NEAR [1, 2]");
    expect(where(e)).toEqual(["near end of input: expected WHERE or LIMIT", 1, 24]);
    const e2 = syntaxError("CREATE COLLECTION x (DIMENSION 3\n");
    expect(where(e2)).toEqual(["near end of input: expected , or )", 1, 33]);
  });

  test("other shapes of error", () => {
    expect(syntaxError("SELEC * FROM x").message).toStartWith('near "SELEC": expected CREATE, DROP');
    expect(syntaxError("SELECT * FROM x WHERE").message).toContain("near end of input: expected NOT, (, a name or a string");
    expect(syntaxError("SELECT * FROM x WHERE a = ").message).toContain("expected a string, a number");
    expect(where(syntaxError("SHOW COLLECTIONS extra"))).toEqual(['near "extra": expected ;', 1, 18]);
    expect(where(syntaxError("SELECT * FROM x WHERE a = 'open"))).toEqual([`near "'open": unterminated string`, 1, 27]);
    expect(where(syntaxError("SELECT * FROM x WHERE a = #"))).toEqual(['near "#": unexpected character', 1, 27]);
    expect(where(syntaxError("CREATE COLLECTION x (METRIC L2)"))).toEqual(["CREATE COLLECTION needs DIMENSION", 1, 21]);
    expect(where(syntaxError("CREATE COLLECTION x (DIMENSION 3, DIMENSION 4)"))).toEqual(["DIMENSION is given twice", 1, 35]);
    expect(where(syntaxError("CREATE COLLECTION x (DIMENSION 2.5)"))).toEqual(["expected a whole number, got 2.5", 1, 32]);
    expect(where(syntaxError("UPDATE d SET PAYLOAD = NULL, PAYLOAD = NULL WHERE id = 'a'"))).toEqual(["PAYLOAD is set twice", 1, 30]);
    // errors in a later statement point into that statement
    expect(where(syntaxError("SHOW COLLECTIONS;\nSHOW COLLECTIONS;\n  DROP docs;"))).toEqual(['near "docs": expected COLLECTION or INDEX', 3, 8]);
  });
});
