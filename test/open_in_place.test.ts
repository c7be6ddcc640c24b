/**
 * Opening reads no per-row data (issue 10): a reopened clustered index keeps
 * each leaf's rows, codes and residual norms in the mapped snapshot until the
 * leaf is first used, and an mmap collection's live bitmap and norms are used
 * in place from the privately mapped snapshot (a change copies its page in
 * this process and never reaches the file). These tests check that answers
 * do not change, that the lazy parts really are lazy, and that nothing written
 * after a reopen reaches the snapshot file it was opened from.
 */
import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open } from "../src/index";
import { HeapArray } from "../src/ann/wasm";
import { expectCode, fashionSmall, row, tempDir } from "./helpers";

const ds = fashionSmall();
const N = 1500;
const vec = (i: number) => row(ds.base, i, ds.dim);
const queries = Array.from({ length: 20 }, (_, i) => row(ds.queries, i, ds.dim));

function snapshotOf(dir: string): string {
  const snaps = fs.readdirSync(dir).filter((f) => f.endsWith(".snap"));
  expect(snaps.length).toBe(1);
  return path.join(dir, snaps[0]!);
}

function build(dir: string, metric: "l2" | "cosine"): void {
  const db = open(dir);
  const c = db.createCollection("c", { dimension: ds.dim, metric, storage: "mmap", index: { type: "clustered", maxLeafSize: 100, seed: 3 } });
  c.insertMany(Array.from({ length: N }, (_, i) => ({ id: `r${i}`, vector: vec(i), payload: { i } })));
  c.rebuildIndex();
  db.close();
}

const answers = (c: { search(q: Float32Array, o: { k: number }): { id: string; distance: number }[] }) => queries.map((q) => c.search(q, { k: 10 }).map((h) => `${h.id}:${h.distance.toFixed(5)}`));

describe("opening an mmap collection with a clustered index", () => {
  for (const metric of ["l2", "cosine"] as const) {
    test(`${metric}: leaves load on first use, and answers are those of the index before closing`, () => {
      const dir = tempDir();
      build(dir, metric);
      const before = (() => {
        const db = open(dir);
        const c = db.collection("c");
        for (const q of queries) c.search(q, { k: 10 }); // loads every leaf the queries visit
        const loaded = c.memoryUsage().indexBytes;
        const a = answers(c);
        db.close();
        return { loaded, a };
      })();
      const db = open(dir);
      const c = db.collection("c");
      const atOpen = c.memoryUsage().indexBytes;
      // 15 leaves of ~100 rows: at open none holds its rows, codes and norms in RAM
      expect(atOpen).toBeLessThan(before.loaded / 2);
      expect(answers(c)).toEqual(before.a);
      expect(c.memoryUsage().indexBytes).toBeGreaterThan(atOpen);
      expect(db.check().ok).toBe(true);
      db.close();
    });
  }

  test("writes after a reopen (into unloaded leaves, splits, deletes) survive a checkpoint and a reopen", () => {
    const dir = tempDir();
    build(dir, "l2");
    const db = open(dir);
    const c = db.collection("c");
    // new rows land in leaves never searched since the reopen, and split some of them
    c.insertMany(Array.from({ length: 400 }, (_, i) => ({ id: `n${i}`, vector: vec(N + i), payload: { i: N + i } })));
    for (let i = 0; i < 50; i++) c.delete(`r${i * 7}`);
    const expected = answers(c);
    db.checkpoint();
    db.close();
    const again = open(dir);
    const c2 = again.collection("c");
    expect(c2.count()).toBe(N + 400 - 50);
    expect(answers(c2)).toEqual(expected);
    expect(c2.get("r7")).toBeNull();
    expect(c2.get("n399")?.payload).toEqual({ i: N + 399 });
    expect(again.check().ok).toBe(true);
    again.close();
  });

  test("a checkpoint of a reopened index with unloaded leaves writes them back unchanged", () => {
    const dir = tempDir();
    build(dir, "l2");
    const db = open(dir);
    const c = db.collection("c");
    const expected = answers(c);
    db.close();
    const db2 = open(dir);
    const c2 = db2.collection("c");
    const atOpen = c2.memoryUsage().indexBytes;
    // a change elsewhere (a payload) makes the checkpoint write a new snapshot with every leaf still unloaded
    c2.update("r1", { payload: { i: -1 } });
    db2.checkpoint();
    expect(c2.memoryUsage().indexBytes).toBe(atOpen);
    db2.close();
    const db3 = open(dir);
    expect(answers(db3.collection("c"))).toEqual(expected);
    expect(db3.collection("c").get("r1")?.payload).toEqual({ i: -1 });
    expect(db3.check().ok).toBe(true);
    db3.close();
  });

  test("deleting after a reopen changes the live bitmap in this process, never the snapshot file", () => {
    const dir = tempDir();
    build(dir, "cosine");
    const snap = snapshotOf(dir);
    const bytes = fs.readFileSync(snap);
    const db = open(dir);
    const c = db.collection("c");
    for (let i = 0; i < 100; i++) expect(c.delete(`r${i}`)).toBe(true);
    expect(c.count()).toBe(N - 100);
    for (const q of queries) for (const h of c.search(q, { k: 10 })) expect(Number(h.id.slice(1))).toBeGreaterThanOrEqual(100);
    // the WAL holds the deletes; the mapped snapshot's pages changed only in this process
    expect(fs.readFileSync(snap).equals(bytes)).toBe(true);
    // a second handle in this process maps the same file and sees it as written
    const reader = open(dir, { readonly: true });
    expect(reader.collection("c").count()).toBe(N - 100);
    reader.close();
    db.close();
    const again = open(dir);
    expect(again.collection("c").count()).toBe(N - 100);
    expect(again.collection("c").get("r5")).toBeNull();
    again.close();
  });
});

