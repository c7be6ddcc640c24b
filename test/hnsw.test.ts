import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { open, type Collection } from "../src/index";
import type { HnswIndex } from "../src/ann/hnsw";
import { expectCode, fashionSmall, recallAt, rng, row, tempDir, type Dataset } from "./helpers";

setDefaultTimeout(180_000);

let ds: Dataset;
beforeAll(() => {
  ds = fashionSmall();
});

const D = 784;
/** Fashion-MNIST rows shifted off the positive orthant, so cosine and dot differ from l2. */
function shifted(n: number, from = 0): Float32Array {
  const r = rng(7);
  const out = ds.base.slice(from * D, (from + n) * D);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! - 100 + r() * 20;
  return out;
}
function queries(n: number): Float32Array[] {
  return Array.from({ length: n }, (_, i) => {
    const q = row(ds.queries, i, D).slice();
    for (let j = 0; j < D; j++) q[j] = q[j]! - 100;
    return q;
  });
}
const idsOf = (hits: { id: string }[]) => hits.map((h) => Number(h.id));
function recallVsExact(c: Collection, qs: Float32Array[], opts: { ef?: number } = {}): number {
  return recallAt(10, qs.map((q) => idsOf(c.search(q, { k: 10, ...opts }))), qs.map((q) => idsOf(c.search(q, { k: 10, exact: true }))));
}

describe("HNSW recall@10 against exact search on Fashion-MNIST, every metric and quantization", () => {
  const N = 2000;
  for (const metric of ["l2", "cosine", "dot"] as const) {
    for (const quantization of ["none", "scalar", "binary"] as const) {
      test(`${metric}, quantization ${quantization}`, () => {
        using db = open();
        const c = db.createCollection("h", { dimension: D, metric, index: { type: "hnsw", m: 12, efConstruction: 64, seed: 3 }, quantization });
        const data = shifted(N);
        c.insertMany(Array.from({ length: N }, (_, i) => ({ id: String(i), vector: row(data, i, D) })));
        const ix = c.index as HnswIndex;
        expect(ix.stats()).toMatchObject({ nodes: N, quantized: quantization !== "none" });
        const qs = queries(100);
        expect(recallVsExact(c, qs, { ef: 64 })).toBeGreaterThanOrEqual(0.95);
        const report = c.searchWithReport(qs[0]!, { k: 10, ef: 64 });
        expect(report.route).toBe("hnsw");
        if (quantization !== "none") expect(report.stats.reranked).toBeGreaterThanOrEqual(64);
        // distances are exact, whatever the traversal used
        const exact = c.search(qs[0]!, { k: 10, exact: true });
        for (const h of report.hits) {
          const e = exact.find((x) => x.id === h.id);
          if (e) expect(h.distance).toBeCloseTo(e.distance, 3);
        }
      });
    }
  }

  test("l2 against the data's exact ground truth (all 2,000 base vectors, 100 queries)", () => {
    using db = open();
    const c = db.createCollection("h", { dimension: D, metric: "l2", index: { type: "hnsw", efConstruction: 100 } });
    c.insertMany(Array.from({ length: ds.n }, (_, i) => ({ id: String(i), vector: row(ds.base, i, D) })));
    const got = Array.from({ length: ds.nq }, (_, i) => idsOf(c.search(row(ds.queries, i, D), { k: 10 }))); // default efSearch 64
    const truth = Array.from({ length: ds.nq }, (_, i) => ds.truth.subarray(i * ds.truthK, i * ds.truthK + 10));
    expect(recallAt(10, got, truth)).toBeGreaterThanOrEqual(0.97);
  });
});

