/**
 * File formats for import and export, the one entry point the layers above
 * use: `readRecords` hands batches of records to a callback; `writeRecords`
 * streams records into a file. Format from the extension or `format`.
 *
 * | format  | read                                    | write                                  |
 * |---------|-----------------------------------------|----------------------------------------|
 * | jsonl   | 4 MiB pieces (a .gz file unpacked whole)| streamed, a line per item              |
 * | csv     | 4 MiB pieces (a .gz file unpacked whole)| streamed (pgvector-ready `[1,2]` text) |
 * | fvecs   | 2 MiB of records (.gz unpacked whole)   | —                                      |
 * | npy     | chunks of rows                          | streamed float32                       |
 * | parquet | a row group at a time                   | streamed row groups                    |
 * | arrow   | a record batch at a time (mapped file)  | streamed record batches                |
 * | lancedb | through @lancedb/lancedb in a child     | through @lancedb/lancedb in a child    |
 */
import { errors } from "../../errors";
import { readTable, type ResolvedColumns } from "./columns";
import { writeQdrantPoints } from "./engines";
import { readNpy, writeNpy } from "./npy";
import { writeStreaming } from "./sink";
import { csvField, readCsv, readFvecs, readJsonl } from "./text";
import { formatOfPath, type ExportFlavor, type ExportRecord, type FileFormat, type ImportRecord, type ReadOptions, type WriteOptions } from "./types";

// apache-arrow and hyparquet take ~0.4 s to load: only COPYs that need them pay for it
function lazy<T>(load: () => T): () => T {
  let m: T | undefined;
  return () => (m ??= load());
}
const arrowIpc = lazy(() => require("./arrow_ipc") as typeof import("./arrow_ipc"));
const parquet = lazy(() => require("./parquet") as typeof import("./parquet"));
const lancedb = lazy(() => require("./lancedb") as typeof import("./lancedb"));

export * from "./types";
export type { ResolvedColumns } from "./columns";
export { uuidV5, VQLITE_UUID_NAMESPACE, QDRANT_ORIGINAL_ID_FIELD } from "./engines";

export interface ReadResult {
  readonly format: FileFormat;
  readonly rows: number;
  /** For table formats: which columns held the id, vector, payload, sparse and payload fields. */
  readonly columns?: ResolvedColumns;
}

/** Read `file` and hand its records to `onBatch` in batches, with the index of each batch's first row. */
export function readRecords(
  file: string,
  options: ReadOptions,
  onBatch: (records: ImportRecord[], firstRow: number) => void,
): ReadResult {
  const format = options.format ?? formatOfPath(file);
  const tableOnly = options.id ?? options.vector ?? options.payload ?? options.sparse ?? options.exclude;
  if (tableOnly !== undefined && !["parquet", "arrow", "lancedb"].includes(format)) {
    throw errors.invalidArgument(`the ID, VECTOR, PAYLOAD, SPARSE and EXCLUDE options apply to Parquet, Arrow and LanceDB imports, not to ${format}`);
  }
  let rows = 0;
  let columns: ResolvedColumns | undefined;
  const count = (records: ImportRecord[], first: number) => {
    rows += records.length;
    onBatch(records, first);
  };
  switch (format) {
    case "jsonl":
      readJsonl(file, count, options.onProgress, options.batchRows);
      break;
    case "csv":
      readCsv(file, count, options.onProgress, options.batchRows);
      break;
    case "fvecs":
      readFvecs(file, count, options);
      break;
    case "npy":
      readNpy(file, count, options);
      break;
    case "parquet": {
      const reader = parquet().openParquet(file);
      try {
        columns = readTable(file, reader, options, count);
      } finally {
        reader.close();
      }
      break;
    }
    case "arrow":
      columns = readTable(file, arrowIpc().openArrow(file), options, count);
      break;
    case "lancedb":
      columns = lancedb().readLanceDb(file, options, count);
      break;
  }
  return { format, rows, columns };
}

