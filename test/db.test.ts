import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open } from "../src/index";
import { expectCode, randomVectors, row, tempDir } from "./helpers";

const HOLDER = path.join(import.meta.dir, "fixtures", "hold_lock.ts");

async function runHolder(dir: string, mode: "hold" | "once") {
  const child = Bun.spawn([process.execPath, HOLDER, dir, mode], { stdout: "pipe", stderr: "pipe" });
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  return { child, line: new TextDecoder().decode(value).trim() };
}

describe("database", () => {
  test("open() and open(':memory:') are in memory; mmap needs a directory", () => {
    for (const db of [open(), open(":memory:")]) {
      expect(db.inMemory).toBe(true);
      const c = db.createCollection("a", { dimension: 2 });
      c.insert("x", [1, 2]);
      expect(c.count()).toBe(1);
      expectCode(() => db.createCollection("b", { dimension: 2, storage: "mmap" }), "INVALID_CONFIG");
      db.close();
    }
  });

  test("collections persist across close and reopen, with every field", () => {
    const dir = tempDir();
    const dim = 24;
    const data = randomVectors(300, dim, 11);
    {
      using db = open(dir);
      for (const storage of ["memory", "mmap"] as const) {
        const c = db.createCollection(`c_${storage}`, { dimension: dim, metric: "dot", storage });
        c.insertMany(Array.from({ length: 300 }, (_, i) => ({ id: `${storage}-${i}`, vector: row(data, i, dim), payload: { i, s: storage } })));
        c.insert({ id: "sp", vector: row(data, 0, dim), sparse: { indices: [2, 4], values: [1, -1] } });
        c.delete(`${storage}-5`);
      }
      db.createCollection("dropped", { dimension: 3 });
      db.dropCollection("dropped");
    }
    using db = open(dir);
    expect(db.listCollections()).toEqual(["c_memory", "c_mmap"]);
    for (const storage of ["memory", "mmap"] as const) {
      const c = db.collection(`c_${storage}`);
      expect(c.config).toEqual({ dimension: dim, metric: "dot", normalize: false, storage, index: { type: "flat" }, quantization: "none", compression: "none" });
      expect(c.count()).toBe(300);
      expect(c.has(`${storage}-5`)).toBe(false);
      expect(c.get(`${storage}-7`)).toMatchObject({ vector: row(data, 7, dim).slice(), payload: { i: 7, s: storage } });
      expect(c.get("sp")!.sparse).toEqual({ indices: new Uint32Array([2, 4]), values: new Float32Array([1, -1]) });
      expect(c.search(row(data, 9, dim), { k: 3 })).toHaveLength(3);
    }
    // dropped collection's files are gone
    expect(fs.readdirSync(dir).some((f) => f.startsWith("dropped"))).toBe(false);
  });

  test("writes are recovered from the log without a clean close", () => {
    const dir = tempDir();
    const db = open(dir);
    const c = db.createCollection("c", { dimension: 2, storage: "mmap" });
    c.insert("a", [1, 2]);
    db.checkpoint();
    c.insert("b", [3, 4], { late: true });
    c.delete("a");
    // simulate a crash: drop the handle without close, and free the lock as a dead process would leave it
    fs.rmSync(path.join(dir, "LOCK"));
    (db as unknown as { lock: { release(): void } }).lock.release();
    using again = open(dir);
    expect(again.recovery.replayedRecords).toBe(2);
    const c2 = again.collection("c");
    expect(c2.get("a")).toBeNull();
    expect(c2.get("b")).toMatchObject({ vector: new Float32Array([3, 4]), payload: { late: true } });
  });

  test("collection names are validated and cannot reach outside the directory", () => {
    using db = open(tempDir());
    for (const bad of ["", "1abc", "../x", "a/b", "a.b", "a-b", "x".repeat(65), "é"]) {
      expectCode(() => db.createCollection(bad, { dimension: 2 }), "INVALID_NAME");
    }
    expect(db.createCollection("_ok_" + "x".repeat(60), { dimension: 2 }).name).toHaveLength(64);
  });

  test("config errors, unknown and duplicate collections, closed database, dropped handle", () => {
    const db = open(tempDir());
    expectCode(() => db.createCollection("a", { dimension: 0 }), "INVALID_CONFIG");
    expectCode(() => db.createCollection("a", { dimension: 2, metric: "hamming" as never }), "INVALID_CONFIG");
    expectCode(() => db.createCollection("a", { dimension: 2, storage: "disk" as never }), "INVALID_CONFIG");
    expectCode(() => db.collection("nope"), "UNKNOWN_COLLECTION");
    expectCode(() => db.dropCollection("nope"), "UNKNOWN_COLLECTION");
    expect(db.dropCollection("nope", { ifExists: true })).toBe(false);
    const a = db.createCollection("a", { dimension: 2 });
    expectCode(() => db.createCollection("a", { dimension: 2 }), "COLLECTION_EXISTS");
    expect(db.createCollection("a", { dimension: 5, ifNotExists: true })).toBe(a);
    db.dropCollection("a");
    expectCode(() => a.insert("x", [1, 2]), "UNKNOWN_COLLECTION");
    const b = db.createCollection("b", { dimension: 2 });
    db.close();
    expectCode(() => b.count(), "DATABASE_CLOSED");
    expectCode(() => db.listCollections(), "DATABASE_CLOSED");
    db.close(); // idempotent
  });

  test("a second process gets 'database is locked'; a lock left by a killed process does not block", async () => {
    const dir = tempDir();
    const holder = await runHolder(dir, "hold");
    expect(holder.line).toBe("OPEN");
    const second = await runHolder(dir, "once");
    expect(second.line).toStartWith("ERR DATABASE_LOCKED database is locked");
    await second.child.exited;
    // and in this process too
    expect(expectCode(() => open(dir), "DATABASE_LOCKED").message).toContain(String(holder.child.pid));
    holder.child.kill("SIGKILL");
    await holder.child.exited;
    expect(fs.existsSync(path.join(dir, "LOCK"))).toBe(true); // stale lock left behind
    using db = open(dir);
    expect(db.listCollections()).toEqual([]);
  });

  test("the same process cannot open a database twice; close releases it", () => {
    const dir = tempDir();
    const a = open(dir);
    expectCode(() => open(dir), "DATABASE_LOCKED");
    a.close();
    open(dir).close();
  });

  test("a directory that is not a vqlite database is refused and left alone", () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "notes.txt"), "mine");
    expectCode(() => open(dir), "CORRUPT_FILE");
    expect(fs.readdirSync(dir)).toEqual(["notes.txt"]);
  });

  test("corrupt manifest, snapshot and vector files are detected with the file named", () => {
    const make = () => {
      const dir = tempDir();
      using db = open(dir);
      const c = db.createCollection("c", { dimension: 4, storage: "mmap" });
      c.insert("a", [1, 2, 3, 4], { x: 1 });
      return dir;
    };
    const flip = (file: string, at: number) => {
      const b = fs.readFileSync(file);
      b[at] = b[at]! ^ 0x20;
      fs.writeFileSync(file, b);
    };
    let dir = make();
    flip(path.join(dir, "MANIFEST"), 20);
    expect(expectCode(() => open(dir), "CORRUPT_FILE").message).toContain("MANIFEST");
    expect(fs.existsSync(path.join(dir, "LOCK"))).toBe(false); // a failed open releases the lock

    dir = make();
    const snap = fs.readdirSync(dir).find((f) => f.endsWith(".snap"))!;
    flip(path.join(dir, snap), 30);
    expect(expectCode(() => open(dir), "CORRUPT_FILE").message).toContain(snap);

    dir = make();
    const vec = fs.readdirSync(dir).find((f) => f.endsWith(".vec"))!;
    flip(path.join(dir, vec), 12); // dimension field in the header
    expect(expectCode(() => open(dir), "CORRUPT_FILE").message).toContain(vec);

    dir = make();
    fs.truncateSync(path.join(dir, vec), 100);
    expectCode(() => open(dir), "CORRUPT_FILE");
  });

  test("the log is checkpointed automatically when it passes the threshold", () => {
    const dir = tempDir();
    using db = open(dir, { checkpointBytes: 64 * 1024, durability: "normal" });
    const c = db.createCollection("c", { dimension: 128, storage: "mmap" });
    const data = randomVectors(2000, 128, 5);
    for (let i = 0; i < 2000; i++) {
      c.insert(String(i), row(data, i, 128));
      expect(fs.statSync(path.join(dir, "wal.log")).size).toBeLessThan(64 * 1024 + 1024);
    }
    expect(c.count()).toBe(2000);
  });

  test("opening does not read mapped vectors: only metadata files are read", () => {
    const dir = tempDir();
    {
      using db = open(dir);
      const c = db.createCollection("c", { dimension: 256, storage: "mmap" });
      const data = randomVectors(4000, 256, 6);
      c.insertMany(Array.from({ length: 4000 }, (_, i) => ({ id: String(i), vector: row(data, i, 256) })));
    }
    // scramble the rows region (not the header): open must still succeed, since it reads no rows
    const vec = path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith(".vec"))!);
    const fd = fs.openSync(vec, "r+");
    fs.writeSync(fd, Buffer.alloc(4000 * 256 * 4, 0xff), 0, 4000 * 256 * 4, 4096);
    fs.closeSync(fd);
    using db = open(dir);
    expect(db.collection("c").count()).toBe(4000);
    expect(Number.isNaN(db.collection("c").get("0")!.vector[0]!)).toBe(true); // the scrambled bytes are what a read now sees
  });

  test("a checkpoint rewrites only the collections that changed, and nothing when nothing did", () => {
    const dir = tempDir();
    const snapOf = (name: string) => fs.readdirSync(dir).find((f) => f.startsWith(`${name}.`) && f.endsWith(".snap"))!;
    const db = open(dir);
    const a = db.createCollection("a", { dimension: 2 });
    const b = db.createCollection("b", { dimension: 2, index: { type: "clustered", maxLeafSize: 5 } });
    a.insert("x", [1, 2]);
    b.insertMany(Array.from({ length: 40 }, (_, i) => ({ id: String(i), vector: [Math.sin(i), Math.cos(i)] })));
    db.checkpoint();
    const bSnap = snapOf("b"), bTime = fs.statSync(path.join(dir, bSnap)).mtimeMs;
    const aSnap = snapOf("a");
    a.insert("y", [3, 4]);
    db.checkpoint();
    expect(snapOf("b")).toBe(bSnap); // untouched: same file, not rewritten
    expect(fs.statSync(path.join(dir, bSnap)).mtimeMs).toBe(bTime);
    expect(snapOf("a")).not.toBe(aSnap);
    const manifestTime = fs.statSync(path.join(dir, "MANIFEST")).mtimeMs;
    db.checkpoint(); // nothing changed since
    expect(fs.statSync(path.join(dir, "MANIFEST")).mtimeMs).toBe(manifestTime);
    // a change to the index alone still counts
    b.rebuildIndex();
    const after = b.search([0.5, 0.5], { k: 5 }).map((h) => h.id);
    db.close();
    expect(snapOf("b")).not.toBe(bSnap);
    using again = open(dir);
    expect(again.collection("b").search([0.5, 0.5], { k: 5 }).map((h) => h.id)).toEqual(after);
    expect(again.collection("a").count()).toBe(2);
    const t = fs.statSync(path.join(dir, "MANIFEST")).mtimeMs;
    again.close(); // opened and closed without a write: nothing rewritten
    expect(fs.statSync(path.join(dir, "MANIFEST")).mtimeMs).toBe(t);
  });
});

