/**
 * A payload index on one field: per row, what the field holds, in flat typed
 * arrays, so a filter on the field is answered without reading payloads.
 *
 *   kinds[row]   0 missing/null (or a dead row), 1 string, 2 number, 3 boolean, 4 object/array
 *   keys[row]    strings and booleans: a dictionary id (keyword equality, IN, ranges, LIKE)
 *   nums[row]    numbers (ranges, equality); allocated when the first number arrives
 *
 * Per dictionary id, the live rows holding it (ascending), built on first
 * use and kept in step from then on: equality and IN list their rows without
 * scanning. Everything else (numeric ranges, NOT, IS NULL) is one pass over
 * the typed arrays. The collection calls set() for every new or rewritten
 * row, clear() for a dead one, remap() after compaction; the whole state is
 * a snapshot section (write/read), so opening never reads payloads.
 */
import { grow } from "../ann/typed_arrays";
import { ByteReader, ByteWriter } from "../storage/binary";
import { compileLeafValue, lookup, sameForAllNumbers, type FieldPath, type Leaf, type Scalar } from "./predicate";
import type { Payload } from "./validate";

const NONE = 0, STRING = 1, NUMBER = 2, BOOLEAN = 3, OTHER = 4;
/** Above this many dictionary values to merge, one pass over the rows is cheaper. */
const MAX_MERGED_POSTINGS = 64;

function dictKey(v: string | boolean): string {
  return typeof v === "string" ? `s${v}` : v ? "b1" : "b0";
}

export class FieldIndex {
  private kinds: Uint8Array;
  private keys: Int32Array;
  private nums: Float64Array | null = null;
  /** Rows covered (the collection's row count). */
  private rows = 0;
  private readonly dict = new Map<string, number>();
  private readonly values: (string | boolean)[] = [];
  private postings: number[][] | null = null;
  /** Live rows holding a number / an object or array (whether a pass over the rows can find them). */
  private numberCount = 0;
  private otherCount = 0;

  constructor(readonly path: FieldPath, capacity = 16) {
    this.kinds = new Uint8Array(Math.max(16, capacity));
    this.keys = new Int32Array(Math.max(16, capacity));
  }

  get rowCount(): number {
    return this.rows;
  }

  private ensure(n: number): void {
    if (n <= this.kinds.length) return;
    const cap = Math.max(n, this.kinds.length * 2);
    this.kinds = grow(this.kinds, cap, (m) => new Uint8Array(m));
    this.keys = grow(this.keys, cap, (m) => new Int32Array(m));
    if (this.nums) this.nums = grow(this.nums, cap, (m) => new Float64Array(m));
  }

  private keyOf(v: string | boolean): number {
    const dk = dictKey(v);
    let id = this.dict.get(dk);
    if (id === undefined) {
      id = this.values.length;
      this.dict.set(dk, id);
      this.values.push(v);
      this.postings?.push([]);
    }
    return id;
  }

  /** Index what `payload` holds at the field for `row` (a new row, or one whose payload changed). */
  set(row: number, payload: Payload): void {
    this.ensure(row + 1);
    if (row >= this.rows) this.rows = row + 1;
    else this.clear(row);
    const x = lookup(this.path, payload, "");
    if (x === undefined || x === null) return;
    if (typeof x === "string" || typeof x === "boolean") {
      const key = this.keyOf(x);
      this.kinds[row] = typeof x === "string" ? STRING : BOOLEAN;
      this.keys[row] = key;
      if (this.postings) insertSorted(this.postings[key]!, row);
    } else if (typeof x === "number") {
      this.nums ??= new Float64Array(this.kinds.length);
      this.kinds[row] = NUMBER;
      this.nums[row] = x;
      this.numberCount++;
    } else {
      this.kinds[row] = OTHER;
      this.otherCount++;
    }
  }

  /** The row no longer holds anything (deleted, or about to be re-set). */
  clear(row: number): void {
    if (row >= this.rows) return;
    const kind = this.kinds[row]!;
    if (kind === STRING || kind === BOOLEAN) {
      const list = this.postings?.[this.keys[row]!];
      if (list !== undefined) removeSorted(list, row);
    } else if (kind === NUMBER) this.numberCount--;
    else if (kind === OTHER) this.otherCount--;
    this.kinds[row] = NONE;
  }

  /** Row numbers changed (compaction): old row r is now oldToNew[r], or gone when -1; `rows` rows remain. */
  remap(oldToNew: Int32Array, rows: number): void {
    const kinds = new Uint8Array(Math.max(16, rows));
    const keys = new Int32Array(Math.max(16, rows));
    const nums = this.nums ? new Float64Array(Math.max(16, rows)) : null;
    for (let r = 0; r < this.rows && r < oldToNew.length; r++) {
      const to = oldToNew[r]!;
      if (to < 0) continue;
      kinds[to] = this.kinds[r]!;
      keys[to] = this.keys[r]!;
      if (nums) nums[to] = this.nums![r]!;
    }
    this.kinds = kinds;
    this.keys = keys;
    this.nums = nums;
    this.rows = rows;
    this.postings = null;
  }

