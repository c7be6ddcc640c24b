/**
 * The vector-store interface every index and exact search reads through,
 * and its in-memory implementation.
 *
 * Rows are fixed-stride float32: row i occupies data()[i*dimension, (i+1)*dimension).
 * Stores are append-only; a row, once written, never changes.
 */
export interface VectorStore {
  readonly kind: "memory" | "mmap";
  readonly dimension: number;
  /** Number of rows. */
  readonly length: number;
  /**
   * A flat view whose first length*dimension values are the rows. The view is
   * replaced when the store grows, so fetch it once per operation, not once per store.
   */
  data(): Float32Array;
  /** Zero-copy view of one row. */
  get(row: number): Float32Array;
  /** Make room for `extra` more rows so the next appends cannot fail half-way. */
  reserve(extra: number): void;
  /** Append one row (already validated), returning its row number. */
  append(vector: Float32Array): number;
  /** Bytes of vector data kept on the JS heap / anonymous memory. */
  heapBytes(): number;
  /** Bytes of vector data mapped from a file (file-backed, not counted as heap). */
  mappedBytes(): number;
}

export class MemoryVectorStore implements VectorStore {
  readonly kind = "memory" as const;
  private buf: Float32Array;
  private rows = 0;

  constructor(
    readonly dimension: number,
    initialCapacity = 16,
  ) {
    if (!Number.isInteger(dimension) || dimension < 1) throw new RangeError(`bad dimension ${dimension}`);
    this.buf = new Float32Array(Math.max(1, initialCapacity) * dimension);
  }

  /** Wrap existing rows (copied, so the caller's array is not aliased). */
  static from(dimension: number, rows: Float32Array): MemoryVectorStore {
    const n = Math.floor(rows.length / dimension);
    const store = new MemoryVectorStore(dimension, Math.max(16, n));
    store.buf.set(rows.subarray(0, n * dimension));
    store.rows = n;
    return store;
  }

  get length(): number {
    return this.rows;
  }

  get capacity(): number {
    return this.buf.length / this.dimension;
  }

  data(): Float32Array {
    return this.buf;
  }

  get(row: number): Float32Array {
    if (row < 0 || row >= this.rows) throw new RangeError(`row ${row} out of range 0..${this.rows - 1}`);
    const d = this.dimension;
    return this.buf.subarray(row * d, row * d + d);
  }

  reserve(extra: number): void {
    const needed = this.rows + extra;
    if (needed <= this.capacity) return;
    let cap = this.capacity;
    while (cap < needed) cap *= 2;
    const next = new Float32Array(cap * this.dimension);
    next.set(this.buf.subarray(0, this.rows * this.dimension));
    this.buf = next;
  }

  append(vector: Float32Array): number {
    this.reserve(1);
    this.buf.set(vector, this.rows * this.dimension);
    return this.rows++;
  }

  heapBytes(): number {
    return this.buf.byteLength;
  }

  mappedBytes(): number {
    return 0;
  }
}