describe("large batches", () => {
  test("batches whose log records pass 8 MB go one after another, and the log replays them", () => {
    const dir = tempDir();
    const dim = 1024, n = 2100; // 2,100 × 4 KiB: each batch's log record is over 8 MB
    const batches = [randomVectors(n, dim, 1), randomVectors(n, dim, 2), randomVectors(n, dim, 3)];
    const db = open(dir, { durability: "normal" });
    for (const storage of ["memory", "mmap"] as const) {
      const c = db.createCollection(storage, { dimension: dim, metric: "l2", storage });
      batches.forEach((data, b) => c.insertMany(Array.from({ length: n }, (_, i) => ({ id: `b${b}-${i}`, vector: row(data, i, dim), payload: { b, i } }))));
      expect(c.count()).toBe(3 * n);
    }
    // simulate a crash as above: the next open replays the three big records of each collection
    fs.rmSync(path.join(dir, "LOCK"));
    (db as unknown as { lock: { release(): void } }).lock.release();
    using again = open(dir);
    expect(again.recovery.replayedRecords).toBe(2 + 6);
    for (const storage of ["memory", "mmap"]) {
      const c = again.collection(storage);
      expect(c.count()).toBe(3 * n);
      for (const [b, i] of [[0, 0], [1, n - 1], [2, 1234]] as const) {
        expect(c.get(`b${b}-${i}`)).toMatchObject({ vector: row(batches[b]!, i, dim).slice(), payload: { b, i } });
      }
    }
    expect(again.check().problems).toEqual([]);
  });
});

