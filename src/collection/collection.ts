/**
 * A collection: string ids mapped to rows of a vector store, with JSON
 * payloads, optional sparse vectors, tombstones and search.
 *
 * Every write is validated completely, then journaled through the host
 * (the database's WAL), then applied; a write that fails validation or
 * journaling changes nothing.
 */
import { assertNever, errors, VqliteError } from "../errors";
import type { Metric } from "../ann/distance";
import { createIndex, readIndexSection, writeIndexSection } from "../ann/factory";
import { FlatIndex } from "../ann/flat";
import type { IndexSearchResult, Progress, RowFilter, RowSource, SearchRoute, VectorIndex } from "../ann/types";
import { ByteReader, ByteWriter } from "../storage/binary";
import { MmapVectorStore } from "../storage/vector_file";
import type { VectorStore } from "../storage/vector_store";
import type { CollectionConfig, StorageKind } from "./config";
import { buildIndexInWorker, type BuildOptions } from "./index_build";
import { atItem, BulkLoad, DEFAULT_CHUNK_ROWS, type LoadOptions, type LoadSession } from "./bulk_load";
import type { Mutation } from "./mutation";
import { DiskMeta } from "./disk_meta";
import { RowTable } from "./row_table";
import { exportFrom, importInto, type ExportOptions, type ImportOptions } from "./transfer";
import {
  validateId,
  validatePayload,
  validateSearchNumbers,
  validateSparse,
  validateVector,
  validateVectorInto,
  type Payload,
  type SparseInput,
  type SparseVector,
  type VectorInput,
} from "./validate";

export interface Item {
  readonly id: string;
  readonly vector: VectorInput;
  readonly payload?: Payload;
  readonly sparse?: SparseInput | null;
}

export interface StoredItem {
  readonly id: string;
  readonly vector: Float32Array;
  readonly payload: Payload;
  readonly sparse: SparseVector | null;
}

export interface ItemUpdate {
  readonly vector?: VectorInput;
  readonly payload?: Payload;
  readonly sparse?: SparseInput | null;
}

export type PayloadFilter = (payload: Payload, id: string) => boolean;

export interface SearchOptions {
  /** Number of results (default 10). */
  readonly k?: number;
  readonly filter?: PayloadFilter;
  /** Clustered index: leaves visited. */
  readonly probes?: number;
  /** Clustered index / quantized HNSW: candidates reranked = k × rerankFactor. */
  readonly rerankFactor?: number;
  /** HNSW: search list size. */
  readonly ef?: number;
  /** Force exact search whatever the index. */
  readonly exact?: boolean;
}

export interface SearchHit {
  readonly id: string;
  readonly distance: number;
  readonly payload: Payload;
}

/** Search hits plus how they were found. */
export interface SearchReport {
  readonly hits: SearchHit[];
  readonly route: SearchRoute;
  readonly stats: Record<string, number>;
}

export interface MemoryUsage {
  /** ids, payloads, sparse vectors, bitmaps and norms: JS heap. */
  readonly metadataBytes: number;
  /** Index structure and codes in RAM. */
  readonly indexBytes: number;
  /** Vectors held in RAM (memory storage). */
  readonly vectorHeapBytes: number;
  /** Vectors mapped from a file (mmap storage): file-backed, not heap. */
  readonly vectorMappedBytes: number;
  /** metadata + index + in-RAM vectors. */
  readonly heapBytes: number;
}

export interface VacuumResult {
  readonly removedRows: number;
  readonly reclaimedBytes: number;
}

/** What a collection needs from the database that owns it. */
export interface CollectionHost {
  assertUsable(c: Collection): void;
  /** Throws READ_ONLY through a read-only database (for writes that may turn out to change nothing). */
  assertWritable?(c: Collection): void;
  journal(c: Collection, mutations: readonly Mutation[]): void;
  /** Called after a journaled write was applied (auto-checkpoint hook). */
  committed(c: Collection): void;
  vacuum(c: Collection, storage?: StorageKind, onProgress?: Progress): VacuumResult;
  /** Start a bulk load (bulk_load.ts): checkpoint, then stage rows outside the log until commit. */
  beginLoad(c: Collection): LoadSession;
}

