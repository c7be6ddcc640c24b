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
import { validateCompression, type CollectionConfig, type CompressionKind, type StorageKind } from "./config";
import { buildIndexInWorker, type BuildOptions } from "./index_build";
import { atItem, BulkLoad, DEFAULT_CHUNK_ROWS, type LoadOptions, type LoadSession } from "./bulk_load";
import type { Mutation } from "./mutation";
import { DiskMeta } from "./disk_meta";
import { FieldIndex } from "./payload_index";
import { planSide, type Candidates } from "./payload_plan";
import { compileCond, fieldName, fieldPath, toCond, type Cond, type FieldPath, type Predicate } from "./predicate";
import { RowTable } from "./row_table";
import { exportFrom, importInto, type ExportOptions, type ImportOptions } from "./transfer";
import { buildThreads } from "./index_build";
import {
  validateId,
  validatePayload,
  validateSearchNumbers,
  validateSparse,
  validateVector,
  VectorSlab,
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
  /** An opaque filter function (never planned with payload indexes). */
  readonly filter?: PayloadFilter;
  /** A structured filter (predicate.ts), planned with payload indexes; with `filter`, both must hold. */
  readonly where?: Predicate;
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
  /** Payload indexes that listed the candidate rows (field names), empty when none was used. */
  readonly payloadIndexes: string[];
  /** Rows the payload indexes listed (exactly the matches when `candidatesExact`), or null without an index. */
  readonly candidates: number | null;
  readonly candidatesExact: boolean;
}

/** A payload index as DESCRIBE lists it. */
export interface PayloadIndexInfo {
  readonly field: string;
  /** Rows whose field holds a value (string, number, boolean, object or array). */
  readonly rows: number;
  readonly heapBytes: number;
}

/**
 * A payload-index candidate list at most this share of the live items (or at
 * most EXACT_CANDIDATES rows) is searched exactly; a larger one filters the
 * vector index's search by a row bitmap.
 */
const EXACT_CANDIDATE_SHARE = 0.05;
const EXACT_CANDIDATES = 4096;

export interface MemoryUsage {
  /** ids, payloads, sparse vectors, bitmaps and norms: JS heap. */
  readonly metadataBytes: number;
  /** Index structure and codes in RAM. */
  readonly indexBytes: number;
  /** Vectors held in RAM (memory storage). */
  readonly vectorHeapBytes: number;
  /** Vectors mapped from a file (mmap storage): file-backed, not heap. */
  readonly vectorMappedBytes: number;
  /** Payload indexes (per-row arrays, dictionaries, row lists). */
  readonly payloadIndexBytes: number;
  /** metadata + index + payload indexes + in-RAM vectors. */
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
  vacuum(c: Collection, storage?: StorageKind, onProgress?: Progress, compression?: CompressionKind): VacuumResult;
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

/** Marks the payload-index section of a snapshot ("PIDX"). */
const PAYLOAD_INDEX_SECTION = 0x58444950;

export class Collection {
  /** Every row's vector, id, payload, sparse vector and liveness; what the indexes read. */
  private rows: RowTable;
  private exact: FlatIndex;
  index: VectorIndex;
  /** Payload indexes by field key (FieldPath.key). */
  private fieldIndexes = new Map<string, FieldIndex>();

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
    const slab = new VectorSlab(this.dimension);
    let i = 0;
    for (const item of items) {
      muts.push(atItem(i++, () => this.planPut("insert", item, seen, slab)));
    }
    this.write(muts);
    return muts.length;
  }

