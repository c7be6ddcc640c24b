/**
 * Column mapping for table formats (Parquet, Arrow IPC, LanceDB): which
 * column holds the id, the vector, the payload and the sparse vector, and
 * how every other column becomes a payload field. Every value is checked
 * here, so a bad value is reported with its row (0-based) and column.
 */
import { VqliteError } from "../../errors";
import { rowError, type ImportRecord, type Progress, type ReadOptions } from "./types";

/** One batch of rows from a table format. */
export interface ColumnBatch {
  readonly numRows: number;
  /** The value of a column at a row of this batch, as plain JS (strings, numbers, bigints, arrays, typed arrays, objects). */
  value(column: string, row: number): unknown;
  /**
   * Fast path for vector columns stored as numbers without nulls inside: the
   * row's values, or null for a null vector; undefined when the column needs value().
   */
  vector?(column: string, row: number): Float32Array | Float64Array | null | undefined;
}

/** A table opened for reading: its columns, row count and batches. */
export interface TableReader {
  readonly columns: readonly string[];
  readonly totalRows: number;
  /** Key-value metadata of the file's schema, when the format has it. */
  readonly metadata?: ReadonlyMap<string, string>;
  /** The column's type in the file's own terms, for error messages. */
  typeOf(column: string): string;
  /** Batches of rows; `wanted` are the columns that will be read. */
  batches(wanted: readonly string[]): Iterable<ColumnBatch>;
}

export interface ResolvedColumns {
  readonly id: string;
  readonly vector: string;
  readonly payload: string | null;
  readonly sparse: string | null;
  /** Columns that become payload fields. */
  readonly fields: readonly string[];
}

export function resolveColumns(file: string, columns: readonly string[], o: ReadOptions): ResolvedColumns {
  const has = new Set(columns);
  const list = columns.map((c) => JSON.stringify(c)).join(", ");
  const need = (what: string, name: string) => {
    if (!has.has(name)) throw new VqliteError("INVALID_ARGUMENT", `${file}: no column ${JSON.stringify(name)} for the ${what} (columns: ${list}); name it with the ${what.toUpperCase()} option`);
    return name;
  };
  const id = need("id", o.id ?? "id");
  const vector = need("vector", o.vector ?? "vector");
  const payload = o.payload !== undefined ? need("payload", o.payload) : has.has("payload") ? "payload" : null;
  const sparse = o.sparse !== undefined ? need("sparse", o.sparse) : has.has("sparse") ? "sparse" : null;
  const exclude = new Set(o.exclude ?? []);
  for (const x of exclude) if (!has.has(x)) throw new VqliteError("INVALID_ARGUMENT", `${file}: EXCLUDE names no column ${JSON.stringify(x)} (columns: ${list})`);
  const taken = new Set([id, vector, payload, sparse]);
  const fields = columns.filter((c) => !taken.has(c) && !exclude.has(c));
  return { id, vector, payload, sparse, fields };
}

/** Plain JSON from what a reader returns: bigints become numbers (or strings past 2^53), dates ISO strings. */
export function toJson(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      return Number.isFinite(v) ? v : null;
    case "bigint":
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    case "object": {
      if (v instanceof Date) return v.toISOString();
      if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
      if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>, toJson);
      if (Array.isArray(v)) return v.map(toJson);
      if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toJson(x)]));
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = toJson(x);
      return out;
    }
    default:
      return null;
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) return "a list";
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v === "object" ? "a struct" : `a ${typeof v}`;
}

/**
 * Read every batch of `reader`, map it to records and hand them to `onBatch`
 * with the index of their first row. Vectors are copied into one float32
 * buffer per batch, so nothing of the reader's batch is kept. Ids repeated
 * in the file are for the importer to find (it knows every id it staged;
 * a set of every id here would grow with the file).
 */
