import { xorshift32 } from "./random";

/**
 * A random orthogonal rotation that costs O(P log P): random sign flips
 * followed by a fast Walsh–Hadamard transform (`rounds` times, default 1),
 * over the input padded to P = next power of two. Used to spread variance evenly over the bits of
 * binary codes (sign of each coordinate) without a dense P×P matrix.
 */
export class HadamardRotation {
  readonly padded: number;
  private readonly signs1: Float32Array;
  private readonly signs2: Float32Array;
  private readonly scale: number;

  constructor(
    readonly dimension: number,
    readonly seed: number,
    /** 0 = no rotation (zero-padding only), for comparisons; 1 (default) or 2 rounds. */
    readonly rounds: 0 | 1 | 2 = 1,
  ) {
    let p = 1;
    while (p < dimension) p <<= 1;
    this.padded = p;
    this.signs1 = new Float32Array(p);
    this.signs2 = new Float32Array(p);
    const next = xorshift32(seed ^ 0x9e3779b9);
    for (let i = 0; i < p; i++) {
      this.signs1[i] = next() & 1 ? 1 : -1;
      this.signs2[i] = next() & 1 ? 1 : -1;
    }
    this.scale = rounds === 2 ? 1 / p : 1 / Math.sqrt(p); // each orthonormal transform scales by 1/sqrt(p)
  }

  /** out[0..P) = R · (src[off..off+d) padded with zeros). `out` must have length ≥ P. */
  apply(src: Float32Array, off: number, out: Float32Array): void {
    const d = this.dimension, p = this.padded, s1 = this.signs1, s2 = this.signs2;
    if (this.rounds === 0) {
      for (let i = 0; i < d; i++) out[i] = src[off + i]!;
      for (let i = d; i < p; i++) out[i] = 0;
      return;
    }
    for (let i = 0; i < d; i++) out[i] = src[off + i]! * s1[i]!;
    for (let i = d; i < p; i++) out[i] = 0;
    fwht(out, p);
    if (this.rounds === 2) {
      for (let i = 0; i < p; i++) out[i] = out[i]! * s2[i]!;
      fwht(out, p);
    }
    const sc = this.scale;
    for (let i = 0; i < p; i++) out[i] = out[i]! * sc;
  }
}

function fwht(a: Float32Array, n: number): void {
  for (let h = 1; h < n; h <<= 1) {
    for (let i = 0; i < n; i += h << 1) {
      for (let j = i; j < i + h; j++) {
        const x = a[j]!, y = a[j + h]!;
        a[j] = x + y;
        a[j + h] = x - y;
      }
    }
  }
}
