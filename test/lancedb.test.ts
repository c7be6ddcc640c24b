/**
 * The road onto LanceDB: COPY ... TO LANCEDB, the `vqlite export` command and
 * COPY ... FROM LANCEDB, checked by opening the tables with LanceDB itself.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as path from "node:path";
import * as lancedb from "@lancedb/lancedb";
import { open, type Payload } from "../src/index";
import { expectCode, randomVectors, rng, tempDir } from "./helpers";

// Parquet encoding and child processes take seconds on a loaded 2-core machine
setDefaultTimeout(60_000);

const N = 600;
const DIM = 16;

function payloadOf(i: number): Payload {
  if (i % 10 === 0) return null;
  const p: Record<string, unknown> = { title: `doc ${i}`, year: 2000 + (i % 25), score: i / 7, even: i % 2 === 0 };
  if (i % 3 === 0) p.tags = { list: [i, "x"], nested: { k: i } }; // not a scalar: travels as JSON
  if (i % 4 === 0) p.note = null;
  return p;
}

function fill(dbPath?: string) {
  const db = open(dbPath);
  const c = db.createCollection("items", { dimension: DIM, metric: "l2" });
  const data = randomVectors(N, DIM, 42);
  c.insertMany(Array.from({ length: N }, (_, i) => ({ id: `item-${i}`, vector: data.subarray(i * DIM, (i + 1) * DIM), payload: payloadOf(i) })));
  return { db, c };
}

const plain = (v: unknown): unknown => (typeof v === "bigint" ? Number(v) : v);

describe("LanceDB", () => {
  test("COPY TO LANCEDB: LanceDB sees every id, exact vector and payload value, and the same exact neighbours", async () => {
    const dir = tempDir();
    const { db, c } = fill();
    using _db = db;
    const lanceDir = path.join(dir, "lance");
    const [r] = db.exec(`COPY items TO LANCEDB '${lanceDir}' TABLE 'vectors'`);
    expect(r!.count).toBe(N);

    const conn = await lancedb.connect(lanceDir);
    expect(await conn.tableNames()).toEqual(["vectors"]);
    const table = await conn.openTable("vectors");
    expect(await table.countRows()).toBe(N);
    const rows = (await table.query().toArray()) as Record<string, unknown>[];
    expect(rows.length).toBe(N);
    const fields = ["title", "year", "score", "even", "tags", "note"];
    for (const row of rows) {
      const item = c.get(row.id as string)!;
      expect(item).not.toBeNull();
      expect(Array.from(new Float32Array(Array.from(row.vector as Iterable<number>)))).toEqual(Array.from(item.vector));
      for (const f of fields) {
        const want = (item.payload as Record<string, unknown> | null)?.[f] ?? null;
        const got = plain(row[f]) ?? null;
        expect(f === "tags" && got !== null ? JSON.parse(got as string) : got).toEqual(want);
      }
    }
    const seen = new Set(rows.map((r) => r.id));
    expect(seen.size).toBe(N);

    const queries = randomVectors(20, DIM, 7);
    for (let q = 0; q < 20; q++) {
      const query = queries.subarray(q * DIM, (q + 1) * DIM);
      const ours = c.search(query, { k: 10, exact: true }).map((h) => h.id);
      const theirs = (await (table.search(Array.from(query)) as lancedb.VectorQuery).distanceType("l2").bypassVectorIndex().limit(10).toArray()) as { id: string }[];
      expect(theirs.map((t) => t.id)).toEqual(ours);
    }
    // an existing table is kept unless OVERWRITE
    expect(expectCode(() => db.exec(`COPY items TO LANCEDB '${lanceDir}' TABLE 'vectors'`), "COLLECTION_EXISTS").message).toContain("already exists");
    db.exec(`DELETE FROM items WHERE year > 2010`);
    db.exec(`COPY items TO LANCEDB '${lanceDir}' (TABLE 'vectors', OVERWRITE)`);
    expect(await (await conn.openTable("vectors")).countRows()).toBe(c.count());
  }, 60_000);

  test("COPY FROM LANCEDB reads a table LanceDB wrote, and a vqlite export back unchanged", async () => {
    const dir = tempDir();
    const lanceDir = path.join(dir, "lance");
    const conn = await lancedb.connect(lanceDir);
    const r = rng(3);
    await conn.createTable(
      "docs",
      Array.from({ length: 50 }, (_, i) => ({ doc: `d${i}`, embedding: Array.from({ length: 8 }, () => r()), category: i % 2 ? "odd" : "even", rank: i })),
    );
    using db = open();
    db.exec("CREATE COLLECTION d (DIMENSION 8, METRIC COSINE)");
    expect(db.exec(`COPY d FROM LANCEDB '${lanceDir}' TABLE 'docs' (ID 'doc', VECTOR 'embedding', EXCLUDE ('rank'))`)[0]!.count).toBe(50);
    const theirs = (await (await conn.openTable("docs")).query().toArray()) as Record<string, unknown>[];
    for (const row of theirs) {
      const item = db.collection("d").get(row.doc as string)!;
      expect(item.vector).toEqual(new Float32Array(Array.from(row.embedding as Iterable<number>)));
      expect(item.payload).toEqual({ category: row.category });
    }
    // round trip: export, import, compare
    const { db: src, c } = fill();
    using _src = src;
    c.exportTo(lanceDir, { format: "lancedb", table: "items" });
    src.exec("CREATE COLLECTION back (DIMENSION 16, METRIC L2)");
    src.exec(`COPY back FROM LANCEDB '${lanceDir}' TABLE 'items'`);
    expect([...src.collection("back")]).toEqual([...c].map((it) => ({ ...it, payload: it.payload && Object.fromEntries(Object.entries(it.payload).filter(([, v]) => v !== null)) })));
    expect(expectCode(() => src.exec(`COPY back FROM LANCEDB '${lanceDir}' TABLE 'nope'`), "INVALID_ARGUMENT").message).toContain("no LanceDB table nope");
  }, 60_000);

  test("vqlite export DB COLLECTION --to lancedb DIR", async () => {
    const dir = tempDir();
    const dbDir = path.join(dir, "db");
    fill(dbDir).db.close();
    const lanceDir = path.join(dir, "lance");
    const run = Bun.spawnSync([process.execPath, "repl/main.ts", "export", dbDir, "items", "--to", "lancedb", lanceDir], { cwd: path.join(import.meta.dir, "..") });
    expect(r(run.stderr)).toBe("");
    expect(r(run.stdout)).toBe(`exported ${N} items of items to LanceDB table items in ${lanceDir}\n`);
    expect(run.exitCode).toBe(0);
    expect(await (await (await lancedb.connect(lanceDir)).openTable("items")).countRows()).toBe(N);
  }, 60_000);

  test("when @lancedb/lancedb cannot be loaded, COPY and the command say so", () => {
    const dir = tempDir();
    const dbDir = path.join(dir, "db");
    fill(dbDir).db.close();
    const env = { ...process.env, VQLITE_LANCEDB_MODULE: "@lancedb/not-installed-here" };
    const run = Bun.spawnSync([process.execPath, "repl/main.ts", "export", dbDir, "items", "--to", "lancedb", path.join(dir, "lance")], { cwd: path.join(import.meta.dir, ".."), env });
    expect(run.exitCode).toBe(1);
    expect(r(run.stderr)).toContain("LanceDB is not available here: the optional package @lancedb/lancedb could not be loaded");
    expect(r(run.stderr)).toContain('npm install @lancedb/lancedb');
    expect(r(run.stderr)).toContain("[INVALID_CONFIG]");
    const shell = Bun.spawnSync([process.execPath, "repl/main.ts", dbDir, "-c", `COPY items TO LANCEDB '${path.join(dir, "lance")}'`], { cwd: path.join(import.meta.dir, ".."), env });
    expect(shell.exitCode).toBe(1);
    expect(r(shell.stderr)).toContain("LanceDB is not available here");
  }, 60_000);
});

function r(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}
