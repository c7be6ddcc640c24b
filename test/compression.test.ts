/**
 * Payload compression (issue 10): `compression: "zstd"` stores an mmap
 * collection's payloads and sparse vectors in zstd blocks in its row files.
 * Answers must be those of an uncompressed twin through every path (reopen,
 * updates, deletes, vacuum, ALTER, readers); damaged blocks must fail as
 * CORRUPT_FILE naming the file; DESCRIBE's byte counts follow their definition.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { textGenerator } from "../bench/text_payloads";
import { open, type Collection, type Database } from "../src/index";
import { blockStats } from "../src/storage/row_files";
import { blockSpans } from "./fixtures/file_fuzz";
import { expectCode, rng, tempDir } from "./helpers";

setDefaultTimeout(60_000);

const dim = 6;

function unicodeText(r: () => number, len: number): string {
  const alphabet = ["a", "é", "ß", "ж", "中", "😀", "\u0000", "\n", "\"", "\\", "\u2028", "𝄞", " "];
  let s = "";
  while (s.length < len) s += alphabet[Math.floor(r() * alphabet.length)]!;
  return s;
}

/** Items with payloads of every kind: none, nested, unicode, large (over a block), text, and sparse vectors. */
function items(n: number, seed: number, from = 0) {
  const r = rng(seed);
  const g = textGenerator(seed);
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    const payload =
      i % 7 === 0 ? null
      : i % 7 === 1 ? { i, nested: { a: [i, "ü", { deep: [null, true, 1.5] }] } }
      : i % 7 === 2 ? { i, u: unicodeText(r, 1 + Math.floor(r() * 60)) }
      : i === 3 ? { i, big: unicodeText(r, 120_000) }
      : g.payload(i, 200 + Math.floor(r() * 1500));
    return {
      id: `id-${i}-${unicodeText(r, 2)}`,
      vector: Array.from({ length: dim }, () => r() * 2 - 1),
      payload,
      sparse: i % 4 === 0 ? { indices: [i, i + 3, 70000 + i], values: [0.5, -1, i / 9] } : undefined,
    };
  });
}

function dump(c: Collection) {
  return [...c].map((it) => ({ id: it.id, vector: Array.from(it.vector), payload: it.payload, sparse: it.sparse ? [Array.from(it.sparse.indices), Array.from(it.sparse.values)] : null }));
}

/** What both collections answer: every item, gets, searches with and without filters. */
function answers(c: Collection) {
  const q = [0.3, -0.2, 0.1, 0.9, -0.5, 0.05];
  return {
    items: dump(c),
    search: c.search(q, { k: 10 }).map((h) => [h.id, h.payload]),
    filtered: c.search(q, { k: 10, filter: (p) => p !== null && typeof (p as { year?: number }).year === "number" && (p as { year: number }).year > 1990 }).map((h) => h.id),
    gets: [...c.keys()].filter((_, i) => i % 13 === 0).map((id) => c.get(id)!.payload),
  };
}

/** The result of one VQL statement. */
function executeOne(db: Database, text: string) {
  const results = db.exec(text);
  expect(results).toHaveLength(1);
  return results[0]!;
}

function rowsFile(dir: string, collection: string): string {
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(`${collection}.`) && f.endsWith(".rows"));
  expect(files.length).toBe(1);
  return path.join(dir, files[0]!);
}

function utf8(s: string): number {
  return new TextEncoder().encode(s).length;
}

function liveRawBytes(c: Collection): number {
  let n = 0;
  for (const it of c) if (it.payload !== null) n += utf8(JSON.stringify(it.payload));
  return n;
}

/** Apply the same writes to both collections. */
function churn(cs: Collection[], seed: number): void {
  const r = rng(seed);
  const ids = [...cs[0]!.keys()];
  for (let k = 0; k < 40; k++) {
    const id = ids[Math.floor(r() * ids.length)]!;
    const roll = r();
    for (const c of cs) {
      if (!c.has(id)) continue;
      if (roll < 0.4) c.delete(id);
      else if (roll < 0.7) c.update(id, { payload: { replaced: k, text: "é".repeat(k * 10) } });
      else c.update(id, { payload: null });
    }
  }
}

