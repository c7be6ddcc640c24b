/**
 * A collection: string ids mapped to rows of a vector store, with JSON
 * payloads, optional sparse vectors, tombstones and search.
 *
 * Every write is validated completely, then journaled through the host
 * (the database's WAL), then applied; a write that fails validation or
 * journaling changes nothing.
 */
import { errors, VqliteError } from "../errors";
import { normAt, type Metric } from "../ann/distance";
import { createIndex, readIndexSection, writeIndexSection } from "../ann/factory";
import { FlatIndex } from "../ann/flat";
import type { IndexSearchResult, Progress, RowFilter, RowSource, SearchRoute, VectorIndex } from "../ann/types";
import { ByteReader, ByteWriter } from "../storage/binary";
import type { VectorStore } from "../storage/vector_store";
import type { CollectionConfig, StorageKind } from "./config";
import type { Mutation } from "./mutation";
import {
  validateId,
  validatePayload,
  validateSparse,
  validateVector,
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
  journal(c: Collection, mutations: readonly Mutation[]): void;
  /** Called after a journaled write was applied (auto-checkpoint hook). */
  committed(c: Collection): void;
  vacuum(c: Collection, storage?: StorageKind, onProgress?: Progress): VacuumResult;
}

const ID_OVERHEAD = 56; // JS string header + map entry, roughly
const PAYLOAD_OVERHEAD = 64;

