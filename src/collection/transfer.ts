/**
 * Collection import and export through the file formats of
 * src/storage/formats: `collection.importFrom(path, options)` and
 * `collection.exportTo(path, options)`, also behind VQL's COPY.
 *
 * An import is a bulk load (bulk_load.ts): the file is read batch by batch
 * (bounded by the codec's batch or row group) and each batch is staged into
 * the collection as it comes; one checkpoint commits the whole file, so a bad
 * record anywhere, an I/O error or a crash writes nothing. Errors about a
 * record name its row (0-based) and column for table formats, its line for
 * JSON lines and CSV.
 */
import { VqliteError } from "../errors";
import {
  formatOfPath,
  readRecords,
  writeRecords,
  type ExportFlavor,
  type ExportRecord,
  type FileFormat,
  type ImportRecord,
  type Progress,
  type ReadOptions,
  type ResolvedColumnNames,
} from "../storage/formats";
import type { Collection, Item } from "./collection";

export interface ImportOptions extends Omit<ReadOptions, "dimension" | "onColumns"> {
  /** "insert" (default) fails on an id that exists; "upsert" replaces it. */
  readonly mode?: "insert" | "upsert";
}

export interface ExportOptions {
  readonly format?: FileFormat;
  /** Layout for another engine: "pgvector" (CSV), "qdrant" (JSON lines of points), "milvus" (Parquet with $meta). */
  readonly flavor?: ExportFlavor;
  /** Column names of Parquet and Arrow exports (defaults id, vector, payload, sparse). */
  readonly id?: string;
  readonly vector?: string;
  readonly payload?: string;
  readonly sparse?: string;
  /** LanceDB: the table name (default: the collection's name), and whether to replace an existing table. */
  readonly table?: string;
  readonly overwrite?: boolean;
  /** Rows per Parquet row group or Arrow record batch. */
  readonly batchRows?: number;
  readonly onProgress?: Progress;
}

const TABLE_FORMATS: readonly FileFormat[] = ["parquet", "arrow", "lancedb", "npy"];

export function importInto(c: Collection, file: string, options: ImportOptions = {}): number {
  const format = options.format ?? formatOfPath(file);
  const table = TABLE_FORMATS.includes(format);
  let cols: ResolvedColumnNames = { id: "id", vector: "vector", payload: null, sparse: null };
  // a table file's ids are rejected when repeated in upsert mode too (JSON lines and CSV: the last wins, as upsertMany)
  const load = c.beginLoad({ mode: options.mode ?? "insert", rejectRepeats: table, input: "the file" });
  try {
    readRecords(file, { ...options, dimension: c.dimension, onColumns: (r) => (cols = r) }, (records, first) => load.add(records as Item[], first));
    return load.commit();
  } catch (e) {
    load.abort();
    // the load says which item failed; for table formats that is the row, and the code says the column
    if (e instanceof VqliteError && e.item !== undefined && table) {
      const cause = e.cause instanceof VqliteError ? e.cause : e;
      const column =
        e.code === "INVALID_ID" || e.code === "DUPLICATE_ID"
          ? cols.id
          : e.code === "INVALID_PAYLOAD"
            ? (cols.payload ?? "payload")
            : /sparse/i.test(cause.message) && cols.sparse
              ? cols.sparse
              : cols.vector;
      const err = new VqliteError(e.code, `${file}: row ${e.item}, column ${JSON.stringify(column)}: ${cause.message}`, { cause: e });
      err.item = e.item;
      throw err;
    }
    throw e;
  }
}

/** Live items in row order, with views of the stored vectors. */
function* liveRecords(c: Collection): Generator<ExportRecord> {
  const ids = c.keys();
  const n = c.rowCount;
  for (let row = 0; row < n; row++) {
    if (!c.isLive(row)) continue;
    const id = ids.next().value as string;
    yield { id, vector: c.store.get(row), payload: c.payloadOf(row), sparse: c.sparseOf(row) };
  }
}

export function exportFrom(c: Collection, file: string, options: ExportOptions = {}): number {
  const count = c.count();
  let hasSparse = false;
  for (let row = 0; row < c.rowCount && !hasSparse; row++) hasSparse = c.isLive(row) && c.sparseOf(row) !== null;
  // every writer copies what it needs, so records carry the stored vectors, not copies
  // (at 1M x 128 the copies made an npy export peak at +0.8 GB of garbage)
  const records: Iterable<ExportRecord> = { [Symbol.iterator]: () => liveRecords(c) };
  writeRecords(file, records, {
    format: options.format,
    flavor: options.flavor,
    id: options.id,
    vector: options.vector,
    payload: options.payload,
    sparse: options.sparse,
    table: options.table,
    mode: options.overwrite ? "overwrite" : "create",
    collection: c.name,
    dimension: c.dimension,
    count,
    hasSparse,
    batchRows: options.batchRows,
    onProgress: options.onProgress,
  });
  return count;
}