/** Options of insertManyAsync / upsertManyAsync. */
export interface LoadManyOptions {
  /** Items per staged chunk (default 16,384). */
  readonly chunkRows?: number;
  /** Called after each chunk with the items staged so far. */
  readonly onProgress?: (done: number) => void;
}

export class Collection {
  /** Every row's vector, id, payload, sparse vector and liveness; what the indexes read. */
  private rows: RowTable;
  private exact: FlatIndex;
  index: VectorIndex;

  private currentConfig: CollectionConfig;
  private changes = 0;
  /** Set while rebuildIndexAsync runs. */
  private building = false;

  constructor(
    readonly name: string,
    config: CollectionConfig,
    store: VectorStore,
    private readonly host: CollectionHost,
  ) {
    if (store.dimension !== config.dimension) throw errors.invalidConfig("store dimension does not match config");
    this.currentConfig = config;
    this.rows = new RowTable(store, config.metric);
    this.exact = new FlatIndex(this.rows);
    this.index = createIndex(config.index, this.rows, config.quantization);
  }

  get config(): CollectionConfig {
    return this.currentConfig;
  }

  /** Bumped by every change to what a snapshot holds (the database skips unchanged collections at checkpoint). */
  get version(): number {
    return this.changes;
  }

  get dimension(): number {
    return this.config.dimension;
  }

  get metric(): Metric {
    return this.config.metric;
  }

  /** The vector store (memory or mmap) behind the rows. */
  get store(): VectorStore {
    return this.rows.store;
  }

  payloadOf(row: number): Payload {
    return this.rows.payloadOf(row);
  }

  /** The sparse vector of a row (the stored one, not a copy), or null. */
  sparseOf(row: number): SparseVector | null {
    return this.rows.sparseOf(row);
  }

  /** The rows as the indexes read them (live bitmap, norms, vectors). */
  get rowSource(): RowSource {
    return this.rows;
  }

  /** Whether a row number holds a live item. */
  isLive(row: number): boolean {
    return this.rows.isLive(row);
  }

  rowOfId(id: string): number | undefined {
    return this.rows.rowOf(id);
  }

  // ---- reads -------------------------------------------------------------------------------

  count(): number {
    this.host.assertUsable(this);
    return this.rows.liveCount;
  }

  get size(): number {
    return this.count();
  }

  has(id: string): boolean {
    this.host.assertUsable(this);
    return this.rows.has(id);
  }

  get(id: string): StoredItem | null {
    this.host.assertUsable(this);
    const row = this.rows.rowOf(id);
    return row === undefined ? null : this.itemAt(row);
  }

  private itemAt(row: number): StoredItem {
    return {
      id: this.rows.idOf(row),
      vector: this.rows.store.get(row).slice(),
      payload: this.rows.payloadOf(row),
      sparse: this.rows.sparseOf(row),
    };
  }

  /** Live ids in row order (insertion order, updated vectors move to the end). */
  *keys(): Generator<string> {
    this.host.assertUsable(this);
    for (const row of this.rows.liveRowNumbers()) yield this.rows.idOf(row);
  }

  *[Symbol.iterator](): Generator<StoredItem> {
    this.host.assertUsable(this);
    for (const row of this.rows.liveRowNumbers()) yield this.itemAt(row);
  }

  // ---- writes ------------------------------------------------------------------------------

  insert(item: Item): void;
  insert(id: string, vector: VectorInput, payload?: Payload): void;
  insert(a: Item | string, vector?: VectorInput, payload?: Payload): void {
    this.write([this.planPut("insert", typeof a === "string" ? { id: a, vector: vector!, payload } : a, new Set())]);
  }