function deepFreeze<T>(v: T): T {
  if (v && typeof v === "object") {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

export class Collection implements RowSource {
  private ids: (string | null)[] = [];
  private rowOf = new Map<string, number>();
  /** Parsed payloads; a string is a payload's JSON text not parsed yet (loaded from a snapshot, parsed on first use). */
  private payloads: (Payload | string)[] = [];
  private payloadSizes: number[] = [];
  private sparse: (SparseVector | null)[] = [];
  private live: Uint8Array = new Uint8Array(16);
  private norms: Float32Array = new Float32Array(16);
  private liveRows = 0;
  private metaBytes = 0;
  private exact: FlatIndex;
  index: VectorIndex;

  private currentConfig: CollectionConfig;
  private changes = 0;

  constructor(
    readonly name: string,
    config: CollectionConfig,
    public store: VectorStore,
    private readonly host: CollectionHost,
  ) {
    if (store.dimension !== config.dimension) throw errors.invalidConfig("store dimension does not match config");
    this.currentConfig = config;
    this.exact = new FlatIndex(this);
    this.index = createIndex(config.index, this, config.quantization);
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

  // ---- RowSource -------------------------------------------------------------------------

  norm(row: number): number {
    return this.norms[row]!;
  }

  isLive(row: number): boolean {
    return this.live[row] === 1;
  }

  liveMask(): Uint8Array {
    return this.live;
  }

  payloadOf(row: number): Payload {
    const p = this.payloads[row];
    if (typeof p === "string") {
      let parsed: Payload;
      try {
        parsed = deepFreeze(JSON.parse(p) as Payload);
      } catch {
        throw errors.corrupt(`the snapshot of ${this.name}`, `the payload of ${JSON.stringify(this.ids[row])} is not valid JSON`);
      }
      this.payloads[row] = parsed;
      return parsed;
    }
    return p ?? null;
  }

  /** A payload's JSON text (null for none), without parsing it if it was never parsed. */
  private payloadText(row: number): string | null {
    const p = this.payloads[row];
    return p === null || p === undefined ? null : typeof p === "string" ? p : JSON.stringify(p);
  }

  rowOfId(id: string): number | undefined {
    return this.rowOf.get(id);
  }

  // ---- reads -------------------------------------------------------------------------------

  count(): number {
    this.host.assertUsable(this);
    return this.liveRows;
  }

  get size(): number {
    return this.count();
  }

  has(id: string): boolean {
    this.host.assertUsable(this);
    return this.rowOf.has(id);
  }

  get(id: string): StoredItem | null {
    this.host.assertUsable(this);
    const row = this.rowOf.get(id);
    return row === undefined ? null : this.itemAt(row);
  }

  private itemAt(row: number): StoredItem {
    return {
      id: this.ids[row]!,
      vector: this.store.get(row).slice(),
      payload: this.payloadOf(row),
      sparse: this.sparse[row] ?? null,
    };
  }

  /** Live ids in row order (insertion order, updated vectors move to the end). */
  *keys(): Generator<string> {
    this.host.assertUsable(this);
    const n = this.store.length;
    for (let row = 0; row < n; row++) if (this.live[row] === 1) yield this.ids[row]!;
  }

  *[Symbol.iterator](): Generator<StoredItem> {
    this.host.assertUsable(this);
    const n = this.store.length;
    for (let row = 0; row < n; row++) if (this.live[row] === 1) yield this.itemAt(row);
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
      muts.push(this.atIndex(i++, () => this.planPut("insert", item, seen)));
    }
    this.write(muts);
    return muts.length;
  }

  upsertMany(items: Iterable<Item>): number {
    const muts: Mutation[] = [];
    let i = 0;
    for (const item of items) muts.push(this.atIndex(i++, () => this.planPut("upsert", item, null)));
    this.write(muts);
    return muts.length;
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
      if (!this.rowOf.has(id)) throw errors.unknownId(id);
      if (seen.has(id)) continue;
      seen.add(id);
      muts.push({ kind: "update", id, vector, payload, sparse });
    }
    this.write(muts);
    return muts.length;
  }

  /** Delete one item; returns whether it existed. */
  delete(id: string): boolean {
    return this.deleteMany([id]) === 1;
  }

  /** Delete several items as one group; returns how many existed. */
  deleteMany(ids: Iterable<string>): number {
    this.host.assertUsable(this);
    const muts: Mutation[] = [];
    const seen = new Set<string>();
    for (const id of ids) {
      validateId(id);
      if (this.rowOf.has(id) && !seen.has(id)) {
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

  private atIndex<T>(i: number, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof VqliteError) {
        const wrapped = new VqliteError(e.code, `item ${i}: ${e.message}`, undefined, { cause: e });
        wrapped.item = i;
        throw wrapped;
      }
      throw e;
    }
  }

  private planPut(mode: "insert" | "upsert", item: Item, seen: Set<string> | null): Mutation {
    this.host.assertUsable(this);
    if (item === null || typeof item !== "object") throw errors.invalidArgument("item must be { id, vector, payload?, sparse? }");
    const id = validateId(item.id);
    if (mode === "insert" && (this.rowOf.has(id) || seen?.has(id))) throw errors.duplicateId(id);
    seen?.add(id);
    const vector = validateVector(item.vector, this.dimension, this.config.normalize);
    const payload = validatePayload(item.payload);
    const sparse = validateSparse(item.sparse);
    return { kind: "put", mode, id, vector, payload, sparse };
  }

  private write(muts: Mutation[]): void {
    if (muts.length === 0) return;
    this.host.assertUsable(this);
    let newRows = 0;
    for (const m of muts) if (m.kind === "put" || (m.kind === "update" && m.vector)) newRows++;
    // Growth can fail (disk full); do it before anything is logged or applied.
    this.store.reserve(newRows);
    this.ensureRows(this.store.length + newRows);
    this.host.journal(this, muts);
    for (const m of muts) this.apply(m);
    this.host.committed(this);
  }

  /** Apply a validated (or replayed) mutation. Never fails on well-formed input. */
  apply(m: Mutation): void {
    this.changes++;
    switch (m.kind) {
      case "put": {
        const old = this.rowOf.get(m.id);
        if (old !== undefined) this.kill(old);
        this.addRow(m.id, m.vector, m.payload, m.sparse);
        break;
      }
      case "update": {
        const row = this.rowOf.get(m.id);
        if (row === undefined) return; // replay of an update whose item is gone: nothing to do
        const payload = m.payload === undefined ? this.payloadText(row) : m.payload;
        const sparse = m.sparse === undefined ? (this.sparse[row] ?? null) : m.sparse;
        if (m.vector) {
          this.kill(row);
          this.addRow(m.id, m.vector, payload, sparse);
        } else {
          this.setMeta(row, payload, sparse);
        }
        break;
      }
      case "delete": {
        const row = this.rowOf.get(m.id);
        if (row !== undefined) this.kill(row);
        break;
      }
      default: {
        const never: never = m;
        throw new Error(`unhandled mutation ${JSON.stringify(never)}`);
      }
    }
  }

  private ensureRows(n: number): void {
    if (n <= this.live.length) return;
    let cap = this.live.length;
    while (cap < n) cap *= 2;
    const live = new Uint8Array(cap);
    live.set(this.live);
    this.live = live;
    const norms = new Float32Array(cap);
    norms.set(this.norms);
    this.norms = norms;
  }

  private addRow(id: string, vector: Float32Array, payload: string | null, sparse: SparseVector | null): void {
    this.store.reserve(1);
    const row = this.store.append(vector);
    this.ensureRows(row + 1);
    this.ids[row] = id;
    this.payloads[row] = null;
    this.payloadSizes[row] = 0;
    this.sparse[row] = null;
    this.setMeta(row, payload, sparse);
    this.norms[row] = normAt(vector, 0, vector.length);
    this.live[row] = 1;
    this.rowOf.set(id, row);
    this.liveRows++;
    this.metaBytes += ID_OVERHEAD + id.length * 2;
    this.index.add(row);
  }

  private setMeta(row: number, payload: string | null, sparse: SparseVector | null): void {
    this.metaBytes -= this.payloadSizes[row] ?? 0;
    const old = this.sparse[row];
    if (old) this.metaBytes -= old.indices.byteLength + old.values.byteLength;
    this.payloads[row] = payload === null ? null : deepFreeze(JSON.parse(payload) as Payload);
    const size = payload === null ? 0 : PAYLOAD_OVERHEAD + payload.length * 2;
    this.payloadSizes[row] = size;
    this.metaBytes += size;
    this.sparse[row] = sparse;
    if (sparse) this.metaBytes += sparse.indices.byteLength + sparse.values.byteLength;
  }

  private kill(row: number): void {
    if (this.live[row] !== 1) return;
    const id = this.ids[row]!;
    this.live[row] = 0;
    this.rowOf.delete(id);
    this.metaBytes -= (this.payloadSizes[row] ?? 0) + ID_OVERHEAD + id.length * 2;
    const sp = this.sparse[row];
    if (sp) this.metaBytes -= sp.indices.byteLength + sp.values.byteLength;
    this.ids[row] = null;
    this.payloads[row] = null;
    this.payloadSizes[row] = 0;
    this.sparse[row] = null;
    this.liveRows--;
    this.index.remove(row);
  }

  // ---- search ------------------------------------------------------------------------------

  /** Nearest neighbours of `query`, ascending by distance. */
  search(query: VectorInput, options: SearchOptions = {}): SearchHit[] {
    return this.searchWithReport(query, options).hits;
  }

  /** Nearest neighbours of a stored item's vector (the item itself included). */
  searchById(id: string, options: SearchOptions = {}): SearchHit[] {
    this.host.assertUsable(this);
    const row = this.rowOf.get(validateId(id));
    if (row === undefined) throw errors.unknownId(id);
    return this.searchWithReport(this.store.get(row).slice(), options).hits;
  }

  searchWithReport(query: VectorInput, options: SearchOptions = {}): SearchReport {
    this.host.assertUsable(this);
    if (options === null || typeof options !== "object") throw errors.invalidArgument("search options must be an object");
    const k = options.k ?? 10;
    if (!Number.isInteger(k) || k < 1 || k > 1_000_000) throw errors.invalidArgument(`k must be an integer from 1 to 1000000, got ${k}`);
    for (const [name, v] of [["probes", options.probes], ["rerankFactor", options.rerankFactor], ["ef", options.ef]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw errors.invalidArgument(`${name} must be a positive integer, got ${v}`);
    }
    const q = validateVector(query, this.dimension, this.config.normalize);
    const userFilter = options.filter;
    if (userFilter !== undefined && typeof userFilter !== "function") throw errors.invalidArgument("filter must be a function (payload, id) => boolean");
    const filter: RowFilter | undefined = userFilter
      ? (row) => userFilter(this.payloadOf(row), this.ids[row]!) === true
      : undefined;
    const index = options.exact ? this.exact : this.index;
    const res: IndexSearchResult = index.searchRows(q, Math.min(k, Math.max(1, this.liveRows)), {
      filter,
      probes: options.probes,
      rerankFactor: options.rerankFactor,
      ef: options.ef,
    });
    const hits: SearchHit[] = new Array(res.rows.length);
    for (let i = 0; i < res.rows.length; i++) {
      const row = res.rows[i]!;
      hits[i] = { id: this.ids[row]!, distance: res.distances[i]!, payload: this.payloadOf(row) };
    }
    return { hits: this.liveRows === 0 ? [] : hits, route: res.route, stats: res.stats };
  }

  // ---- memory ------------------------------------------------------------------------------

  memoryUsage(): MemoryUsage {
    this.host.assertUsable(this);
    const rowsBytes = this.ids.length * 8 * 4 + this.live.byteLength + this.norms.byteLength;
    const metadataBytes = this.metaBytes + rowsBytes + this.rowOf.size * 16;
    const indexBytes = this.index.heapBytes();
    const vectorHeapBytes = this.store.heapBytes();
    return {
      metadataBytes,
      indexBytes,
      vectorHeapBytes,
      vectorMappedBytes: this.store.mappedBytes(),
      heapBytes: metadataBytes + indexBytes + vectorHeapBytes,
    };
  }

  /** Bytes this collection keeps on the heap (ids, payloads, index, in-RAM vectors); mapped vectors excluded. */
  memoryUsageBytes(): number {
    return this.memoryUsage().heapBytes;
  }

  // ---- persistence (used by the database) --------------------------------------------------

  /** Rows in the store, live or dead. */
  get rowCount(): number {
    return this.store.length;
  }

  /**
   * Snapshot body: row count, live bitmap, norms, then the live rows' ids and
   * payload texts each as one string with per-row lengths (one decode on open
   * instead of one per row), the rows with sparse vectors, and the index.
   */
  writeSnapshot(w: ByteWriter): void {
    const n = this.store.length;
    w.f64(n).f64(this.liveRows);
    w.u8array(this.live.subarray(0, n));
    w.f32array(this.norms.subarray(0, n));
    const idLens = new Uint32Array(this.liveRows);
    const payloadLens = new Int32Array(this.liveRows);
    const ids: string[] = [];
    const texts: string[] = [];
    const sparseRows: number[] = [];
    let i = 0;
    for (let row = 0; row < n; row++) {
      if (this.live[row] !== 1) continue;
      const id = this.ids[row]!;
      ids.push(id);
      idLens[i] = id.length;
      const text = this.payloadText(row);
      payloadLens[i] = text === null ? -1 : text.length;
      if (text !== null) texts.push(text);
      if (this.sparse[row]) sparseRows.push(row);
      i++;
    }
    w.u32array(idLens).string(ids.join(""));
    w.u32array(new Uint32Array(payloadLens.buffer)).string(texts.join(""));
    w.u32(sparseRows.length);
    for (const row of sparseRows) w.f64(row).u32array(this.sparse[row]!.indices).f32array(this.sparse[row]!.values);
    writeIndexSection(w, this.index);
  }

  /** Restore metadata for rows already present in the store. Payloads stay JSON text until used. */
  readSnapshot(r: ByteReader): void {
    const n = r.f64();
    const liveCount = r.f64();
    if (n !== this.store.length) throw new RangeError(`snapshot has ${n} rows, vector file ${this.store.length}`);
    const live = r.u8array();
    const norms = r.f32array();
    if (live.length !== n || norms.length !== n) throw new RangeError("row arrays have the wrong length");
    this.ensureRows(n);
    this.live.set(live);
    this.norms.set(norms);
    const idLens = r.u32array();
    const allIds = r.string();
    const payloadLens = new Int32Array(r.u32array().buffer);
    const allTexts = r.string();
    if (idLens.length !== liveCount || payloadLens.length !== liveCount) throw new RangeError("live row count does not match");
    this.ids = new Array(n).fill(null);
    this.payloads = new Array(n).fill(null);
    this.payloadSizes = new Array(n).fill(0);
    this.sparse = new Array(n).fill(null);
    let i = 0, idPos = 0, textPos = 0;
    for (let row = 0; row < n; row++) {
      if (live[row] !== 1) continue;
      if (i >= liveCount) throw new RangeError("live row count does not match");
      const id = allIds.slice(idPos, (idPos += idLens[i]!));
      this.ids[row] = id;
      this.rowOf.set(id, row);
      const len = payloadLens[i]!;
      if (len >= 0) {
        this.payloads[row] = allTexts.slice(textPos, (textPos += len));
        this.payloadSizes[row] = PAYLOAD_OVERHEAD + len * 2;
      }
      this.metaBytes += ID_OVERHEAD + id.length * 2 + this.payloadSizes[row]!;
      i++;
    }
    if (i !== liveCount || idPos !== allIds.length || textPos !== allTexts.length) throw new RangeError("ids or payloads do not match the live rows");
    const sparseCount = r.u32();
    for (let j = 0; j < sparseCount; j++) {
      const row = r.f64();
      if (!(row >= 0 && row < n) || live[row] !== 1) throw new RangeError("sparse vector for a row that is not live");
      const sp = { indices: r.u32array(), values: r.f32array() };
      this.sparse[row] = sp;
      this.metaBytes += sp.indices.byteLength + sp.values.byteLength;
    }
    this.liveRows = liveCount;
    const { index, rebuilt } = readIndexSection(r, this.config.index, this, this.config.quantization);
    this.index = index;
    if (rebuilt) this.changes++; // the saved section was not this index: the next checkpoint must write it
  }

  /** Rebuild the index from scratch over the live items (for when the data drifted). */
  rebuildIndex(onProgress?: Progress): void {
    this.host.assertUsable(this);
    this.index.rebuild(onProgress);
    this.changes++;
  }

  /**
   * Copy the live rows, in order, into `target` (an empty store) and renumber.
   * Only live rows survive; row numbers change.
   */
  compactInto(target: VectorStore, onProgress?: Progress): VacuumResult {
    const n = this.store.length;
    const before = n;
    target.reserve(this.liveRows);
    const ids: (string | null)[] = [];
    const payloads: (Payload | string)[] = [];
    const sizes: number[] = [];
    const sparse: (SparseVector | null)[] = [];
    const live = new Uint8Array(Math.max(16, this.liveRows));
    const norms = new Float32Array(Math.max(16, this.liveRows));
    const oldToNew = new Int32Array(n).fill(-1);
    for (let row = 0; row < n; row++) {
      if (this.live[row] !== 1) continue;
      const nr = target.append(this.store.get(row));
      oldToNew[row] = nr;
      if (onProgress && (row & 1023) === 1023) onProgress(row + 1, n);
      ids[nr] = this.ids[row]!;
      payloads[nr] = this.payloads[row] ?? null;
      sizes[nr] = this.payloadSizes[row] ?? 0;
      sparse[nr] = this.sparse[row] ?? null;
      live[nr] = 1;
      norms[nr] = this.norms[row]!;
    }
    // Only now, with every row copied, switch over: a failure above changed nothing.
    if (target.kind !== this.config.storage) this.currentConfig = { ...this.currentConfig, storage: target.kind };
    this.changes++;
    for (let nr = 0; nr < ids.length; nr++) this.rowOf.set(ids[nr]!, nr);
    this.store = target;
    this.ids = ids;
    this.payloads = payloads;
    this.payloadSizes = sizes;
    this.sparse = sparse;
    this.live = live;
    this.norms = norms;
    this.index.remap(oldToNew);
    const removedRows = before - this.liveRows;
    return { removedRows, reclaimedBytes: removedRows * this.dimension * 4 };
  }
}
