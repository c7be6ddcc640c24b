import { describe, expect, test } from "bun:test";
import { open } from "../src/index";
import { expectCode, tempDir } from "./helpers";
import { one, syntaxError, where } from "./vql_helpers";

function seeded(dir?: string) {
  const db = dir === undefined ? open() : open(dir);
  db.exec("CREATE COLLECTION d (DIMENSION 2, METRIC L2)");
  const rows = Array.from({ length: 200 }, (_, i) => `('i${i}', [${i % 13}, ${i % 7}], {"cat": "c${i % 20}", "year": ${1990 + (i % 30)}, "meta": {"tag": "${i % 2 ? "odd" : "even"}"}})`);
  db.exec(`INSERT INTO d VALUES ${rows.join(", ")}`);
  return db;
}

const explain = (db: ReturnType<typeof open>, filter: string) => db.query(`EXPLAIN SEARCH d NEAR [1, 1] WHERE ${filter} LIMIT 5`)[0]!;

describe("CREATE INDEX / DROP INDEX", () => {
  test("parse to statements with the field's path", () => {
    expect(one("CREATE INDEX ON d (cat)")).toMatchObject({ kind: "createIndex", collection: { name: "d" }, field: { segments: ["cat"] }, ifNotExists: false });
    expect(one("create index if not exists on d (payload.meta.tag)")).toMatchObject({ kind: "createIndex", field: { segments: ["meta", "tag"] }, ifNotExists: true });
    expect(one('DROP INDEX IF EXISTS ON d ("odd key")')).toMatchObject({ kind: "dropIndex", field: { segments: ["odd key"] }, ifExists: true });
    expect(where(syntaxError("CREATE INDEX ON d (id)"))).toEqual(["the item id needs no index: id = and id IN look items up directly", 1, 20]);
    expect(where(syntaxError("CREATE INDEX ON d cat"))).toEqual(['near "cat": expected (', 1, 19]);
    expect(where(syntaxError("DROP INDEX d (cat)"))[0]).toContain("expected");
  });

  test("EXPLAIN shows the index when it is used, and not otherwise", () => {
    using db = seeded();
    expect(explain(db, "cat = 'c3'")).toMatchObject({ route: "exact-filtered", payloadIndexes: null, candidates: null });
    expect(db.exec("CREATE INDEX ON d (cat)")[0]!.message).toBe("created the payload index on d (cat)");
    expect(explain(db, "cat = 'c3'")).toMatchObject({ route: "exact-indexed", payloadIndexes: "cat", candidates: 10, candidatesExact: true, scanned: 10, results: 5 });
    expect(explain(db, "cat IN ('c3', 'c4') AND year > 2000")).toMatchObject({ payloadIndexes: "cat", candidates: 20, candidatesExact: false });
    // an OR with an unindexed side cannot be listed by the index
    expect(explain(db, "cat = 'c3' OR year > 2000")).toMatchObject({ route: "exact-filtered", payloadIndexes: null, candidates: null });
    db.exec("CREATE INDEX ON d (year); CREATE INDEX ON d (meta.tag)");
    expect(explain(db, "cat = 'c3' OR year > 2000")).toMatchObject({ route: "exact-indexed", payloadIndexes: "cat, year", candidatesExact: true });
    expect(explain(db, "NOT meta.tag = 'odd' AND year BETWEEN 1990 AND 1995")).toMatchObject({ payloadIndexes: "meta.tag, year", candidatesExact: true });
    expect(explain(db, "title LIKE 'x%'")).toMatchObject({ payloadIndexes: null });
    // the answers are those of the same search without indexes
    const q = "SEARCH d NEAR [3, 2] WHERE (cat IN ('c1', 'c2', 'c5') OR year >= 2015) AND NOT meta.tag = 'odd' LIMIT 7";
    const withIndexes = db.query(q);
    db.exec("DROP INDEX ON d (cat); DROP INDEX ON d (year); DROP INDEX ON d (meta.tag)");
    expect(db.query(q)).toEqual(withIndexes);
    expect(withIndexes.length).toBe(7);
  });

  test("DESCRIBE lists the indexes and their bytes; SELECT, UPDATE and DELETE use them", () => {
    using db = seeded();
    db.exec("CREATE INDEX ON d (cat); CREATE INDEX ON d (year)");
    const d = db.query("DESCRIBE d")[0]!;
    expect(d.payloadIndexes).toMatch(/^cat \(\d+ bytes\), year \(\d+ bytes\)$/);
    expect(d.payloadIndexBytes as number).toBeGreaterThan(200 * 5);
    expect(db.query("SELECT id FROM d WHERE cat = 'c7' AND year < 2000").map((r) => r.id)).toEqual(["i7", "i67", "i127", "i187"]);
    expect(db.query("SELECT id FROM d WHERE cat = 'c7' LIMIT 3").map((r) => r.id)).toEqual(["i7", "i27", "i47"]);
    expect(db.exec("UPDATE d SET PAYLOAD = {\"cat\": \"moved\"} WHERE cat = 'c7'")[0]!.count).toBe(10);
    expect(db.query("SELECT id FROM d WHERE cat = 'c7'")).toEqual([]);
    expect(db.query("SELECT id FROM d WHERE cat = 'moved'").length).toBe(10);
    expect(db.query("SELECT id FROM d WHERE year IS NULL").length).toBe(10); // the new payloads have no year
    expect(db.exec("DELETE FROM d WHERE cat = 'moved'")[0]!.count).toBe(10);
    expect(explain(db, "cat = 'moved'")).toMatchObject({ candidates: 0, results: 0 });
  });

  test("errors: unknown collection, an index that exists, a missing one; IF [NOT] EXISTS", () => {
    using db = seeded();
    let e = expectCode(() => db.exec("CREATE INDEX ON nope (cat)"), "UNKNOWN_COLLECTION");
    expect([e.line, e.column]).toEqual([1, 17]);
    db.exec("CREATE INDEX ON d (cat)");
    e = expectCode(() => db.exec("SHOW COLLECTIONS;\n  CREATE INDEX ON d (cat)"), "INDEX_EXISTS");
    expect([e.line, e.column]).toEqual([2, 22]);
    expect(db.exec("CREATE INDEX IF NOT EXISTS ON d (cat)")[0]!.message).toBe("d already has a payload index on cat");
    e = expectCode(() => db.exec("DROP INDEX ON d (year)"), "UNKNOWN_INDEX");
    expect([e.line, e.column]).toEqual([1, 18]);
    expect(db.exec("DROP INDEX IF EXISTS ON d (year)")[0]!.message).toBe("d has no payload index on year");
    expect(db.collection("d").payloadIndexes().map((p) => p.field)).toEqual(["cat"]);
  });

  test("a read-only handle sees the writer's index definitions and answers the same", () => {
    const dir = tempDir();
    using w = seeded(dir);
    w.exec("CREATE INDEX ON d (cat)");
    using r = open(dir, { readonly: true });
    const q = "EXPLAIN SEARCH d NEAR [1, 1] WHERE cat = 'c4' LIMIT 5";
    expect(r.query(q)[0]).toMatchObject({ payloadIndexes: "cat", candidates: 10 });
    expectCode(() => r.exec("CREATE INDEX ON d (year)"), "READ_ONLY");
    expectCode(() => r.collection("d").createPayloadIndex("year"), "READ_ONLY");
    // later writes and a new index reach the reader through the log, then through a checkpoint
    w.exec("INSERT INTO d VALUES ('new', [1, 1], {\"cat\": \"c4\", \"year\": 3000}); CREATE INDEX ON d (year)");
    const s = "SEARCH d NEAR [1, 1] WHERE cat = 'c4' AND year > 2010 LIMIT 5";
    expect(r.query(s)).toEqual(w.query(s));
    expect(r.query(s)[0]!.id).toBe("new");
    expect(r.query("EXPLAIN " + s)[0]).toMatchObject({ payloadIndexes: "cat, year", candidatesExact: true });
    w.checkpoint();
    w.exec("DROP INDEX ON d (cat)");
    expect(r.query("EXPLAIN " + s)[0]).toMatchObject({ payloadIndexes: "year" });
    expect(r.query(s)).toEqual(w.query(s));
  });
});