/** The ranges a version 2 snapshot leaves out of its checksum (the leaves' arrays, after the tree), from its table. */
function uncheckedRanges(bytes: Buffer): [number, number][] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  expect(v.getUint32(8, true)).toBe(2);
  const count = v.getUint32(bytes.length - 8, true);
  const table = bytes.length - 8 - count * 16;
  return Array.from({ length: count }, (_, i) => [v.getFloat64(table + i * 16, true), v.getFloat64(table + i * 16 + 8, true)]);
}

describe("leaves checked on first use", () => {
  test("a damaged leaf: open succeeds, check() lists it naming the snapshot, its first use gives CORRUPT_FILE", () => {
    const dir = tempDir();
    build(dir, "l2");
    const snap = snapshotOf(dir);
    const bytes = fs.readFileSync(snap);
    const ranges = uncheckedRanges(bytes);
    // one range after the tree: every leaf's rows, codes (784 bits: 25 words) and residual norms
    expect(ranges.length).toBe(1);
    const [off, len] = ranges[0]!;
    expect(len).toBe(N * 4 * (2 + Math.ceil(ds.dim / 32)));
    bytes[off + Math.floor(len / 2)]! ^= 0x10;
    fs.writeFileSync(snap, bytes);
    const db = open(dir);
    const c = db.collection("c");
    expect(c.count()).toBe(N);
    expect(c.get("r1")?.payload).toEqual({ i: 1 });
    const report = db.check();
    expect(report.ok).toBe(false);
    const damaged = report.problems.filter((p) => p.includes("checksum mismatch"));
    expect(damaged.length).toBe(1); // one leaf: the others load and are checked
    expect(damaged[0]).toContain(path.basename(snap));
    // its rows are in no leaf that loads
    expect(report.problems.some((p) => /live rows are in no leaf/.test(p))).toBe(true);
    // a search that probes every leaf reaches it
    const err = expectCode(() => c.search(queries[0]!, { k: 10, probes: 1 << 20 }), "CORRUPT_FILE");
    expect(err.message).toContain(path.basename(snap));
    db.close();
  });

  test("a checkpoint writes an unloaded leaf back with the checksum it came with, so damage stays found", () => {
    const dir = tempDir();
    build(dir, "l2");
    const snap = snapshotOf(dir);
    const bytes = fs.readFileSync(snap);
    const [off, len] = uncheckedRanges(bytes)[0]!;
    bytes[off + len - 1]! ^= 0x01; // the last leaf's last residual norm
    fs.writeFileSync(snap, bytes);
    const db = open(dir);
    db.collection("c").update("r2", { payload: { i: -2 } }); // no leaf is loaded; the checkpoint rewrites them all
    db.checkpoint();
    db.close();
    expect(fs.existsSync(snap)).toBe(false);
    const again = open(dir);
    expect(again.collection("c").get("r2")?.payload).toEqual({ i: -2 });
    expect(again.check().problems.some((p) => p.includes("checksum mismatch"))).toBe(true);
    again.close();
  });
});

describe("the pieces", () => {
  test("HeapArray.resize keeps the values and zero-fills the rest; free empties it", () => {
    const a = HeapArray.int32();
    a.set(Int32Array.from([1, 2, 3]));
    a.resize(1000);
    const v = a.get();
    expect(v.length).toBe(1000);
    expect(Array.from(v.subarray(0, 4))).toEqual([1, 2, 3, 0]);
    expect(v[999]).toBe(0);
    a.resize(10); // never shrinks
    expect(a.get().length).toBe(1000);
    a.free();
    expect(a.get().length).toBe(0);
    expect(a.offset()).toBe(-1);
  });
});
