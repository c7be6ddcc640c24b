import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open, type Collection, type Database } from "../src/index";
import { crc32, jsonFromUtf8 } from "../src/storage/binary";
import { setFaultHook } from "../src/storage/fs";
import { writeHashSlots } from "../src/storage/hash_slots";
import { ROW_FILE_HEADER } from "../src/storage/row_files";
import { expectCode, randomVectors, rng, row, tempDir } from "./helpers";

setDefaultTimeout(120_000);
afterEach(() => setFaultHook(null));

const dim = 8;

function unicodeText(r: () => number, len: number): string {
  const alphabet = ["a", "é", "ß", "ж", "中", "文", "😀", "🚀", "\u0000", "\n", "\"", "\\", "\u2028", "𝄞", " "];
  let s = "";
  while (s.length < len) s += alphabet[Math.floor(r() * alphabet.length)]!;
  return s;
}

function vec(r: () => number): number[] {
  return Array.from({ length: dim }, () => r() * 2 - 1);
}

/** Every field of every item, in iteration order. */
function dump(c: Collection) {
  return [...c].map((it) => ({ id: it.id, vector: Array.from(it.vector), payload: it.payload, sparse: it.sparse ? { i: Array.from(it.sparse.indices), v: Array.from(it.sparse.values) } : null }));
}

function rowFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => /\.(rows|ridx|hidx)$/.test(f)).sort();
}

