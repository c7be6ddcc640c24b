/**
 * Bulk loads (issue 10, 13): COPY FROM and insertManyAsync stage rows in
 * chunks outside the log and commit with one checkpoint. These tests run
 * with a small spill size (VQLITE_SPILL_ROWS) and small batches so that a
 * load crosses many chunks and row-file spills.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { parquetWriteBuffer } from "hyparquet-writer";
import { open, type Collection, type Database } from "../src/index";
import { VqliteError } from "../src/errors";
import { setFaultHook } from "../src/storage/fs";
import { expectCode, rng, tempDir } from "./helpers";

setDefaultTimeout(60_000);

const DIM = 8;
const CHILD = path.join(import.meta.dir, "fixtures", "copy_child.ts");

let savedSpill: string | undefined;
beforeAll(() => {
  savedSpill = process.env.VQLITE_SPILL_ROWS;
  process.env.VQLITE_SPILL_ROWS = "150";
});
afterAll(() => {
  if (savedSpill === undefined) delete process.env.VQLITE_SPILL_ROWS;
  else process.env.VQLITE_SPILL_ROWS = savedSpill;
  setFaultHook(null);
});

function vec(i: number, salt = 0): number[] {
  return Array.from({ length: DIM }, (_, j) => Math.sin(i * 1.7 + j * 0.3 + salt));
}

/** A file of `n` records (ids "0".."n-1", except jsonl's "f0".."), optionally one bad record at `badAt`. */
function writeFvecs(file: string, n: number, badAt = -1): string {
  const buf = new ArrayBuffer(n * (DIM + 1) * 4);
  const ints = new Int32Array(buf), floats = new Float32Array(buf);
  for (let i = 0; i < n; i++) {
    ints[i * (DIM + 1)] = DIM;
    floats.set(vec(i, 1), i * (DIM + 1) + 1);
    if (i === badAt) floats[i * (DIM + 1) + 3] = NaN;
  }
  fs.writeFileSync(file, new Uint8Array(buf));
  return file;
}

