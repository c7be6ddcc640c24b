/**
 * Filtered search with and without a payload index (issue 10's payload-index
 * target): an mmap collection with a clustered index, N × 128 synthetic
 * vectors, ~1 KB of text payload per item with a `cat` keyword of 100 values
 * (an equality filter keeps 1 %).
 *
 *   bun bench/filtered.ts [N=1000000] [--dir DIR]   (DIR kept and reused when given)
 *
 * Measures, in one process after a fresh open: k = 10 searches WHERE cat = v
 * without the index (few queries: each reads every payload) and with it
 * (p50 / mean over 300 queries), the index build time, the open time and
 * memory (RssAnon / RssFile from /proc/self/status, heap) with the index, and
 * checks every indexed answer against the exact filtered top-k (an exact scan
 * with an opaque filter function, which no index can serve). Writes
 * bench/results/filtered-N.json.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { heapStats } from "bun:jsc";
import { open, type Collection } from "../src/index";
import { procMemory, syntheticRows, writeResult } from "./lib";

const DIM = 128;
const BATCH = 10_000;
const CATS = 100;
const WORDS = "vector index search query payload cluster memory disk page file row table hash open close write read commit log snapshot manifest checkpoint recall latency throughput storage record".split(" ");

function payloadFor(i: number): { title: string; cat: string; n: number; text: string } {
  let s = (i * 2654435761) >>> 0 || 1;
  const parts: string[] = [];
  let len = 0;
  while (len < 1000) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const w = WORDS[s % WORDS.length]!;
    parts.push(w);
    len += w.length + 1;
  }
  return { title: `document ${i}`, cat: `c${i % CATS}`, n: i, text: parts.join(" ") };
}

function memory() {
  const m = procMemory();
  const h = heapStats();
  return { rssAnonMB: m.rssAnonMB, rssFileMB: m.rssFileMB, heapMB: Math.round(((h.heapSize - h.extraMemorySize) / 1048576) * 10) / 10 };
}

function queries(count: number, seed: number): Float32Array[] {
  const buf = syntheticRows(new Float32Array(count * DIM), DIM, 10_000_000 + seed, count);
  return Array.from({ length: count }, (_, i) => buf.slice(i * DIM, (i + 1) * DIM));
}

function build(dir: string, n: number): number {
  const db = open(dir, { durability: "normal" });
  const c = db.hasCollection("docs")
    ? db.collection("docs")
    : db.createCollection("docs", { dimension: DIM, metric: "l2", storage: "mmap", index: { type: "clustered" } });
  const t0 = performance.now();
  const buf = new Float32Array(BATCH * DIM);
  for (let have = c.count(); have < n; have += BATCH) {
    syntheticRows(buf, DIM, have, BATCH);
    c.insertMany(Array.from({ length: BATCH }, (_, i) => ({ id: `doc-${have + i}`, vector: buf.subarray(i * DIM, (i + 1) * DIM), payload: payloadFor(have + i) })));
    if ((have / BATCH) % 20 === 0) console.error(`  ${have + BATCH} rows`);
  }
  if (c.hasPayloadIndex("cat")) c.dropPayloadIndex("cat");
  db.close();
  return (performance.now() - t0) / 1000;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

function time(c: Collection, qs: Float32Array[], cat: (i: number) => string): { ms: number[]; routes: Set<string> } {
  const ms: number[] = [];
  const routes = new Set<string>();
  qs.forEach((q, i) => {
    const t0 = performance.now();
    const r = c.searchWithReport(q, { k: 10, where: { field: "cat", eq: cat(i) } });
    ms.push(performance.now() - t0);
    routes.add(r.route);
  });
  return { ms, routes };
}

function main(): void {
  const n = Number(process.argv[2] ?? 1_000_000);
  const dirArg = process.argv.indexOf("--dir");
  const dir = dirArg > 0 ? process.argv[dirArg + 1]! : fs.mkdtempSync(path.join(os.tmpdir(), "vqlite-filtered-"));
  console.error(`building ${n} rows in ${dir}`);
  const buildSec = build(dir, n);
  const cat = (i: number) => `c${(i * 37) % CATS}`;

  const before = memory();
  let t0 = performance.now();
  let db = open(dir);
  let c = db.collection("docs");
  const openNoIndexMs = performance.now() - t0;

  // without the index: the clustered index's route for a 1 % filter (an exact scan reading every payload)
  const slowQs = queries(5, 1);
  const noIndex = time(c, slowQs, cat);
  // the reference: an exact scan with an opaque filter function (never served by an index)
  const reference = slowQs.map((q, i) => c.search(q, { k: 10, filter: (p) => (p as { cat: string }).cat === cat(i), exact: true }));

  t0 = performance.now();
  c.createPayloadIndex("cat");
  const createIndexMs = performance.now() - t0;
  db.checkpoint();
  db.close();

  // a fresh open with the index: nothing is rebuilt, no payload is read
  t0 = performance.now();
  db = open(dir);
  c = db.collection("docs");
  const openMs = performance.now() - t0;
  const afterOpen = memory();
  const info = c.payloadIndexes()[0]!;

  const exactChecks = slowQs.map((q, i) => {
    const got = c.search(q, { k: 10, where: { field: "cat", eq: cat(i) } });
    return JSON.stringify(got.map((h) => [h.id, h.distance])) === JSON.stringify(reference[i]!.map((h) => [h.id, h.distance]));
  });
  const noIndexChecks = slowQs.map((q, i) => {
    const got = c.search(q, { k: 10, filter: (p) => (p as { cat: string }).cat === cat(i) });
    return JSON.stringify(got.map((h) => h.id)) === JSON.stringify(reference[i]!.map((h) => h.id));
  });
  const qs = queries(300, 2);
  time(c, qs.slice(0, 20), cat); // first use builds the row lists
  const withIndex = time(c, qs, cat);
  const afterSearch = memory();
  // every answer is exactly the filtered top-k: the candidates are searched exactly
  let checked = 0, equal = 0;
  for (let i = 0; i < qs.length; i += 30) {
    const got = c.search(qs[i]!, { k: 10, where: { field: "cat", eq: cat(i) } });
    const want = c.search(qs[i]!, { k: 10, filter: (p) => (p as { cat: string }).cat === cat(i), exact: true });
    checked++;
    if (JSON.stringify(got.map((h) => [h.id, h.distance])) === JSON.stringify(want.map((h) => [h.id, h.distance]))) equal++;
  }
  db.close();
  if (dirArg < 0) fs.rmSync(dir, { recursive: true, force: true });

  const r3 = (x: number) => +x.toFixed(3);
  const result = {
    rows: n,
    dim: DIM,
    selectivity: 1 / CATS,
    buildSec: +buildSec.toFixed(1),
    noIndex: { queries: slowQs.length, meanMs: r3(noIndex.ms.reduce((a, b) => a + b, 0) / slowQs.length), p50Ms: r3(percentile(noIndex.ms, 0.5)), routes: [...noIndex.routes] },
    withIndex: {
      queries: qs.length,
      p50Ms: r3(percentile(withIndex.ms, 0.5)),
      meanMs: r3(withIndex.ms.reduce((a, b) => a + b, 0) / qs.length),
      p99Ms: r3(percentile(withIndex.ms, 0.99)),
      routes: [...withIndex.routes],
    },
    exact: { againstOpaqueExactScan: `${exactChecks.filter(Boolean).length + equal}/${exactChecks.length + checked}`, unindexedClusteredMatches: `${noIndexChecks.filter(Boolean).length}/${noIndexChecks.length}` },
    createIndexMs: Math.round(createIndexMs),
    openNoIndexMs: +openNoIndexMs.toFixed(1),
    openWithIndexMs: +openMs.toFixed(1),
    index: { rows: info.rows, heapMB: +(info.heapBytes / 1048576).toFixed(1) },
    memory: { beforeOpen: before, afterOpenWithIndex: afterOpen, afterSearches: afterSearch },
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`wrote ${writeResult(`filtered-${n}`, result)}`);
}

main();
