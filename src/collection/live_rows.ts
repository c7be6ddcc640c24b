/**
 * The rows of a vector store as an index reads them: which rows are live and
 * each row's L2 norm, in flat typed arrays that grow by doubling. This is the
 * RowSource of the standalone clustered index, and the base of a collection's
 * RowTable.
 */
import { normAt, type Metric } from "../ann/distance";
import type { RowSource } from "../ann/types";
import type { VectorStore } from "../storage/vector_store";

export class LiveRows implements RowSource {
  protected live: Uint8Array = new Uint8Array(16);
  protected norms: Float32Array = new Float32Array(16);
  protected liveRows = 0;
  /** Bumped by every compaction: row numbers from before it mean nothing after. */
  private compactions = 0;

  constructor(
    public store: VectorStore,
    readonly metric: Metric,
  ) {}

  // ---- RowSource ---------------------------------------------------------------------------

  norm(row: number): number {
    return this.norms[row]!;
  }

  isLive(row: number): boolean {
    return this.live[row] === 1;
  }

  liveMask(): Uint8Array {
    return this.live;
  }

  // ---- rows --------------------------------------------------------------------------------

  /** How many times rows were renumbered (compactions). */
  get renumberings(): number {
    return this.compactions;
  }

  /** Live rows. */
  get liveCount(): number {
    return this.liveRows;
  }

  /** Rows in the store, live or dead. */
  get rowCount(): number {
    return this.store.length;
  }

  /** Live row numbers in ascending order. */
  *liveRowNumbers(): Generator<number> {
    const n = this.store.length, live = this.live;
    for (let row = 0; row < n; row++) if (live[row] === 1) yield row;
  }

  /** Room for `n` rows in the per-row arrays. */
  ensureRows(n: number): void {
    if (n <= this.live.length) return;
    let cap = Math.max(16, this.live.length);
    while (cap < n) cap *= 2;
    const live = new Uint8Array(cap);
    live.set(this.live);
    this.live = live;
    const norms = new Float32Array(cap);
    norms.set(this.norms);
    this.norms = norms;
  }

  /** Append a vector to the store as a live row; returns its row number. */
  appendVector(vector: Float32Array): number {
    this.store.reserve(1);
    const row = this.store.append(vector);
    this.ensureRows(row + 1);
    this.norms[row] = normAt(vector, 0, vector.length);
    this.live[row] = 1;
    this.liveRows++;
    return row;
  }

  /** Mark every row of the store live and compute its norm (a store built elsewhere). */
  adoptAll(): void {
    const n = this.store.length, d = this.store.dimension, data = this.store.data();
    this.ensureRows(n);
    for (let row = 0; row < n; row++) {
      this.norms[row] = normAt(data, row * d, d);
      this.live[row] = 1;
    }
    this.liveRows = n;
  }

  /** Take the live bitmap and norms of the store's rows from a saved copy. */
  restore(live: Uint8Array, norms: Float32Array): void {
    this.restoreBytes(live, new Uint8Array(norms.buffer, norms.byteOffset, norms.byteLength));
  }

  /**
   * restore() from the saved bytes themselves (a snapshot's, uncopied; the norms
   * need not be aligned). With `liveCount` (the count a checksummed snapshot
   * carries) the bytes are this table's to keep and change: a snapshot read for
   * it alone, or mapped privately, where a change makes a private copy of its
   * page and never reaches the file. Then the bitmap is not counted again, and
   * the bitmap and (when 4-byte aligned) the norms are used in place: opening
   * copies nothing per row, and their pages stay file-backed until changed.
   */
  restoreBytes(live: Uint8Array, normBytes: Uint8Array, liveCount?: number): void {
    const n = this.store.length;
    if (live.length !== n || normBytes.length !== n * 4) throw new RangeError("row arrays have the wrong length");
    if (liveCount !== undefined && n > 0) {
      if (!Number.isSafeInteger(liveCount) || liveCount < 0 || liveCount > n) throw new RangeError("live row count out of range");
      this.live = live;
      this.norms = normBytes.byteOffset % 4 === 0 ? new Float32Array(normBytes.buffer, normBytes.byteOffset, n) : new Float32Array(normBytes.slice().buffer);
      this.liveRows = liveCount;
      return;
    }
    this.ensureRows(n);
    this.live.set(live);
    new Uint8Array(this.norms.buffer, this.norms.byteOffset, n * 4).set(normBytes);
    let count = 0;
    for (let row = 0; row < n; row++) if (live[row] === 1) count++;
    this.liveRows = count;
  }

  /** Mark a row dead; returns whether it was live. */
  markDead(row: number): boolean {
    if (this.live[row] !== 1) return false;
    this.live[row] = 0;
    this.liveRows--;
    return true;
  }

  /** The saved form of the live bitmap and norms (views, not copies). */
  savedArrays(): { live: Uint8Array; norms: Float32Array } {
    const n = this.store.length;
    return { live: this.live.subarray(0, n), norms: this.norms.subarray(0, n) };
  }

  /** Bytes of the per-row arrays. */
  heapBytes(): number {
    return this.live.byteLength + this.norms.byteLength;
  }

  /**
   * Compaction: copy the live rows, in order, into `target` (an empty store),
   * then switch the store and every per-row array over, here and nowhere
   * else. Returns old row → new row (-1 for dropped rows). A failure while
   * copying (disk full) changes nothing.
   */
  compactInto(target: VectorStore, onProgress?: (done: number, total: number) => void): Int32Array {
    const n = this.store.length;
    target.reserve(this.liveRows);
    const live = new Uint8Array(Math.max(16, this.liveRows));
    const norms = new Float32Array(Math.max(16, this.liveRows));
    const oldToNew = new Int32Array(n).fill(-1);
    for (let row = 0; row < n; row++) {
      if (this.live[row] !== 1) continue;
      const nr = target.append(this.store.get(row));
      oldToNew[row] = nr;
      live[nr] = 1;
      norms[nr] = this.norms[row]!;
      if (onProgress && (row & 1023) === 1023) onProgress(row + 1, n);
    }
    this.store = target;
    this.live = live;
    this.norms = norms;
    this.compactions++;
    this.renumber(oldToNew, this.liveRows);
    return oldToNew;
  }

  /** Move the per-row columns a subclass keeps to their new row numbers (cannot fail). */
  protected renumber(_oldToNew: Int32Array, _rows: number): void {}
}
