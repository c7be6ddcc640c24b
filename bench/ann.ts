/**
 * Recall@10 against single-thread QPS on real data with exact ground truth,
 * for the clustered index, our HNSW (each quantization) and, in the same
 * process, hnswlib-node (native C++ hnswlib through N-API) when it is installed.
 *
 *   bun bench/ann.ts [DATASET_DIR] [--index clustered|hnsw|hnswlib|all, or a comma list] [--queries N] [--m 16] [--ef-construction 200]
 *                    [--kernels wasm|ts|ts,wasm] [--out NAME] [--keep-db DIR]
 *
 * --keep-db DIR builds the HNSW databases in DIR/QUANT (kept after the run), so
 * that the memory child can be run again on them alone, in seconds:
 *   bun bench/ann.ts --memory-child DIR/binary DATASET_DIR/query.fvecs.gz 500
 *
 * --index hnsw-threads builds HNSW (no quantization) with HnswIndex.rebuild on
 * THREADS threads (default 2; a comma list measures each) and sweeps ef over
 * it; its build time is wall time (several threads), set beside
 * hnswlib-node's wall time (buildWallVsHnswlibWall) as well as its CPU time.
 *
 * --kernels ts,wasm measures every setting with the TypeScript kernels (forced)
 * and then the WebAssembly ones, back to back in the same process: the fair
 * before/after on a machine whose load varies. Rows measured with the
 * TypeScript kernels are labelled "(ts)".
 *
 * DATASET_DIR defaults to ../shared/data/fashion-mnist-784-euclidean.
 * Prints tables and writes bench/results/ann-DATASET.json and its chart
 * (ann-DATASET.svg); with --out NAME, bench/results/NAME.json and NAME.svg
 * instead (a partial run that must not replace the full one's figures).
 * The clustered sweep is PROBES × RERANK (environment, comma lists).
 *
 * QPS and build times are measured in the main thread's CPU time (Linux), so
 * that the load of other jobs on a shared machine does not count; the wall-time
 * QPS is kept as qpsWall. hnswlib-node's search and build run in that same
 * thread, so the ratios compare like with like.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { open } from "../src/index";
import { ClusteredIndex } from "../src/clustered_index";
import { setWasmKernelsEnabled, wasmKernelsLoaded } from "../src/ann/wasm";
import { HnswIndex } from "../src/ann/hnsw";
import { LiveRows } from "../src/collection/live_rows";
import { MemoryVectorStore } from "../src/storage/vector_store";
import { recallQpsChart } from "./chart";
import { CPU_CLOCK, DATA_DIR, procMemory, readVecs, threadCpuMs, writeResult } from "./lib";

// A child mode: open a saved database in a fresh process and read its real memory.
if (process.argv[2] === "--memory-child") {
  const [dir, queryFile, nqText] = process.argv.slice(3);
  // the queries are loaded (and the rest of the file dropped) before the first reading
  const nq = Number(nqText);
  const q = readVecs(queryFile!, "f");
  const qd = (q.data as Float32Array).slice(0, nq * q.dim);
  (q as { data: unknown }).data = null;
  const before = procMemory();
  const db = open(dir!);
  const c = db.collection("v");
  const afterOpen = procMemory();
  for (let i = 0; i < nq; i++) c.search(qd.subarray(i * q.dim, (i + 1) * q.dim), { k: 10 });
  const afterSearch = procMemory();
  console.log(JSON.stringify({ before, afterOpen, afterSearch, usage: c.memoryUsage() }));
  db.close();
  process.exit(0);
}

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : def;
};
const positional = args.filter((a, i) => !a.startsWith("--") && !(i > 0 && args[i - 1]!.startsWith("--")));
const dataset = path.resolve(positional[0] ?? path.join(DATA_DIR, "fashion-mnist-784-euclidean"));
const which = new Set(flag("--index", "all").split(",")); // e.g. --index clustered,hnswlib
const maxQueries = Number(flag("--queries", "1000"));
const M = Number(flag("--m", "16"));
const EF_CONSTRUCTION = Number(flag("--ef-construction", "200"));
const KERNELS = flag("--kernels", "wasm").split(",") as ("ts" | "wasm")[];
const OUT = flag("--out", "");
const KEEP_DB = flag("--keep-db", "");

const base = readVecs(path.join(dataset, "base.fvecs.gz"), "f");
const queries = readVecs(path.join(dataset, "query.fvecs.gz"), "f");
const gt = readVecs(path.join(dataset, "groundtruth.ivecs.gz"), "i");
const nq = Math.min(maxQueries, queries.n);
const dim = base.dim;
const baseData = base.data as Float32Array;
const qData = queries.data as Float32Array;
const truth = gt.data as Int32Array;
console.log(`${path.basename(dataset)}: ${base.n} × ${dim}, ${nq} queries, recall@10, single thread, WebAssembly kernels ${wasmKernelsLoaded ? "loaded" : "NOT loaded"}, timed by ${CPU_CLOCK}`);

/**
 * measure() once per kernel setting asked for (--kernels); TypeScript rows are labelled "(ts)".
 * With both, the timed passes alternate between the settings (PASSES of them, default 5, best
 * kept), so a swing in the machine's load falls on both alike.
 */
