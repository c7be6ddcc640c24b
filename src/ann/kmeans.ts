/**
 * k-means for the clustered index: ml-kmeans trains the centroids on a sample
 * (at most `perCentroid` points per centroid, as faiss caps training), then
 * every point is assigned with a typed-array kernel. The full data never goes
 * through ml-kmeans as number[][].
 */
import { kmeans } from "ml-kmeans";
import { l2sqAt } from "./distance";
import { xorshift32 } from "./random";

export interface TrainOptions {
  readonly k: number;
  readonly maxIterations: number;
  readonly seed: number;
}

/**
 * Train up to k centroids over a training sample (flat rows at stride `dim`,
 * already drawn by the caller). Returns a flat Float32Array of k' × dim
 * centroids (k' ≤ k when there are fewer distinct points).
 */
export function trainCentroids(sampleRows: Float32Array, dim: number, opts: TrainOptions): Float32Array {
  const n = sampleRows.length / dim;
  const k = Math.min(opts.k, n);
  // Float64Array rows with an unrolled distance run ml-kmeans ~1.4× faster than number[] rows.
  const sample: Float64Array[] = [];
  for (let i = 0; i < n; i++) sample.push(Float64Array.from(sampleRows.subarray(i * dim, i * dim + dim)));
  // ml-kmeans' own k-means++ seeding costs more than its iterations; seed it with ours (typed arrays).
  const initialization = kmeansPlusPlus(sample, k, dim, opts.seed);
  // Stop when no centroid moves by more than 0.1% of the data's RMS norm (squared: 1e-6 × mean ‖x‖²).
  let meanSq = 0;
  for (const p of sample) for (let j = 0; j < dim; j++) meanSq += p[j]! * p[j]!;
  meanSq /= Math.max(1, sample.length);
  // fewer distinct points than k: seeding stops early, and k-means must get as many centres as it has
  const result = kmeans(sample as unknown as number[][], initialization.length, {
    maxIterations: opts.maxIterations,
    seed: opts.seed,
    initialization,
    tolerance: Math.max(1e-12, meanSq * 1e-6),
    distanceFunction: squaredDistance as unknown as (p: number[], q: number[]) => number,
  });
  const out = new Float32Array(result.centroids.length * dim);
  result.centroids.forEach((c, i) => out.set(c, i * dim));
  return out;
}

/** Index of the nearest centroid (squared L2) for a point at data[off..]. */
export function nearestCentroid(centroids: Float32Array, count: number, dim: number, data: Float32Array, off: number): number {
  let best = 0;
  let bestD = Infinity;
  for (let c = 0; c < count; c++) {
    const d = l2sqAt(data, off, centroids, c * dim, dim);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

/** k-means++ seeding (D² sampling) over the sample, deterministic for a seed. */
function squaredDistance(a: Float64Array, b: ArrayLike<number>): number {
  let s0 = 0, s1 = 0;
  const d = a.length;
  let i = 0;
  for (; i + 1 < d; i += 2) {
    const x = a[i]! - b[i]!, y = a[i + 1]! - b[i + 1]!;
    s0 += x * x;
    s1 += y * y;
  }
  if (i < d) {
    const x = a[i]! - b[i]!;
    s0 += x * x;
  }
  return s0 + s1;
}

function kmeansPlusPlus(sample: Float64Array[], k: number, dim: number, seed: number): number[][] {
  const n = sample.length;
  const flat = new Float32Array(n * dim);
  sample.forEach((p, i) => flat.set(p, i * dim));
  const next = xorshift32(Math.imul(seed, 747796405) + 2891336453);
  const rand = () => next() / 4294967296;
  const chosen: number[] = [Math.floor(rand() * n)];
  const d2 = new Float64Array(n).fill(Infinity);
  while (chosen.length < k) {
    const last = chosen[chosen.length - 1]!;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = l2sqAt(flat, i * dim, flat, last * dim, dim);
      if (d < d2[i]!) d2[i] = d;
      total += d2[i]!;
    }
    if (total === 0) break; // fewer distinct points than k
    let target = rand() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      target -= d2[i]!;
      if (target <= 0) {
        pick = i;
        break;
      }
    }
    chosen.push(pick);
  }
  return chosen.map((i) => Array.from(sample[i]!));
}