  upsert(item: Item): void;
  upsert(id: string, vector: VectorInput, payload?: Payload): void;
  upsert(a: Item | string, vector?: VectorInput, payload?: Payload): void {
    this.write([this.planPut("upsert", typeof a === "string" ? { id: a, vector: vector!, payload } : a, new Set())]);
  }

  /** Insert a batch as one atomic, durable group: all or nothing. */
  insertMany(items: Iterable<Item>): number {
    const seen = new Set<string>();
    const muts: Mutation[] = [];
    let i = 0;
    for (const item of items) {
      muts.push(atItem(i++, () => this.planPut("insert", item, seen)));
    }
    this.write(muts);
    return muts.length;
  }

  upsertMany(items: Iterable<Item>): number {
    const muts: Mutation[] = [];
    let i = 0;
    for (const item of items) muts.push(atItem(i++, () => this.planPut("upsert", item, null)));
    this.write(muts);
    return muts.length;
  }

  /**
   * Insert items from an iterable or an async iterable (a generator, a stream
   * of parsed records, …) as one atomic group in bounded memory: the items are
   * staged in chunks outside the log and committed by one checkpoint
   * (bulk_load.ts). All or nothing, also across a crash. Until the promise
   * settles, other calls on this collection fail with BUSY. Resolves to the
   * number of items inserted.
   */
  insertManyAsync(items: Iterable<Item> | AsyncIterable<Item>, options: LoadManyOptions = {}): Promise<number> {
    return this.loadMany(items, "insert", options);
  }

  /** upsertMany for iterables and async iterables, staged like insertManyAsync; a repeated id: the last wins. */
  upsertManyAsync(items: Iterable<Item> | AsyncIterable<Item>, options: LoadManyOptions = {}): Promise<number> {
    return this.loadMany(items, "upsert", options);
  }

  private async loadMany(items: Iterable<Item> | AsyncIterable<Item>, mode: "insert" | "upsert", options: LoadManyOptions): Promise<number> {
    const chunkRows = options.chunkRows ?? DEFAULT_CHUNK_ROWS;
    if (!Number.isSafeInteger(chunkRows) || chunkRows < 1) throw errors.invalidArgument("chunkRows must be a positive integer");
    if (items === null || typeof items !== "object" || !(Symbol.asyncIterator in items || Symbol.iterator in items)) {
      throw errors.invalidArgument("items must be an iterable or an async iterable of { id, vector, payload?, sparse? }");
    }
    const load = this.beginLoad({ mode, input: "the input" });
    try {
      let chunk: Item[] = [];
      let first = 0;
      const flush = () => {
        load.add(chunk, first);
        first += chunk.length;
        chunk = [];
        options.onProgress?.(first);
      };
      if (Symbol.asyncIterator in items) {
        for await (const item of items) {
          chunk.push(item);
          if (chunk.length >= chunkRows) flush();
        }
      } else {
        for (const item of items) {
          chunk.push(item);
          if (chunk.length >= chunkRows) {
            flush();
            await Promise.resolve(); // let other work run between chunks, as with an async source
          }
        }
      }
      if (chunk.length > 0) flush();
      return load.commit();
    } catch (e) {
      load.abort();
      throw e;
    }
  }

  /**
   * Start a bulk load into this collection (COPY FROM, insertManyAsync):
   * stage chunks with `add`, then `commit` or `abort`. See bulk_load.ts.
   */
  beginLoad(options: LoadOptions): BulkLoad {
    this.host.assertUsable(this);
    return new BulkLoad(this, this.host.beginLoad(this), options);
  }

