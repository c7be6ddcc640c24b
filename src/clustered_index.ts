/**
 * The standalone clustered index: a ClusteredTree (src/ann/clustered.ts) over
 * vectors it owns, addressed by numeric ids (a vector's position), with its
 * own pair of files once moved to mmap storage: `PATH` (a vector file) and
 * `PATH.idx` (metric, live bitmap and the tree, written like a snapshot).
 *
 * Inputs are checked by the collection's validators; files go through the
 * storage layer.
 */
import { ClusteredTree, type ClusteredOptions, type ClusteredSearchOptions } from "./ann/clustered";
import { METRICS, type Metric } from "./ann/distance";
import { LiveRows } from "./collection/live_rows";
import { validateSearchNumbers, validateVector, type VectorInput } from "./collection/validate";
import { errors, VqliteError } from "./errors";
import { ByteWriter } from "./storage/binary";
import { readSnapshotFile, writeSnapshotFile } from "./storage/snapshot";
import { MmapVectorStore, VectorFile } from "./storage/vector_file";
import { MemoryVectorStore, type VectorStore } from "./storage/vector_store";

export type { ClusteredOptions, ClusteredSearchOptions };

export type VectorsInput =
  | VectorStore
  | { readonly data: Float32Array; readonly dimension: number }
  | readonly (readonly number[] | Float32Array)[];

/** A store holding `vectors`, every row checked (dimension, finite values). */
function toStore(vectors: VectorsInput): VectorStore {
  if (Array.isArray(vectors)) {
    if (vectors.length === 0) throw errors.invalidArgument("cannot build an index over no vectors");
    const dim = (vectors[0] as ArrayLike<number>).length;
    if (!(dim >= 1)) throw errors.invalidArgument("vectors must have at least one dimension");
    const store = new MemoryVectorStore(dim, vectors.length);
    for (const v of vectors) store.append(validateVector(v, dim, false));
    return store;
  }
  const v = vectors as VectorStore | { data: Float32Array; dimension: number };
  if ("get" in v && typeof v.get === "function") return v as VectorStore;
  const { data, dimension } = v as { data: Float32Array; dimension: number };
  if (!(data instanceof Float32Array) || !Number.isInteger(dimension) || dimension < 1 || data.length % dimension !== 0) {
    throw errors.invalidArgument("vectors must be a vector store, { data: Float32Array, dimension }, or an array of rows");
  }
  const n = data.length / dimension;
  const store = new MemoryVectorStore(dimension, Math.max(1, n));
  for (let i = 0; i < n; i++) store.append(validateVector(data.subarray(i * dimension, (i + 1) * dimension), dimension, false));
  return store;
}

export class ClusteredIndex {
  private mmapPath: string | null = null;

  private constructor(
    private readonly rows: LiveRows,
    /** The k-means tree itself (benchmarks call its searchRows directly). */
    readonly tree: ClusteredTree,
  ) {}

  /** Build over `vectors`; ids are row positions 0..n-1. */
  static build(vectors: VectorsInput, options: ClusteredOptions = {}): ClusteredIndex {
    const metric = options.metric ?? "l2";
    if (!METRICS.includes(metric)) throw errors.invalidConfig(`metric must be one of ${METRICS.join(", ")}`);
    const rows = new LiveRows(toStore(vectors), metric);
    rows.adoptAll();
    const tree = new ClusteredTree(rows, options);
    tree.rebuild();
    return new ClusteredIndex(rows, tree);
  }

  get dimension(): number {
    return this.tree.dimension;
  }

  /** Live vectors. */
  get size(): number {
    return this.rows.liveCount;
  }

  leafCount(): number {
    return this.tree.leafCount();
  }

  /** The k nearest vectors: `{ id, distance }` ascending, id the vector's position, distances exact. */
  search(query: VectorInput, k: number, options: ClusteredSearchOptions = {}): { id: number; distance: number }[] {
    const q = validateVector(query, this.dimension, false);
    validateSearchNumbers(k, options);
    const res = this.tree.searchRows(q, k, options);
    return res.rows.map((id, i) => ({ id, distance: res.distances[i]! }));
  }

