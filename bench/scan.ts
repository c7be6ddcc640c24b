/**
 * Exact-scan throughput (issue 11's target: ≥ 8 GB/s on 100k × 768, memory
 * storage): a flat collection searched for k = 10, with the WebAssembly SIMD
 * kernels and with the TypeScript ones (forced), each metric, in memory and
 * over mmap storage; hnswlib-node's BruteforceSearch (native C++) in the same
 * process when it is installed. GB/s = vector bytes scanned per second.
 *
 *   bun bench/scan.ts [N] [DIM] [--queries 20] [--passes 5]
 *
 * Prints a table and writes bench/results/scan.json.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setWasmKernelsEnabled, wasmKernelsLoaded } from "../src/ann/wasm";
import { open } from "../src/index";
import { CPU_CLOCK, syntheticRows, threadCpuMs, writeResult } from "./lib";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : def;
};
const positional = args.filter((a, i) => !a.startsWith("--") && !(i > 0 && args[i - 1]!.startsWith("--")));
const n = Number(positional[0] ?? 100_000);
const dim = Number(positional[1] ?? 768);
const nq = Number(flag("--queries", "20"));
const passes = Number(flag("--passes", "5"));
const bytes = n * dim * 4;

const base = new Float32Array(n * dim);
for (let s = 0; s < n; s += 10_000) syntheticRows(base.subarray(s * dim), dim, s, Math.min(10_000, n - s));
const queries = syntheticRows(new Float32Array(nq * dim), dim, 987_654_321, nq);
console.log(`exact scan: ${n} × ${dim} (${(bytes / 1e9).toFixed(2)} GB of vectors), ${nq} queries, k 10, best of ${passes} passes timed by ${CPU_CLOCK}; WebAssembly kernels ${wasmKernelsLoaded ? "loaded" : "NOT loaded"}`);

interface Row {
  engine: string;
  storage: string;
  metric: string;
  msPerQuery: number;
  "GB/s": number;
  recallVsTs?: number;
}
const rows: Row[] = [];

/** Best over passes of the mean time per query, in main-thread CPU time (see lib.ts: the machine is shared). */
function time(search: (q: Float32Array) => unknown): number {
  for (let i = 0; i < Math.min(3, nq); i++) search(queries.subarray(i * dim, (i + 1) * dim)); // warm-up
  let best = Infinity;
  for (let p = 0; p < passes; p++) {
    const t0 = threadCpuMs();
    for (let i = 0; i < nq; i++) search(queries.subarray(i * dim, (i + 1) * dim));
    best = Math.min(best, (threadCpuMs() - t0) / nq);
  }
  return best;
}

function record(engine: string, storage: string, metric: string, ms: number, extra: Partial<Row> = {}): void {
  const row: Row = { engine, storage, metric, msPerQuery: +ms.toFixed(2), "GB/s": +(bytes / 1e9 / (ms / 1000)).toFixed(2), ...extra };
  rows.push(row);
  console.log(`${engine.padEnd(24)} ${storage.padEnd(7)} ${metric.padEnd(7)} ${row.msPerQuery.toFixed(2).padStart(8)} ms/query  ${row["GB/s"].toFixed(2).padStart(6)} GB/s`);
}

for (const storage of ["memory", "mmap"] as const) {
  const dir = storage === "mmap" ? fs.mkdtempSync(path.join(os.tmpdir(), "vqlite-scan-")) : undefined;
  const db = open(dir, { durability: "normal" });
  for (const metric of ["l2", "cosine", "dot"] as const) {
    if (storage === "mmap" && metric !== "l2") continue; // the mmap store runs the TypeScript kernels whatever the metric
    const c = db.createCollection(`v_${metric}`, { dimension: dim, metric, storage });
    for (let s = 0; s < n; s += 5000) {
      c.insertMany(Array.from({ length: Math.min(5000, n - s) }, (_, j) => ({ id: String(s + j), vector: base.subarray((s + j) * dim, (s + j + 1) * dim) })));
    }
    const search = (q: Float32Array) => c.search(q, { k: 10 });
    setWasmKernelsEnabled(false);
    const tsIds = Array.from({ length: nq }, (_, i) => search(queries.subarray(i * dim, (i + 1) * dim)).map((h) => h.id));
    record("vqlite TypeScript", storage, metric, time(search));
    if (wasmKernelsLoaded) {
      setWasmKernelsEnabled(true);
      let same = 0;
      for (let i = 0; i < nq; i++) {
        const ids = new Set(search(queries.subarray(i * dim, (i + 1) * dim)).map((h) => h.id));
        for (const id of tsIds[i]!) if (ids.has(id)) same++;
      }
      record(storage === "memory" ? "vqlite WebAssembly" : "vqlite (wasm on, mmap)", storage, metric, time(search), { recallVsTs: same / (nq * 10) });
    }
    db.dropCollection(`v_${metric}`);
  }
  db.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

let lib: typeof import("hnswlib-node") | null = null;
try {
  lib = await import("hnswlib-node");
} catch {
  console.log("hnswlib-node is not installed (an optional dependency); no same-process native figure");
}
if (lib) {
  for (const metric of ["l2", "cosine", "ip"] as const) {
    const bf = new lib.BruteforceSearch(metric, dim);
    bf.initIndex(n);
    for (let i = 0; i < n; i++) bf.addPoint(Array.from(base.subarray(i * dim, (i + 1) * dim)), i);
    const qArrays = Array.from({ length: nq }, (_, i) => Array.from(queries.subarray(i * dim, (i + 1) * dim)));
    let qi = 0;
    record("hnswlib-node bruteforce", "memory", metric === "ip" ? "dot" : metric, time(() => bf.searchKnn(qArrays[qi++ % nq]!, 10)));
  }
}

const ratios = rows
  .filter((r) => r.engine.startsWith("vqlite"))
  .map((r) => {
    const native = rows.find((x) => x.engine === "hnswlib-node bruteforce" && x.metric === r.metric);
    return { engine: r.engine, storage: r.storage, metric: r.metric, "GB/s": r["GB/s"], "vs hnswlib-node": native ? +(native.msPerQuery / r.msPerQuery).toFixed(2) : "-" };
  });
console.table(ratios);
console.log("wrote", writeResult("scan", { n, dim, queries: nq, passes, timing: CPU_CLOCK, cores: os.cpus().length, note: "2-core machine shared with other jobs: timings are noisy", rows, ratios }));
