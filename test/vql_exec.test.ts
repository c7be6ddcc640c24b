import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open, VqliteError } from "../src/index";
import { FASHION_DIR, expectCode, fashionSmall, row, tempDir } from "./helpers";

// clustered builds on the real data take 1-4.4 s here, near the default 5 s on a busy machine
setDefaultTimeout(60_000);

function seeded() {
  const db = open();
  db.exec(`CREATE COLLECTION d (DIMENSION 2, METRIC L2);
    INSERT INTO d VALUES
      ('a', [0, 0], {"n": 1, "s": "apple", "tags": ["x"], "meta": {"k": "v"}}),
      ('b', [1, 0], {"n": 2, "s": "banana"}),
      ('c', [0, 1], {"n": null, "s": "cherry"}),
      ('e', [5, 5], NULL);`);
  return db;
}
const ids = (db: ReturnType<typeof open>, where: string) => db.query(`SELECT id FROM d WHERE ${where}`).map((r) => r.id);

describe("filters follow SQL's three-valued logic", () => {
  test("comparisons, missing and NULL fields", () => {
    using db = seeded();
    expect(ids(db, "n = 1")).toEqual(["a"]);
    expect(ids(db, "n != 1")).toEqual(["b"]); // NULL and missing n are unknown, not true
    expect(ids(db, "NOT n = 1")).toEqual(["b"]);
    expect(ids(db, "n IS NULL")).toEqual(["c", "e"]);
    expect(ids(db, "n IS NOT NULL")).toEqual(["a", "b"]);
    expect(ids(db, "n > 1 OR s = 'cherry'")).toEqual(["b", "c"]);
    expect(ids(db, "n >= 1 AND n <= 2")).toEqual(["a", "b"]);
    expect(ids(db, "n BETWEEN 2 AND 9")).toEqual(["b"]);
    expect(ids(db, "n NOT BETWEEN 2 AND 9")).toEqual(["a"]);
    expect(ids(db, "s LIKE '%an%'")).toEqual(["b"]);
    expect(ids(db, "s LIKE '_pple'")).toEqual(["a"]);
    expect(ids(db, "s NOT LIKE 'a%'")).toEqual(["b", "c"]);
    expect(ids(db, "s IN ('apple', 'cherry')")).toEqual(["a", "c"]);
    expect(ids(db, "s NOT IN ('apple')")).toEqual(["b", "c"]);
    expect(ids(db, "meta.k = 'v'")).toEqual(["a"]);
    expect(ids(db, "id = 'e'")).toEqual(["e"]);
    expect(ids(db, "id > 'b'")).toEqual(["c", "e"]);
    expect(ids(db, "s = 1")).toEqual([]); // a string is never equal to a number
    expect(ids(db, "n < 'z'")).toEqual([]);
    expect(ids(db, "tags = 'x'")).toEqual([]); // arrays are not scalars
  });

  test("bad filter types are errors with positions, before anything is read", () => {
    using db = seeded();
    const e = expectCode(() => db.query("SELECT id FROM d WHERE n = [1]"), "TYPE_ERROR");
    expect([e.line, e.column]).toEqual([1, 28]);
    expectCode(() => db.query("SELECT id FROM d WHERE id = 3"), "TYPE_ERROR");
    expectCode(() => db.query("SELECT id FROM d WHERE n = NULL"), "TYPE_ERROR");
    expectCode(() => db.query("SELECT id FROM d WHERE n BETWEEN 1 AND 'z'"), "TYPE_ERROR");
    expectCode(() => db.query("SELECT id FROM d WHERE s LIKE 3"), "TYPE_ERROR");
    expectCode(() => db.query("SELECT id FROM d LIMIT -1"), "TYPE_ERROR");
  });
});

