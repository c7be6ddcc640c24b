/**
 * Makes the test data that ships in the repository, test/data/fashion-mnist-2k/:
 * the first 2,000 base vectors and the first 100 queries of Fashion-MNIST, with
 * exact ground truth recomputed against those 2,000 vectors. The tests read only
 * this folder; this script is the one place that reads the benchmark data
 * (../shared/data beside the checkout, or VQLITE_DATA_DIR).
 *
 *   bun bench/make_test_data.ts [OUT_DIR]     # default test/data/fashion-mnist-2k
 *
 * The output is byte-identical on every run with the Bun pinned in
 * package-lock.json (gzip level 9, no timestamp in the gzip header). It prints
 * the sha256 of each file for the folder's README.md.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DATA_DIR, readVecs } from "./lib";

const N = 2000; // base vectors kept
const NQ = 100; // queries kept
const K = 100; // neighbours per query in the ground truth
const DIM = 784;

const SOURCE = path.join(DATA_DIR, "fashion-mnist-784-euclidean-small");
const OUT = path.resolve(process.argv[2] ?? path.join(import.meta.dir, "../test/data/fashion-mnist-2k"));

function fail(message: string): never {
  console.error(`make_test_data: ${message}`);
  process.exit(1);
}

for (const f of ["base.fvecs.gz", "query.fvecs.gz", "groundtruth.ivecs.gz"]) {
  if (!fs.existsSync(path.join(SOURCE, f))) fail(`${path.join(SOURCE, f)} not found: set VQLITE_DATA_DIR to the benchmark data folder`);
}
const srcBase = readVecs(path.join(SOURCE, "base.fvecs.gz"), "f");
const srcQuery = readVecs(path.join(SOURCE, "query.fvecs.gz"), "f");
const srcTruth = readVecs(path.join(SOURCE, "groundtruth.ivecs.gz"), "i");
if (srcBase.dim !== DIM || srcQuery.dim !== DIM) fail(`expected ${DIM}-d vectors, got ${srcBase.dim} and ${srcQuery.dim}`);
if (srcBase.n < N || srcQuery.n < NQ) fail(`expected at least ${N} base vectors and ${NQ} queries`);

const base = (srcBase.data as Float32Array).slice(0, N * DIM);
const queries = (srcQuery.data as Float32Array).slice(0, NQ * DIM);
// Pixels are integers 0..255, so every squared distance below is an exact integer in float64.
for (const [name, a] of [["base", base], ["query", queries]] as const) {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (!Number.isInteger(x) || x < 0 || x > 255) fail(`${name} value ${x} at ${i} is not an integer pixel 0..255`);
  }
}

// Exact ground truth: squared L2 in float64, ascending, ties broken by the smaller id.
const truthIds = new Int32Array(NQ * K);
const truthDist = new Float32Array(NQ * K);
let tiesAt10 = 0;
let tiesAt100 = 0;
const d2 = new Float64Array(N);
const order = new Int32Array(N);
for (let qi = 0; qi < NQ; qi++) {
  const q = queries.subarray(qi * DIM, (qi + 1) * DIM);
  for (let i = 0; i < N; i++) {
    const x = base.subarray(i * DIM, (i + 1) * DIM);
    let s = 0;
    for (let j = 0; j < DIM; j++) {
      const t = x[j]! - q[j]!;
      s += t * t;
    }
    d2[i] = s;
    order[i] = i;
  }
  order.sort((a, b) => d2[a]! - d2[b]! || a - b);
  for (let r = 0; r < K; r++) {
    truthIds[qi * K + r] = order[r]!;
    truthDist[qi * K + r] = Math.sqrt(d2[order[r]!]!); // Euclidean, as in the benchmark data
  }
  if (d2[order[9]!] === d2[order[10]!]) tiesAt10++;
  if (d2[order[K - 1]!] === d2[order[K]!]) tiesAt100++;

  // Cross-check with the source's own ground truth (top 100 of its 10k base): its ids
  // below N, in its order, must be exactly the first entries of ours.
  const theirs = Array.from((srcTruth.data as Int32Array).subarray(qi * srcTruth.dim, (qi + 1) * srcTruth.dim)).filter((id) => id < N);
  for (let r = 0; r < theirs.length; r++) {
    if (theirs[r] !== order[r]) fail(`query ${qi}: rank ${r} is ${order[r]}, the source ground truth restricted to the first ${N} says ${theirs[r]}`);
  }
}

/** A .fvecs / .ivecs file: per vector an int32 dimension, then its values (little-endian). */
function vecs(data: Float32Array | Int32Array, dim: number): Uint8Array<ArrayBuffer> {
  const n = data.length / dim;
  const out = new ArrayBuffer(n * (dim + 1) * 4);
  const view = new DataView(out);
  for (let i = 0; i < n; i++) {
    const at = i * (dim + 1) * 4;
    view.setInt32(at, dim, true);
    for (let j = 0; j < dim; j++) {
      if (data instanceof Float32Array) view.setFloat32(at + 4 + j * 4, data[i * dim + j]!, true);
      else view.setInt32(at + 4 + j * 4, data[i * dim + j]!, true);
    }
  }
  return new Uint8Array(out);
}

const files: [string, Uint8Array<ArrayBuffer>][] = [
  ["base.fvecs.gz", vecs(base, DIM)],
  ["query.fvecs.gz", vecs(queries, DIM)],
  ["groundtruth.ivecs.gz", vecs(truthIds, K)],
  ["groundtruth_dist.fvecs.gz", vecs(truthDist, K)],
];
fs.mkdirSync(OUT, { recursive: true });
const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
console.log(`wrote ${OUT} (${N} base, ${NQ} queries, top ${K}; ties at rank 10/11: ${tiesAt10}, at rank ${K}/${K + 1}: ${tiesAt100})`);
console.log("| file | sha256 (as stored, gzipped) | sha256 (decompressed) |");
console.log("|---|---|---|");
for (const [name, raw] of files) {
  const gz = Bun.gzipSync(raw, { level: 9 });
  if (sha256(Bun.gunzipSync(gz)) !== sha256(raw)) fail(`${name} does not round-trip through gzip`);
  fs.writeFileSync(path.join(OUT, name), gz);
  console.log(`| \`${name}\` | \`${sha256(gz)}\` | \`${sha256(raw)}\` |`);
}
