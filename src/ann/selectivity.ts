/**
 * The share of live items a filter keeps, estimated on a seeded random sample
 * of rows (a strided sample aliases with periodic data: every 5th row never
 * sees `i % 10 = 3`).
 */
import { xorshift32 } from "./random";
import type { RowFilter, RowSource } from "./types";

const SAMPLE = 512;

export function estimateSelectivity(source: RowSource, filter: RowFilter): number {
  const n = source.store.length;
  const live = source.liveMask();
  if (n <= SAMPLE * 2) {
    let seen = 0, pass = 0;
    for (let r = 0; r < n; r++) {
      if (live[r] !== 1) continue;
      seen++;
      if (filter(r)) pass++;
    }
    return seen === 0 ? 1 : pass / seen;
  }
  const next = xorshift32(0x5eed);
  let seen = 0, pass = 0;
  for (let i = 0; i < SAMPLE * 4 && seen < SAMPLE; i++) {
    const r = next() % n;
    if (live[r] !== 1) continue;
    seen++;
    if (filter(r)) pass++;
  }
  return seen === 0 ? 1 : pass / seen;
}