  /**
   * A validated put for a bulk load (duplicate ids are the load's to check);
   * the vector is written into `into` when given (a view of the chunk's buffer).
   */
  planItem(mode: "insert" | "upsert", item: Item, into: Float32Array | null = null): Mutation {
    if (item === null || typeof item !== "object") throw errors.invalidArgument("item must be { id, vector, payload?, sparse? }");
    const id = validateId(item.id);
    const vector = validateVectorInto(item.vector, this.dimension, this.config.normalize, into);
    const payload = validatePayload(item.payload);
    const sparse = validateSparse(item.sparse);
    return { kind: "put", mode, id, vector, payload, sparse };
  }

  /**
   * A bulk load's chunk of validated puts, applied without the log (the load
   * commits with a checkpoint). `vectors` holds the puts' vectors in order
   * (their views): an mmap collection writes them to the file in one write,
   * past its committed end.
   */
  stage(muts: readonly Mutation[], vectors: Float32Array): void {
    if (muts.length === 0) return;
    const store = this.rows.store;
    store.reserve(muts.length);
    this.rows.ensureRows(this.rows.rowCount + muts.length);
    if (store instanceof MmapVectorStore) store.writeAheadRows(vectors.subarray(0, muts.length * this.dimension));
    for (const m of muts) this.apply(m);
  }

  update(id: string, changes: ItemUpdate): void {
    this.updateMany([id], changes);
  }

  /** Apply the same changes to several items as one atomic group; every id must exist. */
  updateMany(ids: Iterable<string>, changes: ItemUpdate): number {
    this.host.assertUsable(this);
    if (changes === null || typeof changes !== "object") throw errors.invalidArgument("update needs { vector?, payload?, sparse? }");
    const vector = changes.vector === undefined ? null : validateVector(changes.vector, this.dimension, this.config.normalize);
    const payload = "payload" in changes ? validatePayload(changes.payload) : undefined;
    const sparse = "sparse" in changes ? validateSparse(changes.sparse) : undefined;
    if (vector === null && payload === undefined && sparse === undefined) {
      throw errors.invalidArgument("update needs at least one of vector, payload, sparse");
    }
    const muts: Mutation[] = [];
    const seen = new Set<string>();
    for (const id of ids) {
      validateId(id);
      if (!this.rows.has(id)) throw errors.unknownId(id);
      if (seen.has(id)) continue;
      seen.add(id);
      muts.push({ kind: "update", id, vector, payload, sparse });
    }
    this.write(muts);
    return muts.length;
  }

  /**
   * Import a file (.jsonl, .csv, .fvecs[.gz], .npy, .parquet, .arrow/.feather, or a
   * LanceDB table with `format: "lancedb"`) as one atomic group, read and staged
   * chunk by chunk in bounded memory (a bulk load: bulk_load.ts); returns the items written.
   */
  importFrom(file: string, options: ImportOptions = {}): number {
    return importInto(this, file, options);
  }

  /** Export every live item to a file (or a LanceDB table) in the format its name or `options` say; returns the items written. */
  exportTo(file: string, options: ExportOptions = {}): number {
    return exportFrom(this, file, options);
  }

  /** Delete one item; returns whether it existed. */
  delete(id: string): boolean {
    return this.deleteMany([id]) === 1;
  }

  /** Delete several items as one group; returns how many existed. */
  deleteMany(ids: Iterable<string>): number {
    this.host.assertUsable(this);
    this.host.assertWritable?.(this);
    const muts: Mutation[] = [];
    const seen = new Set<string>();
    for (const id of ids) {
      validateId(id);
      if (this.rows.has(id) && !seen.has(id)) {
        seen.add(id);
        muts.push({ kind: "delete", id });
      }
    }
    if (muts.length > 0) this.write(muts);
    return muts.length;
  }

  /** Compact the vector file and id map, dropping deleted rows. */
  vacuum(onProgress?: Progress): VacuumResult {
    this.host.assertUsable(this);
    return this.host.vacuum(this, undefined, onProgress);
  }