describe("HNSW under churn, persistence, vacuum", () => {
  test("deleting and re-inserting 30% keeps recall within 0.02 of a fresh build", () => {
    const N = ds.n;
    const qs = Array.from({ length: 100 }, (_, i) => row(ds.queries, i, D));
    const build = () => {
      const db = open();
      const c = db.createCollection("h", { dimension: D, metric: "l2", index: { type: "hnsw", m: 12, efConstruction: 64, efSearch: 32, seed: 5 } });
      c.insertMany(Array.from({ length: N }, (_, i) => ({ id: String(i), vector: row(ds.base, i, D) })));
      return { db, c };
    };
    const fresh = build();
    const freshRecall = recallVsExact(fresh.c, qs);
    fresh.db.close();
    const churned = build();
    const r = rng(11);
    const victims = Array.from({ length: N }, (_, i) => i).filter(() => r() < 0.3);
    expect(victims.length).toBeGreaterThan(500);
    const graph = churned.c.index as HnswIndex;
    // repair, one delete at a time: every node the deleted node linked to drops its link back
    // and keeps links of its own (so the walk does not decay into dead ends)
    const isVictim = new Set(victims);
    for (const v of victims.slice(0, 100)) {
      const nbrs = graph.neighbours(v).filter((n) => !isVictim.has(n));
      expect(churned.c.delete(String(v))).toBe(true);
      for (const n of nbrs) {
        const now = graph.neighbours(n);
        expect(now).not.toContain(v);
        expect(now.length).toBeGreaterThan(0);
      }
    }
    for (let s = 100; s < victims.length; s += 100) churned.c.deleteMany(victims.slice(s, s + 100).map(String));
    for (const id of victims.slice(0, 50)) for (const h of churned.c.search(row(ds.base, id, D), { k: 5 })) expect(h.id).not.toBe(String(id));
    churned.c.insertMany(victims.map((i) => ({ id: String(i), vector: row(ds.base, i, D) })));
    expect(churned.c.count()).toBe(N);
    const churnedRecall = recallVsExact(churned.c, qs);
    expect(churnedRecall).toBeGreaterThanOrEqual(freshRecall - 0.02);
    // vacuum drops the dead nodes and renumbers the graph; recall holds
    churned.c.vacuum();
    expect((churned.c.index as HnswIndex).stats().nodes).toBe(N);
    expect(recallVsExact(churned.c, qs)).toBeGreaterThanOrEqual(freshRecall - 0.02);
    churned.db.close();
  });

  test("saved with the checkpoint and reopened without a rebuild, vectors staying in the mmap file", () => {
    const dir = tempDir();
    const N = 1500;
    const qs = Array.from({ length: 30 }, (_, i) => row(ds.queries, i, D));
    let before: string[][];
    let stats: ReturnType<HnswIndex["stats"]>;
    {
      using db = open(dir);
      const c = db.createCollection("h", { dimension: D, metric: "l2", storage: "mmap", index: { type: "hnsw", m: 8, efConstruction: 48 }, quantization: "binary" });
      c.insertMany(Array.from({ length: N }, (_, i) => ({ id: String(i), vector: row(ds.base, i, D) })));
      before = qs.map((q) => c.search(q, { k: 10 }).map((h) => h.id));
      stats = (c.index as HnswIndex).stats();
      const m = c.memoryUsage();
      expect(m.vectorHeapBytes).toBe(0);
      expect(m.vectorMappedBytes).toBe(N * D * 4);
      expect(m.indexBytes).toBeLessThan(N * D * 4 * 0.15);
    }
    using db = open(dir);
    const c = db.collection("h");
    const t0 = performance.now();
    const ix = c.index as HnswIndex;
    expect(ix.stats()).toEqual(stats!);
    expect(qs.map((q) => c.search(q, { k: 10 }).map((h) => h.id))).toEqual(before!);
    expect(performance.now() - t0).toBeLessThan(5000);
    c.insert("new", row(ds.base, 1999, D)); // inserts go on after a reopen (row 1999 was not inserted)
    expect(c.search(row(ds.base, 1999, D), { k: 1 })[0]!.id).toBe("new");
  });

  test("a reopened graph keeps level 0 packed (fewer bytes, same links and answers) until a change, and saves the same graph", () => {
    const dir = tempDir();
    const N = 1200;
    const qs = Array.from({ length: 20 }, (_, i) => row(ds.queries, i, D));
    let links: number[][], answers: string[][], bytesBefore: number;
    {
      using db = open(dir);
      const c = db.createCollection("h", { dimension: D, metric: "l2", index: { type: "hnsw", m: 8, efConstruction: 48 } });
      c.insertMany(Array.from({ length: N }, (_, i) => ({ id: String(i), vector: row(ds.base, i, D) })));
      const ix = c.index as HnswIndex;
      links = Array.from({ length: N }, (_, i) => ix.neighbours(i, 0));
      answers = qs.map((q) => c.search(q, { k: 10 }).map((h) => h.id));
      bytesBefore = ix.heapBytes() - (ix as unknown as { dists0: Float32Array }).dists0.byteLength;
    }
    const mean = links.reduce((s, l) => s + l.length, 0) / N;
    expect(mean).toBeLessThan(16 * 0.8); // the case packing is for: lists well short of maxM0
    {
      using db = open(dir);
      const c = db.collection("h");
      const ix = c.index as HnswIndex;
      // links0 alone was N × 17 ints; packed it is Σ(1 + degree) ints plus an offset per node
      expect(ix.heapBytes()).toBeLessThan(bytesBefore - N * 4 * (16 - mean - 2));
      expect(Array.from({ length: N }, (_, i) => ix.neighbours(i, 0))).toEqual(links);
      expect(qs.map((q) => c.search(q, { k: 10 }).map((h) => h.id))).toEqual(answers);
      expect(ix.verify()).toEqual([]);
      // saved again while packed: the file has the same graph
      db.checkpoint();
    }
    using db = open(dir);
    const c = db.collection("h");
    const ix = c.index as HnswIndex;
    expect(Array.from({ length: N }, (_, i) => ix.neighbours(i, 0))).toEqual(links);
    // changes unpack it: an insert and a delete, after which the graph is still sound
    c.insert("new", row(ds.base, 1999, D));
    c.delete("5");
    expect(ix.verify()).toEqual([]);
    expect(c.search(row(ds.base, 1999, D), { k: 1 })[0]!.id).toBe("new");
    for (let i = 0; i < N; i++) expect(ix.neighbours(i, 0).length).toBeLessThanOrEqual(16);
    // the deleted node's neighbours dropped it (the delete repair ran on the unpacked lists)
    for (const n of links[5]!) expect(ix.neighbours(n, 0)).not.toContain(5);
  });

  test("deleting the entry point, an emptied index, and errors", () => {
    using db = open();
    const c = db.createCollection("h", { dimension: 4, metric: "l2", index: "hnsw" });
    c.insertMany(Array.from({ length: 50 }, (_, i) => ({ id: String(i), vector: [i, i % 7, i % 3, 1] })));
    const ix = c.index as HnswIndex;
    const entry = ix.stats().entry;
    c.delete(String(entry));
    expect(ix.stats().entry).not.toBe(entry);
    expect(c.search([10, 3, 1, 1], { k: 3 }).map((h) => h.id)).toEqual(c.search([10, 3, 1, 1], { k: 3, exact: true }).map((h) => h.id));
    c.deleteMany(Array.from({ length: 50 }, (_, i) => String(i)));
    expect(c.search([1, 1, 1, 1], { k: 3 })).toEqual([]);
    c.insert("again", [1, 1, 1, 1]);
    expect(c.search([1, 1, 1, 1], { k: 3 }).map((h) => h.id)).toEqual(["again"]);
    expectCode(() => c.search([1, 1, 1, 1], { k: 3, ef: 0 }), "INVALID_ARGUMENT");
    expectCode(() => db.createCollection("bad", { dimension: 4, index: { type: "hnsw", m: 1 } }), "INVALID_CONFIG");
    expectCode(() => db.createCollection("bad", { dimension: 4, index: "clustered", quantization: "scalar" }), "INVALID_CONFIG");
  });
});

