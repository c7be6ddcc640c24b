/**
 * Planning a filtered search with payload indexes: the rows a predicate keeps,
 * listed from the indexes instead of by reading every payload.
 *
 * Under three-valued logic NOT is not a complement (NOT unknown is unknown),
 * so every node has two row sets: where it is true and where it is false.
 * NOT swaps them; AND is true where all parts are true and false where any
 * is; OR the other way round. A leaf on an indexed field (or `id =` / `id IN`
 * for its true side) lists its rows exactly; anything else is unknown to the
 * planner. A node with unknown parts may still give a superset (AND over its
 * known parts): then the caller checks each of those rows on its payload.
 */
import type { FieldIndex } from "./payload_index";
import type { Cond } from "./predicate";

/** Rows (ascending) that include every row the predicate keeps; exactly those when `exact`. */
export interface Candidates {
  readonly rows: Uint32Array;
  readonly exact: boolean;
}

export interface PlanContext {
  index(key: string): FieldIndex | undefined;
  readonly live: Uint8Array;
  rowOfId(id: string): number | undefined;
  /** Index keys used (filled in by the planner). */
  readonly used: Set<string>;
}

export function intersect(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out = new Uint32Array(Math.min(a.length, b.length));
  let i = 0, j = 0, n = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!, y = b[j]!;
    if (x === y) {
      out[n++] = x;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return out.subarray(0, n);
}

export function union(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out = new Uint32Array(a.length + b.length);
  let i = 0, j = 0, n = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!, y = b[j]!;
    if (x === y) {
      out[n++] = x;
      i++;
      j++;
    } else if (x < y) {
      out[n++] = x;
      i++;
    } else {
      out[n++] = y;
      j++;
    }
  }
  while (i < a.length) out[n++] = a[i++]!;
  while (j < b.length) out[n++] = b[j++]!;
  return out.subarray(0, n);
}

/** Rows where `c` is `want` (a superset unless exact), or null when the indexes cannot tell. */
export function planSide(c: Cond, want: boolean, ctx: PlanContext): Candidates | null {
  switch (c.kind) {
    case "not":
      return planSide(c.item, !want, ctx);
    case "and":
    case "or": {
      // AND true / OR false: every part must hold, so any known part bounds the rows
      const allMustHold = (c.kind === "and") === want;
      const parts = c.items.map((item) => planSide(item, want, ctx));
      if (allMustHold) {
        let acc: Candidates | null = null;
        for (const p of parts) {
          if (p === null) continue;
          acc = acc === null ? p : { rows: intersect(acc.rows, p.rows), exact: acc.exact && p.exact };
        }
        if (acc !== null && parts.includes(null)) acc = { rows: acc.rows, exact: false };
        return acc;
      }
      // AND false / OR true: any part may hold, so every part must be known
      if (parts.includes(null)) return null;
      let acc = parts[0]!;
      for (let i = 1; i < parts.length; i++) acc = { rows: union(acc.rows, parts[i]!.rows), exact: acc.exact && parts[i]!.exact };
      return acc;
    }
    case "test":
      return null;
    default: {
      if (c.path.isId) {
        if (!want) return null;
        let ids: readonly unknown[];
        if (c.kind === "cmp" && c.op === "=") ids = [c.value];
        else if (c.kind === "in" && !c.negated) ids = c.values;
        else return null;
        const rows: number[] = [];
        for (const id of ids) {
          const row = typeof id === "string" ? ctx.rowOfId(id) : undefined;
          if (row !== undefined && !rows.includes(row)) rows.push(row);
        }
        return { rows: Uint32Array.from(rows).sort(), exact: true };
      }
      const ix = ctx.index(c.path.key);
      if (ix === undefined) return null;
      ctx.used.add(c.path.key);
      return { rows: ix.rowsWhere(c, want, ctx.live), exact: true };
    }
  }
}
