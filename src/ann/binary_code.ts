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
