/**
 * 1-bit codes: bit i is set when coordinate i is positive; packed 32 per
 * 32-bit word. Codes live in Int32Arrays so that every step of the Hamming
 * distance stays in int32 arithmetic (a Uint32Array load of a value ≥ 2^31,
 * or `>>> 0`, makes the JIT fall back to doubles, several times slower).
 */
export function wordsFor(bits: number): number {
  return (bits + 31) >>> 5;
}

/**
 * Pack the signs of v[0..bits) into out[outOff..outOff+words): bit set for
 * values > 0. Branch-free: the sign bit is read through an Int32 view
 * (+0 counts as positive, -0 as negative; both are measure-zero events).
 */
export function encodeSigns(v: Float32Array, bits: number, out: Int32Array, outOff: number): void {
  const words = wordsFor(bits);
  const iv = new Int32Array(v.buffer, v.byteOffset, v.length);
  for (let w = 0; w < words; w++) {
    let word = 0;
    const base = w << 5;
    const end = Math.min(32, bits - base);
    for (let b = 0; b < end; b++) word |= ((iv[base + b]! >>> 31) ^ 1) << b;
    out[outOff + w] = word;
  }
}

export function hamming(a: Int32Array, ao: number, b: Int32Array, bo: number, words: number): number {
  let h = 0;
  for (let w = 0; w < words; w++) {
    let x = a[ao + w]! ^ b[bo + w]!;
    x = (x - ((x >>> 1) & 0x55555555)) | 0;
    x = ((x & 0x33333333) + ((x >>> 2) & 0x33333333)) | 0;
    x = (x + (x >>> 4)) & 0x0f0f0f0f;
    h = (h + (Math.imul(x, 0x01010101) >>> 24)) | 0;
  }
  return h;
}

/**
 * The residual u = q − c (float32 differences) of p floats, as a clustered
 * leaf scan needs it: writes the sign bits of u[0..bits) to
 * out[outOff..outOff+wordsFor(bits)) like encodeSigns, and returns Σ u² in
 * float64, summed in four lanes by i mod 4 over whole groups of four, lanes
 * added as (s0 + s2) + (s1 + s3), then the tail in order. The WebAssembly
 * kernel residual_code computes exactly this (the same operations in the
 * same order), so both paths give the same estimates.
 */
export function residualCode(q: Float32Array, c: Float32Array, p: number, bits: number, out: Int32Array, outOff: number): number {
  const words = wordsFor(bits);
  out.fill(0, outOff, outOff + words);
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const end = p & ~3;
  let i = 0;
  for (; i < end; i += 4) {
    const v0 = Math.fround(q[i]! - c[i]!), v1 = Math.fround(q[i + 1]! - c[i + 1]!);
    const v2 = Math.fround(q[i + 2]! - c[i + 2]!), v3 = Math.fround(q[i + 3]! - c[i + 3]!);
    s0 += v0 * v0;
    s1 += v1 * v1;
    s2 += v2 * v2;
    s3 += v3 * v3;
    if (i < bits) out[outOff + (i >>> 5)]! |= ((positive(v0) | (positive(v1) << 1) | (positive(v2) << 2) | (positive(v3) << 3)) << (i & 31));
  }
  let s = s0 + s2 + (s1 + s3);
  for (; i < p; i++) {
    const v = Math.fround(q[i]! - c[i]!);
    s += v * v;
    if (i < bits) out[outOff + (i >>> 5)]! |= positive(v) << (i & 31);
  }
  if ((bits & 31) !== 0) out[outOff + words - 1]! &= (1 << (bits & 31)) - 1;
  return s;
}

/** 1 when v's sign bit is clear (+0 counts as positive, −0 as negative, as in encodeSigns). */
function positive(v: number): number {
  return v > 0 || (v === 0 && !Object.is(v, -0)) ? 1 : 0;
}