  /** Move the vectors to RAM or to an mmap file (compacting them on the way). */
  setStorage(storage: StorageKind, onProgress?: Progress): VacuumResult {
    this.host.assertUsable(this);
    if (storage !== "memory" && storage !== "mmap") throw errors.invalidConfig(`storage must be memory or mmap, got ${JSON.stringify(storage)}`);
    return this.host.vacuum(this, storage, onProgress);
  }

  private planPut(mode: "insert" | "upsert", item: Item, seen: Set<string> | null): Mutation {
    this.host.assertUsable(this);
    if (item === null || typeof item !== "object") throw errors.invalidArgument("item must be { id, vector, payload?, sparse? }");
    const id = validateId(item.id);
    if (mode === "insert" && (this.rows.has(id) || seen?.has(id))) throw errors.duplicateId(id);
    seen?.add(id);
    return this.planItem(mode, item);
  }

  private write(muts: Mutation[]): void {
    if (muts.length === 0) return;
    this.host.assertUsable(this);
    let newRows = 0;
    for (const m of muts) if (m.kind === "put" || (m.kind === "update" && m.vector)) newRows++;
    // Growth can fail (disk full); do it before anything is logged or applied.
    this.rows.store.reserve(newRows);
    this.rows.ensureRows(this.rows.rowCount + newRows);
    this.host.journal(this, muts);
    for (const m of muts) this.apply(m);
    this.host.committed(this);
  }

  /** Apply a validated (or replayed) mutation. Never fails on well-formed input. */
  apply(m: Mutation): void {
    this.changes++;
    switch (m.kind) {
      case "put": {
        const old = this.rows.rowOf(m.id);
        if (old !== undefined) this.kill(old);
        this.addRow(m.id, m.vector, m.payload, m.sparse);
        break;
      }
      case "update": {
        const row = this.rows.rowOf(m.id);
        if (row === undefined) return; // replay of an update whose item is gone: nothing to do
        const payload = m.payload === undefined ? this.rows.payloadText(row) : m.payload;
        const sparse = m.sparse === undefined ? this.rows.sparseOf(row) : m.sparse;
        if (m.vector) {
          this.kill(row);
          this.addRow(m.id, m.vector, payload, sparse);
        } else {
          this.rows.setMeta(row, payload, sparse);
        }
        break;
      }
      case "delete": {
        const row = this.rows.rowOf(m.id);
        if (row !== undefined) this.kill(row);
        break;
      }
      default:
        assertNever(m);
    }
  }

  private addRow(id: string, vector: Float32Array, payload: string | null, sparse: SparseVector | null): void {
    this.index.add(this.rows.append(id, vector, payload, sparse));
  }

  private kill(row: number): void {
    if (this.rows.kill(row)) this.index.remove(row);
  }

  // ---- search ------------------------------------------------------------------------------

  /** Nearest neighbours of `query`, ascending by distance. */
  search(query: VectorInput, options: SearchOptions = {}): SearchHit[] {
    return this.searchWithReport(query, options).hits;
  }

  /** Nearest neighbours of a stored item's vector (the item itself included). */
  searchById(id: string, options: SearchOptions = {}): SearchHit[] {
    this.host.assertUsable(this);
    const row = this.rows.rowOf(validateId(id));
    if (row === undefined) throw errors.unknownId(id);
    return this.searchWithReport(this.rows.store.get(row).slice(), options).hits;
  }