describe("row files: ids, payloads and sparse vectors of mmap collections on disk", () => {
  test("round trips through reopen, payload updates, deletes, vacuum and ALTER storage", () => {
    const dir = tempDir();
    const r = rng(7);
    const big = unicodeText(r, 300_000); // a payload far larger than a page
    const items = Array.from({ length: 500 }, (_, i) => ({
      id: i === 0 ? "" + "键".repeat(3) + "🔑" : i === 1 ? "x".repeat(1000) : `id-${i}-${unicodeText(r, 3)}`,
      vector: vec(r),
      payload: i === 2 ? { text: big } : i % 5 === 0 ? null : { i, t: unicodeText(r, 1 + Math.floor(r() * 40)), nested: { a: [i, "ü"] } },
      sparse: i % 3 === 0 ? { indices: [i, i + 7, 100000 + i], values: [0.5, -1, i / 7] } : null,
    }));
    let expected: ReturnType<typeof dump>;
    {
      using db = open(dir);
      const c = db.createCollection("c", { dimension: dim, storage: "mmap" });
      c.insertMany(items);
      expected = dump(c);
    }
    expect(rowFiles(dir).length).toBe(3);
    const check = (db: Database) => {
      const c = db.collection("c");
      expect(dump(c)).toEqual(expected);
      for (const e of expected) expect(c.get(e.id)!.payload).toEqual(e.payload);
      expect(c.has("nope")).toBe(false);
      return c;
    };
    {
      using db = open(dir);
      const c = check(db);
      expect(c.memoryUsage().metadataBytes).toBeLessThan(500 * 5 + 4096); // only bitmap and norms in RAM
      // changes to committed rows: payload only (stays in place), vector (moves to the end), delete, re-insert
      c.update(items[3]!.id, { payload: { changed: "yes ✓" } });
      c.update(items[4]!.id, { sparse: { indices: [1], values: [2] } });
      c.update(items[6]!.id, { vector: vec(r) });
      c.delete(items[7]!.id);
      c.delete(items[0]!.id);
      c.insert(items[0]!.id, vec(r), { back: true });
      expect(c.get(items[3]!.id)!.payload).toEqual({ changed: "yes ✓" });
      expected = dump(c);
      db.checkpoint();
      expect(dump(c)).toEqual(expected);
    }
    {
      using db = open(dir);
      const c = check(db);
      expect(c.vacuum().removedRows).toBe(3);
      expect(dump(c)).toEqual(expected);
    }
    {
      using db = open(dir);
      const c = check(db);
      c.setStorage("memory");
      expect(dump(c)).toEqual(expected);
    }
    expect(rowFiles(dir)).toEqual([]);
    {
      using db = open(dir);
      const c = check(db);
      expect(c.config.storage).toBe("memory");
      c.setStorage("mmap");
      expect(dump(c)).toEqual(expected);
    }
    expect(rowFiles(dir).length).toBe(3);
    using db = open(dir);
    check(db);
  });

  test("opening reads no per-row data from the row files", () => {
    const dir = tempDir();
    {
      using db = open(dir);
      const c = db.createCollection("c", { dimension: dim, storage: "mmap" });
      const r = rng(3);
      c.insertMany(Array.from({ length: 3000 }, (_, i) => ({ id: `k${i}`, vector: vec(r), payload: { i } })));
    }
    const heap = path.join(dir, rowFiles(dir).find((f) => f.endsWith(".rows"))!);
    const size = fs.statSync(heap).size;
    const fd = fs.openSync(heap, "r+");
    fs.writeSync(fd, Buffer.alloc(size - 4096, 0xff), 0, size - 4096, 4096);
    fs.closeSync(fd);
    using db = open(dir);
    expect(db.collection("c").count()).toBe(3000); // opened without reading a record
    expect(() => db.collection("c").get("k5")).toThrow(); // the scrambled records are what a read sees
  });

  test("many rows: the id hash table is rebuilt past its slack, lookups stay exact across reopen", () => {
    const dir = tempDir();
    const n = 30_000;
    const data = randomVectors(n, dim, 5);
    {
      using db = open(dir, { checkpointBytes: 200_000, durability: "normal" });
      const c = db.createCollection("c", { dimension: dim, storage: "mmap" });
      for (let s = 0; s < n; s += 1000) {
        c.insertMany(Array.from({ length: 1000 }, (_, j) => ({ id: `item/${s + j}`, vector: row(data, s + j, dim), payload: { n: s + j } })));
        if (s % 5000 === 0) c.deleteMany([`item/${s + 1}`, `item/${s + 2}`]);
      }
    }
    using db = open(dir);
    const c = db.collection("c");
    expect(c.count()).toBe(n - 12);
    for (let i = 0; i < n; i += 97) {
      const gone = i % 5000 === 1 || i % 5000 === 2;
      expect(c.get(`item/${i}`)?.payload ?? null).toEqual(gone ? null : { n: i });
    }
    expect(c.has("item/30000")).toBe(false);
  });

  test("a hash table written in parts of 16 slots (runs spilling into the next part, and round from the last to the first) finds every id", () => {
    const was = process.env.VQLITE_HASH_PART_SLOTS;
    process.env.VQLITE_HASH_PART_SLOTS = "16";
    try {
      const dir = tempDir();
      const n = 3000;
      const data = randomVectors(n, dim, 9);
      {
        using db = open(dir, { durability: "normal" });
        const c = db.createCollection("c", { dimension: dim, storage: "mmap" });
        for (let s = 0; s < n; s += 500) c.insertMany(Array.from({ length: 500 }, (_, j) => ({ id: `k${s + j}`, vector: row(data, s + j, dim) })));
        c.deleteMany(["k5", "k6"]);
        db.checkpoint();
      }
      using db = open(dir);
      const c = db.collection("c");
      for (let i = 0; i < n; i++) expect(c.has(`k${i}`)).toBe(i !== 5 && i !== 6);
      for (let i = n; i < n + 300; i++) expect(c.has(`k${i}`)).toBe(false);
      // the table is exactly as large as one built at once, and holds every live row once
      const hidx = fs.readdirSync(dir).find((f) => f.endsWith(".hidx"))!;
      const bytes = fs.readFileSync(path.join(dir, hidx));
      const v = new DataView(bytes.buffer, bytes.byteOffset);
      const cap = v.getUint32(12, true);
      const slots = new Uint32Array(bytes.buffer.slice(bytes.byteOffset + ROW_FILE_HEADER, bytes.byteOffset + ROW_FILE_HEADER + cap * 4));
      const rows = Array.from(slots).filter((x) => x !== 0).map((x) => x - 1).sort((a, b) => a - b);
      expect(rows.length).toBe(n - 2);
      expect(new Set(rows).size).toBe(n - 2);
    } finally {
      if (was === undefined) delete process.env.VQLITE_HASH_PART_SLOTS;
      else process.env.VQLITE_HASH_PART_SLOTS = was;
    }
  });

  test("writeHashSlots: a table written in parts answers every probe as one built at once, runs wrapping round included", () => {
    const rand = rng(4);
    for (const [cap, part, hashes] of [
      // runs pile up at the end and wrap round into slot 0, past the first part
      [64, 16, Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 63 : 60 + (i % 4)))],
      // a run longer than a part
      [256, 16, Array.from({ length: 100 }, () => 17)],
      // random, at the real load (at most half full)
      [1024, 64, Array.from({ length: 512 }, () => Math.floor(rand() * 2 ** 32))],
      [1024, 1024, Array.from({ length: 500 }, () => Math.floor(rand() * 2 ** 32))],
    ] as [number, number, number[]][]) {
      const file = new Uint32Array(cap);
      writeHashSlots(
        cap,
        part,
        (fn) => hashes.forEach((h, row) => fn(row, h)),
        (slots, first) => file.set(slots, first),
        (into, first) => into.set(file.subarray(first, first + into.length)),
      );
      const mask = cap - 1;
      expect(file.filter((v) => v !== 0).length).toBe(hashes.length);
      hashes.forEach((h, row) => {
        // the probe from the home slot meets the row before any empty slot
        for (let s = h & mask, steps = 0; ; s = (s + 1) & mask, steps++) {
          expect(file[s]).not.toBe(0);
          expect(steps).toBeLessThan(cap);
          if (file[s] === row + 1) break;
        }
      });
    }
  });

  test("a database saved with ids and payloads in the snapshot (older format) opens and converts", () => {
    const dir = tempDir();
    const r = rng(11);
    let expected: ReturnType<typeof dump>;
    {
      // a memory collection writes the in-RAM snapshot format that mmap collections used to write
      using db = open(dir);
      const c = db.createCollection("c", { dimension: dim, storage: "memory" });
      c.insertMany(Array.from({ length: 200 }, (_, i) => ({ id: `o${i}`, vector: vec(r), payload: { t: unicodeText(r, 20) }, sparse: i % 4 ? null : { indices: [i], values: [1] } })));
      c.delete("o5");
      expected = dump(c);
    }
    // relabel it mmap in the manifest, as an older vqlite would have written it
    const manifestPath = path.join(dir, "MANIFEST");
    const text = fs.readFileSync(manifestPath, "utf8");
    const json = JSON.parse(text.slice(0, text.lastIndexOf("\ncrc32 ")));
    json.collections[0].config.storage = "mmap";
    const out = JSON.stringify(json, null, 2);
    fs.writeFileSync(manifestPath, `${out}\ncrc32 ${crc32(new TextEncoder().encode(out)).toString(16).padStart(8, "0")}\n`);
    {
      using db = open(dir);
      const c = db.collection("c");
      expect(c.config.storage).toBe("mmap");
      expect(dump(c)).toEqual(expected);
    }
    expect(rowFiles(dir).length).toBe(3); // converted at the close's checkpoint
    using db = open(dir);
    expect(dump(db.collection("c"))).toEqual(expected);
  });

  test("memory and mmap collections give identical answers on a random workload", () => {
    const dir = tempDir();
    const r = rng(2024);
    let db = open(dir, { checkpointBytes: 64 * 1024, durability: "normal" });
    const opts = (storage: "memory" | "mmap") => ({ dimension: dim, metric: "cosine" as const, storage, index: { type: "clustered" as const, maxLeafSize: 40 } });
    db.createCollection("m", opts("memory"));
    db.createCollection("d", opts("mmap"));
    const ids: string[] = [];
    let next = 0;
    for (let step = 0; step < 3000; step++) {
      const m = db.collection("m"), d = db.collection("d");
      const x = r();
      const both = (fn: (c: Collection) => void) => {
        fn(m);
        fn(d);
      };
      if (x < 0.35 || ids.length < 10) {
        const id = `n${next++}-${unicodeText(r, 2)}`;
        const v = vec(r), p = r() < 0.2 ? null : { k: Math.floor(r() * 10), s: unicodeText(r, Math.floor(r() * 30)) };
        const sp = r() < 0.3 ? { indices: [Math.floor(r() * 50)], values: [r()] } : null;
        both((c) => c.insert({ id, vector: v, payload: p, sparse: sp }));
        ids.push(id);
      } else if (x < 0.45) {
        const batch = Array.from({ length: 1 + Math.floor(r() * 20) }, () => ({ id: `b${next++}`, vector: vec(r), payload: { k: Math.floor(r() * 10) } }));
        both((c) => c.insertMany(batch));
        ids.push(...batch.map((b) => b.id));
      } else if (x < 0.6) {
        const id = ids[Math.floor(r() * ids.length)]!;
        const p = { k: Math.floor(r() * 10), u: step };
        both((c) => c.update(id, { payload: p }));
      } else if (x < 0.68) {
        const id = ids[Math.floor(r() * ids.length)]!;
        const v = vec(r);
        both((c) => c.upsert(id, v, { up: step }));
      } else if (x < 0.8) {
        const id = ids.splice(Math.floor(r() * ids.length), 1)[0]!;
        both((c) => c.delete(id));
      } else if (x < 0.97) {
        const q = vec(r), k = 1 + Math.floor(r() * 8), want = Math.floor(r() * 10);
        const filter = (p: unknown) => (p as { k?: number } | null)?.k !== want;
        expect(d.search(q, { k, filter, exact: true })).toEqual(m.search(q, { k, filter, exact: true }));
        expect(d.search(q, { k })).toEqual(m.search(q, { k }));
      } else if (x < 0.985) {
        db.close();
        db = open(dir, { checkpointBytes: 64 * 1024, durability: "normal" });
      } else if (x < 0.99) {
        both((c) => c.vacuum());
      } else {
        db.checkpoint();
      }
      if (step % 500 === 0) expect(dump(d)).toEqual(dump(m));
    }
    expect(dump(db.collection("d"))).toEqual(dump(db.collection("m")));
    expect([...db.collection("d").keys()].sort()).toEqual([...ids].sort());
    db.close();
  });

  test("a checkpoint that fails while writing row files changes nothing; the next one and a reopen see every write", () => {
    const r = rng(5);
    // each fault: [operation, file suffix, which occurrence]
    const faults: [string, string, number][] = [
      ["write", ".rows", 1],
      ["write", ".ridx", 1],
      ["fdatasync", ".ridx", 1],
      ["open", ".hidx", 1],
      ["write", ".hidx", 1],
      ["rename", ".snap", 1],
      ["rename", "MANIFEST", 1],
    ];
    for (const [op, suffix, nth] of faults) {
      const dir = tempDir();
      let db = open(dir, { durability: "normal" });
      const c = db.createCollection("c", { dimension: dim, storage: "mmap" });
      c.insertMany(Array.from({ length: 100 }, (_, i) => ({ id: `a${i}`, vector: vec(r), payload: { i } })));
      db.checkpoint(); // row files exist; the next checkpoint appends (or, past the hash slack, rehashes)
      c.insertMany(Array.from({ length: 5000 }, (_, i) => ({ id: `b${i}`, vector: vec(r), payload: { i, s: "ü".repeat(i % 50) } })));
      c.update("a1", { payload: { replaced: true } });
      c.delete("a2");
      const expected = dump(c);
      let seen = 0;
      setFaultHook((o, file) => {
        if (o === op && file.endsWith(suffix) && ++seen === nth) throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
      });
      expect(() => db.checkpoint()).toThrow();
      setFaultHook(null);
      expect(seen).toBeGreaterThanOrEqual(nth);
      expect(dump(c)).toEqual(expected);
      let cur = c;
      if (db.writeBlocked !== null) {
        // a failed sync is never retried: writes are refused until the database is reopened
        expect(() => cur.insert("after", vec(r), { late: 1 })).toThrow("refuses writes until it is reopened");
        db.close();
        db = open(dir);
        cur = db.collection("c");
        expect(dump(cur)).toEqual(expected);
      }
      cur.insert("after", vec(r), { late: 1 });
      const expectedAfter = dump(cur);
      db.checkpoint();
      expect(dump(cur)).toEqual(expectedAfter);
      db.close();
      db = open(dir);
      expect(dump(db.collection("c"))).toEqual(expectedAfter);
      db.close();
    }
  });

  test("a vacuum whose new row files fail to write keeps every item; a checkpoint after reopening writes them", () => {
    const r = rng(6);
    for (const op of ["write", "fdatasync", "mmap"]) {
      const dir = tempDir();
      let db = open(dir);
      const c = db.createCollection("c", { dimension: dim, storage: "mmap" });
      c.insertMany(Array.from({ length: 300 }, (_, i) => ({ id: `v${i}`, vector: vec(r), payload: { i }, sparse: i % 2 ? { indices: [i], values: [i] } : null })));
      db.checkpoint();
      c.deleteMany(Array.from({ length: 100 }, (_, i) => `v${i * 3}`));
      const expected = dump(c);
      setFaultHook((o, file) => {
        if (o === op && file.endsWith(".rows")) throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
      });
      expect(() => c.vacuum()).toThrow();
      setFaultHook(null);
      expect(dump(c)).toEqual(expected);
      expect(c.get("v1")!.payload).toEqual({ i: 1 });
      if (db.writeBlocked !== null) {
        // the vacuum's checkpoint failed: writes are refused until the database is reopened
        db.close();
        db = open(dir);
        expect(dump(db.collection("c"))).toEqual(expected);
      }
      db.checkpoint();
      db.close();
      db = open(dir);
      expect(dump(db.collection("c"))).toEqual(expected);
      db.close();
    }
  });

  test("many payload updates to committed rows: replaced records accumulate, then the files are written anew", () => {
    const dir = tempDir();
    const r = rng(8);
    let db = open(dir);
    const c = db.createCollection("c", { dimension: dim, storage: "mmap" });
    c.insertMany(Array.from({ length: 3000 }, (_, i) => ({ id: `p${i}`, vector: vec(r), payload: { i } })));
    db.checkpoint();
    const first = rowFiles(dir);
    for (let i = 0; i < 3000; i += 30) c.update(`p${i}`, { payload: { i, round: 1 } }); // 100 replaced: appended, recorded in the snapshot
    db.checkpoint();
    expect(rowFiles(dir)).toEqual(first);
    db.close();
    db = open(dir);
    let d = db.collection("c");
    for (let i = 0; i < 3000; i += 30) expect(d.get(`p${i}`)!.payload).toEqual({ i, round: 1 });
    d.updateMany(Array.from({ length: 2000 }, (_, i) => `p${i}`), { payload: { round: 2 } }); // past the limit: new files
    const expected = dump(d);
    db.checkpoint();
    expect(rowFiles(dir).some((f) => first.includes(f))).toBe(false);
    expect(dump(d)).toEqual(expected);
    db.close();
    db = open(dir);
    d = db.collection("c");
    expect(dump(d)).toEqual(expected);
    expect(d.get("p2999")!.payload).toEqual({ i: 2999 });
    db.close();
  });

  test("missing, truncated or foreign row files are refused on open, naming the file", () => {
    const make = () => {
      const dir = tempDir();
      using db = open(dir);
      const r = rng(9);
      db.createCollection("c", { dimension: dim, storage: "mmap" }).insertMany(Array.from({ length: 50 }, (_, i) => ({ id: `m${i}`, vector: vec(r), payload: { i } })));
      return dir;
    };
    const fileOf = (dir: string, ext: string) => path.join(dir, rowFiles(dir).find((f) => f.endsWith(ext))!);
    let dir = make();
    fs.rmSync(fileOf(dir, ".ridx"));
    expect(expectCode(() => open(dir), "IO_ERROR").message).toContain(".ridx");
    dir = make();
    fs.truncateSync(fileOf(dir, ".rows"), 4096);
    expect(expectCode(() => open(dir), "CORRUPT_FILE").message).toContain(".rows");
    dir = make();
    const hidx = fileOf(dir, ".hidx");
    fs.writeFileSync(hidx, Buffer.concat([Buffer.from("NOTAHASH"), fs.readFileSync(hidx).subarray(8)]));
    expect(expectCode(() => open(dir), "CORRUPT_FILE").message).toContain(".hidx");
    // the database opens again once the files are back in order, and nothing was deleted meanwhile
    dir = make();
    const ridx = fileOf(dir, ".ridx");
    const saved = fs.readFileSync(ridx);
    fs.truncateSync(ridx, 4096);
    expectCode(() => open(dir), "CORRUPT_FILE");
    fs.writeFileSync(ridx, saved);
    using db = open(dir);
    expect(db.collection("c").get("m7")!.payload).toEqual({ i: 7 });
  });

  test("payload bytes are parsed in place exactly as JSON.parse parses their text, and refused where it refuses them", () => {
    const enc = new TextEncoder();
    const r = rng(21);
    const values: unknown[] = [
      { t: unicodeText(r, 2000), n: -0, big: 1e308, small: 5e-324, i: 12345678901234567890, neg: -1.5e-7 },
      { "__proto__": { x: 1 }, constructor: "c", "": [null, true, false, [], {}] },
      { a: 1, nested: { deep: [[[["ü", "\u0000", "\ud800"]]]] } },
      { lone: "\ud83d" }, // a lone surrogate survives JSON.stringify as an escape
      {},
    ];
    for (const v of values) {
      const text = JSON.stringify(v);
      const bytes = enc.encode(text);
      const got = jsonFromUtf8(bytes) as object;
      expect(got).toEqual(JSON.parse(text));
      expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
      expect(Object.keys(got)).toEqual(Object.keys(JSON.parse(text)));
      // a view inside a larger buffer reads only its own bytes
      const framed = new Uint8Array(bytes.length + 20).fill(0x7b);
      framed.set(bytes, 10);
      expect(jsonFromUtf8(framed.subarray(10, 10 + bytes.length))).toEqual(JSON.parse(text));
    }
    // JSON text parses the same, duplicate keys included (last wins)
    expect(jsonFromUtf8(enc.encode('{"a":1,"a":2}'))).toEqual({ a: 2 });
    // Bun.JSONL takes these (skips or stops early); JSON.parse refuses them, and so does jsonFromUtf8
    for (const bad of ['{"a":1}\n{"b":2}', '{"a":', "1 2", '[1,2] x', '{"a":1}\u0000', "", "nul", "{bad}"]) {
      expect(() => JSON.parse(bad)).toThrow(SyntaxError);
      expect(() => jsonFromUtf8(enc.encode(bad))).toThrow(SyntaxError);
    }
  });

  test("damaged payload bytes read back as CORRUPT_FILE (through get and search), never as a different value", () => {
    const dir = tempDir();
    const r = rng(12);
    {
      using db = open(dir);
      const c = db.createCollection("c", { dimension: dim, storage: "mmap" });
      c.insertMany(Array.from({ length: 20 }, (_, i) => ({ id: `p${i}`, vector: vec(r), payload: { k: `é-${String(i).padStart(2, "0")}-abcd` } })));
    }
    const heap = path.join(dir, rowFiles(dir).find((f) => f.endsWith(".rows"))!);
    const original = fs.readFileSync(heap);
    const at = original.indexOf(Buffer.from('{"k":"é-07-abcd"}'));
    expect(at).toBeGreaterThan(0);
    const damage = (edit: (b: Buffer) => void) => {
      const b = Buffer.from(original);
      edit(b);
      fs.writeFileSync(heap, b);
    };
    const cases: [string, (b: Buffer) => void][] = [
      ["not UTF-8", (b) => (b[at + 6] = 0xff)], // the first byte of "é"
      ["cut short", (b) => (b[at + 17] = 0x20)], // the closing brace
      ["two values", (b) => b.write('{"k":1}\n{"k":2222}', at, "utf8")], // same length, a JSON Lines reader would take the first
    ];
    for (const [what, edit] of cases) {
      damage(edit);
      using db = open(dir);
      const c = db.collection("c");
      const neighbour = c.get("p6")!;
      expect(neighbour.payload).toEqual({ k: "é-06-abcd" }); // its neighbours read as before
      const e = expectCode(() => c.get("p7"), "CORRUPT_FILE");
      expect(e.message, what).toContain("payload");
      expectCode(() => c.search(neighbour.vector, { k: 20 }), "CORRUPT_FILE"); // every row is a hit
    }
    fs.writeFileSync(heap, original);
    using db = open(dir);
    expect(db.collection("c").get("p7")!.payload).toEqual({ k: "é-07-abcd" });
  });
});