  upsertMany(items: Iterable<Item>): number {
    const muts: Mutation[] = [];
    const slab = new VectorSlab(this.dimension);
    let i = 0;
    for (const item of items) muts.push(atItem(i++, () => this.planPut("upsert", item, null, slab)));
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
  planItem(mode: "insert" | "upsert", item: Item, into: Float32Array | null = null): Extract<Mutation, { kind: "put" }> {
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

  /**
   * Compress payloads in the row files with zstd, or stop: rewrites the
   * collection like VACUUM (compacting it), then checkpoints. On memory
   * storage only the setting changes (config.ts CompressionKind).
   */
  setCompression(compression: CompressionKind, onProgress?: Progress): VacuumResult {
    this.host.assertUsable(this);
    validateCompression(compression);
    return this.host.vacuum(this, undefined, onProgress, compression);
  }

  /** The live items' payload bytes: UTF-8 JSON, and as stored (compressed in row files with zstd). */
  payloadBytes(): { raw: number; stored: number } {
    this.host.assertUsable(this);
    return this.rows.payloadBytes();
  }

  private planPut(mode: "insert" | "upsert", item: Item, seen: Set<string> | null, slab?: VectorSlab): Mutation {
    this.host.assertUsable(this);
    if (item === null || typeof item !== "object") throw errors.invalidArgument("item must be { id, vector, payload?, sparse? }");
    const id = validateId(item.id);
    if (mode === "insert" && (this.rows.has(id) || seen?.has(id))) throw errors.duplicateId(id);
    seen?.add(id);
    return this.planItem(mode, item, slab?.take() ?? null);
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
          if (m.payload !== undefined) this.indexPayload(row, m.payload);
        }
        break;
      }
      case "delete": {
        const row = this.rows.rowOf(m.id);
        if (row !== undefined) this.kill(row);
        break;
      }
      case "payloadIndex": {
        const path = fieldPath(m.field);
        if (m.action === "drop") this.fieldIndexes.delete(path.key);
        else this.fieldIndexes.set(path.key, this.buildFieldIndex(path));
        break;
      }
      default:
        assertNever(m);
    }
  }

  private addRow(id: string, vector: Float32Array, payload: string | null, sparse: SparseVector | null): void {
    const row = this.rows.append(id, vector, payload, sparse);
    this.index.add(row);
    this.indexPayload(row, payload);
  }

  private kill(row: number): void {
    if (this.rows.kill(row)) {
      this.index.remove(row);
      for (const ix of this.fieldIndexes.values()) ix.clear(row);
    }
  }

  /** Keep the payload indexes in step with a row's (new) payload text. */
  private indexPayload(row: number, payload: string | null): void {
    if (this.fieldIndexes.size === 0) return;
    const parsed = payload === null ? null : (JSON.parse(payload) as Payload);
    for (const ix of this.fieldIndexes.values()) ix.set(row, parsed);
  }

  private buildFieldIndex(path: FieldPath): FieldIndex {
    const ix = new FieldIndex(path, this.rows.rowCount);
    const live = this.rows.liveMask();
    for (let row = 0; row < this.rows.rowCount; row++) ix.set(row, live[row] === 1 ? this.rows.payloadOf(row) : null);
    return ix;
  }

  // ---- payload indexes ---------------------------------------------------------------------

  /**
   * Index a payload field ("a.b" or ["a", "b"]) for filtered search: keyword
   * equality and IN on strings and booleans, ranges on numbers (and strings).
   * Durable like a write (a log record, then the snapshot); builds over every
   * item now and is kept in step with every write after.
   */
  createPayloadIndex(field: string | readonly string[], options: { ifNotExists?: boolean } = {}): boolean {
    this.host.assertUsable(this);
    const path = fieldPath(field);
    if (this.fieldIndexes.has(path.key)) {
      if (options.ifNotExists) return false;
      throw errors.indexExists(this.name, fieldName(path.segments));
    }
    this.host.assertWritable?.(this);
    this.write([{ kind: "payloadIndex", action: "create", field: path.segments }]);
    return true;
  }

  /** Drop the payload index on a field; false when there was none and `ifExists` was given. */
  dropPayloadIndex(field: string | readonly string[], options: { ifExists?: boolean } = {}): boolean {
    this.host.assertUsable(this);
    const path = fieldPath(field);
    if (!this.fieldIndexes.has(path.key)) {
      if (options.ifExists) return false;
      throw errors.unknownIndex(this.name, fieldName(path.segments));
    }
    this.host.assertWritable?.(this);
    this.write([{ kind: "payloadIndex", action: "drop", field: path.segments }]);
    return true;
  }

  /** The payload indexes, in field-name order. */
  payloadIndexes(): PayloadIndexInfo[] {
    this.host.assertUsable(this);
    return [...this.fieldIndexes.values()]
      .map((ix) => ({ field: fieldName(ix.path.segments), rows: ix.indexedCount, heapBytes: ix.heapBytes() }))
      .sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
  }

  /** Whether a field has a payload index. */
  hasPayloadIndex(field: string | readonly string[]): boolean {
    return this.fieldIndexes.has(fieldPath(field).key);
  }

  /** Consistency check (db.check()): every payload index holds what every row's payload holds. Problems found. */
  verifyPayloadIndexes(): string[] {
    const out: string[] = [];
    for (const ix of this.fieldIndexes.values()) {
      const name = fieldName(ix.path.segments);
      if (ix.rowCount > this.rows.rowCount) out.push(`the payload index on ${name} covers ${ix.rowCount} rows of ${this.rows.rowCount}`);
      let bad = 0;
      for (let row = 0; row < this.rows.rowCount; row++) {
        if (!ix.agrees(row, this.rows.isLive(row) ? this.rows.payloadOf(row) : undefined)) bad++;
      }
      if (bad > 0) out.push(`the payload index on ${name} disagrees with ${bad} rows`);
      if (!ix.postingsAgree()) out.push(`the payload index on ${name} has row lists that disagree with its rows`);
    }
    return out;
  }

  private payloadIndexBytes(): number {
    let b = 0;
    for (const ix of this.fieldIndexes.values()) b += ix.heapBytes();
    return b;
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
    const cond = this.searchCond(options);
    const keep = cond === null ? null : compileCond(cond);
    const filter: RowFilter | undefined = keep === null ? undefined : (row) => keep(this.rows.payloadOf(row), this.rows.idOf(row));
    const live = this.rows.liveCount;
    const kk = Math.min(k, Math.max(1, live));
    const annOptions = { filter, probes: options.probes, rerankFactor: options.rerankFactor, ef: options.ef };
    const used = new Set<string>();
    const plan = cond === null ? null : this.plan(cond, used);
    let res: IndexSearchResult;
    if (plan === null) {
      res = (options.exact ? this.exact : this.index).searchRows(q, kk, annOptions);
    } else {
      // the candidates hold every match; without `exact` some must still be checked on their payload
      const check = plan.exact ? undefined : filter;
      const m = plan.rows.length;
      if (options.exact || this.index.type === "flat" || m <= Math.max(EXACT_CANDIDATES, live * EXACT_CANDIDATE_SHARE)) {
        res = this.exact.searchCandidates(q, kk, plan.rows, check);
      } else {
        const bitmap = new Uint8Array(this.rows.rowCount);
        for (let i = 0; i < m; i++) bitmap[plan.rows[i]!] = 1;
        const rowFilter: RowFilter = check === undefined ? (row) => bitmap[row] === 1 : (row) => bitmap[row] === 1 && check(row);
        res = this.index.searchRows(q, kk, { ...annOptions, filter: rowFilter });
      }
    }
    const hits: SearchHit[] = new Array(res.rows.length);
    this.rows.meta.prefetch(res.rows);
    for (let i = 0; i < res.rows.length; i++) {
      const row = res.rows[i]!;
      hits[i] = { id: this.rows.idOf(row), distance: res.distances[i]!, payload: this.rows.payloadOf(row) };
    }
    return {
      hits: live === 0 ? [] : hits,
      route: res.route,
      stats: res.stats,
      payloadIndexes: plan === null ? [] : [...used].map((key) => fieldName(this.fieldIndexes.get(key)!.path.segments)).sort(),
      candidates: plan === null ? null : plan.rows.length,
      candidatesExact: plan !== null && plan.exact,
    };
  }

  /** The search options' filter and predicate as one condition, or null for none. */
  private searchCond(options: SearchOptions): Cond | null {
    const fn = options.filter;
    if (fn !== undefined && typeof fn !== "function") throw errors.invalidArgument("filter must be a function (payload, id) => boolean");
    const where = options.where === undefined ? null : toCond(options.where);
    const test: Cond | null = fn === undefined ? null : { kind: "test", fn };
    if (where !== null && test !== null) return { kind: "and", items: [where, test] };
    return where ?? test;
  }

  /** The rows a condition can keep, from the payload indexes (and `id =`), or null when they cannot tell. */
  private plan(cond: Cond, used: Set<string>): Candidates | null {
    if (cond.kind === "test") return null;
    return planSide(cond, true, {
      index: (key) => this.fieldIndexes.get(key),
      live: this.rows.liveMask(),
      rowOfId: (id) => this.rows.rowOf(id),
      used,
    });
  }

  /**
   * The live rows a predicate keeps, in row order: listed by the payload
   * indexes where they can, each other row's payload read otherwise.
   */
  matchingRows(where: Predicate, limit = Infinity): number[] {
    this.host.assertUsable(this);
    const cond = toCond(where);
    const keep = compileCond(cond);
    const plan = this.plan(cond, new Set());
    const out: number[] = [];
    for (const row of plan !== null ? plan.rows : this.rows.liveRowNumbers()) {
      if (out.length >= limit) break;
      if (!this.rows.isLive(row)) continue;
      if ((plan !== null && plan.exact) || keep(this.rows.payloadOf(row), this.rows.idOf(row))) out.push(row);
    }
    return out;
  }

  /** Live row numbers in row order. */
  liveRows(): Iterable<number> {
    this.host.assertUsable(this);
    return this.rows.liveRowNumbers();
  }

  /** The id of a row. */
  idOfRow(row: number): string {
    return this.rows.idOf(row);
  }

  /** The ids of the live items a predicate keeps, in row order (payload indexes used where they apply). */
  idsWhere(where: Predicate): string[] {
    return this.matchingRows(where).map((row) => this.rows.idOf(row));
  }

  // ---- memory ------------------------------------------------------------------------------

  memoryUsage(): MemoryUsage {
    this.host.assertUsable(this);
    const metadataBytes = this.rows.metadataBytes();
    const indexBytes = this.index.heapBytes();
    const vectorHeapBytes = this.rows.store.heapBytes();
    const payloadIndexBytes = this.payloadIndexBytes();
    return {
      metadataBytes,
      indexBytes,
      vectorHeapBytes,
      vectorMappedBytes: this.rows.store.mappedBytes(),
      payloadIndexBytes,
      heapBytes: metadataBytes + indexBytes + payloadIndexBytes + vectorHeapBytes,
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
    if (meta instanceof DiskMeta) meta.flush(dir, this.name, tag, this.config.compression, spill);
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
    // payload indexes: a section of its own (snapshots written before them end here)
    w.u32(PAYLOAD_INDEX_SECTION).u32(this.fieldIndexes.size);
    for (const ix of this.fieldIndexes.values()) {
      w.string(JSON.stringify(ix.path.segments));
      ix.write(w);
    }
  }

  /** Restore metadata for rows already present in the store, and the index. `dir`: where row files are (mmap storage). */
  readSnapshot(r: ByteReader, dir: string | null = null): void {
    this.rows.read(r, dir);
    // converted from an in-RAM snapshot: the next checkpoint writes row files
    if (this.rows.meta instanceof DiskMeta && this.rows.meta.dirty) this.staleOnDisk = true;
    const { index, rebuilt } = readIndexSection(r, this.config.index, this.rows, this.config.quantization);
    this.index = index;
    if (rebuilt) this.staleOnDisk = true; // the saved section was not this index: the next checkpoint must write it
    this.fieldIndexes = new Map();
    if (r.remaining > 0) {
      if (r.u32() !== PAYLOAD_INDEX_SECTION) throw new RangeError("unknown section after the index");
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const segments = JSON.parse(r.string()) as unknown;
        if (!Array.isArray(segments) || segments.length === 0 || !segments.every((s) => typeof s === "string" && s.length > 0)) {
          throw new RangeError("a payload index names no field");
        }
        const path = fieldPath(segments as string[]);
        this.fieldIndexes.set(path.key, FieldIndex.read(r, path, this.rows.rowCount));
      }
    }
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

  /**
   * Rebuild the index from scratch over the live items (for when the data
   * drifted). An HNSW index builds on `threads` threads (default: every core,
   * from PARALLEL_MIN_ROWS live items up).
   */
  rebuildIndex(onProgress?: Progress, options: { readonly threads?: number } = {}): void {
    this.host.assertUsable(this);
    const threads = buildThreads(options.threads, this.rows.liveCount);
    this.index.rebuild(onProgress, { threads });
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
            threads: buildThreads(options.threads, rows.liveCount),
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
  compactInto(target: VectorStore, onProgress?: Progress, compression: CompressionKind = this.config.compression): VacuumResult {
    const before = this.rows.rowCount;
    const oldToNew = this.rows.compactInto(target, onProgress);
    this.index.remap(oldToNew);
    for (const ix of this.fieldIndexes.values()) ix.remap(oldToNew, this.rows.rowCount);
    if (target.kind !== this.config.storage || compression !== this.config.compression) {
      this.currentConfig = { ...this.currentConfig, storage: target.kind, compression };
    }
    this.changes++;
    const removedRows = before - this.rows.liveCount;
    return { removedRows, reclaimedBytes: removedRows * this.dimension * 4 };
  }
}