describe("zstd payload compression on mmap storage", () => {
  test("answers equal an uncompressed twin through reopen, updates, deletes, checkpoints, vacuum and ALTER", () => {
    const dir = tempDir();
    let expected: ReturnType<typeof answers>;
    const pair = (db: Database) => [db.collection("plain"), db.collection("packed")];
    {
      using db = open(dir);
      const plain = db.createCollection("plain", { dimension: dim, storage: "mmap" });
      const packed = db.createCollection("packed", { dimension: dim, storage: "mmap", compression: "zstd" });
      expect(packed.config.compression).toBe("zstd");
      const all = items(600, 3);
      plain.insertMany(all);
      packed.insertMany(all);
      db.checkpoint();
      churn([plain, packed], 5);
      db.checkpoint(); // replacement records in a block of their own
      plain.insertMany(items(50, 4, 600));
      packed.insertMany(items(50, 4, 600));
      churn([plain, packed], 6);
      expected = answers(plain);
      expect(answers(packed)).toEqual(expected);
    }
    // version 1 heap for "none" (readable by every earlier build), version 2 for "zstd"
    const version = (f: string) => new DataView(fs.readFileSync(f).buffer).getUint32(8, true);
    expect(version(rowsFile(dir, "plain"))).toBe(1);
    expect(version(rowsFile(dir, "packed"))).toBe(2);
    expect(fs.statSync(rowsFile(dir, "packed")).size).toBeLessThan(fs.statSync(rowsFile(dir, "plain")).size);
    {
      using db = open(dir);
      const [plain, packed] = pair(db);
      expect(answers(plain!)).toEqual(expected);
      expect(answers(packed!)).toEqual(expected);
      for (const c of [plain!, packed!]) c.vacuum();
      expect(answers(packed!)).toEqual(expected);
      // to RAM and back: the setting stays, the rows are compressed again
      packed!.setStorage("memory");
      expect(packed!.config).toMatchObject({ storage: "memory", compression: "zstd" });
      expect(answers(packed!)).toEqual(expected);
      packed!.setStorage("mmap");
      expect(answers(packed!)).toEqual(expected);
    }
    {
      using db = open(dir);
      const packed = db.collection("packed");
      expect(packed.config).toMatchObject({ storage: "mmap", compression: "zstd" });
      expect(version(rowsFile(dir, "packed"))).toBe(2);
      expect(answers(packed)).toEqual(expected);
      // and off again: a version 1 heap with the same answers
      packed.setCompression("none");
      expect(answers(packed)).toEqual(expected);
    }
    {
      using db = open(dir);
      expect(db.collection("packed").config.compression).toBe("none");
      expect(version(rowsFile(dir, "packed"))).toBe(1);
      expect(answers(db.collection("packed"))).toEqual(expected);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("row files written before compression existed (version 1) open, grow and convert to zstd", () => {
    // made by this repository at 07c8cc3 (before compression): ids, payloads, sparse vectors, a delete and a replaced payload
    const fixture = path.join(import.meta.dir, "fixtures", "v1_rows_db");
    const expected = JSON.parse(fs.readFileSync(`${fixture}.json`, "utf8")) as ReturnType<typeof dump>;
    const dir = tempDir();
    fs.cpSync(fixture, dir, { recursive: true });
    const added = items(30, 21).map((it) => ({ ...it, vector: it.vector.slice(0, 3) }));
    let after: ReturnType<typeof dump>;
    {
      using db = open(dir);
      const c = db.collection("old");
      expect(c.config.compression).toBe("none");
      expect(JSON.parse(JSON.stringify(dump(c)))).toEqual(expected); // the JSON file has no -0
      const d = db.exec("DESCRIBE old")[0]!.rows![0] as { payloadBytesRaw: number; payloadBytesStored: number };
      expect(d.payloadBytesRaw).toBe(liveRawBytes(c));
      expect(d.payloadBytesStored).toBe(d.payloadBytesRaw);
      c.insertMany(added);
      after = dump(c);
    }
    expect(new DataView(fs.readFileSync(rowsFile(dir, "old")).buffer).getUint32(8, true)).toBe(1); // appended to, still version 1
    {
      using db = open(dir);
      expect(dump(db.collection("old"))).toEqual(after);
      db.exec("ALTER COLLECTION old SET COMPRESSION ZSTD");
      expect(dump(db.collection("old"))).toEqual(after);
    }
    {
      using db = open(dir);
      expect(db.collection("old").config.compression).toBe("zstd");
      expect(dump(db.collection("old"))).toEqual(after);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("a log written before compression existed replays its CREATE as compression none", () => {
    // made at 07c8cc3: an mmap collection created and filled, then a crash before any checkpoint
    const dir = tempDir();
    fs.cpSync(path.join(import.meta.dir, "fixtures", "v1_wal_db"), dir, { recursive: true });
    {
      using db = open(dir);
      const c = db.collection("logged");
      expect(c.config.compression).toBe("none");
      expect(c.get("a")!.payload).toEqual({ t: "from the log" });
      expect(db.exec("DESCRIBE logged")[0]!.rows![0]).toMatchObject({ compression: "none", payloadBytesRaw: utf8('{"t":"from the log"}') });
    }
    {
      using db = open(dir); // from the checkpoint close() wrote
      expect(db.collection("logged").config.compression).toBe("none");
      expect(db.collection("logged").get("a")!.payload).toEqual({ t: "from the log" });
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("a full scan decompresses each block once; a payload read decompresses one block", () => {
    const dir = tempDir();
    {
      using db = open(dir);
      const g = textGenerator(9);
      db.createCollection("t", { dimension: 2, storage: "mmap", compression: "zstd" }).insertMany(
        Array.from({ length: 400 }, (_, i) => ({ id: `t${i}`, vector: [i, 1], payload: g.payload(i, 1000) })),
      );
    }
    {
      using db = open(dir);
      const c = db.collection("t");
      const before = blockStats.decompressed;
      const calls = () => blockStats.decompressed - before;
      expect(c.get("t200")!.payload).toMatchObject({ id: 200 });
      expect(calls()).toBe(1);
      expect(c.get("t200")!.payload).toMatchObject({ id: 200 }); // cached
      expect(calls()).toBe(1);
      // ~9 payloads a block: one of the neighbours shares t200's block
      expect([c.get("t199")!.payload, c.get("t201")!.payload]).toMatchObject([{ id: 199 }, { id: 201 }]);
      expect(calls()).toBeLessThan(3);
      let n = 0;
      for (const it of c) n += it.payload === null ? 0 : 1;
      expect(n).toBe(400);
      // 400 payloads of ~1 KB in 8 KiB blocks: about 50 blocks, not 400 decompressions
      expect(calls()).toBeGreaterThan(30);
      expect(calls()).toBeLessThan(80);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("DESCRIBE: payload bytes raw are the live payloads' UTF-8 JSON; stored shrink ≥ 2× on text with zstd", () => {
    const dir = tempDir();
    {
      using db = open(dir);
      executeOne(db, "CREATE COLLECTION packed (DIMENSION 6) STORAGE MMAP COMPRESSION ZSTD");
      executeOne(db, "CREATE COLLECTION plain (DIMENSION 6) STORAGE MMAP");
      executeOne(db, "CREATE COLLECTION ram (DIMENSION 6) COMPRESSION ZSTD");
      const g = textGenerator(2);
      // text payloads (and some null ones): the ≥ 2× target is for text
      const all = items(600, 8).map((it, i) => (it.payload === null ? it : { ...it, payload: g.payload(i, 1000) }));
      for (const name of ["packed", "plain", "ram"]) db.collection(name).insertMany(all);
      const describe = (name: string) => executeOne(db, `DESCRIBE ${name}`).rows![0] as Record<string, unknown>;
      for (const name of ["packed", "plain", "ram"]) {
        const c = db.collection(name);
        // before a checkpoint every row is in RAM: stored = raw
        expect(describe(name)).toMatchObject({ payloadBytesRaw: liveRawBytes(c), payloadBytesStored: liveRawBytes(c) });
      }
      expect(describe("packed").compression).toBe("zstd");
      expect(describe("ram")).toMatchObject({ compression: "zstd", storage: "memory" });
      db.checkpoint();
      churn(["packed", "plain", "ram"].map((n) => db.collection(n)), 11);
      db.checkpoint();
    }
    {
      using db = open(dir);
      const describe = (name: string) => executeOne(db, `DESCRIBE ${name}`).rows![0] as { payloadBytesRaw: number; payloadBytesStored: number };
      const raw = liveRawBytes(db.collection("plain"));
      expect(raw).toBeGreaterThan(100_000);
      for (const name of ["packed", "plain", "ram"]) expect(describe(name).payloadBytesRaw).toBe(raw);
      expect(describe("plain").payloadBytesStored).toBe(raw);
      expect(describe("ram").payloadBytesStored).toBe(raw);
      const stored = describe("packed").payloadBytesStored;
      expect(stored).toBeLessThan(raw / 2);
      // a share of blocks that are in the heap file: never more than the file holds
      expect(stored).toBeLessThan(fs.statSync(rowsFile(dir, "packed")).size);
      // a deleted row's payload leaves the counts at once
      const gone = [...db.collection("packed").keys()].find((id) => db.collection("packed").get(id)!.payload !== null)!;
      const its = utf8(JSON.stringify(db.collection("packed").get(gone)!.payload));
      db.collection("packed").delete(gone);
      expect(describe("packed").payloadBytesRaw).toBe(raw - its);
      expect(describe("packed").payloadBytesStored).toBeLessThan(stored);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("VQL: COMPRESSION in CREATE and ALTER … SET COMPRESSION; bad values change nothing", () => {
    const dir = tempDir();
    {
      using db = open(dir);
      executeOne(db, "CREATE COLLECTION c (DIMENSION 2) STORAGE MMAP");
      executeOne(db, `INSERT INTO c VALUES ('a', [1, 0], {"t": "hello hello hello"}), ('b', [0, 1], NULL)`);
      expect(executeOne(db, "ALTER COLLECTION c SET COMPRESSION ZSTD").message).toBe("c now uses compression zstd");
      expect(db.collection("c").config.compression).toBe("zstd");
      expect(executeOne(db, "ALTER COLLECTION c SET COMPRESSION zstd").message).toBe("c already uses compression zstd");
      expect(executeOne(db, "SELECT * FROM c WHERE id = 'a'").rows).toEqual([{ id: "a", vector: [1, 0], payload: { t: "hello hello hello" } }]);
      expect(executeOne(db, "DESCRIBE c").rows![0]).toMatchObject({ compression: "zstd", payloadBytesRaw: utf8('{"t":"hello hello hello"}') });
      expectCode(() => executeOne(db, "CREATE COLLECTION d (DIMENSION 2) COMPRESSION ZSTD COMPRESSION NONE"), "SYNTAX_ERROR");
      expectCode(() => executeOne(db, "CREATE COLLECTION d (DIMENSION 2) COMPRESSION LZ4"), "SYNTAX_ERROR");
      expectCode(() => executeOne(db, "ALTER COLLECTION c SET COMPRESSION GZIP"), "SYNTAX_ERROR");
      expect(db.hasCollection("d")).toBe(false);
      expectCode(() => db.createCollection("d", { dimension: 2, compression: "lz4" as "zstd" }), "INVALID_CONFIG");
      expectCode(() => db.collection("c").setCompression("brotli" as "zstd"), "INVALID_CONFIG");
      expect(db.hasCollection("d")).toBe(false);
      expect(db.collection("c").config.compression).toBe("zstd");
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("a damaged block or dictionary is CORRUPT_FILE naming the row file, never wrong data", () => {
    const dir = tempDir();
    const g = textGenerator(4);
    {
      using db = open(dir);
      db.createCollection("z", { dimension: 2, storage: "mmap", compression: "zstd" }).insertMany(
        Array.from({ length: 200 }, (_, i) => ({ id: `z${i}`, vector: [i, 1], payload: g.payload(i, 800) })),
      );
    }
    const file = rowsFile(dir, "z");
    const pristine = new Uint8Array(fs.readFileSync(file));
    // the heap opens with the dictionary (sampled from the payloads), then the first block
    const [dict, block] = blockSpans(pristine);
    expect(dict![0]).toBe(4096);
    expect(dict![1] - dict![0]).toBeGreaterThan(4 * 1024);
    const r = rng(5);
    const inside = ([a, b]: [number, number], k: number) => [a, a + 4, a + 8, a + 12, ...Array.from({ length: k }, () => a + 16 + Math.floor(r() * (b - a - 16)))];
    const flip = (at: number) => {
      const bad = pristine.slice();
      bad[at]! ^= 1 << Math.floor(r() * 8);
      fs.writeFileSync(file, bad);
    };
    for (const at of inside(dict!, 6)) {
      flip(at);
      const e = expectCode(() => open(dir), "CORRUPT_FILE");
      expect(e.message).toContain(path.basename(file));
    }
    const firstId = "z0";
    for (const at of inside(block!, 12)) {
      flip(at);
      using db = open(dir);
      const c = db.collection("z");
      expect(c.has(firstId)).toBe(true); // ids are outside the blocks
      const e = expectCode(() => c.get(firstId), "CORRUPT_FILE");
      expect(e.message).toContain(path.basename(file));
      expect(db.check().ok).toBe(false);
    }
    fs.writeFileSync(file, pristine);
    {
      using db = open(dir);
      expect(db.collection("z").get(firstId)!.payload).toMatchObject({ id: 0 });
      expect(db.check().ok).toBe(true);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("a heap written with too little payload text for a dictionary is written anew with one once the rows doubled", () => {
    const dir = tempDir();
    const g = textGenerator(6);
    using db = open(dir);
    const c = db.createCollection("z", { dimension: 2, storage: "mmap", compression: "zstd" });
    c.insertMany(Array.from({ length: 5 }, (_, i) => ({ id: `a${i}`, vector: [i, 0], payload: g.payload(i, 500) })));
    db.checkpoint();
    const first = rowsFile(dir, "z");
    expect(blockSpans(new Uint8Array(fs.readFileSync(first)))[0]![0]).toBe(4096);
    expect(new DataView(fs.readFileSync(first).buffer).getUint32(12, true)).toBe(0); // no dictionary
    c.insertMany(Array.from({ length: 2000 }, (_, i) => ({ id: `b${i}`, vector: [i, 1], payload: g.payload(i, 500) })));
    db.checkpoint();
    const second = rowsFile(dir, "z");
    expect(second).not.toBe(first);
    expect(new DataView(fs.readFileSync(second).buffer).getUint32(12, true)).toBeGreaterThan(4 * 1024);
    expect(c.get("a3")!.payload).toMatchObject({ id: 3 });
    expect(c.get("b1999")!.payload).toMatchObject({ id: 1999 });
  });

  test("a read-only handle reads compressed payloads and follows the writer's checkpoints", () => {
    const dir = tempDir();
    using db = open(dir);
    const c = db.createCollection("z", { dimension: 2, storage: "mmap", compression: "zstd" });
    c.insertMany(items(80, 12).map((it) => ({ ...it, vector: it.vector.slice(0, 2) })));
    db.checkpoint();
    using reader = open(dir, { readonly: true });
    expect(dump(reader.collection("z"))).toEqual(dump(c));
    expectCode(() => reader.exec("ALTER COLLECTION z SET COMPRESSION NONE"), "READ_ONLY");
    expectCode(() => reader.collection("z").setCompression("none"), "READ_ONLY");
    expect(reader.collection("z").config.compression).toBe("zstd");
    c.insertMany(items(40, 13, 80).map((it) => ({ ...it, vector: it.vector.slice(0, 2) })));
    churn([c], 14);
    db.checkpoint();
    expect(dump(reader.collection("z"))).toEqual(dump(c));
  });
});