describe("statements are atomic and report what they did", () => {
  test("a multi-row INSERT with one bad row writes nothing and points at that row", () => {
    using db = seeded();
    const e = expectCode(() => db.exec("INSERT INTO d VALUES ('x', [1, 1], NULL),\n  ('y', [1, 1, 1], NULL)"), "DIMENSION_MISMATCH");
    expect([e.line, e.column]).toEqual([2, 9]); // the bad vector of the second row
    expect(db.collection("d").has("x")).toBe(false);
    expectCode(() => db.exec("INSERT INTO d VALUES ('x', [1, 1], NULL), ('x', [2, 2], NULL)"), "DUPLICATE_ID");
    expect(db.collection("d").has("x")).toBe(false);
  });

  test("UPDATE and DELETE count the items they touch", () => {
    using db = seeded();
    expect(db.exec("UPDATE d SET PAYLOAD = {\"n\": 9} WHERE n IS NULL")[0]!.count).toBe(2);
    expect(ids(db, "n = 9")).toEqual(["c", "e"]);
    expect(db.exec("UPDATE d SET VECTOR = [3, 3] WHERE id = 'zzz'")[0]!.count).toBe(0);
    expectCode(() => db.exec("UPDATE d SET VECTOR = [3, 3, 3] WHERE n = 9"), "DIMENSION_MISMATCH");
    expect(db.collection("d").get("c")!.vector).toEqual(new Float32Array([0, 1]));
    expect(db.exec("DELETE FROM d WHERE n = 9")[0]!.count).toBe(2);
    expect(db.exec("DELETE FROM d")[0]!.count).toBe(2);
    expect(db.collection("d").count()).toBe(0);
  });

  test("SEARCH results, NEAR ID, parameters, LIMIT bounds, EXPLAIN", () => {
    using db = seeded();
    expect(db.query("SEARCH d NEAR [0.9, 0.1] LIMIT 2")).toEqual([
      { id: "b", distance: Math.hypot(0.1, 0.1), payload: { n: 2, s: "banana" } },
      { id: "a", distance: Math.hypot(0.9, 0.1), payload: { n: 1, s: "apple", tags: ["x"], meta: { k: "v" } } },
    ].map((r) => ({ ...r, distance: expect.closeTo(r.distance, 6) })) as never);
    expect(db.query("SEARCH d NEAR ID 'e' LIMIT 1")[0]!.id).toBe("e");
    expectCode(() => db.query("SEARCH d NEAR ID 'nope' LIMIT 1"), "UNKNOWN_ID");
    expect(db.query("SEARCH d NEAR $q WHERE s LIKE $p LIMIT $k", { q: new Float32Array([5, 5]), p: "%e%", k: 1 })[0]!.id).toBe("c");
    const e = expectCode(() => db.query("SEARCH d NEAR $q LIMIT 1", {}), "UNKNOWN_PARAMETER");
    expect([e.line, e.column]).toEqual([1, 15]);
    expectCode(() => db.query("SEARCH d NEAR [1, 1] LIMIT 0"), "TYPE_ERROR");
    expectCode(() => db.query("SEARCH d NEAR [1, 'x'] LIMIT 1"), "INVALID_VECTOR");
    expect(db.query("SEARCH d NEAR [0, 0] WHERE n > 100 LIMIT 5")).toEqual([]);
    const [plan] = db.query("EXPLAIN SEARCH d NEAR [0, 0] WHERE n > 0 LIMIT 5");
    expect(plan).toMatchObject({ route: "exact-filtered", index: "flat", k: 5, results: 2, scanned: 2 });
    expectCode(() => db.query("SHOW COLLECTIONS; SHOW COLLECTIONS"), "INVALID_ARGUMENT");
  });

  test("a clustered collection through VQL: routes, options, BUILD INDEX", () => {
    const ds = fashionSmall();
    using db = open();
    db.exec("CREATE COLLECTION f (DIMENSION 784, METRIC L2) INDEX CLUSTERED (LEAF_SIZE 100)");
    const c = db.collection("f");
    c.insertMany(Array.from({ length: 1500 }, (_, i) => ({ id: String(i), vector: row(ds.base, i, 784), payload: { even: i % 2 === 0, rare: i === 7 } })));
    const q = row(ds.queries, 0, 784);
    const [plan] = db.query("EXPLAIN SEARCH f NEAR $q LIMIT 10 WITH (PROBES 2, RERANK 3)", { q });
    expect(plan).toMatchObject({ route: "clustered", leavesProbed: 2, reranked: 30, results: 10 });
    expect(db.query("EXPLAIN SEARCH f NEAR $q WHERE rare = true LIMIT 10", { q })[0]).toMatchObject({ route: "exact-filtered", results: 1 });
    expect(db.query("SEARCH f NEAR $q LIMIT 10 WITH (EXACT)", { q }).map((r) => r.id)).toEqual(c.search(q, { k: 10, exact: true }).map((h) => h.id));
    expectCode(() => db.query("SEARCH f NEAR $q LIMIT 10 WITH (EF 10)", { q }), "TYPE_ERROR");
    expect(db.exec("BUILD INDEX ON f")[0]).toMatchObject({ statement: "BUILD INDEX", count: 1500 });
    expect(db.query("DESCRIBE f")[0]).toMatchObject({ index: "clustered(branching 10, leaf_size 100, iterations 20)", count: 1500 });
  });

  test("ALTER COLLECTION moves vectors between RAM and an mmap file, and it persists", () => {
    const dir = tempDir();
    {
      using db = open(dir);
      db.exec("CREATE COLLECTION d (DIMENSION 2, METRIC L2); INSERT INTO d VALUES ('a', [1, 2], {\"x\": 1}), ('b', [3, 4], NULL); DELETE FROM d WHERE id = 'b';");
      db.exec("ALTER COLLECTION d SET STORAGE MMAP");
      expect(db.query("DESCRIBE d")[0]).toMatchObject({ storage: "mmap", count: 1, mappedBytes: 8 });
      expect(db.exec("ALTER COLLECTION d SET STORAGE MMAP")[0]!.message).toBe("d already uses mmap storage");
    }
    {
      using db = open(dir);
      expect(db.query("DESCRIBE d")[0]).toMatchObject({ storage: "mmap", count: 1 });
      expect(db.query("SELECT * FROM d")).toEqual([{ id: "a", payload: { x: 1 }, vector: [1, 2] }]);
      db.exec("ALTER COLLECTION d SET STORAGE MEMORY");
    }
    using db = open(dir);
    expect(db.query("DESCRIBE d")[0]).toMatchObject({ storage: "memory", mappedBytes: 0 });
    expect(db.collection("d").get("a")!.vector).toEqual(new Float32Array([1, 2]));
  });
});