describe("filtered HNSW search returns the filtered exact top-k", () => {
  test("filters keeping 1%, 10% and 50% of the items", () => {
    const N = ds.n;
    using db = open();
    const c = db.createCollection("h", { dimension: D, metric: "l2", index: { type: "hnsw", m: 12, efConstruction: 64 }, quantization: "scalar" });
    c.insertMany(Array.from({ length: N }, (_, i) => ({ id: String(i), vector: row(ds.base, i, D), payload: { p1: i % 100 === 3, p10: i % 10 === 3, p50: i % 2 === 1 } })));
    const qs = Array.from({ length: 20 }, (_, i) => row(ds.queries, i, D));
    for (const [field, route] of [["p1", "exact-filtered"], ["p10", "hnsw-filtered"], ["p50", "hnsw-filtered"]] as const) {
      const filter = (p: Record<string, unknown> | null) => p![field] === true;
      for (const q of qs) {
        const got = c.searchWithReport(q, { k: 10, filter, ef: 200 });
        const want = c.search(q, { k: 10, filter, exact: true });
        expect(got.route).toBe(route);
        expect(got.hits.map((h) => h.id)).toEqual(want.map((h) => h.id));
      }
    }
    // fewer matches than k: all of them
    expect(c.search(qs[0]!, { k: 10, filter: (_p, id) => id === "7" || id === "1999" }).map((h) => h.id).sort()).toEqual(["1999", "7"]);
  });
});
