import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open, type Database } from "../src/index";
import { setFaultHook } from "../src/storage/fs";
import { expectCode, tempDir } from "./helpers";

function vec(i: number, d = 8): Float32Array {
  const v = new Float32Array(d);
  for (let j = 0; j < d; j++) v[j] = Math.fround(Math.sin(i * 13 + j));
  return v;
}

function ids(db: Database, name: string): string[] {
  return [...db.collection(name).keys()].sort();
}

setDefaultTimeout(60_000);

describe("read-only handles in one process", () => {
  for (const storage of ["memory", "mmap"] as const) {
    test(`${storage}: a reader sees every commit of a writer, across checkpoints and vacuum`, () => {
      const dir = tempDir();
      const w = open(dir, { checkpointBytes: 4096 });
      const c = w.createCollection("pts", { dimension: 8, storage });
      c.insertMany(Array.from({ length: 20 }, (_, i) => ({ id: `a${i}`, vector: vec(i), payload: { i } })));
      w.checkpoint();
      c.insert("b0", vec(100), { i: 100 });
      using r = open(dir, { readonly: true });
      expect(r.readOnly).toBe(true);
      const rc = r.collection("pts");
      expect(rc.count()).toBe(21);
      for (let step = 0; step < 200; step++) {
        const id = `s${step}`;
        if (step % 7 === 3) c.delete(`a${step % 20}`);
        else if (step % 11 === 5) c.update(`b0`, { payload: { step } });
        else c.upsert(id, vec(step + 1000), { step });
        if (step % 50 === 49) c.vacuum();
        if (step % 60 === 59) c.setStorage(c.config.storage === "mmap" ? "memory" : "mmap");
        // the same handle follows: identical ids, vectors and payloads
        expect(rc.count()).toBe(c.count());
        if (step % 10 === 0) {
          expect(ids(r, "pts")).toEqual(ids(w, "pts"));
          for (const item of c) {
            const got = rc.get(item.id)!;
            expect(got.vector).toEqual(item.vector);
            expect(got.payload).toEqual(item.payload);
          }
          expect(rc.search(vec(5), { k: 3 })).toEqual(c.search(vec(5), { k: 3 }));
        }
      }
      const last = c.count();
      w.close();
      expect(rc.count()).toBe(last); // the writer's close checkpoints; the reader moves on alone
    });
  }

  test("ALTER storage, drop and create are followed; handles of kept collections stay valid", () => {
    const dir = tempDir();
    const w = open(dir);
    const c = w.createCollection("pts", { dimension: 8 });
    c.insert("x", vec(1), { a: 1 });
    const r = open(dir, { readonly: true });
    const rc = r.collection("PTS");
    expect(rc.name).toBe("pts");
    c.setStorage("mmap");
    c.insert("y", vec(2));
    expect(rc.count()).toBe(2);
    expect(rc.config.storage).toBe("mmap");
    expect(rc.get("y")!.vector).toEqual(vec(2));
    w.createCollection("other", { dimension: 8, storage: "mmap" }).insert("z", vec(3));
    expect(r.listCollections()).toEqual(["other", "pts"]);
    expect(r.collection("other").get("z")!.vector).toEqual(vec(3));
    w.checkpoint();
    expect(r.collection("other").get("z")!.vector).toEqual(vec(3));
    w.dropCollection("other");
    expect(r.hasCollection("other")).toBe(false);
    w.close();
    r.close();
  });

  test("a reader that lags behind several checkpoints catches up to exactly the writer's state", () => {
    const dir = tempDir();
    using w = open(dir, { checkpointBytes: 2048 });
    const mem = w.createCollection("mem", { dimension: 8, index: { type: "hnsw", m: 8, efConstruction: 32 } });
    const map = w.createCollection("map", { dimension: 8, storage: "mmap" });
    using r = open(dir, { readonly: true });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 60; i++) {
        mem.upsert(`m${(i * 7) % 45}`, vec(round * 100 + i), { round, i });
        map.insert(`r${round}_${i}`, vec(i));
        if (i % 13 === 0) map.delete(`r${round}_${i}`);
      }
      if (round === 2) map.vacuum();
      // the reader looks only now: several checkpoints went by
      for (const name of ["mem", "map"]) {
        expect(ids(r, name)).toEqual(ids(w, name));
        for (const item of w.collection(name)) {
          const got = r.collection(name).get(item.id)!;
          expect(got.vector).toEqual(item.vector);
          expect(got.payload).toEqual(item.payload);
        }
      }
      expect(r.collection("mem").search(vec(3), { k: 5 }).map((h) => h.id)).toEqual(mem.search(vec(3), { k: 5 }).map((h) => h.id));
    }
  });

  test("a writer killed between a checkpoint's manifest switch and its log reset leaves readers consistent", () => {
    const dir = tempDir();
    const wal = path.join(dir, "wal.log");
    const w = open(dir);
    const c = w.createCollection("pts", { dimension: 8, storage: "mmap" });
    c.insertMany(Array.from({ length: 10 }, (_, i) => ({ id: `a${i}`, vector: vec(i) })));
    w.checkpoint();
    c.insertMany(Array.from({ length: 5 }, (_, i) => ({ id: `b${i}`, vector: vec(50 + i) })));
    c.delete("a0");
    using r = open(dir, { readonly: true });
    expect(r.collection("pts").count()).toBe(14); // the reader is at the end of the log
    const logged = fs.readFileSync(wal);
    c.vacuum(); // new vector file, new manifest, then the log is reset
    w.close();
    fs.writeFileSync(wal, logged); // as if killed after the manifest switch, before the reset
    using w2 = open(dir);
    w2.collection("pts").insert("c0", vec(99), { after: true });
    const rc = r.collection("pts");
    expect(rc.count()).toBe(15);
    expect(rc.get("c0")!.vector).toEqual(vec(99));
    for (const item of w2.collection("pts")) expect(rc.get(item.id)!.vector).toEqual(item.vector);
  });

  test("checkpoints between a reader's look at the log and its read of the records never put records on older files", () => {
    const dir = tempDir();
    using w = open(dir);
    const c = w.createCollection("pts", { dimension: 8, storage: "mmap" });
    c.insert("x0", vec(0));
    w.checkpoint();
    using r = open(dir, { readonly: true });
    expect(r.collection("pts").count()).toBe(1);
    c.insert("x1", vec(1));
    w.checkpoint();
    c.insert("aa", vec(2)); // the log the reader will look at holds this record
    // Interleave the writer into the reader's refresh, where only a scheduler would otherwise put it:
    // a checkpoint as the reader reads the manifest, then a vacuum (a checkpoint without new records,
    // onto a new vector file) and the next record (the same size, at the start of the emptied log)
    // just before the reader reads the records it saw.
    let step = 0;
    let busy = false;
    setFaultHook((op, file, length) => {
      if (busy) return;
      busy = true;
      try {
        if (step === 0 && op === "readFile" && file.endsWith("MANIFEST")) {
          step = 1;
          w.checkpoint();
        } else if (step === 1 && op === "read" && file.endsWith("wal.log") && length !== 16) {
          step = 2;
          c.vacuum();
          c.insert("bb", vec(3));
        }
      } finally {
        busy = false;
      }
    });
    try {
      r.refresh();
    } finally {
      setFaultHook(null);
    }
    expect(step).toBe(2);
    const rc = r.collection("pts");
    expect(rc.count()).toBe(4);
    for (const item of c) expect(rc.get(item.id)!.vector).toEqual(item.vector);
  });

  test("a torn record at the end of the log is never visible", () => {
    const dir = tempDir();
    using w = open(dir);
    const c = w.createCollection("pts", { dimension: 8 });
    c.insert("a", vec(1));
    using r = open(dir, { readonly: true });
    expect(r.collection("pts").count()).toBe(1);
    c.insert("b", vec(2));
    // cut the last record in half: the reader sees the log as it would mid-append
    const wal = path.join(dir, "wal.log");
    const whole = fs.readFileSync(wal);
    const fd = fs.openSync(wal, "r+");
    fs.ftruncateSync(fd, whole.length - 10);
    expect(r.collection("pts").count()).toBe(1);
    expect(r.collection("pts").has("b")).toBe(false);
    fs.writeSync(fd, whole.subarray(whole.length - 10), 0, 10, whole.length - 10);
    fs.closeSync(fd);
    expect(r.collection("pts").count()).toBe(2);
    expect(r.collection("pts").get("b")!.vector).toEqual(vec(2));
  });

  test("a reader works with no writer, and a writer can open beside it", () => {
    const dir = tempDir();
    {
      using w = open(dir);
      w.createCollection("pts", { dimension: 8, storage: "mmap" }).insert("x", vec(1));
    }
    const r1 = open(dir, { readonly: true });
    const r2 = open(dir, { readonly: true });
    expect(r1.collection("pts").count()).toBe(1);
    using w = open(dir);
    w.collection("pts").insert("y", vec(2));
    expect(r1.collection("pts").count()).toBe(2);
    expect(r2.query("SELECT * FROM pts").map((row) => row.id).sort()).toEqual(["x", "y"]);
    r1.close();
    r2.close();
  });

  test("writes through a read-only handle fail with READ_ONLY and change nothing", () => {
    const dir = tempDir();
    using w = open(dir);
    const c = w.createCollection("pts", { dimension: 8, storage: "mmap" });
    c.insert("x", vec(1), { a: 1 });
    const before = fs.readdirSync(dir).filter((f) => f !== "readers").sort();
    using r = open(dir, { readonly: true });
    const rc = r.collection("pts");
    expectCode(() => rc.insert("y", vec(2)), "READ_ONLY");
    expectCode(() => rc.upsert("x", vec(2)), "READ_ONLY");
    expectCode(() => rc.insertMany([{ id: "z", vector: vec(3) }]), "READ_ONLY");
    expectCode(() => rc.update("x", { payload: { a: 2 } }), "READ_ONLY");
    expectCode(() => rc.delete("x"), "READ_ONLY");
    expectCode(() => rc.delete("nope"), "READ_ONLY");
    expectCode(() => rc.vacuum(), "READ_ONLY");
    expectCode(() => rc.setStorage("memory"), "READ_ONLY");
    expectCode(() => r.createCollection("q", { dimension: 2 }), "READ_ONLY");
    expectCode(() => r.dropCollection("pts"), "READ_ONLY");
    expectCode(() => r.checkpoint(), "READ_ONLY");
    const statements = [
      "CREATE COLLECTION q (DIMENSION 2)",
      "DROP COLLECTION pts",
      "INSERT INTO pts VALUES ('y', [1,2,3,4,5,6,7,8], NULL)",
      "UPSERT INTO pts VALUES ('x', [1,2,3,4,5,6,7,8], NULL)",
      "UPDATE pts SET PAYLOAD = {\"a\": 3} WHERE id = 'x'",
      "DELETE FROM pts WHERE id = 'nope'",
      "ALTER COLLECTION pts SET STORAGE MEMORY",
      "BUILD INDEX ON pts",
      "COPY pts FROM 'nothing.jsonl'",
      "CHECKPOINT",
      "VACUUM pts",
    ];
    for (const text of statements) expectCode(() => r.exec(text), "READ_ONLY");
    expect(rc.count()).toBe(1);
    expect(c.get("x")!.payload).toEqual({ a: 1 });
    expect(fs.readdirSync(dir).filter((f) => f !== "readers").sort()).toEqual(before);
  });

  test("a read-only open of a missing database fails and creates nothing", () => {
    const dir = path.join(tempDir(), "none");
    expectCode(() => open(dir, { readonly: true }), "IO_ERROR");
    expect(fs.existsSync(dir)).toBe(false);
  });
});
