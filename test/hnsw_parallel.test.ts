/**
 * The multi-threaded HNSW build (src/ann/hnsw_parallel.ts): a sound graph,
 * the single-thread build's levels, and recall within a small tolerance of
 * the single-thread build on Fashion-MNIST 2k with its exact ground truth.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { HnswIndex } from "../src/ann/hnsw";
import { setWasmKernelsEnabled } from "../src/ann/wasm";
import { LiveRows } from "../src/collection/live_rows";
import { open, VqliteError } from "../src/index";
import { MemoryVectorStore } from "../src/storage/vector_store";
import { fashionSmall, recallAt, row, type Dataset } from "./helpers";

setDefaultTimeout(120_000);

let ds: Dataset;
beforeAll(() => {
  ds = fashionSmall();
});

function rowsOf(n: number, metric: "l2" | "cosine" | "dot" = "l2", dead: number[] = []): LiveRows {
  const rows = new LiveRows(MemoryVectorStore.from(ds.dim, ds.base.slice(0, n * ds.dim)), metric);
  rows.adoptAll();
  for (const r of dead) rows.markDead(r);
  return rows;
}

/** Every structural rule of a graph: list bounds, no self or duplicate links, links to nodes of the level, every node reachable at level 0. */
function checkGraph(ix: HnswIndex, rows: LiveRows): void {
  expect(ix.verify()).toEqual([]);
  const n = rows.store.length;
  const { entry, maxLevel } = ix.stats();
  for (let r = 0; r < n; r++) {
    if (!rows.isLive(r)) continue;
    for (let l = 0; l <= maxLevel; l++) {
      const links = ix.neighbours(r, l);
      expect(links.length).toBeLessThanOrEqual(l === 0 ? ix.maxM0 : ix.m);
      expect(links).not.toContain(r);
      expect(new Set(links).size).toBe(links.length);
      for (const to of links) expect(rows.isLive(to)).toBe(true); // a fresh build links live rows only
    }
  }
  // every live node is reachable from the entry point over level-0 links
  const seen = new Uint8Array(n);
  const stack = [entry];
  seen[entry] = 1;
  while (stack.length > 0) {
    const c = stack.pop()!;
    for (const to of ix.neighbours(c, 0)) if (!seen[to]) (seen[to] = 1), stack.push(to);
  }
  let unreachable = 0;
  for (let r = 0; r < n; r++) if (rows.isLive(r) && !seen[r]) unreachable++;
  expect(unreachable).toBe(0);
}

const truthOf = (i: number) => ds.truth.subarray(i * ds.truthK, i * ds.truthK + 10);