describe("COPY", () => {
  test("round trips through JSON lines and CSV, including awkward strings", () => {
    const dir = tempDir();
    using db = open();
    db.exec(`CREATE COLLECTION src (DIMENSION 2, METRIC L2);
      INSERT INTO src VALUES ('q"uote, comma', [1.5, -2], {"text": "line1\\nline2, \\"x\\""}), ('plain', [0, 0], NULL);`);
    for (const ext of ["jsonl", "csv"]) {
      const file = path.join(dir, `out.${ext}`);
      db.exec(`COPY src TO '${file}'; CREATE COLLECTION c_${ext} (DIMENSION 2, METRIC L2); COPY c_${ext} FROM '${file}'`);
      expect(db.query(`SELECT * FROM c_${ext}`)).toEqual(db.query("SELECT * FROM src"));
    }
  });

  test("fvecs (gzipped) from the real data gets ids '0', '1', …", () => {
    using db = open();
    db.exec("CREATE COLLECTION f (DIMENSION 784, METRIC L2)");
    const file = path.join(FASHION_DIR, "query.fvecs.gz");
    const [r] = db.exec(`COPY f FROM '${file}'`);
    expect(r!.count).toBe(100);
    expect(db.collection("f").get("0")!.vector).toEqual(row(fashionSmall().queries, 0, 784).slice());
    expect(db.collection("f").get("99")!.vector).toEqual(row(fashionSmall().queries, 99, 784).slice());
  });

  test("a bad record writes nothing and names the file and line", () => {
    const dir = tempDir();
    using db = open();
    db.exec("CREATE COLLECTION d (DIMENSION 2)");
    const jsonl = path.join(dir, "bad.jsonl");
    fs.writeFileSync(jsonl, '{"id": "a", "vector": [1, 2]}\n\n{"id": "b", "vector": [1, 2, 3]}\n');
    const e = expectCode(() => db.exec(`COPY d FROM '${jsonl}'`), "DIMENSION_MISMATCH");
    expect(e.message).toContain("item 1");
    fs.writeFileSync(jsonl, '{"id": "a", "vector": [1, 2]}\n{"id": "b", "vector": [1, 2}\n');
    expect(expectCode(() => db.exec(`COPY d FROM '${jsonl}'`), "INVALID_ARGUMENT").message).toContain(`${jsonl}:2: not valid JSON`);
    const csv = path.join(dir, "bad.csv");
    fs.writeFileSync(csv, 'id,vector\na,"[1,2]"\nb,oops\n');
    expect(expectCode(() => db.exec(`COPY d FROM '${csv}'`), "INVALID_ARGUMENT").message).toContain(`${csv}:3: vector must be a JSON array`);
    fs.writeFileSync(path.join(dir, "x.fvecs"), new Uint8Array([3, 0, 0, 0, 1, 2]));
    expectCode(() => db.exec(`COPY d FROM '${path.join(dir, "x.fvecs")}'`), "INVALID_ARGUMENT");
    fs.writeFileSync(path.join(dir, "x.fvecs.gz"), "not gzip");
    expectCode(() => db.exec(`COPY d FROM '${path.join(dir, "x.fvecs.gz")}'`), "CORRUPT_FILE");
    expectCode(() => db.exec(`COPY d FROM '${path.join(dir, "missing.jsonl")}'`), "IO_ERROR");
    expectCode(() => db.exec(`COPY d FROM '${path.join(dir, "data.xlsx")}'`), "INVALID_ARGUMENT");
    expectCode(() => db.exec(`COPY d FROM '${path.join(dir, "missing.parquet")}'`), "IO_ERROR");
    expect(db.collection("d").count()).toBe(0);
  });
});