  searchWithReport(query: VectorInput, options: SearchOptions = {}): SearchReport {
    this.host.assertUsable(this);
    if (options === null || typeof options !== "object") throw errors.invalidArgument("search options must be an object");
    const k = options.k ?? 10;
    validateSearchNumbers(k, options);
    const q = validateVector(query, this.dimension, this.config.normalize);
    const userFilter = options.filter;
    if (userFilter !== undefined && typeof userFilter !== "function") throw errors.invalidArgument("filter must be a function (payload, id) => boolean");
    const filter: RowFilter | undefined = userFilter
      ? (row) => userFilter(this.rows.payloadOf(row), this.rows.idOf(row)) === true
      : undefined;
    const index = options.exact ? this.exact : this.index;
    const live = this.rows.liveCount;
    const res: IndexSearchResult = index.searchRows(q, Math.min(k, Math.max(1, live)), {
      filter,
      probes: options.probes,
      rerankFactor: options.rerankFactor,
      ef: options.ef,
    });
    const hits: SearchHit[] = new Array(res.rows.length);
    for (let i = 0; i < res.rows.length; i++) {
      const row = res.rows[i]!;
      hits[i] = { id: this.rows.idOf(row), distance: res.distances[i]!, payload: this.rows.payloadOf(row) };
    }
    return { hits: live === 0 ? [] : hits, route: res.route, stats: res.stats };
  }

  // ---- memory ------------------------------------------------------------------------------

  memoryUsage(): MemoryUsage {
    this.host.assertUsable(this);
    const metadataBytes = this.rows.metadataBytes();
    const indexBytes = this.index.heapBytes();
    const vectorHeapBytes = this.rows.store.heapBytes();
    return {
      metadataBytes,
      indexBytes,
      vectorHeapBytes,
      vectorMappedBytes: this.rows.store.mappedBytes(),
      heapBytes: metadataBytes + indexBytes + vectorHeapBytes,
    };
  }

  /** Estimated heap bytes of ids, payloads, sparse vectors, bitmaps and norms (no checks: bulk loads read it per chunk). */
  metadataBytes(): number {
    return this.rows.metadataBytes();
  }

  /** Bytes this collection keeps on the heap (ids, payloads, index, in-RAM vectors); mapped vectors excluded. */
  memoryUsageBytes(): number {
    return this.memoryUsage().heapBytes;
  }

  // ---- persistence (used by the database) --------------------------------------------------

  /** Rows in the store, live or dead. */
  get rowCount(): number {
    return this.rows.rowCount;
  }

  /**
   * Checkpoint, before writeSnapshot: an mmap collection writes the rows
   * changed since the last checkpoint to its row files in `dir` (synced, not
   * yet committed: the snapshot and the manifest switch commit them). New
   * files are named NAME.TAG.*. Memory collections have nothing to do.
   */
  flushRows(dir: string, tag: string, spill = false): void {
    const meta = this.rows.meta;
    if (meta instanceof DiskMeta) meta.flush(dir, this.name, tag, spill);
  }

  /** A bulk load's id lookups: keep the row files' id hashes in RAM while `on` (see RowFiles.cacheHashes). */
  cacheIdHashes(on: boolean): void {
    const meta = this.rows.meta;
    if (meta instanceof DiskMeta) meta.cacheHashes(on);
  }

  /** Close the row files' descriptors (the database closes or drops the collection). */
  closeFiles(): void {
    const meta = this.rows.meta;
    if (meta instanceof DiskMeta) meta.close();
  }

  /** The row files this collection reads (mmap storage, after its first checkpoint). */
  rowFiles(): string[] {
    const meta = this.rows.meta;
    return meta instanceof DiskMeta ? meta.fileNames() : [];
  }

  /**
   * Snapshot body: the row table, then the index section. `selfContained`
   * writes the rows inline even when they live in row files (for a backup,
   * which carries no row files).
   */
  writeSnapshot(w: ByteWriter, selfContained = false): void {
    if (selfContained) this.rows.writeInline(w);
    else this.rows.write(w);
    writeIndexSection(w, this.index);
  }

  /** Restore metadata for rows already present in the store, and the index. `dir`: where row files are (mmap storage). */
  readSnapshot(r: ByteReader, dir: string | null = null): void {
    this.rows.read(r, dir);
    // converted from an in-RAM snapshot: the next checkpoint writes row files
    if (this.rows.meta instanceof DiskMeta && this.rows.meta.dirty) this.staleOnDisk = true;
    const { index, rebuilt } = readIndexSection(r, this.config.index, this.rows, this.config.quantization);
    this.index = index;
    if (rebuilt) this.staleOnDisk = true; // the saved section was not this index: the next checkpoint must write it
    if (this.staleOnDisk) this.changes++;
  }

