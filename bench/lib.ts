/** Shared helpers for benchmarks: process memory readings, data loading, result files. */
import * as fs from "node:fs";
import * as path from "node:path";
import { heapStats } from "bun:jsc";
import { XorShift32 } from "../src/ann/random";

export interface ProcMemory {
  /** JS heap in use (bun's own accounting). */
  heapUsedMB: number;
  rssMB: number;
  /** Anonymous resident memory: heap, typed arrays, malloc. */
  rssAnonMB: number;
  /** File-backed resident memory: mapped files, the binary. */
  rssFileMB: number;
  rssShmemMB: number;
}

export function procMemory(): ProcMemory {
  Bun.gc(true);
  const text = fs.readFileSync("/proc/self/status", "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  const mb = (x: number) => Math.round((x / 1024) * 10) / 10;
  return {
    heapUsedMB: mb(process.memoryUsage().heapUsed / 1024),
    rssMB: mb(kb("VmRSS")),
    rssAnonMB: mb(kb("RssAnon")),
    rssFileMB: mb(kb("RssFile")),
    rssShmemMB: mb(kb("RssShmem")),
  };
}

/**
 * The JS object heap in MB, without the buffers of typed arrays: Bun counts them
 * (mapped files included) as the heap's "extra memory", which is in RssAnon or
 * RssFile already.
 */
export function jsHeapMB(): number {
  const h = heapStats();
  return (h.heapSize - h.extraMemorySize) / 1048576;
}

export function writeResult(name: string, value: unknown): string {
  const dir = path.join(import.meta.dir, "results");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), bun: Bun.version, ...(value as object) }, null, 2));
  return file;
}

/** Fill `out` with deterministic pseudo-random values for rows [start, start+rows). */
export function syntheticRows(out: Float32Array, dim: number, start: number, rows: number): Float32Array {
  let s = (start * 2654435761) >>> 0 || 1;
  for (let i = 0; i < rows * dim; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

/**
 * The benchmark data: ../shared/data beside the checkout, or VQLITE_DATA_DIR. Benchmarks only
 * (and bench/make_test_data.ts): the tests read test/data in the repository.
 */
export const DATA_DIR = process.env.VQLITE_DATA_DIR ?? path.resolve(import.meta.dir, "../../shared/data");

/** Read a gzipped .fvecs/.ivecs file into a flat array. */
export function readVecs(file: string, kind: "f" | "i"): { data: Float32Array | Int32Array; n: number; dim: number } {
  const raw = Bun.gunzipSync(fs.readFileSync(file));
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dim = view.getInt32(0, true);
  const rec = (dim + 1) * 4;
  const n = raw.byteLength / rec;
  const data = kind === "f" ? new Float32Array(n * dim) : new Int32Array(n * dim);
  const src = kind === "f" ? new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4) : new Int32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  for (let i = 0; i < n; i++) data.set(src.subarray(i * (dim + 1) + 1, (i + 1) * (dim + 1)), i * dim);
  return { data, n, dim };
}

export function table(rows: Record<string, unknown>[]): void {
  console.table(rows);
}

/**
 * CPU time of the calling thread in ms (Linux: /proc/thread-self/schedstat, ns
 * resolution), or wall time where that is missing. On a machine shared with
 * other jobs, wall time measures the share of a core this process got as much
 * as the code; single-threaded work is compared by this instead. Reading it
 * costs a few µs: call it per pass, not per query.
 */
export function threadCpuMs(): number {
  try {
    return Number(fs.readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6;
  } catch {
    return performance.now();
  }
}

export const CPU_CLOCK = (() => {
  try {
    fs.readFileSync("/proc/thread-self/schedstat", "utf8");
    return "main-thread CPU time (/proc/thread-self/schedstat)";
  } catch {
    return "wall time";
  }
})();

const WORDS = "vector index search query payload cluster memory disk page file row table hash open close write read commit log snapshot manifest checkpoint recall latency throughput storage record".split(" ");

/** ~1 KB of deterministic text for item i, with a keyword field `cat` of `cats` values (1/cats selective). */
export function textPayload(i: number, cats = 100): { title: string; cat: string; n: number; text: string } {
  const g = new XorShift32((i * 2654435761) >>> 0 || 1);
  const parts: string[] = [];
  let len = 0;
  while (len < 1000) {
    const w = WORDS[g.next() % WORDS.length]!;
    parts.push(w);
    len += w.length + 1;
  }
  return { title: `document ${i}`, cat: `c${i % cats}`, n: i, text: parts.join(" ") };
}
