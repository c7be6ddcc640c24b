import { describe, expect, test } from "bun:test";
import { open } from "../src/index";
import { referenceDistance, type Metric } from "../src/ann/distance";
import { expectCode, randomVectors, rng, row, tempDir } from "./helpers";

function naiveSearch(data: Float32Array, n: number, dim: number, q: Float32Array, k: number, metric: Metric, keep: (i: number) => boolean = () => true) {
  const all = [];
  for (let i = 0; i < n; i++) if (keep(i)) all.push({ id: String(i), distance: referenceDistance(metric, q, row(data, i, dim)) });
  all.sort((a, b) => a.distance - b.distance || Number(a.id) - Number(b.id));
  return all.slice(0, k);
}

for (const storage of ["memory", "mmap"] as const) {
  describe(`collection (${storage})`, () => {
    const openDb = () => (storage === "mmap" ? open(tempDir()) : open());

    for (const metric of ["l2", "cosine", "dot"] as const) {
      test(`exact search matches a naive reference (${metric})`, () => {
        using db = openDb();
        const dim = 16, n = 400;
        const c = db.createCollection("v", { dimension: dim, metric, storage });
        const data = randomVectors(n, dim, 7);
        c.insertMany(Array.from({ length: n }, (_, i) => ({ id: String(i), vector: row(data, i, dim), payload: { i, even: i % 2 === 0 } })));
        const queries = randomVectors(20, dim, 8);
        for (let qi = 0; qi < 20; qi++) {
          const q = row(queries, qi, dim);
          const got = c.search(q, { k: 10 });
          const want = naiveSearch(data, n, dim, q, 10, metric);
          expect(got.map((h) => h.id)).toEqual(want.map((h) => h.id));
          got.forEach((h, i) => expect(h.distance).toBeCloseTo(want[i]!.distance, 4));
          for (let i = 1; i < got.length; i++) expect(got[i]!.distance).toBeGreaterThanOrEqual(got[i - 1]!.distance);
          // with a payload filter
          const fgot = c.search(q, { k: 10, filter: (p) => p!.even === true });
          const fwant = naiveSearch(data, n, dim, q, 10, metric, (i) => i % 2 === 0);
          expect(fgot.map((h) => h.id)).toEqual(fwant.map((h) => h.id));
          expect(fgot.every((h) => (h.payload as { i: number }).i % 2 === 0)).toBe(true);
        }
      });
    }

    test("insert, get, upsert, update, delete, count, iteration", () => {
      using db = openDb();
      const c = db.createCollection("v", { dimension: 3, metric: "l2", storage });
      c.insert("a", [1, 2, 3], { title: "x" });
      c.insert({ id: "b", vector: new Float32Array([4, 5, 6]), sparse: { indices: [1, 9], values: [0.5, 2] } });
      expect(c.count()).toBe(2);
      expect(c.get("a")).toEqual({ id: "a", vector: new Float32Array([1, 2, 3]), payload: { title: "x" }, sparse: null });
      expect(c.get("b")!.sparse).toEqual({ indices: new Uint32Array([1, 9]), values: new Float32Array([0.5, 2]) });
      expect(c.get("zzz")).toBeNull();
      expectCode(() => c.insert("a", [0, 0, 0]), "DUPLICATE_ID");
      c.upsert("a", [7, 7, 7], { title: "y" });
      expect(c.get("a")!.vector).toEqual(new Float32Array([7, 7, 7]));
      c.update("a", { payload: { title: "z" } });
      expect(c.get("a")).toMatchObject({ payload: { title: "z" }, vector: new Float32Array([7, 7, 7]) });
      c.update("a", { vector: [0, 0, 1] });
      expect(c.get("a")).toMatchObject({ payload: { title: "z" }, vector: new Float32Array([0, 0, 1]) });
      expectCode(() => c.update("nope", { payload: null }), "UNKNOWN_ID");
      expect(c.delete("b")).toBe(true);
      expect(c.delete("b")).toBe(false);
      expect(c.count()).toBe(1);
      expect([...c.keys()]).toEqual(["a"]);
      expect([...c].map((i) => i.id)).toEqual(["a"]);
      expect(c.search([0, 0, 1], { k: 5 }).map((h) => h.id)).toEqual(["a"]);
    });

    test("payloads are detached from the caller and read-only", () => {
      using db = openDb();
      const c = db.createCollection("v", { dimension: 2, storage });
      const p = { tags: ["x"] };
      c.insert("a", [1, 0], p);
      p.tags.push("y");
      expect(c.get("a")!.payload).toEqual({ tags: ["x"] });
      expect(() => ((c.get("a")!.payload as { tags: string[] }).tags.push("z"))).toThrow();
    });

    test("every bad input is rejected with a clear error and changes nothing", () => {
      using db = openDb();
      const c = db.createCollection("v", { dimension: 3, metric: "cosine", normalize: true, storage });
      c.insert("keep", [1, 0, 0], { a: 1 });
      const before = () => JSON.stringify([...c].map((i) => [i.id, [...i.vector], i.payload]));
      const snap = before();
      expect(expectCode(() => c.insert("x", [1, 2]), "DIMENSION_MISMATCH").message).toContain("expects 3");
      expectCode(() => c.insert("x", [1, NaN, 2]), "NON_FINITE_VALUE");
      expectCode(() => c.insert("x", [1, Infinity, 2]), "NON_FINITE_VALUE");
      expectCode(() => c.insert("x", [1, 1e39, 2]), "NON_FINITE_VALUE"); // overflows float32
      // typed arrays take the copy-then-check path; a batch carves its vectors from one slab
      expect(expectCode(() => c.insert("x", new Float32Array([1, 2, NaN])), "NON_FINITE_VALUE").message).toContain("position 2");
      expectCode(() => c.insert("x", new Float64Array([1, -Infinity, 2])), "NON_FINITE_VALUE");
      expectCode(() => c.insert("x", new Float64Array([1, 2, -1e39])), "NON_FINITE_VALUE");
      expectCode(() => c.insertMany([{ id: "y", vector: new Float32Array([1, 2, 3]) }, { id: "x", vector: new Float32Array([Infinity, 0, 0]) }]), "NON_FINITE_VALUE");
      expectCode(() => c.insert("x", [0, 0, 0]), "INVALID_VECTOR"); // cannot normalise
      expectCode(() => c.insert("x", ["1", 2, 3] as unknown as number[]), "INVALID_VECTOR");
      expectCode(() => c.insert("", [1, 2, 3]), "INVALID_ID");
      expectCode(() => c.insert("x".repeat(1025), [1, 2, 3]), "INVALID_ID");
      expectCode(() => c.insert({ id: 7 as unknown as string, vector: [1, 2, 3] }), "INVALID_ID");
      expectCode(() => c.insert("x", [1, 2, 3], [1, 2] as unknown as null), "INVALID_PAYLOAD");
      const circ: Record<string, unknown> = {};
      circ.self = circ;
      expectCode(() => c.insert("x", [1, 2, 3], circ), "INVALID_PAYLOAD");
      expectCode(() => c.insert({ id: "x", vector: [1, 2, 3], sparse: { indices: [3, 1], values: [1, 1] } }), "INVALID_VECTOR");
      // a batch with one bad item applies none of it
      const e = expectCode(
        () => c.insertMany([{ id: "ok1", vector: [1, 1, 1] }, { id: "ok2", vector: [1, 1, 1] }, { id: "bad", vector: [1, 1] }]),
        "DIMENSION_MISMATCH",
      );
      expect(e.message).toContain("item 2");
      expectCode(() => c.insertMany([{ id: "d", vector: [1, 1, 1] }, { id: "d", vector: [1, 1, 1] }]), "DUPLICATE_ID");
      expectCode(() => c.insertMany([{ id: "keep", vector: [1, 1, 1] }]), "DUPLICATE_ID");
      expectCode(() => c.update("keep", { vector: [1, 2] }), "DIMENSION_MISMATCH");
      expectCode(() => c.update("keep", {}), "INVALID_ARGUMENT");
      expectCode(() => c.search([1, 2]), "DIMENSION_MISMATCH");
      expectCode(() => c.search([1, 0, 0], { k: 0 }), "INVALID_ARGUMENT");
      expectCode(() => c.search([1, 0, 0], { k: 1.5 }), "INVALID_ARGUMENT");
      expect(before()).toBe(snap);
      expect(c.count()).toBe(1);
    });

    test("vacuum compacts tombstones and reports the bytes reclaimed", () => {
      using db = openDb();
      const dim = 8;
      const c = db.createCollection("v", { dimension: dim, metric: "l2", storage });
      const data = randomVectors(100, dim, 3);
      c.insertMany(Array.from({ length: 100 }, (_, i) => ({ id: `k${i}`, vector: row(data, i, dim), payload: { i } })));
      for (let i = 0; i < 100; i += 2) c.delete(`k${i}`);
      c.update("k1", { vector: row(data, 0, dim) }); // leaves a dead row too
      const res = c.vacuum();
      expect(res.removedRows).toBe(51);
      expect(res.reclaimedBytes).toBe(51 * dim * 4);
      expect(c.count()).toBe(50);
      expect(c.rowCount).toBe(50);
      expect(c.get("k3")).toMatchObject({ vector: row(data, 3, dim), payload: { i: 3 } });
      expect(c.get("k1")!.vector).toEqual(row(data, 0, dim).slice());
      expect(c.search(row(data, 5, dim), { k: 1 })[0]!.id).toBe("k5");
      c.insert("new", row(data, 10, dim));
      expect(c.search(row(data, 10, dim), { k: 1 })[0]!.id).toBe("new");
    });
  });
}