function measureKernels(label: string, params: string, search: (q: Float32Array, i: number) => ArrayLike<number>): void {
  if (KERNELS.length === 1) {
    setWasmKernelsEnabled(KERNELS[0] === "wasm");
    measure(KERNELS[0] === "ts" ? `${label} (ts)` : label, params, search);
    setWasmKernelsEnabled(true);
    return;
  }
  const passes = Number(process.env.PASSES ?? 5);
  const best = KERNELS.map(() => Infinity);
  const bestWall = KERNELS.map(() => Infinity);
  const results = KERNELS.map(() => new Array<ArrayLike<number>>(nq));
  for (let pass = -1; pass < passes; pass++) {
    KERNELS.forEach((kernels, j) => {
      setWasmKernelsEnabled(kernels === "wasm");
      if (pass < 0) {
        for (let i = 0; i < Math.min(50, nq); i++) search(qData.subarray(i * dim, (i + 1) * dim), i); // warm-up
        return;
      }
      const c0 = threadCpuMs(), t0 = performance.now();
      for (let i = 0; i < nq; i++) results[j]![i] = search(qData.subarray(i * dim, (i + 1) * dim), i);
      best[j] = Math.min(best[j]!, threadCpuMs() - c0);
      bestWall[j] = Math.min(bestWall[j]!, performance.now() - t0);
    });
  }
  setWasmKernelsEnabled(true);
  KERNELS.forEach((kernels, j) => {
    const row = { index: kernels === "ts" ? `${label} (ts)` : label, params, recall: recallOf(results[j]!), qps: Math.round(nq / (best[j]! / 1000)), qpsWall: Math.round(nq / (bestWall[j]! / 1000)) };
    rows.push(row);
    console.log(`${row.index.padEnd(22)} ${params.padEnd(28)} recall ${row.recall.toFixed(4)}  qps ${row.qps}`);
  });
}

function recallOf(results: ArrayLike<number>[]): number {
  let hits = 0;
  for (let i = 0; i < nq; i++) {
    const t = new Set(truth.subarray(i * gt.dim, i * gt.dim + 10));
    const r = results[i]!;
    for (let j = 0; j < Math.min(10, r.length); j++) if (t.has(r[j]!)) hits++;
  }
  return +(hits / (nq * 10)).toFixed(4);
}

export interface Row {
  index: string;
  params: string;
  recall: number;
  /** queries per second of main-thread CPU time */
  qps: number;
  qpsWall: number;
}
const rows: Row[] = [];
const builds: Record<string, unknown>[] = [];