describe("large snapshots are mapped, not read", () => {
  test("a snapshot over 1 MB opens through a private mapping; a fault in it, a flipped byte, or its removal after open are handled", () => {
    const { setFaultHook } = require("../src/storage/fs") as typeof import("../src/storage/fs");
    const dir = tempDir();
    const dim = 64, n = 6000; // live bitmap, norms and 6,000 payloads: a snapshot of several MB
    const data = randomVectors(n, dim, 9);
    {
      using db = open(dir);
      const c = db.createCollection("m", { dimension: dim, metric: "l2", storage: "memory" });
      c.insertMany(Array.from({ length: n }, (_, i) => ({ id: `m${i}`, vector: row(data, i, dim), payload: { i, text: "x".repeat(200) } })));
    }
    const snap = fs.readdirSync(dir).find((f) => f.endsWith(".snap"))!;
    expect(fs.statSync(path.join(dir, snap)).size).toBeGreaterThan(1 << 20);
    // the mapping goes through the seam: a failing mmap is a clear I/O error, and nothing changes
    const ops: string[] = [];
    setFaultHook((op, file) => {
      if (file.endsWith(".snap")) ops.push(op);
      if (op === "mmap" && file.endsWith(".snap")) throw Object.assign(new Error("injected"), { code: "EIO" });
    });
    try {
      expectCode(() => open(dir), "IO_ERROR");
    } finally {
      setFaultHook(null);
    }
    expect(ops).toContain("mmap");
    {
      using db = open(dir);
      const c = db.collection("m");
      expect(c.count()).toBe(n);
      expect(c.get("m4321")).toMatchObject({ vector: row(data, 4321, dim).slice(), payload: { i: 4321 } });
      // removing the mapped file after open does not disturb what was read from it
      fs.rmSync(path.join(dir, snap));
      expect(c.search(row(data, 17, dim), { k: 1 })[0]!.id).toBe("m17");
      c.insert("after", row(data, 0, dim)); // the close checkpoints a new snapshot
    }
    // a flipped byte inside a mapped snapshot is caught by its checksum
    const snap2 = fs.readdirSync(dir).find((f) => f.endsWith(".snap"))!;
    const bytes = fs.readFileSync(path.join(dir, snap2));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    fs.writeFileSync(path.join(dir, snap2), bytes);
    expect(expectCode(() => open(dir), "CORRUPT_FILE").message).toContain(snap2);
  });
});