describe("memory accounting", () => {
  test("memory storage counts vectors on the heap; mmap storage reports them apart", () => {
    const dir = tempDir();
    using db = open(dir);
    const dim = 256, n = 2000;
    const data = randomVectors(n, dim, 4);
    const items = Array.from({ length: n }, (_, i) => ({ id: `id-${i}`, vector: row(data, i, dim), payload: { n: i } }));
    const mem = db.createCollection("m", { dimension: dim, storage: "memory" });
    const mm = db.createCollection("mm", { dimension: dim, storage: "mmap" });
    mem.insertMany(items);
    mm.insertMany(items);
    const a = mem.memoryUsage(), b = mm.memoryUsage();
    expect(a.vectorHeapBytes).toBeGreaterThanOrEqual(n * dim * 4);
    expect(a.vectorMappedBytes).toBe(0);
    expect(b.vectorHeapBytes).toBe(0);
    expect(b.vectorMappedBytes).toBe(n * dim * 4);
    // before a checkpoint the new rows' ids and payloads are in RAM either way
    expect(b.metadataBytes).toBeGreaterThan(a.metadataBytes / 2);
    expect(mm.memoryUsageBytes()).toBeLessThan(mem.memoryUsageBytes() / 3);
    // after it, an mmap collection keeps only the live bitmap and norms per row
    db.checkpoint();
    expect(mem.memoryUsage().metadataBytes).toBe(a.metadataBytes);
    expect(mm.memoryUsage().metadataBytes).toBeLessThan(n * 8 + 4096);
  });
});

