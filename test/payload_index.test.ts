import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { ITEM_ID, open, type Collection, type Predicate } from "../src/index";
import { expectCode, rng, tempDir } from "./helpers";

// about 2 s alone; a loaded 2-core machine can take several times that
setDefaultTimeout(60_000);

// ---- random data -------------------------------------------------------------------------

const CATS = ["news", "sport", "café", "日本", "", "a'b", "Zeta", "news "];
const DIM = 4;

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

/** Payloads with keyword and numeric fields that are sometimes missing, null or of another type. */
function randomPayload(r: () => number): Record<string, unknown> | null {
  if (r() < 0.05) return null;
  const p: Record<string, unknown> = {};
  const c = r();
  if (c < 0.7) p.cat = pick(r, CATS);
  else if (c < 0.75) p.cat = Math.floor(r() * 3);
  else if (c < 0.8) p.cat = r() < 0.5;
  else if (c < 0.85) p.cat = null;
  else if (c < 0.9) p.cat = { nested: 1 };
  const y = r();
  if (y < 0.7) p.year = 1990 + Math.floor(r() * 40);
  else if (y < 0.8) p.year = String(1990 + Math.floor(r() * 40));
  else if (y < 0.85) p.year = r() * 100 - 50;
  else if (y < 0.9) p.year = [2001];
  if (r() < 0.6) p.flag = r() < 0.5;
  if (r() < 0.6) p.meta = r() < 0.9 ? { tag: pick(r, ["x", "y", "z"]) } : "flat";
  p.free = pick(r, ["p", "q"]);
  return p;
}

const FIELDS = ["cat", "year", "flag", "meta.tag", "free"] as const;

function randomValue(r: () => number, field: string): string | number | boolean {
  const t = r();
  if (field === "year") return t < 0.8 ? 1990 + Math.floor(r() * 40) : String(1990 + Math.floor(r() * 40));
  if (field === "flag") return t < 0.8 ? r() < 0.5 : 1;
  if (field === "meta.tag") return pick(r, ["x", "y", "z", "w"]);
  return t < 0.85 ? pick(r, CATS) : Math.floor(r() * 3);
}

function randomLeaf(r: () => number, n: number): Predicate {
  if (r() < 0.07) return r() < 0.5 ? { field: ITEM_ID, eq: `i${Math.floor(r() * n)}` } : { field: ITEM_ID, in: [`i${Math.floor(r() * n)}`, `i${Math.floor(r() * n)}`] };
  const field = pick(r, FIELDS);
  const v = () => randomValue(r, field);
  switch (Math.floor(r() * 9)) {
    case 0:
      return { field, eq: v() };
    case 1:
      return { field, ne: v() };
    case 2:
      return pick(r, [{ field, lt: v() }, { field, lte: v() }, { field, gt: v() }, { field, gte: v() }]) as Predicate;
    case 3:
      return { field, gte: 2000, lt: 2015 };
    case 4:
      return { field, in: [v(), v(), ...(r() < 0.2 ? [null] : [])] };
    case 5:
      return { field, notIn: [v(), ...(r() < 0.2 ? [null] : [])] };
    case 6: {
      const a = r() < 0.7 ? 1990 + Math.floor(r() * 40) : pick(r, ["b", "n", "s"]);
      const b = typeof a === "number" ? a + Math.floor(r() * 15) : "t";
      return r() < 0.7 ? { field, between: [a, b] as [number, number] } : { field, notBetween: [a, b] as [number, number] };
    }
    case 7:
      return r() < 0.5 ? { field, like: pick(r, ["n%", "%o%", "_", "café"]) } : { field, notLike: "s%" };
    default:
      return { field, isNull: r() < 0.5 };
  }
}

function randomPredicate(r: () => number, n: number, depth = 0): Predicate {
  const t = r();
  if (depth >= 3 || t < 0.45) return randomLeaf(r, n);
  if (t < 0.65) return { and: [randomPredicate(r, n, depth + 1), randomPredicate(r, n, depth + 1)] };
  if (t < 0.85) return { or: [randomPredicate(r, n, depth + 1), randomPredicate(r, n, depth + 1)] };
  if (t < 0.95) return { not: randomPredicate(r, n, depth + 1) };
  return { and: [randomLeaf(r, n), { test: (p) => p !== null && (p as Record<string, unknown>).free === "p" }] };
}

