/**
 * What an index needs from the collection that owns it, and what every index
 * (flat, clustered, hnsw) offers. Indexes address rows by internal integer
 * row numbers; the collection maps them to string ids.
 */
import type { ByteWriter } from "../storage/binary";
import type { VectorStore } from "../storage/vector_store";
import type { Metric } from "./distance";

export interface RowSource {
  readonly store: VectorStore;
  readonly metric: Metric;
  /** L2 norm of a row (kept so cosine never re-reads vectors to normalise). */
  norm(row: number): number;
  isLive(row: number): boolean;
  /** 1 for every live row (hot loops read this directly instead of calling isLive). */
  liveMask(): Uint8Array;
}

/** Long work reports how far it is. */
export type Progress = (done: number, total: number) => void;

/** Accepts a row (payload filter); absent means every live row. */
export type RowFilter = (row: number) => boolean;

/** exact-indexed: an exact scan of the rows a payload index listed. */
export type SearchRoute = "exact" | "exact-filtered" | "exact-indexed" | "clustered" | "clustered-widened" | "hnsw" | "hnsw-filtered";

export interface IndexSearchOptions {
  readonly filter?: RowFilter;
  readonly probes?: number;
  readonly rerankFactor?: number;
  readonly ef?: number;
}

export interface IndexSearchResult {
  readonly rows: number[];
  /** Public distances (see distance.ts), ascending. */
  readonly distances: number[];
  readonly route: SearchRoute;
  /** Work done: vectors whose full distance was computed, codes compared, and so on. */
  readonly stats: Record<string, number>;
}

export interface VectorIndex {
  readonly type: "flat" | "clustered" | "hnsw";
  /** A row was appended to the store (and is live). */
  add(row: number): void;
  /** A row stopped being live. */
  remove(row: number): void;
  /** The k best live rows (internal row numbers) with public distances, and how they were found. */
  searchRows(query: Float32Array, k: number, options: IndexSearchOptions): IndexSearchResult;
  heapBytes(): number;
  /** Row numbers changed (vacuum): old row r is now oldToNew[r], or gone when -1. */
  remap(oldToNew: Int32Array): void;
  /** Rebuild from the live rows of the source (after drift, or after loading without a saved index). */
  /** Rebuild from the source's live rows; `options.threads` > 1 lets an index that can (HNSW) use that many threads. */
  rebuild(onProgress?: Progress, options?: RebuildOptions): void;
  /** Save the structure (not the vectors) into a collection snapshot. */
  serialize(w: ByteWriter): void;
  /** Consistency check (db.check()): every live row is in the index, every reference is a valid row. Problems found, empty when sound. */
  verify?(): string[];
}

/** How a rebuild may run. */
export interface RebuildOptions {
  /** Threads to build with (this one included); 1 or absent: this thread only. */
  readonly threads?: number;
  /** A shared Int32 flag: set slot 0 to 1 and the helper threads of a build stop at their next row. */
  readonly abort?: Int32Array;
}