describe("random operations against a model", () => {
  test("a long random sequence of writes matches a Map model, across reopen", () => {
    const dir = tempDir();
    const r = rng(99);
    const dim = 4;
    const model = new Map<string, { v: number[]; p: unknown }>();
    let db = open(dir, { checkpointBytes: 4096 });
    let c = db.createCollection("v", { dimension: dim, metric: "l2", storage: "mmap" });
    for (let step = 0; step < 1500; step++) {
      const id = `k${Math.floor(r() * 60)}`;
      const v = Array.from({ length: dim }, () => Math.round(r() * 100));
      const op = r();
      if (op < 0.4) {
        c.upsert(id, v, { step });
        model.set(id, { v, p: { step } });
      } else if (op < 0.6) {
        if (model.has(id)) {
          c.update(id, { payload: { up: step } });
          model.get(id)!.p = { up: step };
        }
      } else if (op < 0.8) {
        expect(c.delete(id)).toBe(model.delete(id));
      } else if (op < 0.85) {
        c.vacuum();
      } else if (op < 0.9) {
        db.close();
        db = open(dir, { checkpointBytes: 4096 });
        c = db.collection("v");
      } else {
        if (model.has(id)) expectCode(() => c.insert(id, v), "DUPLICATE_ID");
        else {
          c.insert(id, v, null);
          model.set(id, { v, p: null });
        }
      }
    }
    const check = () => {
      expect(c.count()).toBe(model.size);
      for (const [id, m] of model) {
        const got = c.get(id)!;
        expect([...got.vector]).toEqual(m.v);
        expect(got.payload).toEqual(m.p as never);
      }
    };
    check();
    db.close();
    db = open(dir);
    c = db.collection("v");
    check();
    db.close();
  }, 60_000); // 1,500 durable steps: seconds on a busy 2-core machine
});