  /** Read from a snapshot that the next checkpoint must rewrite (an index rebuilt on open, rows converted to row files). */
  staleOnDisk = false;

  /**
   * Replace the whole state with a snapshot's (a read-only database moving to
   * a newer checkpoint); handles to this collection stay valid.
   */
  reload(config: CollectionConfig, store: VectorStore, r: ByteReader, dir: string | null = null): void {
    if (store.dimension !== config.dimension) throw errors.invalidConfig("store dimension does not match config");
    this.currentConfig = config;
    this.rows = new RowTable(store, config.metric);
    this.exact = new FlatIndex(this.rows);
    this.index = createIndex(config.index, this.rows, config.quantization);
    this.readSnapshot(r, dir);
  }

  /** Rebuild the index from scratch over the live items (for when the data drifted). */
  rebuildIndex(onProgress?: Progress): void {
    this.host.assertUsable(this);
    this.index.rebuild(onProgress);
    this.changes++;
  }

  /**
   * Rebuild the index in a worker thread while searches and writes go on
   * against the current one. Writes made during the build are applied to the
   * new index, then the two are swapped at once; the next checkpoint saves
   * it (a crash before that reopens with the old index, which is complete).
   * A vacuum or storage change during the build restarts it. Cancelling
   * (options.signal) leaves the current index in place.
   */
  async rebuildIndexAsync(options: BuildOptions = {}): Promise<void> {
    this.host.assertUsable(this);
    if (this.building) throw errors.invalidArgument(`an index build is already running on ${this.name}`);
    this.building = true;
    try {
      for (;;) {
        const rows = this.rows;
        const renumberings = rows.renumberings;
        const n = rows.rowCount, d = this.dimension;
        const saved = rows.savedArrays();
        const live = saved.live.slice();
        const store = rows.store;
        const section = await buildIndexInWorker(
          {
            index: this.config.index,
            quantization: this.config.quantization,
            metric: this.metric,
            dimension: d,
            rows: n,
            live: live.slice(),
            norms: saved.norms.slice(),
            vectors: store instanceof MmapVectorStore ? { kind: "file", path: store.path } : { kind: "buffer", data: store.data().slice(0, n * d) },
          },
          options,
        );
        this.host.assertUsable(this);
        // vacuumed meanwhile, or the rows were reloaded (a failed bulk load): the build's row numbers are stale
        if (rows.renumberings !== renumberings || this.rows !== rows) continue;
        const { index } = readIndexSection(new ByteReader(section, "index build"), this.config.index, rows, this.config.quantization);
        // catch up with the writes made during the build
        for (let row = 0; row < n; row++) if (live[row] === 1 && !rows.isLive(row)) index.remove(row);
        for (let row = n; row < rows.rowCount; row++) if (rows.isLive(row)) index.add(row);
        this.index = index;
        this.changes++;
        return;
      }
    } finally {
      this.building = false;
    }
  }

  /**
   * Copy the live rows, in order, into `target` (an empty store) and renumber.
   * Only live rows survive; row numbers change. A failure while copying
   * changes nothing: the row table switches over only once every row is copied.
   */
  compactInto(target: VectorStore, onProgress?: Progress): VacuumResult {
    const before = this.rows.rowCount;
    const oldToNew = this.rows.compactInto(target, onProgress);
    this.index.remap(oldToNew);
    if (target.kind !== this.config.storage) this.currentConfig = { ...this.currentConfig, storage: target.kind };
    this.changes++;
    const removedRows = before - this.rows.liveCount;
    return { removedRows, reclaimedBytes: removedRows * this.dimension * 4 };
  }
}
