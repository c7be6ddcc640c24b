import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "bun:test";
import { VqliteError } from "../src/errors";

export function tempDir(prefix = "vqlite-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

/** The benchmark data: ../shared/data beside the checkout, or VQLITE_DATA_DIR. */
export const DATA_DIR = process.env.VQLITE_DATA_DIR ?? path.resolve(import.meta.dir, "../../shared/data");

export interface Dataset {
  base: Float32Array;
  queries: Float32Array;
  truth: Int32Array;
  n: number;
  nq: number;
  dim: number;
  truthK: number;
}

let small: Dataset | null = null;

function readVecs(file: string): { data: ArrayBuffer; n: number; dim: number; flat: Int32Array } {
  if (!fs.existsSync(file)) {
    throw new Error(`benchmark data not found at ${file}: the tests read ../shared/data beside the checkout (or set VQLITE_DATA_DIR)`);
  }
  const raw = Bun.gunzipSync(fs.readFileSync(file));
  const all = new Int32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const dim = all[0]!;
  const n = all.length / (dim + 1);
  const flat = new Int32Array(n * dim);
  for (let i = 0; i < n; i++) flat.set(all.subarray(i * (dim + 1) + 1, (i + 1) * (dim + 1)), i * dim);
  return { data: flat.buffer, n, dim, flat };
}

/** Fashion-MNIST 10k × 784 (L2) with exact ground truth, read from ../shared/data. */
export function fashionSmall(): Dataset {
  if (small) return small;
  const dir = path.join(DATA_DIR, "fashion-mnist-784-euclidean-small");
  const b = readVecs(path.join(dir, "base.fvecs.gz"));
  const q = readVecs(path.join(dir, "query.fvecs.gz"));
  const t = readVecs(path.join(dir, "groundtruth.ivecs.gz"));
  small = { base: new Float32Array(b.data), queries: new Float32Array(q.data), truth: t.flat, n: b.n, nq: q.n, dim: b.dim, truthK: t.dim };
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