describe("fuzz: any input ends in results or a VqliteError with a position", () => {
  const corpus = [
    "CREATE COLLECTION IF NOT EXISTS z (DIMENSION 2, METRIC L2) INDEX CLUSTERED (LEAF_SIZE 2);",
    "INSERT INTO z VALUES ('a', [1, 2], {\"k\": 1}), ('b', [2, 1], NULL);",
    "UPSERT INTO z VALUES ('a', [0, 0], {\"k\": 'x'});",
    "SEARCH z NEAR [1, 1] WHERE k >= 1 AND NOT (k IN (1, 2)) OR k IS NULL LIMIT 3 WITH (PROBES 2, RERANK 2);",
    "SELECT id, payload FROM z WHERE k BETWEEN 0 AND 5 AND id LIKE 'a%' LIMIT 2;",
    "UPDATE z SET PAYLOAD = {\"k\": 2}, VECTOR = [3, 3] WHERE id = 'b';",
    "DELETE FROM z WHERE k != 7;",
    "EXPLAIN SEARCH z NEAR ID 'a' LIMIT 1;",
    "SHOW COLLECTIONS; DESCRIBE z; CHECKPOINT; VACUUM z; BUILD INDEX ON z;",
    "DROP COLLECTION IF EXISTS z;",
  ];
  const pieces = ["(", ")", "[", "]", "{", "}", ",", ";", "'", '"', "--", "/*", "*/", "$p", "NULL", "1e999", "-0", "NaN", "WHERE", "LIMIT", "AND", "NOT", "=", "<>", "z", "ID", "0.5", "''", "\n", " ", "é", "\u0000", "SEARCH", "INTO"];

  test("2,000 mutated and random statements", () => {
    let seed = 2024;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    using db = open();
    let ok = 0, failed = 0;
    for (let i = 0; i < 2000; i++) {
      let text = corpus[rand(corpus.length)]!;
      const edits = rand(4); // a quarter run unmutated, so execution paths are exercised too
      for (let j = 0; j < edits; j++) {
        const p = rand(text.length + 1);
        const op = rand(3);
        if (op === 0) text = text.slice(0, p) + pieces[rand(pieces.length)] + text.slice(p);
        else if (op === 1) text = text.slice(0, p) + text.slice(p + 1 + rand(6));
        else text = text.slice(0, p) + text.slice(p, p + 8).split("").reverse().join("") + text.slice(p + 8);
      }
      if (rand(10) === 0) text = Array.from({ length: 1 + rand(12) }, () => pieces[rand(pieces.length)]).join(" ");
      // keep a populated collection around so most statements get past the catalog
      if (!db.hasCollection("z") || db.collection("z").count() === 0) {
        db.exec(corpus[0]! + " UPSERT INTO z VALUES ('a', [1, 2], {\"k\": 1}), ('b', [2, 1], NULL);");
      }
      try {
        const results = db.exec(text, { p: rand(2) ? 1 : [1, 2] });
        for (const r of results) expect(typeof r.statement).toBe("string");
        ok++;
      } catch (e) {
        if (!(e instanceof VqliteError)) throw new Error(`not a VqliteError for ${JSON.stringify(text)}: ${(e as Error)?.stack}`);
        if (e.line === undefined || e.column === undefined) throw new Error(`no position for ${JSON.stringify(text)}: ${e.code} ${e.message}`);
        failed++;
      }
    }
    // both ways out are exercised: statements that ran, and errors that carried a position
    expect(ok).toBeGreaterThan(200);
    expect(failed).toBeGreaterThan(200);
  });
});

describe("long work reports progress (the shell draws it as a bar on a terminal)", () => {
  test("BUILD INDEX and VACUUM report monotonic progress that ends at 100%", async () => {
    const { executeStatement } = await import("../src/query/executor");
    const { parse } = await import("../src/query/parser");
    const ds = fashionSmall();
    using db = open();
    db.exec("CREATE COLLECTION f (DIMENSION 784, METRIC L2) INDEX CLUSTERED (LEAF_SIZE 100)");
    const c = db.collection("f");
    // 3,000 items (the 2k rows, then 1,000 of them again): vacuum reports every 1,024 rows
    c.insertMany(Array.from({ length: 3000 }, (_, i) => ({ id: String(i), vector: row(ds.base, i % ds.n, 784) })));
    c.deleteMany(Array.from({ length: 1000 }, (_, i) => String(i)));
    for (const text of ["BUILD INDEX ON f", "VACUUM f"]) {
      const events: [string, number, number][] = [];
      executeStatement(db, parse(text)[0]!, { onProgress: (label, done, total) => events.push([label, done, total]) });
      expect(events.length).toBeGreaterThan(2);
      const fractions = events.map(([, d, t]) => d / t);
      for (let i = 1; i < fractions.length; i++) expect(fractions[i]!).toBeGreaterThanOrEqual(fractions[i - 1]!);
      expect(fractions.at(-1)).toBe(1);
      expect(events[0]![0]).toBe(text.split(" ").slice(0, text.startsWith("BUILD") ? 2 : 1).join(" "));
    }
  });
});
