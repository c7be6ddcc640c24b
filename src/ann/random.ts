/**
 * A small deterministic PRNG (xorshift32) for everything an index draws at
 * random: training samples, k-means++ seeds, rotation signs. Same seed, same build.
 */
export class XorShift32 {
  /** The whole state: save it to resume the sequence. */
  state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  next(): number {
    let s = this.state;
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    this.state = s;
    return s;
  }
}

export function xorshift32(seed: number): () => number {
  const g = new XorShift32(seed);
  return () => g.next();
}

/** `count` distinct positions from [0, n) (a partial Fisher–Yates shuffle). */
export function samplePositions(n: number, count: number, seed: number): Int32Array {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const next = xorshift32(seed);
  const take = Math.min(count, n);
  for (let i = 0; i < take; i++) {
    const j = i + (next() % (n - i));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx.subarray(0, take);
}