  /** Append a vector after the build; returns its id. */
  addVector(vector: VectorInput): number {
    const row = this.rows.appendVector(validateVector(vector, this.dimension, false));
    this.tree.add(row);
    return row;
  }

  /** Delete by id; returns whether it was live. */
  deleteVector(id: number): boolean {
    if (!Number.isInteger(id) || id < 0 || id >= this.rows.rowCount) return false;
    return this.rows.markDead(id);
  }

  isUsingMmap(): boolean {
    return this.rows.store.kind === "mmap";
  }

  memoryUsage(): { indexBytes: number; vectorHeapBytes: number; vectorMappedBytes: number; heapBytes: number } {
    const indexBytes = this.tree.heapBytes() + this.rows.heapBytes();
    const vectorHeapBytes = this.rows.store.heapBytes();
    return { indexBytes, vectorHeapBytes, vectorMappedBytes: this.rows.store.mappedBytes(), heapBytes: indexBytes + vectorHeapBytes };
  }

  /** Heap bytes: tree, codes, id maps, and vectors when they are in RAM. Mapped vectors are in memoryUsage(). */
  memoryUsageBytes(): number {
    return this.memoryUsage().heapBytes;
  }

  /**
   * Move the full vectors to a new vector file at `path` (and the index
   * structure beside it at `path.idx`), then read them through a mapping.
   * An existing file is never overwritten; a failure changes nothing.
   */
  useMmapStorage(path: string): void {
    if (this.isUsingMmap()) throw errors.invalidArgument(`index already uses mmap storage (${this.mmapPath})`);
    if (typeof path !== "string" || path.length === 0) throw errors.invalidArgument("path must be a non-empty string");
    const n = this.rows.rowCount, d = this.dimension;
    const file = VectorFile.create(path, d, Math.max(1, n));
    try {
      file.writeRows(0, this.rows.store.data().subarray(0, n * d));
      file.sync(n);
      const store = new MmapVectorStore(file, n);
      this.writeIndexFile(`${path}.idx`);
      this.rows.store = store;
      this.mmapPath = path;
    } catch (e) {
      file.close();
      throw e instanceof VqliteError ? e : errors.io(`moving vectors to ${path}`, e);
    }
  }

  /** Mmap-backed: make added vectors and the current tree durable. */
  save(): void {
    const store = this.rows.store;
    if (!this.mmapPath || !(store instanceof MmapVectorStore)) throw errors.invalidArgument("save() needs mmap storage: call useMmapStorage(path) first");
    store.sync();
    this.writeIndexFile(`${this.mmapPath}.idx`);
  }

  private writeIndexFile(file: string): void {
    const w = new ByteWriter(1 << 16);
    w.string(this.rows.metric);
    w.u8array(this.rows.savedArrays().live);
    this.tree.serialize(w);
    writeSnapshotFile(file, w.finish());
  }

  /** Reopen an index saved by useMmapStorage(path) / save(), without rebuilding. */
  static open(path: string): ClusteredIndex {
    const idx = `${path}.idx`;
    const r = readSnapshotFile(idx);
    const metric = r.string() as Metric;
    if (!METRICS.includes(metric)) throw errors.corrupt(idx, "unknown metric");
    const live = r.u8array();
    const store = MmapVectorStore.open(path, undefined, undefined);
    try {
      if (store.length !== live.length) throw errors.corrupt(path, `vector file holds ${store.length} rows, the index expects ${live.length}`);
      const rows = new LiveRows(store, metric);
      rows.adoptAll();
      for (let row = 0; row < live.length; row++) if (live[row] !== 1) rows.markDead(row);
      const index = new ClusteredIndex(rows, ClusteredTree.deserialize(r, rows));
      index.mmapPath = path;
      return index;
    } catch (e) {
      store.close();
      if (e instanceof VqliteError) throw e;
      throw errors.corrupt(idx, (e as Error).message);
    }
  }
}
