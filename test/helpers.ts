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

export const DATA_DIR = path.resolve(import.meta.dir, "../../shared/data");
