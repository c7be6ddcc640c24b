import { WasmRegion, wasmHeap, wasmHeapEnabled } from "./wasm_heap";

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
  /** Copy one row into `out` (for a file store during a bulk load, a positioned read: see MmapVectorStore.readThrough). */
  readRow(row: number, out: Float32Array): void;
  /** Make room for `extra` more rows so the next appends cannot fail half-way. */
  reserve(extra: number): void;
  /** Append one row (already validated), returning its row number. */
  append(vector: Float32Array): number;
  /** Bytes of vector data kept on the JS heap / anonymous memory. */
  heapBytes(): number;
  /** Bytes of vector data mapped from a file (file-backed, not counted as heap). */
  mappedBytes(): number;
  /**
   * Byte offset of data()[0] in the WebAssembly heap (storage/wasm_heap.ts), where
   * the WebAssembly kernels can scan the rows in place; -1 when the rows are elsewhere.
   */
  wasmOffset(): number;
}

/**
 * Rows in RAM. When the WebAssembly heap is available (see wasm_heap.ts) they
 * live in it, so the WebAssembly kernels scan them in place; otherwise, or when
 * the heap cannot hold them (wasm32's 4 GiB), in an ordinary Float32Array.
 */
export class MemoryVectorStore implements VectorStore {
  readonly kind = "memory" as const;
  private plain: Float32Array | null = null;
  private region: WasmRegion | null = null;
  private view: Float32Array = new Float32Array(0);
  private viewGeneration = -1;
  private cap: number;
  private rows = 0;

  constructor(
    readonly dimension: number,
    initialCapacity = 16,
  ) {
    if (!Number.isInteger(dimension) || dimension < 1) throw new RangeError(`bad dimension ${dimension}`);
    this.cap = Math.max(1, initialCapacity);
    this.allocate(this.cap);
  }

  /** Wrap existing rows (copied, so the caller's array is not aliased). */
  static from(dimension: number, rows: Float32Array): MemoryVectorStore {
    const n = Math.floor(rows.length / dimension);
    const store = new MemoryVectorStore(dimension, Math.max(16, n));
    store.buf.set(rows.subarray(0, n * dimension));
    store.rows = n;
    return store;
  }

  /** Room for `cap` rows, in the WebAssembly heap when possible; the old rows are not copied. */
  private allocate(cap: number): void {
    const bytes = cap * this.dimension * 4;
    if (wasmHeapEnabled()) {
      try {
        this.region = WasmRegion.alloc(bytes);
        this.plain = null;
        this.viewGeneration = -1;
        return;
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        // the heap cannot hold it: an ordinary array instead
      }
    }
    this.region = null;
    this.plain = new Float32Array(cap * this.dimension);
  }

  /** The current view of the rows (remade when the WebAssembly memory grew and detached the last one). */
  private get buf(): Float32Array {
    if (this.plain !== null) return this.plain;
    const r = this.region!;
    if (this.viewGeneration !== r.heap.generation) {
      this.view = r.f32(this.cap * this.dimension);
      this.viewGeneration = r.heap.generation;
    }
    return this.view;
  }

  get length(): number {
    return this.rows;
  }

  get capacity(): number {
    return this.cap;
  }

  data(): Float32Array {
    return this.buf;
  }

  get(row: number): Float32Array {
    if (row < 0 || row >= this.rows) throw new RangeError(`row ${row} out of range 0..${this.rows - 1}`);
    const d = this.dimension;
    return this.buf.subarray(row * d, row * d + d);
  }

  readRow(row: number, out: Float32Array): void {
    if (row < 0 || row >= this.rows) throw new RangeError(`row ${row} out of range 0..${this.rows - 1}`);
    const d = this.dimension, b = this.buf, off = row * d;
    for (let i = 0; i < d; i++) out[i] = b[off + i]!;
  }

  reserve(extra: number): void {
    const needed = this.rows + extra;
    if (needed <= this.cap) return;
    let cap = this.cap;
    while (cap < needed) cap *= 2;
    if (this.region !== null) {
      // in place when the heap has room after the rows (no copy, no hole left behind)
      try {
        this.region.resize(cap * this.dimension * 4);
        this.cap = cap;
        this.viewGeneration = -1;
        return;
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        // the heap is full: the rows move to an ordinary array below
      }
    }
    // allocating may grow the WebAssembly memory, which detaches every view of it but keeps
    // its contents: the old rows are read through a view made after the allocation
    const oldRegion = this.region, oldPlain = this.plain, n = this.rows * this.dimension;
    this.allocate(cap);
    this.cap = cap;
    this.buf.set(oldRegion !== null ? oldRegion.f32(n) : oldPlain!.subarray(0, n));
    oldRegion?.free();
  }

  append(vector: Float32Array): number {
    // a row read from the WebAssembly heap would go empty if making room grew the memory
    if (this.rows >= this.cap && wasmHeap !== null && vector.buffer === wasmHeap.buffer()) vector = vector.slice();
    this.reserve(1);
    this.buf.set(vector, this.rows * this.dimension);
    return this.rows++;
  }

  heapBytes(): number {
    return this.cap * this.dimension * 4;
  }

  mappedBytes(): number {
    return 0;
  }

  wasmOffset(): number {
    return this.region === null ? -1 : this.region.offset;
  }
}
