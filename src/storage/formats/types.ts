/**
 * What the file formats exchange with the layers above: plain records (the
 * shape of a collection item) and the options that map a table's columns.
 * Nothing here depends on the collection layer.
 */
import { VqliteError, type ErrorCode } from "../../errors";

export type FileFormat = "jsonl" | "csv" | "fvecs" | "npy" | "parquet" | "arrow" | "lancedb";

/** Flavours of an export for other engines (docs/SCALING.md). */
export type ExportFlavor = "vqlite" | "pgvector" | "qdrant" | "milvus";

export interface SparseRecord {
  readonly indices: ArrayLike<number>;
  readonly values: ArrayLike<number>;
}

/** One item read from a file. */
export interface ImportRecord {
  readonly id: string;
  readonly vector: Float32Array | Float64Array | readonly number[];
  readonly payload?: Record<string, unknown> | null;
  readonly sparse?: SparseRecord | null;
}

/** One item to write. */
export interface ExportRecord {
  readonly id: string;
  readonly vector: Float32Array;
  readonly payload: Record<string, unknown> | null;
  readonly sparse: { readonly indices: Uint32Array; readonly values: Float32Array } | null;
}

export type Progress = (done: number, total: number) => void;

/** Column names of a table format (Parquet, Arrow, LanceDB); defaults id, vector, payload, sparse. */
export interface ColumnOptions {
  readonly id?: string;
  readonly vector?: string;
  readonly payload?: string;
  readonly sparse?: string;
}

export interface ReadOptions extends ColumnOptions {
  /** Force a format instead of the file name's extension. */
  readonly format?: FileFormat;
  /** Columns that must not become payload fields. */
  readonly exclude?: readonly string[];
  /** LanceDB: the table to read. */
  readonly table?: string;
  /** The collection's dimension: rows of another length are rejected with their row and column. */
  readonly dimension?: number;
  /** Rows per batch handed to `onBatch` (default: about 4 MiB of input; Parquet: a row group, Arrow: a record batch). */
  readonly batchRows?: number;
  readonly onProgress?: Progress;
  /** Table formats: called with the resolved columns before the first batch (for error messages). */
  readonly onColumns?: (columns: ResolvedColumnNames) => void;
}

/** Which columns of a table file hold the id, vector, payload and sparse vector. */
export interface ResolvedColumnNames {
  readonly id: string;
  readonly vector: string;
  readonly payload: string | null;
  readonly sparse: string | null;
}

export interface WriteOptions extends ColumnOptions {
  readonly format?: FileFormat;
  readonly flavor?: ExportFlavor;
  /** LanceDB: the table to write (default: the collection name). */
  readonly table?: string;
  /** Rows per Parquet row group or Arrow record batch (default: about 4M vector values for Parquet, 8192 rows for Arrow). */
  readonly batchRows?: number;
  /** LanceDB: "create" (default) fails when the table exists; "overwrite" replaces it. */
  readonly mode?: "create" | "overwrite";
  readonly dimension: number;
  /** Number of records the source will yield (for headers and progress). */
  readonly count: number;
  readonly onProgress?: Progress;
}

export function formatOfPath(file: string, lancedb = false): FileFormat {
  if (lancedb) return "lancedb";
  const f = file.toLowerCase().replace(/\.gz$/, "");
  if (f.endsWith(".jsonl") || f.endsWith(".ndjson") || f.endsWith(".json")) return "jsonl";
  if (f.endsWith(".csv")) return "csv";
  if (f.endsWith(".fvecs")) return "fvecs";
  if (f.endsWith(".npy")) return "npy";
  if (f.endsWith(".parquet") || f.endsWith(".pq")) return "parquet";
  if (f.endsWith(".arrow") || f.endsWith(".feather") || f.endsWith(".ipc")) return "arrow";
  throw new VqliteError(
    "INVALID_ARGUMENT",
    `cannot tell the format of ${file}: use .jsonl, .csv, .fvecs[.gz], .npy, .parquet, .arrow or .feather (or the FORMAT option)`,
  );
}

export const FORMATS: readonly FileFormat[] = ["jsonl", "csv", "fvecs", "npy", "parquet", "arrow", "lancedb"];

/** An error about one row (0-based) and one column of a file. */
export function rowError(code: ErrorCode, file: string, row: number, column: string, why: string): VqliteError {
  return new VqliteError(code, `${file}: row ${row}, column ${JSON.stringify(column)}: ${why}`);
}

export function fileError(file: string, why: string): VqliteError {
  return new VqliteError("INVALID_ARGUMENT", `${file}: ${why}`);
}