const FLAVOR_FORMAT: Record<Exclude<ExportFlavor, "vqlite">, FileFormat> = { qdrant: "jsonl", milvus: "parquet", pgvector: "csv" };

export interface WriteResult {
  readonly format: FileFormat;
  readonly bytes: number;
}

/** Write `records` (exactly `options.count` of them) to `file`. */
export function writeRecords(
  file: string,
  records: Iterable<ExportRecord>,
  options: WriteOptions & { hasSparse?: boolean; collection?: string },
): WriteResult {
  if (/\.gz$/i.test(file) && options.format !== "lancedb") throw errors.invalidArgument(`exports are not compressed: write ${file.replace(/\.gz$/i, "")} and gzip it`);
  const flavor = options.flavor ?? "vqlite";
  const byName = options.format ?? formatOfPath(file);
  const format: FileFormat = flavor === "vqlite" ? byName : FLAVOR_FORMAT[flavor];
  if (format !== byName) throw errors.invalidArgument(`FORMAT '${flavor}' writes a .${format} file, not ${file}`);
  const renamed = options.id ?? options.vector ?? options.payload ?? options.sparse;
  if (renamed !== undefined && !["parquet", "arrow"].includes(format)) {
    throw errors.invalidArgument(`the ID, VECTOR, PAYLOAD and SPARSE options name columns of Parquet and Arrow exports, not of ${format}`);
  }
  const sparse = options.hasSparse ? (options.sparse ?? "sparse") : null;
  let bytes: number;
  switch (format) {
    case "jsonl":
      if (flavor === "qdrant") bytes = writeQdrantPoints(file, records, options);
      else {
        bytes = writeStreaming(file, (sink) => {
          for (const r of records) {
            const line: Record<string, unknown> = { id: r.id, vector: Array.from(r.vector), payload: r.payload };
            if (r.sparse) line.sparse = { indices: Array.from(r.sparse.indices), values: Array.from(r.sparse.values) };
            sink.write(`${JSON.stringify(line)}\n`);
          }
        });
      }
      break;
    case "csv":
      bytes = writeStreaming(file, (sink) => {
        sink.write("id,vector,payload\n");
        for (const r of records) {
          sink.write(`${csvField(r.id)},${csvField(JSON.stringify(Array.from(r.vector)))},${r.payload === null ? "" : csvField(JSON.stringify(r.payload))}\n`);
        }
      });
      break;
    case "npy":
      bytes = writeNpy(file, records, options);
      break;
    case "parquet": {
      if (flavor === "milvus") {
        // Milvus bulk insert: the primary key, the vector field, and the dynamic field $meta holding a JSON object
        const { standardParquetColumns, writeParquet } = parquet();
        const cols = standardParquetColumns({ id: options.id, vector: options.vector, payload: options.payload ?? "$meta" });
        const meta = cols[2]!;
        cols[2] = { ...meta, schema: [{ ...meta.schema[0], repetition_type: "REQUIRED" }], values: (rs) => rs.map((r) => JSON.stringify(r.payload ?? {})) };
        bytes = writeParquet(file, records, cols, { ...options, groupRows: options.batchRows });
      } else {
        const { standardParquetColumns, writeParquet } = parquet();
        bytes = writeParquet(file, records, standardParquetColumns({ ...options, sparse }), { ...options, groupRows: options.batchRows });
      }
      break;
    }
    case "arrow":
      bytes = arrowIpc().writeArrow(file, records, arrowIpc().standardColumns({ ...options, sparse }), options);
      break;
    case "lancedb":
      bytes = lancedb().writeLanceDb(file, records, { ...options, table: options.table ?? options.collection ?? "vectors" });
      break;
    case "fvecs":
      throw errors.invalidArgument("exports write .jsonl, .csv, .npy, .parquet, .arrow/.feather or LANCEDB, not .fvecs");
  }
  return { format, bytes };
}