// ---- an independent oracle: the three-valued semantics written out again ----------------------

type Tri = boolean | null;

function valueAt(field: unknown, payload: unknown, id: string): unknown {
  if (field === ITEM_ID) return id;
  let v: unknown = payload;
  for (const key of (field as string).split(".")) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function cmp(x: unknown, v: unknown, op: string): Tri {
  if (x === undefined || x === null) return null;
  if (typeof x !== typeof v) return op === "ne" ? true : op === "eq" ? false : null;
  const a = x as number, b = v as number;
  return op === "eq" ? a === b : op === "ne" ? a !== b : op === "lt" ? a < b : op === "lte" ? a <= b : op === "gt" ? a > b : a >= b;
}

function oracle(p: Predicate, payload: unknown, id: string): Tri {
  const o = p as Record<string, any>;
  if ("and" in o) {
    const vs = (o.and as Predicate[]).map((q) => oracle(q, payload, id));
    return vs.includes(false) ? false : vs.includes(null) ? null : true;
  }
  if ("or" in o) {
    const vs = (o.or as Predicate[]).map((q) => oracle(q, payload, id));
    return vs.includes(true) ? true : vs.includes(null) ? null : false;
  }
  if ("not" in o) {
    const v = oracle(o.not, payload, id);
    return v === null ? null : !v;
  }
  if ("test" in o) return o.test(payload, id) === true;
  const x = valueAt(o.field, payload, id);
  const ops = ["eq", "ne", "lt", "lte", "gt", "gte"].filter((k) => k in o);
  if (ops.length > 0) return oracle({ and: ops.map((op) => ({ __cmp: op, v: o[op], field: o.field })) } as never, payload, id);
  if ("__cmp" in o) return cmp(x, o.v, o.__cmp);
  if (x === undefined || x === null) return "isNull" in o ? o.isNull : null;
  if ("isNull" in o) return !o.isNull;
  if ("in" in o || "notIn" in o) {
    const list = (o.in ?? o.notIn) as unknown[];
    const neg = "notIn" in o;
    if (list.some((v) => v !== null && v === x)) return !neg;
    return list.includes(null) ? null : neg;
  }
  if ("between" in o || "notBetween" in o) {
    const [lo, hi] = (o.between ?? o.notBetween) as [number, number];
    const neg = "notBetween" in o;
    if (typeof x !== typeof lo) return neg;
    const inside = (x as number) >= lo && (x as number) <= hi;
    return neg ? !inside : inside;
  }
  const pat = (o.like ?? o.notLike) as string;
  const neg = "notLike" in o;
  if (typeof x !== "string") return neg;
  const re = new RegExp(`^${[...pat].map((ch) => (ch === "%" ? "[\\s\\S]*" : ch === "_" ? "[\\s\\S]" : ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("")}$`);
  return neg ? !re.test(x) : re.test(x);
}

// ---- the property ---------------------------------------------------------------------------

function oracleIds(c: Collection, p: Predicate): string[] {
  const out: string[] = [];
  for (const item of c) if (oracle(p, item.payload, item.id) === true) out.push(item.id);
  return out.sort();
}

function l2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

/**
 * For random filters: the ids the indexes list equal the oracle's, and a
 * filtered search with indexes returns what one without them returns (ids
 * and distances), which is the true filtered top-k.
 */
function checkAgreement(indexed: Collection, plain: Collection, r: () => number, rounds: number): { used: number } {
  let used = 0;
  const n = indexed.count() + 20;
  for (let i = 0; i < rounds; i++) {
    const p = randomPredicate(r, n);
    const want = oracleIds(indexed, p);
    expect([...indexed.idsWhere(p)].sort()).toEqual(want);
    expect([...plain.idsWhere(p)].sort()).toEqual(want);
    const q = Array.from({ length: DIM }, () => r() * 2 - 1);
    const k = 1 + Math.floor(r() * 8);
    const a = indexed.searchWithReport(q, { k, where: p, exact: r() < 0.3 });
    const b = plain.searchWithReport(q, { k, where: p, exact: true });
    if (a.payloadIndexes.length > 0) used++;
    expect(a.hits.map((h) => [h.id, h.distance])).toEqual(b.hits.map((h) => [h.id, h.distance]));
    // the true filtered top-k: as many as match (up to k), and nothing matching is closer
    expect(a.hits.length).toBe(Math.min(k, want.length));
    const dists = want.map((id) => l2(indexed.get(id)!.vector, q)).sort((x, y) => x - y);
    a.hits.forEach((h, j) => expect(h.distance).toBeCloseTo(dists[j]!, 5));
  }
  return { used };
}

function mutate(c: Collection[], r: () => number, next: { id: number }, steps: number): void {
  for (let s = 0; s < steps; s++) {
    const t = r();
    const existing = [...c[0]!.keys()];
    const id = existing.length > 0 ? pick(r, existing) : "i0";
    const vector = Array.from({ length: DIM }, () => r() * 2 - 1);
    const payload = randomPayload(r);
    for (const col of c) {
      // every collection gets the same operations (the random choices are drawn once, above)
      if (t < 0.35) col.insertMany([{ id: `i${next.id}`, vector, payload }, { id: `i${next.id + 1}`, vector: vector.map((x) => -x), payload: null }]);
      else if (t < 0.5) col.upsert(id, vector, payload);
      else if (t < 0.75 && existing.length > 0) col.update(id, { payload });
      else if (t < 0.82 && existing.length > 0) col.update(id, { vector });
      else if (existing.length > 0) col.delete(id);
    }
    if (t < 0.35) next.id += 2;
  }
}

describe("payload indexes answer exactly what a full scan answers", () => {
  test("random payloads and filters, memory and mmap, through writes, vacuum, ALTER, reopen", () => {
    const dir = tempDir();
    const r = rng(20261122);
    const next = { id: 0 };
    let db = open(dir);
    const opts = (storage: "memory" | "mmap", index: "flat" | "clustered" | "hnsw") => ({ dimension: DIM, metric: "l2" as const, storage, index });
    let mem = db.createCollection("mem", opts("memory", "flat"));
    let mm = db.createCollection("mm", opts("mmap", "clustered"));
    let plain = db.createCollection("plain", opts("memory", "flat"));
    // half the rows before the indexes exist (built over them), half after (kept in step)
    mutate([mem, mm, plain], r, next, 150);
    for (const c of [mem, mm]) {
      c.createPayloadIndex("cat");
      c.createPayloadIndex("year");
      c.createPayloadIndex(["flag"]);
      c.createPayloadIndex("meta.tag");
    }
    expect(mem.payloadIndexes().map((p) => p.field)).toEqual(["cat", "flag", "meta.tag", "year"]);
    const check = () => {
      const u1 = checkAgreement(mem, plain, r, 45);
      const u2 = checkAgreement(mm, plain, r, 45);
      expect(u1.used).toBeGreaterThan(15); // the indexes did take part
      expect(u2.used).toBeGreaterThan(15);
    };
    check();
    mutate([mem, mm, plain], r, next, 250);
    check();
    mem.vacuum();
    mm.vacuum();
    check();
    mm.setStorage("memory");
    mem.setStorage("mmap");
    mutate([mem, mm, plain], r, next, 60);
    check();
    expect(db.check().ok).toBe(true);
    db.checkpoint();
    mutate([mem, mm, plain], r, next, 60); // in the log only: replayed on open
    db.close();
    db = open(dir);
    mem = db.collection("mem");
    mm = db.collection("mm");
    plain = db.collection("plain");
    expect(mm.payloadIndexes().map((p) => p.field)).toEqual(["cat", "flag", "meta.tag", "year"]);
    check();
    // a dropped index is gone after reopening too, and answers stay the same without it
    mem.dropPayloadIndex("year");
    db.close();
    db = open(dir);
    mem = db.collection("mem");
    expect(mem.payloadIndexes().map((p) => p.field)).toEqual(["cat", "flag", "meta.tag"]);
    checkAgreement(mem, db.collection("plain"), r, 40);
    db.close();
  });

  test("the indexes list exactly the matching rows for every kind of condition on one field", () => {
    using db = open();
    const c = db.createCollection("c", { dimension: 2, metric: "l2" });
    const values: unknown[] = ["a", "b", "", "é", 0, 1, 2.5, -3, true, false, null, [1], { a: 1 }, "1"];
    values.forEach((v, i) => c.insert(`v${i}`, [i, 0], { f: v }));
    c.insert("missing", [0, 1], {});
    c.insert("nullPayload", [0, 2], null);
    const plain = db.createCollection("plain", { dimension: 2, metric: "l2" });
    for (const item of c) plain.insert(item.id, item.vector, item.payload);
    c.createPayloadIndex("f");
    const leaves: Predicate[] = [];
    for (const v of ["a", "", "1", 1, 0, 2.5, true, false]) {
      leaves.push({ field: "f", eq: v }, { field: "f", ne: v }, { field: "f", lt: v }, { field: "f", gte: v }, { field: "f", in: [v, "b"] }, { field: "f", notIn: [v] }, { field: "f", notIn: [v, null] });
    }
    leaves.push({ field: "f", between: [0, 2] }, { field: "f", notBetween: ["a", "b"] }, { field: "f", like: "%" }, { field: "f", notLike: "a" }, { field: "f", isNull: true }, { field: "f", isNull: false });
    for (const leaf of leaves) {
      for (const p of [leaf, { not: leaf }, { not: { not: leaf } }]) {
        const want = oracleIds(c, p);
        expect(c.idsWhere(p).sort()).toEqual(want);
        const hits = c.searchWithReport([0, 0], { k: 30, where: p });
        expect(hits.payloadIndexes).toEqual(["f"]);
        expect(hits.candidatesExact).toBe(true);
        expect(hits.hits.map((h) => h.id).sort()).toEqual(want);
        expect(hits.hits.map((h) => [h.id, h.distance])).toEqual(plain.search([0, 0], { k: 30, where: p }).map((h) => [h.id, h.distance]));
      }
    }
  });

  test("candidate scans give the exact scan's ids and distances for every metric and storage", () => {
    using db = open(tempDir());
    const r = rng(99);
    for (const metric of ["l2", "cosine", "dot"] as const) {
      for (const storage of ["memory", "mmap"] as const) {
        const c = db.createCollection(`${metric}_${storage}`, { dimension: 24, metric, storage });
        c.insertMany(Array.from({ length: 600 }, (_, i) => ({ id: `i${i}`, vector: Array.from({ length: 24 }, () => r() - 0.5), payload: { cat: `c${i % 3}` } })));
        c.createPayloadIndex("cat");
        for (let t = 0; t < 5; t++) {
          const q = Array.from({ length: 24 }, () => r() - 0.5);
          const got = c.searchWithReport(q, { k: 7, where: { field: "cat", eq: `c${t % 3}` } });
          expect(got.route).toBe("exact-indexed");
          const want = c.search(q, { k: 7, filter: (p) => (p as { cat: string }).cat === `c${t % 3}`, exact: true });
          expect(got.hits.map((h) => [h.id, h.distance])).toEqual(want.map((h) => [h.id, h.distance]));
        }
      }
    }
  });

  test("db.check() finds a payload index that disagrees with the payloads", () => {
    using db = open();
    const c = db.createCollection("c", { dimension: 2 });
    c.insertMany(Array.from({ length: 50 }, (_, i) => ({ id: `i${i}`, vector: [1, i], payload: { cat: `c${i % 5}` } })));
    c.createPayloadIndex("cat");
    c.search([1, 0], { where: { field: "cat", eq: "c1" } }); // builds the row lists
    expect(db.check().ok).toBe(true);
    // damage the index behind the collection's back: row 3 now claims another value
    const ix = (c as unknown as { fieldIndexes: Map<string, { set(row: number, p: unknown): void }> }).fieldIndexes.get('["cat"]')!;
    ix.set(3, { cat: "c4" });
    const report = db.check();
    expect(report.ok).toBe(false);
    expect(report.problems).toContain("c: the payload index on cat disagrees with 1 rows");
  });

  test("bad predicates and index names are clear errors that change nothing", () => {
    using db = open();
    const c = db.createCollection("c", { dimension: 2 });
    c.insert("a", [1, 0], { cat: "x" });
    expectCode(() => c.search([1, 0], { where: { field: "cat" } as never }), "INVALID_ARGUMENT");
    expectCode(() => c.search([1, 0], { where: { field: "cat", eq: [1] } as never }), "INVALID_ARGUMENT");
    expectCode(() => c.search([1, 0], { where: { field: "cat", eq: 1, in: [1] } as never }), "INVALID_ARGUMENT");
    expectCode(() => c.search([1, 0], { where: { and: [] } }), "INVALID_ARGUMENT");
    expectCode(() => c.search([1, 0], { where: { field: "", eq: 1 } }), "INVALID_ARGUMENT");
    expectCode(() => c.search([1, 0], { where: { field: ITEM_ID, eq: 1 } }), "INVALID_ARGUMENT");
    expectCode(() => c.search([1, 0], { where: { field: "y", between: [1, "b"] } as never }), "INVALID_ARGUMENT");
    expectCode(() => c.createPayloadIndex("a..b"), "INVALID_ARGUMENT");
    c.createPayloadIndex("cat");
    expectCode(() => c.createPayloadIndex("cat"), "INDEX_EXISTS");
    expect(c.createPayloadIndex("cat", { ifNotExists: true })).toBe(false);
    expectCode(() => c.dropPayloadIndex("nope"), "UNKNOWN_INDEX");
    expect(c.dropPayloadIndex("nope", { ifExists: true })).toBe(false);
    expect(c.payloadIndexes().map((p) => p.field)).toEqual(["cat"]);
    // the function filter and the predicate both hold
    expect(c.search([1, 0], { where: { field: "cat", eq: "x" }, filter: () => false })).toEqual([]);
    expect(c.search([1, 0], { where: { field: "cat", eq: "x" }, filter: () => true }).map((h) => h.id)).toEqual(["a"]);
  });

  test("the planner searches few candidates exactly and many through the vector index with a row bitmap", () => {
    using db = open();
    const c = db.createCollection("c", { dimension: 8, metric: "l2", index: { type: "clustered", maxLeafSize: 500 } });
    const r = rng(7);
    const n = 10_000;
    c.insertMany(Array.from({ length: n }, (_, i) => ({ id: `i${i}`, vector: Array.from({ length: 8 }, () => r()), payload: { cat: `c${i % 100}`, half: i % 2 } })));
    c.createPayloadIndex("cat");
    c.createPayloadIndex("half");
    const q = Array.from({ length: 8 }, () => r());
    const few = c.searchWithReport(q, { k: 10, where: { field: "cat", eq: "c7" } });
    expect(few.route).toBe("exact-indexed");
    expect(few.candidates).toBe(100);
    expect(few.stats.scanned).toBe(100);
    expect(few.hits.map((h) => h.id)).toEqual(c.search(q, { k: 10, where: { field: "cat", eq: "c7" }, exact: true }).map((h) => h.id));
    const many = c.searchWithReport(q, { k: 10, where: { field: "half", eq: 1 } });
    expect(["clustered", "clustered-widened"]).toContain(many.route);
    expect(many.candidates).toBe(n / 2);
    for (const h of many.hits) expect((h.payload as { half: number }).half).toBe(1);
    // HNSW takes a large candidate list as a row bitmap too
    const g = db.createCollection("g", { dimension: 8, metric: "l2", index: { type: "hnsw", m: 8, efConstruction: 32, efSearch: 32 } });
    g.insertMany(Array.from({ length: 5000 }, (_, i) => ({ id: `g${i}`, vector: Array.from({ length: 8 }, () => r()), payload: { cat: `c${i % 100}` } })));
    g.createPayloadIndex("cat");
    const wide = g.searchWithReport(q, { k: 10, where: { field: "cat", ne: "c7" } });
    expect(wide.route).toBe("hnsw-filtered");
    expect(wide.candidates).toBe(4950);
    expect(wide.hits.length).toBe(10);
    for (const h of wide.hits) expect((h.payload as { cat: string }).cat).not.toBe("c7");
    // an unindexed field: no candidates, the vector index's own route
    const none = c.searchWithReport(q, { k: 10, filter: (p) => (p as { half: number }).half === 1 });
    expect(none.payloadIndexes).toEqual([]);
    expect(none.candidates).toBeNull();
    // AND with an unindexed part: the indexed part bounds the candidates, each checked on its payload
    const mixed = c.searchWithReport(q, { k: 5, where: { and: [{ field: "cat", eq: "c7" }, { field: "other", isNull: true }] } });
    expect(mixed.route).toBe("exact-indexed");
    expect(mixed.candidatesExact).toBe(false);
    expect(mixed.hits.map((h) => h.id)).toEqual(few.hits.slice(0, 5).map((h) => h.id));
  });
});