function measure(label: string, params: string, search: (q: Float32Array, i: number) => ArrayLike<number>): Row {
  // warm-up on a few queries (JIT), then timed pass over all of them
  for (let i = 0; i < Math.min(50, nq); i++) search(qData.subarray(i * dim, (i + 1) * dim), i);
  let hits = 0;
  const results: ArrayLike<number>[] = new Array(nq);
  // best of 3 timed passes: this VM's timings vary run to run
  let ms = Infinity, wall = Infinity;
  for (let pass = 0; pass < Number(process.env.PASSES ?? 5); pass++) {
    const c0 = threadCpuMs(), t0 = performance.now();
    for (let i = 0; i < nq; i++) results[i] = search(qData.subarray(i * dim, (i + 1) * dim), i);
    ms = Math.min(ms, threadCpuMs() - c0);
    wall = Math.min(wall, performance.now() - t0);
  }
  for (let i = 0; i < nq; i++) {
    const t = new Set(truth.subarray(i * gt.dim, i * gt.dim + 10));
    const r = results[i]!;
    for (let j = 0; j < Math.min(10, r.length); j++) if (t.has(r[j]!)) hits++;
  }
  const row = { index: label, params, recall: +(hits / (nq * 10)).toFixed(4), qps: Math.round(nq / (ms / 1000)), qpsWall: Math.round(nq / (wall / 1000)) };
  rows.push(row);
  console.log(`${label.padEnd(22)} ${params.padEnd(28)} recall ${row.recall.toFixed(4)}  qps ${row.qps}`);
  return row;
}

if (which.has("all") || which.has("clustered")) {
  const before = procMemory();
  const t0 = threadCpuMs(), w0 = performance.now();
  const index = ClusteredIndex.build({ data: baseData, dimension: dim }, { seed: 42 });
  const buildSeconds = (threadCpuMs() - t0) / 1000, buildWallSeconds = (performance.now() - w0) / 1000;
  const after = procMemory();
  const mem = index.memoryUsage();
  builds.push({ index: "clustered", buildSeconds: +buildSeconds.toFixed(2), buildWallSeconds: +buildWallSeconds.toFixed(2), leaves: index.leafCount(), indexHeapMB: +(mem.indexBytes / 1048576).toFixed(2), rawVectorMB: +((base.n * dim * 4) / 1048576).toFixed(1), rssAnonDeltaMB: +(after.rssAnonMB - before.rssAnonMB).toFixed(1) });
  console.log(`clustered build ${buildSeconds.toFixed(2)} s, ${index.leafCount()} leaves, index heap ${(mem.indexBytes / 1048576).toFixed(2)} MB`);
  for (const probes of (process.env.PROBES ?? "4,6,8,10,12,16,20,24").split(",").map(Number)) {
    for (const rerankFactor of (process.env.RERANK ?? "3,5,10").split(",").map(Number)) {
      measureKernels("clustered", `probes=${probes} rerank=${rerankFactor}`, (q) => index.tree.searchRows(q, 10, { probes, rerankFactor }).rows);
    }
  }
}

const EF_SWEEP = (process.env.EFS ?? "10,16,24,32,48,64,96,128,192,256").split(",").map(Number);