function writeJsonl(file: string, n: number, badAt = -1, from = 0): string {
  const lines: string[] = [];
  for (let i = from; i < from + n; i++) {
    if (i === badAt) lines.push(`{"id": "f${i}", "vector": [1, 2`);
    else lines.push(JSON.stringify({ id: `f${i}`, vector: vec(i, 2), payload: { n: i, tag: `t${i % 5}` }, ...(i % 7 === 0 ? { sparse: { indices: [i, i + 3], values: [0.5, -2] } } : {}) }));
  }
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

function writeParquet(file: string, n: number, nullAt = -1): string {
  const schema = [
    { name: "root", num_children: 3 },
    { name: "id", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" },
    { name: "vector", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
    { name: "list", repetition_type: "REPEATED", num_children: 1 },
    { name: "element", type: "FLOAT", repetition_type: "REQUIRED" },
    { name: "payload", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
  ];
  const ids = Array.from({ length: n }, (_, i) => `p${i}`);
  const vectors = Array.from({ length: n }, (_, i) => (i === nullAt ? null : vec(i, 3)));
  const payloads = Array.from({ length: n }, (_, i) => JSON.stringify({ n: i }));
  const bytes = parquetWriteBuffer({ schema: schema as never, columnData: [{ name: "id", data: ids }, { name: "vector", data: vectors }, { name: "payload", data: payloads }] as never, rowGroupSize: 100 });
  fs.writeFileSync(file, new Uint8Array(bytes));
  return file;
}

/** Everything a caller can see of a collection. */
function state(c: Collection): unknown {
  const items = [...c].map((it) => ({ id: it.id, vector: Array.from(it.vector), payload: it.payload, sparse: it.sparse && { i: Array.from(it.sparse.indices), v: Array.from(it.sparse.values) } }));
  const searches = [0, 1, 2].map((q) => c.search(vec(q * 31, 9), { k: 5 }).map((h) => h.id));
  return { count: c.count(), items, searches };
}

function seed(db: Database, storage: "memory" | "mmap"): Collection {
  const c = db.createCollection("docs", { dimension: DIM, storage, index: { type: "clustered", maxLeafSize: 40 } });
  c.insertMany(Array.from({ length: 120 }, (_, i) => ({ id: `old${i}`, vector: vec(i, 5), payload: { old: i } })));
  c.delete("old3");
  c.upsert("old4", vec(4, 6), { changed: true });
  return c;
}

const STORAGES = ["memory", "mmap"] as const;

describe("a failed COPY leaves the collection as it was", () => {
  const kinds = [
    { name: "fvecs with a NaN near the end", make: (f: string) => writeFvecs(`${f}.fvecs`, 900, 880), code: "NON_FINITE_VALUE", message: "item 880" },
    { name: "parquet with a null vector near the end", make: (f: string) => writeParquet(`${f}.parquet`, 900, 870), code: "INVALID_VECTOR", message: 'row 870, column "vector": the vector is null' },
    { name: "jsonl with a bad line near the end", make: (f: string) => writeJsonl(`${f}.jsonl`, 900, 890), code: "INVALID_ARGUMENT", message: ":891: not valid JSON" },
  ];
  for (const storage of STORAGES) {
    for (const k of kinds) {
      test(`${k.name}, ${storage} storage`, () => {
        const dir = tempDir();
        const file = k.make(path.join(dir, "input"));
        const dbDir = path.join(dir, "db");
        let before: unknown;
        {
          using db = open(dbDir);
          const c = seed(db, storage);
          before = state(c);
          const e = expectCode(() => c.importFrom(file, { batchRows: 64 }), k.code);
          expect(e.message).toContain(k.message);
          expect(state(c)).toEqual(before);
          expect(db.check().problems).toEqual([]);
          // the collection takes writes again, and a good COPY after the bad one works
          c.insert("after", vec(1000), null);
          c.delete("after");
        }
        using db = open(dbDir);
        expect(state(db.collection("docs"))).toEqual(before);
        expect(db.check().problems).toEqual([]);
        // the bytes the failed COPY left past the committed ends are no obstacle to a vacuum
        db.collection("docs").vacuum();
        expect(state(db.collection("docs"))).toEqual(before);
        expect(db.check().problems).toEqual([]);
      });
    }
  }

  test("an in-memory database is rolled back the same way", () => {
    const dir = tempDir();
    using db = open();
    const c = seed(db, "memory");
    const before = state(c);
    expectCode(() => c.importFrom(writeJsonl(path.join(dir, "x.jsonl"), 500, 450), { batchRows: 50 }), "INVALID_ARGUMENT");
    expect(state(c)).toEqual(before);
    expectCode(() => c.importFrom(path.join(dir, "missing.jsonl")), "IO_ERROR");
    expect(state(c)).toEqual(before);
    expect(db.check().problems).toEqual([]);
  });
});

describe("a COPY into a zstd collection with a payload index", () => {
  test("a failed COPY leaves index and payloads as they were; a good one is indexed, compressed and equal to a scan", () => {
    const dir = tempDir();
    const dbDir = path.join(dir, "db");
    const tags = (c: Collection, t: string) => c.idsWhere({ field: "tag", eq: t }).sort();
    const scan = (c: Collection, t: string) => [...c].filter((i) => (i.payload as { tag?: string } | null)?.tag === t).map((i) => i.id).sort();
    {
      using db = open(dbDir);
      const c = db.createCollection("docs", { dimension: DIM, metric: "l2", storage: "mmap", compression: "zstd", index: { type: "clustered" } });
      c.insertMany(Array.from({ length: 40 }, (_, i) => ({ id: `s${i}`, vector: vec(i), payload: { tag: `t${i % 5}`, text: "seed ".repeat(20) } })));
      c.createPayloadIndex("tag");
      db.checkpoint(); // stored bytes count rows in the row files as compressed, rows only in the log as raw
      const before = [tags(c, "t1"), c.count(), c.payloadBytes()];
      expect(c.payloadBytes().stored).toBeLessThan(c.payloadBytes().raw);
      expectCode(() => c.importFrom(writeJsonl(path.join(dir, "bad.jsonl"), 900, 700), { batchRows: 64 }), "INVALID_ARGUMENT");
      expect([tags(c, "t1"), c.count(), c.payloadBytes()]).toEqual(before);
      expect(db.check().problems).toEqual([]);
      expect(c.importFrom(writeJsonl(path.join(dir, "good.jsonl"), 900), { batchRows: 64 })).toBe(900);
      for (const t of ["t0", "t1", "t4"]) {
        expect(tags(c, t)).toEqual(scan(c, t));
        expect(tags(c, t).length).toBe(8 + 180);
      }
      const r = c.searchWithReport(vec(3, 2), { k: 5, where: { field: "tag", eq: "t3" } });
      expect(r.payloadIndexes).toEqual(["tag"]);
      expect(r.hits.every((h) => (h.payload as { tag: string }).tag === "t3")).toBe(true);
      expect(db.check().problems).toEqual([]);
    }
    using db = open(dbDir);
    const c = db.collection("docs");
    expect(c.config.compression).toBe("zstd");
    expect(c.count()).toBe(940);
    for (const t of ["t0", "t2"]) expect(tags(c, t)).toEqual(scan(c, t));
    expect(c.get("f123")!.payload).toEqual({ n: 123, tag: "t3" });
    expect(db.check().problems).toEqual([]);
  });
});

describe("a COPY larger than a chunk", () => {
  for (const storage of STORAGES) {
    test(`round-trips ids, vectors, payloads and sparse vectors through reopen (${storage})`, () => {
      const dir = tempDir();
      const file = writeJsonl(path.join(dir, "in.jsonl"), 1000);
      const dbDir = path.join(dir, "db");
      let after: unknown;
      {
        using db = open(dbDir);
        const c = seed(db, storage);
        const progress: number[] = [];
        expect(c.importFrom(file, { batchRows: 70, onProgress: (d) => progress.push(d) })).toBe(1000);
        expect(progress.length).toBeGreaterThan(0);
        expect(c.count()).toBe(119 + 1000);
        const f7 = c.get("f7")!;
        expect(Array.from(f7.vector)).toEqual(Array.from(new Float32Array(vec(7, 2))));
        expect(f7.payload).toEqual({ n: 7, tag: "t2" });
        expect(Array.from(f7.sparse!.indices)).toEqual([7, 10]);
        expect(c.get("f8")!.sparse).toBeNull();
        expect(c.search(vec(500, 2), { k: 1, exact: true })[0]!.id).toBe("f500");
        after = state(c);
        expect(db.check().problems).toEqual([]);
      }
      using db = open(dbDir);
      expect(state(db.collection("docs"))).toEqual(after);
      expect(db.check().problems).toEqual([]);
    });

    test(`an id repeated in a later chunk is caught and nothing is written (${storage})`, () => {
      const dir = tempDir();
      const file = path.join(dir, "dup.jsonl");
      fs.writeFileSync(file, `${writeJsonlText(0, 300)}${JSON.stringify({ id: "f12", vector: vec(1) })}\n`);
      using db = open(path.join(dir, "db"));
      const c = seed(db, storage);
      const before = state(c);
      const e = expectCode(() => c.importFrom(file, { batchRows: 64 }), "DUPLICATE_ID");
      expect(e.message).toContain('item 300: id "f12" appears twice in the file');
      // a repeat found through a hash table the load's spills rewrote (past 4,096 rows)
      fs.writeFileSync(file, `${writeJsonlText(0, 5000)}${JSON.stringify({ id: "f3", vector: vec(1) })}\n`);
      expect(expectCode(() => c.importFrom(file, { batchRows: 500 }), "DUPLICATE_ID").message).toContain('item 5000: id "f3" appears twice in the file');
      expect(state(c)).toEqual(before);
      // and an id the collection already had
      fs.writeFileSync(file, `${writeJsonlText(0, 200)}${JSON.stringify({ id: "old7", vector: vec(1) })}\n`);
      expect(expectCode(() => c.importFrom(file, { batchRows: 64 }), "DUPLICATE_ID").message).toContain('item 200: id already exists: "old7"');
      expect(state(c)).toEqual(before);
      // upsert mode replaces the old item; a Parquet file's repeated id is still an error
      fs.writeFileSync(file, `${writeJsonlText(0, 200)}${JSON.stringify({ id: "old7", vector: vec(1), payload: { new: 1 } })}\n`);
      expect(c.importFrom(file, { batchRows: 64, mode: "upsert" })).toBe(201);
      expect(c.get("old7")!.payload).toEqual({ new: 1 });
      expect(c.count()).toBe(119 + 200);
    });
  }
});

function writeJsonlText(from: number, n: number): string {
  let out = "";
  for (let i = from; i < from + n; i++) out += `${JSON.stringify({ id: `f${i}`, vector: vec(i, 2), payload: { n: i } })}\n`;
  return out;
}

describe("an I/O fault halfway through a COPY", () => {
  for (const storage of STORAGES) {
    for (const kind of ["EIO", "ENOSPC", "fsync"] as const) {
      test(`${kind}, ${storage} storage: unchanged, also after reopen`, () => {
        const root = tempDir();
        const file = writeFvecs(path.join(root, "in.fvecs"), 2000);
        // a dry run counts the database's file calls during the COPY
        const calls = (dbDir: string, failAt: number): { calls: number; before: unknown; error: VqliteError | null } => {
          const db = open(dbDir);
          const c = seed(db, storage);
          const before = state(c);
          let n = 0;
          let error: VqliteError | null = null;
          setFaultHook((op, p) => {
            if (!p.startsWith(dbDir)) return;
            if (kind === "fsync" ? op !== "fsync" && op !== "fdatasync" : op !== "write") return;
            if (++n === failAt) {
              throw Object.assign(new Error(`${kind === "ENOSPC" ? "ENOSPC" : "EIO"}: injected`), { code: kind === "ENOSPC" ? "ENOSPC" : "EIO" });
            }
          });
          try {
            c.importFrom(file, { batchRows: 100 });
          } catch (e) {
            error = e as VqliteError;
          } finally {
            setFaultHook(null);
          }
          if (failAt > 0) {
            expect(error).toBeInstanceOf(VqliteError);
            expect(state(c)).toEqual(before);
            expect(db.check().problems).toEqual([]);
          }
          db.close();
          return { calls: n, before, error };
        };
        const dry = calls(path.join(root, "dry"), 0);
        expect(dry.error).toBeNull();
        expect(dry.calls).toBeGreaterThan(4);
        const dbDir = path.join(root, "db");
        const run = calls(dbDir, Math.ceil(dry.calls / 2));
        expect(run.error!.code).toBe(kind === "ENOSPC" ? "DISK_FULL" : "IO_ERROR");
        using db = open(dbDir);
        expect(state(db.collection("docs"))).toEqual(run.before);
        expect(db.check().problems).toEqual([]);
        // and the same COPY now succeeds
        expect(db.collection("docs").importFrom(file)).toBe(2000);
      });
    }
  }
});

test("a rollback that cannot read the snapshot leaves the collection unusable until reopened, and the files intact", () => {
  const root = tempDir();
  const file = writeFvecs(path.join(root, "in.fvecs"), 2000);
  const dbDir = path.join(root, "db");
  const db = open(dbDir);
  const c = seed(db, "mmap");
  const before = state(c);
  let writes = 0;
  setFaultHook((op, p) => {
    if (!p.startsWith(dbDir)) return;
    // the 10th chunk's vectors (of 20) fail to write, then the rollback cannot read the snapshot
    if ((op === "write" && p.endsWith(".vec") && ++writes === 10) || (op === "readFile" && p.endsWith(".snap"))) throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
  });
  try {
    expectCode(() => c.importFrom(file, { batchRows: 100 }), "IO_ERROR");
  } finally {
    setFaultHook(null);
  }
  expect(expectCode(() => c.count(), "IO_ERROR").message).toContain("could not be restored after a failed load");
  const report = db.check();
  expect(report.ok).toBe(false);
  expect(report.problems.join("\n")).toContain("could not be restored");
  expect(db.writeBlocked).not.toBeNull();
  db.close();
  using again = open(dbDir);
  expect(state(again.collection("docs"))).toEqual(before);
  expect(again.check().problems).toEqual([]);
});

describe("insertManyAsync and upsertManyAsync", () => {
  async function* items(n: number, failAt = -1, prefix = "a"): AsyncGenerator<{ id: string; vector: number[]; payload: { i: number } }> {
    for (let i = 0; i < n; i++) {
      if (i === failAt) throw new Error("the source failed");
      if (i % 50 === 0) await Bun.sleep(0);
      yield { id: `${prefix}${i}`, vector: vec(i, 7), payload: { i } };
    }
  }

  for (const storage of STORAGES) {
    test(`an async generator is inserted whole, or not at all (${storage})`, async () => {
      const dir = tempDir();
      let after: unknown;
      {
        using db = open(dir);
        const c = seed(db, storage);
        const before = state(c);
        // the source fails late: nothing of it stays
        await expect(c.insertManyAsync(items(900, 850), { chunkRows: 64 })).rejects.toThrow("the source failed");
        expect(state(c)).toEqual(before);
        // a bad item late: its position is named
        const bad = (async function* () {
          yield* items(700);
          yield { id: "x", vector: [1, 2], payload: { i: 0 } };
        })();
        const e = (await c.insertManyAsync(bad, { chunkRows: 64 }).catch((x) => x)) as VqliteError;
        expect(e.code).toBe("DIMENSION_MISMATCH");
        expect(e.item).toBe(700);
        expect(state(c)).toEqual(before);
        const done: number[] = [];
        expect(await c.insertManyAsync(items(900), { chunkRows: 64, onProgress: (d) => done.push(d) })).toBe(900);
        expect(done.at(-1)).toBe(900);
        expect(c.count()).toBe(119 + 900);
        // upserts from a plain iterable, repeating an id: the last wins
        const ups = [{ id: "a1", vector: vec(1, 8), payload: { up: 1 } }, { id: "a1", vector: vec(1, 8), payload: { up: 2 } }, { id: "new", vector: vec(2, 8) }];
        expect(await c.upsertManyAsync(ups)).toBe(3);
        expect(c.get("a1")!.payload).toEqual({ up: 2 });
        after = state(c);
        expect(db.check().problems).toEqual([]);
      }
      using db = open(dir);
      expect(state(db.collection("docs"))).toEqual(after);
    });
  }

  test("closing the database during a load: the load fails, the reopened collection is as last committed", async () => {
    const dir = tempDir();
    const db = open(dir);
    const c = seed(db, "mmap");
    const before = state(c);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const source = (async function* () {
      yield* items(400);
      await gate;
      yield* items(300, -1, "b");
    })();
    const load = c.insertManyAsync(source, { chunkRows: 100 });
    await Bun.sleep(20);
    db.close();
    release();
    const e = (await load.catch((x) => x)) as VqliteError;
    expect(e.code).toBe("DATABASE_CLOSED");
    using again = open(dir);
    expect(state(again.collection("docs"))).toEqual(before);
    expect(again.check().problems).toEqual([]);
  });

  test("other calls on the collection fail with BUSY while a load runs; other collections go on", async () => {
    const dir = tempDir();
    using db = open(dir);
    const c = seed(db, "mmap");
    const other = db.createCollection("other", { dimension: DIM });
    const countBefore = c.count();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const source = (async function* () {
      yield* items(300);
      await gate; // the load is half way: staged rows exist
      yield* items(300, -1, "b");
    })();
    const load = c.insertManyAsync(source, { chunkRows: 100 });
    await Bun.sleep(20);
    expect(expectCode(() => c.count(), "BUSY").message).toContain("collection docs is being loaded");
    expectCode(() => c.search(vec(1), { k: 3 }), "BUSY");
    expectCode(() => c.insert("z", vec(1)), "BUSY");
    expectCode(() => db.exec("SEARCH docs NEAR $q LIMIT 3", { q: new Float32Array(vec(1)) }), "BUSY");
    expectCode(() => db.dropCollection("docs"), "BUSY");
    expectCode(() => db.check(), "BUSY");
    expectCode(() => db.backup(path.join(dir, "..", `${path.basename(dir)}-bk`)), "BUSY");
    // another collection's writes and a checkpoint meanwhile commit nothing of the load
    other.insert("o", vec(1));
    db.checkpoint();
    using reader = open(dir, { readonly: true });
    expect(reader.collection("docs").count()).toBe(countBefore);
    expect(reader.collection("other").count()).toBe(1);
    release();
    expect(await load).toBe(600);
    expect(c.count()).toBe(countBefore + 600);
    reader.refresh();
    expect(reader.collection("docs").count()).toBe(countBefore + 600);
    expect(reader.collection("docs").get("b299")!.payload).toEqual({ i: 299 });
    expect(db.check().problems).toEqual([]);
  });
});

describe("processes", () => {
  test("a reader in another process sees nothing of a load until its commit, then all of it", async () => {
    const dir = tempDir();
    const db = open(dir);
    const c = seed(db, "mmap");
    const countBefore = c.count();
    const reader = Bun.spawn([process.execPath, path.join(import.meta.dir, "fixtures", "count_reader.ts"), dir, "docs"], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const lines = reader.stdout.getReader();
    let buffered = "";
    const nextLine = async (): Promise<string> => {
      while (!buffered.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`reader exited: ${await new Response(reader.stderr).text()}`);
        buffered += new TextDecoder().decode(value);
      }
      const at = buffered.indexOf("\n");
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      return line;
    };
    const ask = async () => {
      reader.stdin.write("?\n");
      reader.stdin.flush();
      return nextLine();
    };
    try {
      expect(await nextLine()).toBe("READY");
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const source = (async function* () {
        for (let i = 0; i < 700; i++) {
          if (i === 400) await gate; // 400 rows staged, 150-row spills to the row files done
          yield { id: `b${i}`, vector: vec(i, 7), payload: { i } };
        }
      })();
      const load = c.insertManyAsync(source, { chunkRows: 100 });
      await Bun.sleep(20);
      expect(await ask()).toBe(`COUNT ${countBefore} OK`);
      db.checkpoint(); // a checkpoint meanwhile keeps the collection as last committed
      expect(await ask()).toBe(`COUNT ${countBefore} OK`);
      release();
      expect(await load).toBe(700);
      expect(await ask()).toBe(`COUNT ${countBefore + 700} OK`);
    } finally {
      reader.kill();
      await reader.exited;
      db.close();
    }
  });

  test("kill -9 during a COPY: after recovery none of it, or all of it once the child reported the commit", async () => {
    const root = tempDir();
    const file = writeJsonl(path.join(root, "in.jsonl"), 6000);
    const dir = path.join(root, "db");
    const r = rng(11);
    let acked = 0;
    const outcomes = new Set<string>();
    for (let trial = 0; trial < 4; trial++) {
      const child = Bun.spawn([process.execPath, CHILD, "kill", dir, file], { stdout: "pipe", stderr: "pipe", env: { ...process.env, VQLITE_SPILL_ROWS: "500" } });
      const reader = child.stdout.getReader();
      let out = "";
      while (!out.includes("READY\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`child exited early: ${await new Response(child.stderr).text()}`);
        out += new TextDecoder().decode(value);
      }
      // the last trial waits for the commit; the others kill at a random moment of the COPY
      const last = trial === 3;
      if (last) {
        while (!out.includes("COMMITTED")) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`child exited early: ${await new Response(child.stderr).text()}`);
          out += new TextDecoder().decode(value);
        }
      } else await Bun.sleep(5 + Math.floor(r() * 250));
      child.kill("SIGKILL");
      await child.exited;
      for (const line of out.split("\n")) if (line.startsWith("ACK ")) acked = Math.max(acked, Number(line.slice(4)));
      const committed = out.includes("COMMITTED");
      using db = open(dir);
      const c = db.collection("docs");
      const pre = [...c.keys()].filter((id) => id.startsWith("pre-")).length;
      const copied = [...c.keys()].filter((id) => id.startsWith("f")).length;
      expect(pre).toBe(acked); // every acknowledged insert before the COPY survives
      // the COPY upserts the same 6,000 ids each trial: all of them, or none (only before the first commit)
      expect([0, 6000]).toContain(copied);
      if (committed) expect(copied).toBe(6000);
      outcomes.add(committed ? "committed" : copied === 0 ? "none" : "all");
      if (copied === 6000) expect(c.get("f5999")!.payload).toEqual({ n: 5999, tag: "t4" });
      expect(db.check().problems).toEqual([]);
    }
    expect(outcomes.has("committed")).toBe(true);
  });

  test("COPY of a 100 MB .fvecs file grows the process's memory by a fraction of the file", () => {
    const dir = tempDir();
    const file = path.join(dir, "big.fvecs");
    const rows = 200_000, dim = 128, rec = (dim + 1) * 4;
    const fd = fs.openSync(file, "w");
    const chunk = 10_000;
    const buf = new ArrayBuffer(chunk * rec);
    const ints = new Int32Array(buf), floats = new Float32Array(buf);
    const next = rng(5);
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      for (let i = 0; i < chunk; i++) {
        ints[i * (dim + 1)] = dim;
        for (let j = 1; j <= dim; j++) floats[i * (dim + 1) + j] = next() - 0.5;
      }
      fs.writeSync(fd, new Uint8Array(buf));
    }
    fs.closeSync(fd);
    const size = fs.statSync(file).size;
    const r = Bun.spawnSync([process.execPath, CHILD, "rss", path.join(dir, "db"), file], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(r.stderr.toString());
    const m = JSON.parse(r.stdout.toString()) as { rows: number; anonGrowthMB: number; fileGrowthMB: number };
    console.log(`COPY of ${(size / 2 ** 20).toFixed(0)} MB .fvecs: RssAnon +${m.anonGrowthMB.toFixed(1)} MB, RssFile +${m.fileGrowthMB.toFixed(1)} MB`);
    expect(m.rows).toBe(rows);
    // the whole file would be +98 MB of vectors (+200 MB and more as one batch, as before)
    expect(m.anonGrowthMB).toBeLessThan(size / 2 ** 20 / 2);
    expect(m.fileGrowthMB).toBeLessThan(size / 2 ** 20 / 2);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe("Parquet row groups", () => {
  test("a big row group whose columns have an offset index is read a slice of pages at a time", async () => {
    const { openParquet } = await import("../src/storage/formats/parquet");
    const file = path.join(tempDir(), "big_group.parquet");
    const n = 3000;
    const schema = [
      { name: "root", num_children: 2 },
      { name: "id", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" },
      { name: "vector", repetition_type: "REQUIRED", converted_type: "LIST", num_children: 1 },
      { name: "list", repetition_type: "REPEATED", num_children: 1 },
      { name: "element", type: "FLOAT", repetition_type: "REQUIRED" },
    ];
    const columnData = [
      { name: "id", data: Array.from({ length: n }, (_, i) => `g${i}`), offsetIndex: true },
      { name: "vector", data: Array.from({ length: n }, (_, i) => vec(i, 4)), offsetIndex: true },
    ];
    fs.writeFileSync(file, new Uint8Array(parquetWriteBuffer({ schema: schema as never, columnData: columnData as never, rowGroupSize: n, pageSize: 4000 } as never)));
    const reader = openParquet(file, 20_000);
    const sizes: number[] = [];
    const ids: string[] = [];
    for (const b of reader.batches(["id", "vector"])) {
      sizes.push(b.numRows);
      for (let i = 0; i < b.numRows; i++) ids.push(b.value("id", i) as string);
    }
    reader.close();
    expect(sizes.length).toBeGreaterThan(3); // one row group, several slices
    expect(ids).toEqual(Array.from({ length: n }, (_, i) => `g${i}`));
    // and an import of it is whole
    using db = open();
    const c = db.createCollection("g", { dimension: DIM });
    expect(c.importFrom(file)).toBe(n);
    expect(Array.from(c.get("g2999")!.vector)).toEqual(Array.from(new Float32Array(vec(2999, 4))));
  });
});

describe("snapshots larger than a ByteWriter chunk", () => {
  test("stream into their file a chunk at a time and read back whole", async () => {
    const { ByteWriter } = await import("../src/storage/binary");
    const { readSnapshotFile, writeSnapshotStream } = await import("../src/storage/snapshot");
    const big = new Float32Array(3_000_000).map((_, i) => i * 0.5);
    const fill = (w: InstanceType<typeof ByteWriter>) => {
      for (let i = 0; i < 1000; i++) w.u32(i);
      w.f32array(big).f32array(big).string("tail ✓");
      for (let i = 0; i < 5000; i++) w.f64(i / 3);
    };
    const file = path.join(tempDir(), "x.snap");
    let flushed = 0;
    writeSnapshotStream(file, (w) => {
      fill(w);
      flushed = w.length;
    });
    expect(flushed).toBeGreaterThan(24_000_000);
    const r = readSnapshotFile(file);
    for (let i = 0; i < 1000; i++) expect(r.u32()).toBe(i);
    expect(r.f32array()).toEqual(big);
    expect(r.f32array()).toEqual(big);
    expect(r.string()).toBe("tail ✓");
    for (let i = 0; i < 5000; i++) expect(r.f64()).toBe(i / 3);
    // the same bytes as a writer that keeps everything (chunks, then copied together)
    const whole = new ByteWriter(16);
    fill(whole);
    expect(whole.chunks().length).toBeGreaterThan(1);
    // the file: header, body, an empty table of separately checked ranges (count 0), checksum
    const bytes = new Uint8Array(fs.readFileSync(file));
    expect(new DataView(bytes.buffer).getUint32(bytes.length - 8, true)).toBe(0);
    expect(whole.finish()).toEqual(bytes.subarray(12, -8));
  });
});