export function readTable(
  file: string,
  reader: TableReader,
  options: ReadOptions,
  onBatch: (records: ImportRecord[], firstRow: number) => void,
): ResolvedColumns {
  const cols = resolveColumns(file, reader.columns, options);
  const wanted = [cols.id, cols.vector, ...(cols.payload ? [cols.payload] : []), ...(cols.sparse ? [cols.sparse] : []), ...cols.fields];
  options.onColumns?.(cols);
  const progress: Progress | undefined = options.onProgress;
  let dimension = options.dimension;
  let row = 0;
  for (const batch of reader.batches(wanted)) {
    const n = batch.numRows;
    const records: ImportRecord[] = new Array(n);
    let buf: Float32Array | null = null;
    for (let i = 0; i < n; i++, row++) {
      const bad = (code: VqliteError["code"], column: string, why: string) => rowError(code, file, row, column, why);
      // id
      const rawId = batch.value(cols.id, i);
      let id: string;
      if (typeof rawId === "string") id = rawId;
      else if ((typeof rawId === "number" && Number.isInteger(rawId)) || typeof rawId === "bigint") id = String(rawId);
      else if (rawId === null || rawId === undefined) throw bad("INVALID_ID", cols.id, "the id is null");
      else throw bad("INVALID_ID", cols.id, `an id must be a string or an integer, got ${describe(rawId)} (column type ${reader.typeOf(cols.id)})`);
      if (id === "") throw bad("INVALID_ID", cols.id, "the id is empty");
      // vector
      let vec: ArrayLike<unknown> | null | undefined = batch.vector?.(cols.vector, i);
      if (vec === undefined) {
        const v = batch.value(cols.vector, i);
        if (v === null || v === undefined) vec = null;
        else if (Array.isArray(v) || v instanceof Float32Array || v instanceof Float64Array) vec = v;
        else throw bad("INVALID_VECTOR", cols.vector, `a vector must be a list of float32 or float64 values, got ${describe(v)} (column type ${reader.typeOf(cols.vector)})`);
      }
      if (vec === null) throw bad("INVALID_VECTOR", cols.vector, "the vector is null");
      if (dimension === undefined) dimension = vec.length;
      if (vec.length !== dimension) {
        throw bad("DIMENSION_MISMATCH", cols.vector, `vector has dimension ${vec.length}, ${options.dimension !== undefined ? "collection expects" : "earlier rows have"} ${dimension}`);
      }
      if (buf === null) buf = new Float32Array(n * dimension);
      const out = buf.subarray(i * dimension, (i + 1) * dimension);
      if (vec instanceof Float32Array || vec instanceof Float64Array) out.set(vec);
      else {
        for (let j = 0; j < dimension; j++) {
          const x = vec[j];
          if (typeof x !== "number") throw bad("INVALID_VECTOR", cols.vector, `vector value at position ${j} is ${x === null || x === undefined ? "null" : describe(x)}`);
          out[j] = x;
        }
      }
      for (let j = 0; j < dimension; j++) {
        if (!Number.isFinite(out[j]!)) throw bad("NON_FINITE_VALUE", cols.vector, `vector value at position ${j} is ${out[j]}; values must be finite float32 numbers`);
      }
      // payload: the payload column's object, then one field per other column
      let payload: Record<string, unknown> | null = null;
      if (cols.payload) {
        const p = batch.value(cols.payload, i);
        if (typeof p === "string") {
          let parsed: unknown;
          try {
            parsed = JSON.parse(p);
          } catch {
            throw bad("INVALID_PAYLOAD", cols.payload, "the payload is not valid JSON");
          }
          if (parsed !== null && (typeof parsed !== "object" || Array.isArray(parsed))) throw bad("INVALID_PAYLOAD", cols.payload, "the payload must be a JSON object");
          payload = parsed as Record<string, unknown> | null;
        } else if (p !== null && p !== undefined) {
          const j = toJson(p);
          if (typeof j !== "object" || j === null || Array.isArray(j)) {
            throw bad("INVALID_PAYLOAD", cols.payload, `the payload must be a JSON string or a struct, got ${describe(p)} (column type ${reader.typeOf(cols.payload)})`);
          }
          payload = j as Record<string, unknown>;
        }
      }
      for (const f of cols.fields) {
        const v = batch.value(f, i);
        if (v === null || v === undefined) continue;
        payload ??= {};
        payload[f] = toJson(v);
      }
      // sparse
      let sparse: ImportRecord["sparse"] = null;
      if (cols.sparse) {
        let s = batch.value(cols.sparse, i);
        if (typeof s === "string") {
          try {
            s = JSON.parse(s);
          } catch {
            throw bad("INVALID_VECTOR", cols.sparse, "the sparse vector is not valid JSON");
          }
        }
        if (s !== null && s !== undefined) {
          const o = toJson(s) as { indices?: unknown; values?: unknown };
          if (typeof o !== "object" || o === null || !Array.isArray(o.indices) || !Array.isArray(o.values)) {
            throw bad("INVALID_VECTOR", cols.sparse, "a sparse vector must be { indices: [...], values: [...] }");
          }
          sparse = { indices: o.indices as number[], values: o.values as number[] };
        }
      }
      records[i] = { id, vector: out, payload, sparse };
    }
    onBatch(records, row - n);
    progress?.(row, reader.totalRows);
  }
  return cols;
}
