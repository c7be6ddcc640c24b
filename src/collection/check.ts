/**
 * Consistency check of one collection in memory (db.check() adds the files):
 * counts agree, the id map and the rows agree both ways, vectors are finite
 * and their norms match, payloads parse, the index covers every live row, and
 * the payload indexes hold what the payloads hold.
 */
import { normAt } from "../ann/distance";
import type { Collection } from "./collection";

export interface CollectionCheck {
  readonly name: string;
  /** Live items. */
  readonly items: number;
  /** Rows in the store, live or dead. */
  readonly rows: number;
  readonly index: string;
  readonly problems: string[];
}

export function checkCollection(c: Collection): CollectionCheck {
  const problems: string[] = [];
  const store = c.store;
  const rows = c.rowCount;
  const d = c.dimension;
  let live = 0;
  const liveRows: number[] = [];
  for (let row = 0; row < rows; row++) {
    if (!c.isLive(row)) continue;
    live++;
    liveRows.push(row);
  }
  const count = c.count();
  if (live !== count) problems.push(`${live} live rows but count() is ${count}`);
  // keys() walks live rows in row order: the i-th key must map back to the i-th live row
  let i = 0;
  let badMap = 0;
  const seen = new Set<string>();
  for (const id of c.keys()) {
    if (seen.has(id)) problems.push(`id ${JSON.stringify(id)} is on more than one live row`);
    seen.add(id);
    if (c.rowOfId(id) !== liveRows[i]) badMap++;
    i++;
  }
  if (i !== live) problems.push(`${i} ids for ${live} live rows`);
  if (badMap > 0) problems.push(`${badMap} ids map to the wrong row`);
  if (store.dimension !== d) problems.push(`store dimension ${store.dimension}, config ${d}`);
  const data = store.data();
  let nonFinite = 0;
  let badNorms = 0;
  let badPayloads = 0;
  for (const row of liveRows) {
    const off = row * d;
    for (let j = 0; j < d; j++) if (!Number.isFinite(data[off + j]!)) nonFinite++;
    const n = normAt(data, off, d);
    if (!(Math.abs(n - c.rowSource.norm(row)) <= 1e-4 * Math.max(1, n))) badNorms++;
    try {
      const p = c.payloadOf(row);
      if (p !== null && (typeof p !== "object" || Array.isArray(p))) badPayloads++;
    } catch {
      badPayloads++;
    }
  }
  if (nonFinite > 0) problems.push(`${nonFinite} vector values are not finite`);
  if (badNorms > 0) problems.push(`${badNorms} rows have a stored norm that does not match their vector`);
  if (badPayloads > 0) problems.push(`${badPayloads} payloads are not JSON objects`);
  const index = c.index;
  if (index.verify) problems.push(...index.verify());
  problems.push(...c.verifyPayloadIndexes());
  return { name: c.name, items: count, rows, index: index.type, problems: problems.map((p) => `${c.name}: ${p}`) };
}