  // ---- lookups -----------------------------------------------------------------------------

  private ensurePostings(): number[][] {
    if (this.postings) return this.postings;
    const lists: number[][] = this.values.map(() => []);
    const { kinds, keys } = this;
    for (let r = 0; r < this.rows; r++) {
      const kind = kinds[r]!;
      if (kind === STRING || kind === BOOLEAN) lists[keys[r]!]?.push(r);
    }
    return (this.postings = lists);
  }

  /** Live rows with the value `v` (ascending); a count is `.length`. */
  rowsEqual(v: Scalar): Uint32Array {
    if (typeof v === "number") return this.scan((kind, _key, num) => kind === NUMBER && num === v);
    const id = this.dict.get(dictKey(v));
    return id === undefined ? new Uint32Array(0) : Uint32Array.from(this.ensurePostings()[id]!);
  }

  /**
   * The live rows for which the leaf (a condition on this field) is `want`
   * (true, or false for NOT), ascending. `live` is the collection's live mask
   * (rows without the field are in no list).
   */
  rowsWhere(leaf: Leaf, want: boolean, live: Uint8Array): Uint32Array {
    const f = compileLeafValue(leaf);
    const hitKeys: number[] = [];
    const keyHit = new Uint8Array(this.values.length);
    for (let id = 0; id < this.values.length; id++) {
      if (f(this.values[id]) === want) {
        keyHit[id] = 1;
        hitKeys.push(id);
      }
    }
    const noneHit = f(undefined) === want;
    const otherHit = this.otherCount > 0 && f({}) === want;
    const numbersSame = sameForAllNumbers(leaf);
    const numberHit = this.numberCount > 0 && (!numbersSame || f(0) === want);
    if (!noneHit && !otherHit && !numberHit && hitKeys.length <= MAX_MERGED_POSTINGS) {
      const postings = this.ensurePostings();
      if (hitKeys.length === 1) return Uint32Array.from(postings[hitKeys[0]!]!);
      let total = 0;
      for (const id of hitKeys) total += postings[id]!.length;
      const out = new Uint32Array(total);
      let at = 0;
      for (const id of hitKeys) {
        const list = postings[id]!;
        for (let i = 0; i < list.length; i++) out[at++] = list[i]!;
      }
      return out.sort();
    }
    const numTest = numberHit ? (numbersSame ? () => true : numberTest(leaf, want) ?? ((v: number) => f(v) === want)) : null;
    const { kinds, keys, nums } = this;
    const out: number[] = [];
    for (let r = 0; r < this.rows; r++) {
      const kind = kinds[r]!;
      if (kind === STRING || kind === BOOLEAN) {
        if (keyHit[keys[r]!] === 1) out.push(r);
      } else if (kind === NUMBER) {
        if (numTest !== null && numTest(nums![r]!)) out.push(r);
      } else if (kind === OTHER) {
        if (otherHit) out.push(r);
      } else if (noneHit && live[r] === 1) out.push(r);
    }
    if (noneHit) for (let r = this.rows; r < live.length; r++) if (live[r] === 1) out.push(r);
    return Uint32Array.from(out);
  }

  private scan(test: (kind: number, key: number, num: number) => boolean): Uint32Array {
    const out: number[] = [];
    const { kinds, keys } = this;
    const nums = this.nums;
    for (let r = 0; r < this.rows; r++) {
      const kind = kinds[r]!;
      if (kind !== NONE && test(kind, keys[r]!, nums ? nums[r]! : 0)) out.push(r);
    }
    return Uint32Array.from(out);
  }

  /** Rows holding a value (live ones: dead rows hold nothing). */
  get indexedCount(): number {
    let n = 0;
    for (let r = 0; r < this.rows; r++) if (this.kinds[r] !== NONE) n++;
    return n;
  }

  /** Heap bytes: the per-row arrays, the dictionary and the postings. */
  heapBytes(): number {
    let b = this.kinds.byteLength + this.keys.byteLength + (this.nums?.byteLength ?? 0);
    for (const v of this.values) b += 64 + (typeof v === "string" ? v.length * 2 : 0);
    if (this.postings) for (const list of this.postings) b += 16 + list.length * 8;
    return b;
  }

  /** Snapshot section body for this field. */
  write(w: ByteWriter): void {
    const n = this.rows;
    w.u32(n);
    w.raw(this.kinds.subarray(0, n));
    w.raw(new Uint8Array(this.keys.buffer, 0, n * 4));
    w.u32(this.otherCount);
    w.u32(this.numberCount);
    for (let r = 0; r < n; r++) {
      if (this.kinds[r] === NUMBER) w.u32(r).f64(this.nums![r]!);
    }
    w.u32(this.values.length);
    for (const v of this.values) {
      if (typeof v === "string") w.u8(STRING).string(v);
      else w.u8(BOOLEAN).u8(v ? 1 : 0);
    }
  }

