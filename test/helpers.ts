import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "bun:test";
import { VqliteError } from "../src/errors";
import { mulberry32 } from "../bench/text_payloads";

const madeDirs: string[] = [];

/** Remove every tempDir() made so far (test/setup.ts does it after the whole run). */
export function removeTempDirs(): void {
  for (const d of madeDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** A fresh directory under the system's temporary directory, removed after the test run. */
export function tempDir(prefix = "vqlite-test-"): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  madeDirs.push(d);
  return d;
}

/** Deterministic PRNG (mulberry32, shared with the benches' text generator). */
export const rng = mulberry32;

export function randomVectors(n: number, dim: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = r() * 2 - 1;
  return out;
}

export function row(data: Float32Array, i: number, dim: number): Float32Array {
  return data.subarray(i * dim, (i + 1) * dim);
}

/** Expect `fn` to throw a VqliteError with this code. */
export function expectCode(fn: () => unknown, code: string): VqliteError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VqliteError);
    expect((e as VqliteError).code).toBe(code as VqliteError["code"]);
    return e as VqliteError;
  }
  throw new Error(`expected a ${code} error, nothing was thrown`);
}

/**
 * The tests' real data, in the repository: Fashion-MNIST 2k (the first 2,000 base
 * vectors, 100 queries, exact top-100 ground truth), made by bench/make_test_data.ts.
 * Tests read nothing outside the repository; see test/data/fashion-mnist-2k/README.md.
 */
export const FASHION_DIR = path.join(import.meta.dir, "data", "fashion-mnist-2k");

export interface Dataset {
  base: Float32Array;
  queries: Float32Array;
  /** Ground-truth base ids, truthK per query, nearest first. */
  truth: Int32Array;
  /** Their Euclidean distances, same layout. */
  truthDist: Float32Array;
  n: number;
  nq: number;
  dim: number;
  truthK: number;
}

let small: Dataset | null = null;

/** A gzipped .fvecs/.ivecs file (per record an int32 dim, then dim values), without the dim columns. */
function readVecs(file: string): { n: number; dim: number; flat: Int32Array } {
  const raw = Bun.gunzipSync(fs.readFileSync(file));
  const all = new Int32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const dim = all[0]!;
  const n = all.length / (dim + 1);
  if (!Number.isInteger(n)) throw new Error(`${file}: ${raw.byteLength} bytes is not a whole number of ${dim}-d records`);
  const flat = new Int32Array(n * dim);
  for (let i = 0; i < n; i++) flat.set(all.subarray(i * (dim + 1) + 1, (i + 1) * (dim + 1)), i * dim);
  return { n, dim, flat };
}

/** Fashion-MNIST 2k × 784 (L2), 100 queries, exact top-100 ground truth, from test/data. */
export function fashionSmall(): Dataset {
  if (small) return small;
  const b = readVecs(path.join(FASHION_DIR, "base.fvecs.gz"));
  const q = readVecs(path.join(FASHION_DIR, "query.fvecs.gz"));
  const t = readVecs(path.join(FASHION_DIR, "groundtruth.ivecs.gz"));
  const td = readVecs(path.join(FASHION_DIR, "groundtruth_dist.fvecs.gz"));
  small = {
    base: new Float32Array(b.flat.buffer),
    queries: new Float32Array(q.flat.buffer),
    truth: t.flat,
    truthDist: new Float32Array(td.flat.buffer),
    n: b.n,
    nq: q.n,
    dim: b.dim,
    truthK: t.dim,
  };
  return small;
}

/** Mean recall@k of result id lists against reference id lists. */
export function recallAt(k: number, results: ArrayLike<number>[], reference: ArrayLike<number>[]): number {
  let hit = 0;
  for (let i = 0; i < results.length; i++) {
    const ref = new Set(Array.from(reference[i]!).slice(0, k));
    for (let j = 0; j < Math.min(k, results[i]!.length); j++) if (ref.has(results[i]![j]!)) hit++;
  }
  return hit / (results.length * k);
}

/** Run `cmd`, wait for its "READY" line, kill it with SIGKILL `killAfterMs` later; returns all it printed. */
export async function killChild(cmd: string[], killAfterMs: number): Promise<string> {
  const child = Bun.spawn(cmd, {
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = child.stdout.getReader();
  let out = "";
  const decoder = new TextDecoder();
  // wait until it is ingesting, then let it run a random while
  while (!out.includes("READY\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`child exited early: ${await new Response(child.stderr).text()}`);
    out += decoder.decode(value);
  }
  await Bun.sleep(killAfterMs);
  child.kill("SIGKILL");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value);
  }
  await child.exited;
  expect(child.signalCode).toBe("SIGKILL");
  return out;
}