if (which.has("all") || which.has("hnsw")) {
  for (const quantization of (process.env.QUANT ?? "none,scalar,binary").split(",") as ("none" | "scalar" | "binary")[]) {
    // binary codes are measured with mmap storage: the configuration meant to keep RAM small
    const storage = quantization === "binary" ? "mmap" : "memory";
    const dir = KEEP_DB ? path.resolve(KEEP_DB, quantization) : fs.mkdtempSync(path.join(os.tmpdir(), `vqlite-ann-${quantization}-`));
    const db = open(dir, { durability: "normal" });
    const c = db.createCollection("v", { dimension: dim, metric: "l2", storage, index: { type: "hnsw", m: M, efConstruction: EF_CONSTRUCTION }, quantization });
    const before = procMemory();
    const t0 = threadCpuMs(), w0 = performance.now();
    for (let s0 = 0; s0 < base.n; s0 += 5000) {
      const end = Math.min(base.n, s0 + 5000);
      c.insertMany(Array.from({ length: end - s0 }, (_, j) => ({ id: String(s0 + j), vector: baseData.subarray((s0 + j) * dim, (s0 + j + 1) * dim) })));
    }
    const buildSeconds = (threadCpuMs() - t0) / 1000, buildWallSeconds = (performance.now() - w0) / 1000;
    const after = procMemory();
    const usage = c.memoryUsage();
    const label = `hnsw ${quantization}${storage === "mmap" ? " (mmap)" : ""}`;
    console.log(`${label}: build ${buildSeconds.toFixed(1)} s (M ${M}, efConstruction ${EF_CONSTRUCTION}), index heap ${(usage.indexBytes / 1048576).toFixed(1)} MB`);
    const ix = c.index as HnswIndex;
    for (const ef of EF_SWEEP) measureKernels(label, `ef=${ef}`, (q) => c.search(q, { k: 10, ef }).map((h) => Number(h.id)));
    const build: Record<string, unknown> = {
      index: label,
      buildSeconds: +buildSeconds.toFixed(1),
      buildWallSeconds: +buildWallSeconds.toFixed(1),
      indexHeapMB: +(usage.indexBytes / 1048576).toFixed(1),
      rawVectorMB: +((base.n * dim * 4) / 1048576).toFixed(1),
      rssAnonDeltaMB: +(after.rssAnonMB - before.rssAnonMB).toFixed(1),
      nodes: ix.stats().nodes,
    };
    db.close();
    if (storage === "mmap") {
      // real memory of the index in mmap mode, in a fresh process that only opens it and searches
      const child = Bun.spawnSync([process.execPath, import.meta.path, "--memory-child", dir, path.join(dataset, "query.fvecs.gz"), String(nq)], { stderr: "inherit" });
      const m = JSON.parse(child.stdout.toString());
      build.childHeapPlusAnonAfterOpenMB = +(m.afterOpen.rssAnonMB - m.before.rssAnonMB).toFixed(1);
      build.childHeapPlusAnonMB = +(m.afterSearch.rssAnonMB - m.before.rssAnonMB).toFixed(1);
      build.childRssFileMB = +(m.afterSearch.rssFileMB - m.before.rssFileMB).toFixed(1);
      build.childSelfReportedHeapMB = +(m.usage.heapBytes / 1048576).toFixed(1);
      build.childAnonShareOfRawVectors = +(build.childHeapPlusAnonMB as number / (build.rawVectorMB as number)).toFixed(3);
    }
    builds.push(build);
    if (!KEEP_DB) fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (which.has("all") || which.has("hnsw-threads")) {
  const rowsSource = new LiveRows(MemoryVectorStore.from(dim, baseData.slice()), "l2");
  rowsSource.adoptAll();
  for (const threads of (process.env.THREADS ?? "2").split(",").map(Number)) {
    const ix = new HnswIndex(rowsSource, { m: M, efConstruction: EF_CONSTRUCTION });
    const t0 = threadCpuMs(), w0 = performance.now();
    ix.rebuild(undefined, { threads });
    const buildSeconds = (threadCpuMs() - t0) / 1000, buildWallSeconds = (performance.now() - w0) / 1000;
    const label = `hnsw none (${threads} thread${threads > 1 ? "s" : ""})`;
    console.log(`${label}: build ${buildWallSeconds.toFixed(1)} s wall, ${buildSeconds.toFixed(1)} s this thread's CPU`);
    builds.push({ index: label, threads, buildSeconds: +buildSeconds.toFixed(1), buildWallSeconds: +buildWallSeconds.toFixed(1), nodes: ix.stats().nodes });
    for (const ef of EF_SWEEP) measureKernels(label, `ef=${ef}`, (q) => ix.searchRows(q, 10, { ef }).rows);
  }
}

if (which.has("all") || which.has("hnswlib")) {
  let lib: typeof import("hnswlib-node") | null = null;
  try {
    lib = await import("hnswlib-node");
  } catch {
    console.log("hnswlib-node is not installed (an optional dependency: npm install builds it with node-gyp); skipping it");
  }
  if (lib) {
    const ix = new lib.HierarchicalNSW("l2", dim);
    ix.initIndex(base.n, M, EF_CONSTRUCTION, 100);
    const t0 = threadCpuMs(), w0 = performance.now();
    for (let i = 0; i < base.n; i++) ix.addPoint(Array.from(baseData.subarray(i * dim, (i + 1) * dim)), i);
    const buildSeconds = (threadCpuMs() - t0) / 1000, buildWallSeconds = (performance.now() - w0) / 1000;
    console.log(`hnswlib-node: build ${buildSeconds.toFixed(1)} s (M ${M}, efConstruction ${EF_CONSTRUCTION})`);
    builds.push({ index: "hnswlib-node", buildSeconds: +buildSeconds.toFixed(1), buildWallSeconds: +buildWallSeconds.toFixed(1) });
    const qArrays = Array.from({ length: nq }, (_, i) => Array.from(qData.subarray(i * dim, (i + 1) * dim)));
    for (const ef of EF_SWEEP) {
      ix.setEf(ef);
      measure("hnswlib-node", `ef=${ef}`, (_q, i) => ix.searchKnn(qArrays[i]!, 10).neighbors);
    }
  }
}

// Best QPS at each recall target, per index
const targets = [0.9, 0.95, 0.99];
const indexes = [...new Set(rows.map((r) => r.index))];
const best = (index: string, t: number) => rows.filter((r) => r.index === index && r.recall >= t).sort((a, b) => b.qps - a.qps)[0];
const summary = targets.map((t) => {
  const entry: Record<string, unknown> = { "recall ≥": t };
  for (const ix of indexes) {
    const b = best(ix, t);
    entry[ix] = b ? `${b.qps} (${b.params})` : "-";
  }
  const lib = best("hnswlib-node", t);
  if (lib) for (const ix of indexes.filter((i) => i !== "hnswlib-node")) {
    const b = best(ix, t);
    entry[`${ix} / hnswlib`] = b ? +(b.qps / lib.qps).toFixed(2) : "-";
  }
  return entry;
});
// every build time next to hnswlib-node's, from the same process
const libBuild = builds.find((b) => b.index === "hnswlib-node")?.buildSeconds as number | undefined;
const libWall = builds.find((b) => b.index === "hnswlib-node")?.buildWallSeconds as number | undefined;
if (libBuild) for (const b of builds) if (b.index !== "hnswlib-node") b.buildVsHnswlib = +((b.buildSeconds as number) / libBuild).toFixed(2);
// a build on several threads is timed by the wall clock: beside hnswlib-node's wall and CPU time
if (libBuild && libWall) for (const b of builds) if (b.threads !== undefined) {
  b.buildWallVsHnswlibWall = +((b.buildWallSeconds as number) / libWall).toFixed(2);
  b.buildWallVsHnswlibCpu = +((b.buildWallSeconds as number) / libBuild).toFixed(2);
}
console.table(builds);
console.table(summary);
const resultName = OUT || `ann-${path.basename(dataset)}`;
const svg = path.join(import.meta.dir, "results", `${resultName}.svg`);
fs.mkdirSync(path.dirname(svg), { recursive: true });
fs.writeFileSync(svg, recallQpsChart(rows, `recall@10 vs QPS: ${path.basename(dataset)} (${base.n} × ${dim}, ${nq} queries)`, `single thread, same process as hnswlib-node, timed by ${CPU_CLOCK.replace(/ \(.*\)$/, "")}; ${os.cpus().length} cores, bun ${Bun.version}`));
console.log("wrote", svg);
console.log("wrote", writeResult(resultName, { dataset: path.basename(dataset), n: base.n, dim, queries: nq, timing: CPU_CLOCK, wasmKernels: wasmKernelsLoaded, kernels: KERNELS, builds, rows, summary }));