  static read(r: ByteReader, path: FieldPath, rowsExpected: number): FieldIndex {
    const n = r.u32();
    if (n > rowsExpected) throw new RangeError(`payload index covers ${n} rows, the collection has ${rowsExpected}`);
    const ix = new FieldIndex(path, n);
    ix.rows = n;
    ix.kinds.set(r.raw(n));
    new Uint8Array(ix.keys.buffer, 0, n * 4).set(r.raw(n * 4));
    ix.otherCount = r.u32();
    const numbers = r.u32();
    if (numbers > n) throw new RangeError("payload index: more numbers than rows");
    if (numbers > 0) ix.nums = new Float64Array(ix.kinds.length);
    for (let i = 0; i < numbers; i++) {
      const row = r.u32();
      const v = r.f64();
      if (row >= n || ix.kinds[row] !== NUMBER) throw new RangeError("payload index: a number at a row that holds none");
      ix.nums![row] = v;
    }
    ix.numberCount = numbers;
    const size = r.u32();
    if (size > r.remaining) throw new RangeError("payload index: dictionary larger than the section");
    for (let i = 0; i < size; i++) {
      const t = r.u8();
      if (t === STRING) ix.keyOf(r.string());
      else if (t === BOOLEAN) ix.keyOf(r.u8() === 1);
      else throw new RangeError(`payload index: unknown dictionary entry type ${t}`);
    }
    if (ix.values.length !== size) throw new RangeError("payload index: repeated dictionary value");
    // No pass over the rows here (opening stays cheap; the snapshot is checksummed):
    // db.check() compares every row with its payload, and a dictionary id out of
    // range is never followed (ensurePostings, rowsWhere and agrees check it).
    return ix;
  }

  /** db.check(): the row lists (when built) hold exactly the rows whose key they are for. */
  postingsAgree(): boolean {
    if (!this.postings) return true;
    let total = 0;
    for (let id = 0; id < this.postings.length; id++) {
      const list: number[] = this.postings[id]!;
      total += list.length;
      for (let i = 0; i < list.length; i++) {
        const row = list[i]!;
        if ((i > 0 && list[i - 1]! >= row) || row >= this.rows || this.keys[row] !== id) return false;
        if (this.kinds[row] !== STRING && this.kinds[row] !== BOOLEAN) return false;
      }
    }
    let keyed = 0;
    for (let r = 0; r < this.rows; r++) if (this.kinds[r] === STRING || this.kinds[r] === BOOLEAN) keyed++;
    return keyed === total;
  }

  /** db.check(): whether the index holds for `row` what its payload holds (undefined: a dead row, which holds nothing). */
  agrees(row: number, payload: Payload | undefined): boolean {
    const kind = row < this.rows ? this.kinds[row]! : NONE;
    if (payload === undefined) return kind === NONE;
    const x = lookup(this.path, payload, "");
    if (x === undefined || x === null) return kind === NONE;
    if (typeof x === "string") return kind === STRING && this.values[this.keys[row]!] === x;
    if (typeof x === "boolean") return kind === BOOLEAN && this.values[this.keys[row]!] === x;
    if (typeof x === "number") return kind === NUMBER && this.nums![row] === x;
    return kind === OTHER;
  }
}

/** A direct test on numbers for comparisons with a number (never unknown for a number). */
function numberTest(leaf: Leaf, want: boolean): ((v: number) => boolean) | null {
  if (leaf.kind === "cmp" && typeof leaf.value === "number") {
    const b = leaf.value;
    switch (leaf.op) {
      case "=":
        return want ? (v) => v === b : (v) => v !== b;
      case "!=":
        return want ? (v) => v !== b : (v) => v === b;
      case "<":
        return want ? (v) => v < b : (v) => !(v < b);
      case "<=":
        return want ? (v) => v <= b : (v) => !(v <= b);
      case ">":
        return want ? (v) => v > b : (v) => !(v > b);
      case ">=":
        return want ? (v) => v >= b : (v) => !(v >= b);
    }
  }
  if (leaf.kind === "between" && typeof leaf.low === "number") {
    const lo = leaf.low, hi = leaf.high as number;
    const inside = !leaf.negated === want;
    return inside ? (v) => v >= lo && v <= hi : (v) => !(v >= lo && v <= hi);
  }
  return null;
}

function insertSorted(list: number[], row: number): void {
  if (list.length === 0 || list[list.length - 1]! < row) {
    list.push(row);
    return;
  }
  let lo = 0, hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < row) lo = mid + 1;
    else hi = mid;
  }
  if (list[lo] !== row) list.splice(lo, 0, row);
}

function removeSorted(list: number[], row: number): void {
  let lo = 0, hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < row) lo = mid + 1;
    else hi = mid;
  }
  if (list[lo] === row) list.splice(lo, 1);
}