describe("parallel HNSW build", () => {
  test("two threads: a sound graph, the single-thread build's levels and entry level, recall within 0.01 of it", () => {
    const rows = rowsOf(ds.n);
    const single = new HnswIndex(rows, { m: 8, efConstruction: 64 });
    single.rebuild();
    const parallel = new HnswIndex(rows, { m: 8, efConstruction: 64 });
    const progress: number[] = [];
    parallel.rebuild((done, total) => {
      expect(total).toBe(ds.n);
      progress.push(done);
    }, { threads: 2 });
    checkGraph(parallel, rows);
    expect(progress.at(-1)).toBe(ds.n);
    expect(parallel.stats().maxLevel).toBe(single.stats().maxLevel);
    expect(parallel.stats().nodes).toBe(ds.n);
    // the levels a single-thread build draws (same generator, same row order)
    const levels = (ix: HnswIndex) => Array.from((ix as unknown as { levels: Int8Array }).levels.subarray(0, ds.n));
    expect(levels(parallel)).toEqual(levels(single));
    const all = Array.from({ length: ds.nq }, (_, i) => i);
    for (const ef of [10, 32]) {
      const at = (ix: HnswIndex) => recallAt(10, all.map((i) => ix.searchRows(row(ds.queries, i, ds.dim), 10, { ef }).rows), all.map(truthOf));
      const s = at(single), p = at(parallel);
      expect(p).toBeGreaterThanOrEqual(s - 0.01);
      if (ef === 32) expect(p).toBeGreaterThanOrEqual(0.97);
    }
  });

  test("three threads, cosine, deleted rows left out; TypeScript kernels in the threads too; dot a sound graph", () => {
    const dead = [0, 1, 17, 500, 1999];
    const rows = rowsOf(ds.n, "cosine", dead);
    const ix = new HnswIndex(rows, { m: 8, efConstruction: 48 });
    ix.rebuild(undefined, { threads: 3 });
    checkGraph(ix, rows);
    expect(ix.stats().nodes).toBe(ds.n - dead.length);
    expect(ix.searchRows(row(ds.base, 42, ds.dim), 1, { ef: 32 }).rows[0]).toBe(42);
    // inner products on all-positive pixels leave most of any HNSW graph (one thread's too) unreachable from
    // the entry point: the lists must still be sound
    const dot = new HnswIndex(rowsOf(ds.n, "dot", dead), { m: 8, efConstruction: 48 });
    dot.rebuild(undefined, { threads: 3 });
    expect(dot.verify()).toEqual([]);
    expect(dot.stats().nodes).toBe(ds.n - dead.length);
    const was = setWasmKernelsEnabled(false);
    try {
      const small = rowsOf(800);
      const ts = new HnswIndex(small, { m: 8, efConstruction: 32 });
      ts.rebuild(undefined, { threads: 2 });
      checkGraph(ts, small);
    } finally {
      setWasmKernelsEnabled(was);
    }
  });

  test("an aborted build throws CANCELLED and leaves the index as it was", () => {
    const rows = rowsOf(ds.n);
    const ix = new HnswIndex(rows, { m: 8, efConstruction: 64 });
    ix.rebuild();
    const before = Array.from({ length: 50 }, (_, i) => ix.neighbours(i, 0));
    const abort = new Int32Array(new SharedArrayBuffer(4));
    let err: unknown;
    try {
      ix.rebuild((done) => {
        if (done > 100) Atomics.store(abort, 0, 1);
      }, { threads: 2, abort });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VqliteError);
    expect((err as VqliteError).code).toBe("CANCELLED");
    expect(Array.from({ length: 50 }, (_, i) => ix.neighbours(i, 0))).toEqual(before);
    expect(ix.verify()).toEqual([]);
  });

  test("a collection's rebuildIndex and rebuildIndexAsync build on several threads and answer as before", async () => {
    using db = open();
    const c = db.createCollection("v", { dimension: ds.dim, metric: "l2", index: { type: "hnsw", m: 8, efConstruction: 48 } });
    c.insertMany(Array.from({ length: ds.n }, (_, i) => ({ id: String(i), vector: row(ds.base, i, ds.dim) })));
    const all = Array.from({ length: ds.nq }, (_, i) => i);
    const recall = () => recallAt(10, all.map((i) => c.search(row(ds.queries, i, ds.dim), { k: 10, ef: 32 }).map((h) => Number(h.id))), all.map(truthOf));
    const incremental = recall();
    c.rebuildIndex(undefined, { threads: 2 });
    expect((c.index as HnswIndex).verify()).toEqual([]);
    expect(recall()).toBeGreaterThanOrEqual(incremental - 0.02);
    await c.rebuildIndexAsync({ threads: 2 });
    expect((c.index as HnswIndex).verify()).toEqual([]);
    expect(recall()).toBeGreaterThanOrEqual(incremental - 0.02);
  });

  test("a threaded build in a worker cancelled mid-way changes nothing; a bad thread count is INVALID_ARGUMENT", async () => {
    using db = open();
    const c = db.createCollection("v", { dimension: ds.dim, metric: "l2", index: { type: "hnsw", m: 8, efConstruction: 48 } });
    c.insertMany(Array.from({ length: ds.n }, (_, i) => ({ id: String(i), vector: row(ds.base, i, ds.dim) })));
    const before = c.index;
    const controller = new AbortController();
    let progressed = 0;
    const err = await c
      .rebuildIndexAsync({
        threads: 2,
        signal: controller.signal,
        onProgress: (done) => {
          progressed = done;
          if (done > 0) controller.abort();
        },
      })
      .then(
        () => null,
        (e) => e,
      );
    expect(progressed).toBeGreaterThan(0);
    expect((err as VqliteError).code).toBe("CANCELLED");
    expect(c.index).toBe(before);
    for (const threads of [0, 1.5, -1, 65]) {
      let e: unknown;
      try {
        c.rebuildIndex(undefined, { threads });
      } catch (x) {
        e = x;
      }
      expect((e as VqliteError).code).toBe("INVALID_ARGUMENT");
      expect(c.index).toBe(before);
      await expect(c.rebuildIndexAsync({ threads })).rejects.toThrow("threads must be");
    }
  });
});
