/**
 * Where a row table keeps each row's id, payload and sparse vector: in RAM
 * (MemoryMeta) or in row files (DiskMeta). Row numbers are the vector
 * store's; liveness is the table's (LiveRows), not the backend's.
 */
import type { Payload, SparseVector } from "./validate";

export interface RowMeta {
  readonly kind: "memory" | "disk";
  /** The row holding `id` that `accept` takes (the table passes its liveness test). */
  findRow(id: string, accept: (row: number) => boolean): number | undefined;
  idOf(row: number): string;
  payloadOf(row: number): Payload;
  /** A payload's JSON text (null for none). */
  payloadText(row: number): string | null;
  sparseOf(row: number): SparseVector | null;
  /** A new live row (the table appended its vector). */
  append(row: number, id: string, payload: string | null, sparse: SparseVector | null): void;
  setMeta(row: number, payload: string | null, sparse: SparseVector | null): void;
  /** The row was live and is now dead. */
  kill(row: number): void;
  /** Heap bytes held, estimated. */
  heapBytes(): number;
  /** About to read the ids and payloads of `rows` (a search's hits): start fetching them all. */
  prefetch(rows: readonly number[]): void;
  /** The live rows' payload bytes: UTF-8 JSON text, and as stored (see PayloadBytes). */
  payloadBytes(live: (row: number) => boolean, rows: number): PayloadBytes;
}

/**
 * Payload bytes of the live rows. `raw`: the UTF-8 bytes of their JSON texts.
 * `stored`: what they take where they are kept: in row files (mmap storage,
 * checkpointed rows), a payload's UTF-8 bytes uncompressed and its share (by
 * raw bytes) of its zstd block, header included, compressed, plus the heap's
 * zstd dictionary when any payload is read from it; rows not yet
 * checkpointed and memory storage count their raw bytes. Dead rows' old
 * records are not counted (VACUUM drops them from the files).
 */
export interface PayloadBytes {
  readonly raw: number;
  readonly stored: number;
}

/** The second number of a snapshot whose rows are in row files (a live count is never negative). */
export const DISK_FORMAT = -1;
/**
 * The same, with the norms 4-byte aligned in the file (ByteWriter.f32arrayAligned),
 * so a mapped snapshot's bitmap and norms are used in place.
 */
export const DISK_FORMAT_ALIGNED = -2;

export function deepFreeze<T>(v: T): T {
  if (v && typeof v === "object") {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}
