/**
 * Distance kernels over flat float32 arrays with offsets: no allocation per call.
 *
 * Public distances: l2 = Euclidean distance, cosine = 1 - cosine similarity,
 * dot = -(inner product). Internally indexes rank by a "score" that is
 * monotone in the distance and cheaper (squared L2 for l2), then convert.
 */
export type Metric = "l2" | "cosine" | "dot";

export const METRICS: readonly Metric[] = ["l2", "cosine", "dot"];

export function dotAt(a: Float32Array, ao: number, b: Float32Array, bo: number, d: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  const end4 = d - (d & 3);
  for (; i < end4; i += 4) {
    s0 += a[ao + i]! * b[bo + i]!;
    s1 += a[ao + i + 1]! * b[bo + i + 1]!;
    s2 += a[ao + i + 2]! * b[bo + i + 2]!;
    s3 += a[ao + i + 3]! * b[bo + i + 3]!;
  }
  for (; i < d; i++) s0 += a[ao + i]! * b[bo + i]!;
  return s0 + s1 + s2 + s3;
}

export function l2sqAt(a: Float32Array, ao: number, b: Float32Array, bo: number, d: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  const end4 = d - (d & 3);
  for (; i < end4; i += 4) {
    const x0 = a[ao + i]! - b[bo + i]!;
    const x1 = a[ao + i + 1]! - b[bo + i + 1]!;
    const x2 = a[ao + i + 2]! - b[bo + i + 2]!;
    const x3 = a[ao + i + 3]! - b[bo + i + 3]!;
    s0 += x0 * x0;
    s1 += x1 * x1;
    s2 += x2 * x2;
    s3 += x3 * x3;
  }
  for (; i < d; i++) {
    const x = a[ao + i]! - b[bo + i]!;
    s0 += x * x;
  }
  return s0 + s1 + s2 + s3;
}

export function normAt(a: Float32Array, ao: number, d: number): number {
  return Math.sqrt(dotAt(a, ao, a, ao, d));
}

/**
 * Score (lower is closer) from what a kernel computed: the squared L2 distance
 * for l2, the inner product for dot and cosine (then the norms divide it).
 */
export function scoreFromRaw(metric: Metric, raw: number, qNorm: number, bNorm: number): number {
  if (metric === "l2") return raw;
  if (metric === "dot") return -raw;
  const den = qNorm * bNorm;
  return den === 0 ? 1 : 1 - raw / den;
}

/**
 * Score of row `b` against query `q` (lower is closer), given the row's norm
 * (only used for cosine) and the query's norm.
 */
export function scoreAt(
  metric: Metric,
  q: Float32Array,
  qNorm: number,
  b: Float32Array,
  bo: number,
  bNorm: number,
  d: number,
): number {
  return scoreFromRaw(metric, metric === "l2" ? l2sqAt(q, 0, b, bo, d) : dotAt(q, 0, b, bo, d), qNorm, bNorm);
}

/** Convert an internal score to the public distance. */
export function scoreToDistance(metric: Metric, score: number): number {
  // l2 takes the root; cosine is clamped at 0, where float rounding can land just below it
  return metric === "l2" ? Math.sqrt(Math.max(0, score)) : metric === "cosine" ? Math.max(0, score) : score;
}

/** Reference implementation for tests: plain loops, no tricks. */
export function referenceDistance(metric: Metric, a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0, l2 = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
    l2 += (a[i]! - b[i]!) ** 2;
  }
  if (metric === "l2") return Math.sqrt(l2);
  if (metric === "dot") return -dot;
  return na === 0 || nb === 0 ? 1 : 1 - dot / Math.sqrt(na * nb);
}
