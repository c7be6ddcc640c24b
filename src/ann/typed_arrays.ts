/** Growing flat typed arrays (per-row arrays of indexes and payload indexes). */

/** `a` if it holds `n` values, else a copy with room for max(n, twice its length). */
export function grow<T extends Float32Array | Float64Array | Uint8Array | Int32Array>(a: T, n: number, make: (n: number) => T): T {
  if (n <= a.length) return a;
  const out = make(Math.max(n, a.length * 2));
  out.set(a);
  return out;
}
