/**
 * LanceDB tables through @lancedb/lancedb, an optional dependency with a
 * native addon. It is loaded only for LanceDB imports and exports, and in a
 * child Bun process (lancedb_child.ts), for two reasons: its API is
 * asynchronous while vqlite's is synchronous, and a native addon that fails
 * to load (or crashes) must not take the database process with it.
 *
 * The two processes exchange an Arrow IPC file in a temporary directory:
 * export writes `id`, `vector` (FixedSizeList<float32>) and one column per
 * payload field, which the child adds to the table in batches; import has
 * the child stream the table into an Arrow file that is read like any other.
 * Payload fields that are not a single scalar type (objects, arrays, mixed
 * types) travel as JSON text; the schema metadata `vqlite.json_fields` names
 * them so the reverse import restores them.
 */
import * as os from "node:os";
import * as path from "node:path";
import * as arrow from "apache-arrow";
import { errors, io, VqliteError } from "../../errors";
import { openArrow, utf8Data, vectorData, writeArrow, type ArrowColumnSpec } from "./arrow_ipc";
import { readTable, type ResolvedColumns } from "./columns";
import type { ExportRecord, ImportRecord, Progress, ReadOptions } from "./types";
import { vfs } from "../fs";

export const LANCEDB_UNAVAILABLE = "LANCEDB_UNAVAILABLE";
const CHILD = path.join(import.meta.dir, "lancedb_child.ts");

/** Run the LanceDB child; its failures become VqliteErrors that say what happened. */
function runChild(args: string[], what: string): string {
  const r = Bun.spawnSync([process.execPath, CHILD, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, VQLITE_LANCEDB_MODULE: process.env.VQLITE_LANCEDB_MODULE ?? "@lancedb/lancedb" },
  });
  const out = r.stdout.toString();
  const err = r.stderr.toString();
  if (r.exitCode === 0) return out;
  const unavailable = err.split("\n").find((l) => l.startsWith(`${LANCEDB_UNAVAILABLE}:`));
  if (unavailable) {
    throw new VqliteError(
      "INVALID_CONFIG",
      `LanceDB is not available here: the optional package @lancedb/lancedb could not be loaded (${unavailable.slice(LANCEDB_UNAVAILABLE.length + 1).trim()}). Install it with "npm install @lancedb/lancedb" on a platform it supports (Linux x64/arm64, macOS arm64, Windows x64), or export to Parquet or Arrow instead.`,
    );
  }
  const reported = err.split("\n").find((l) => l.startsWith("VQLITE_ERROR:"));
  if (reported) {
    const { code, message } = JSON.parse(reported.slice("VQLITE_ERROR:".length)) as { code: VqliteError["code"]; message: string };
    throw new VqliteError(code, message);
  }
  const detail = (err.trim().split("\n").filter((l) => !/^\[.*(WARN|INFO)/.test(l)).pop() ?? `exit code ${r.exitCode}`).slice(0, 500);
  throw new VqliteError("IO_ERROR", `LanceDB ${what} failed: ${detail}`);
}

type FieldKind = "int" | "float" | "bool" | "string" | "json";

/** One pass over the payloads: every top-level field and the Arrow type that holds all its values. */
function payloadFields(records: Iterable<ExportRecord>): Map<string, FieldKind> {
  const kinds = new Map<string, FieldKind>();
  for (const r of records) {
    if (!r.payload) continue;
    for (const [k, v] of Object.entries(r.payload)) {
      if (v === null || v === undefined) {
        if (!kinds.has(k)) kinds.set(k, "int"); // the weakest kind until a value says otherwise
        continue;
      }
      const kind: FieldKind =
        typeof v === "boolean" ? "bool" : typeof v === "string" ? "string" : typeof v === "number" ? (Number.isSafeInteger(v) ? "int" : "float") : "json";
      const was = kinds.get(k);
      if (was === undefined || was === kind) kinds.set(k, kind);
      else if ((was === "int" && kind === "float") || (was === "float" && kind === "int")) kinds.set(k, "float");
      else kinds.set(k, "json");
    }
  }
  return kinds;
}

function fieldColumn(name: string, kind: FieldKind): ArrowColumnSpec {
  const get = (r: ExportRecord) => (r.payload ? r.payload[name] : undefined) ?? null;
  switch (kind) {
    case "int":
      return { name, type: new arrow.Int64(), values: (rs) => arrow.vectorFromArray(rs.map((r) => { const v = get(r); return v === null ? null : BigInt(v as number); }), new arrow.Int64()).data[0]! };
    case "float":
      return { name, type: new arrow.Float64(), values: (rs) => arrow.vectorFromArray(rs.map((r) => get(r) as number | null), new arrow.Float64()).data[0]! };
    case "bool":
      return { name, type: new arrow.Bool(), values: (rs) => arrow.vectorFromArray(rs.map((r) => get(r) as boolean | null), new arrow.Bool()).data[0]! };
    case "string":
      return { name, type: new arrow.Utf8(), values: (rs) => utf8Data(rs.map((r) => get(r) as string | null)) };
    case "json":
      return { name, type: new arrow.Utf8(), values: (rs) => utf8Data(rs.map((r) => { const v = get(r); return v === null ? null : JSON.stringify(v); })) };
  }
}

function tempDir(): string {
  return io("creating a temporary directory", () => vfs.mkdtemp(path.join(os.tmpdir(), "vqlite-lancedb-")));
}

/** Export records to the LanceDB table `table` in `dir` (created, or replaced with mode "overwrite"). Returns the rows written. */
export function writeLanceDb(
  dir: string,
  records: Iterable<ExportRecord>,
  options: { dimension: number; count: number; table: string; mode?: "create" | "overwrite"; onProgress?: Progress },
): number {
  const fields = payloadFields(records);
  for (const reserved of ["id", "vector"]) {
    if (fields.has(reserved)) throw errors.invalidArgument(`a payload field is called ${reserved}; LanceDB tables get one column per payload field, so it would clash with the ${reserved} column`);
  }
  const columns: ArrowColumnSpec[] = [
    { name: "id", type: new arrow.Utf8(), values: (rs) => utf8Data(rs.map((r) => r.id)) },
    {
      name: "vector",
      type: new arrow.FixedSizeList(options.dimension, new arrow.Field("item", new arrow.Float32(), false)),
      values: (rs) => vectorData(rs, options.dimension),
    },
    ...[...fields].map(([name, kind]) => fieldColumn(name, kind)),
  ];
  const json = [...fields].filter(([, k]) => k === "json").map(([n]) => n);
  const tmp = tempDir();
  try {
    const file = path.join(tmp, "export.arrow");
    writeArrow(file, records, columns, {
      count: options.count,
      batchRows: 65536,
      onProgress: options.onProgress && ((d, t) => options.onProgress!(d / 2, t)),
      metadata: new Map([["vqlite.json_fields", JSON.stringify(json)]]),
    });
    runChild(["export", file, path.resolve(dir), options.table, options.mode ?? "create"], `export to ${dir}`);
    options.onProgress?.(options.count, options.count);
    return options.count;
  } finally {
    vfs.rmTree(tmp);
  }
}

/** Import the LanceDB table `options.table` of `dir`: the child streams it to an Arrow file, read like any Arrow import. */
export function readLanceDb(dir: string, options: ReadOptions, onBatch: (records: ImportRecord[], firstRow: number) => void): ResolvedColumns {
  if (!options.table) throw errors.invalidArgument("a LanceDB import needs the table: COPY c FROM LANCEDB 'dir' TABLE 'name'");
  const tmp = tempDir();
  try {
    const file = path.join(tmp, "import.arrow");
    runChild(["import", path.resolve(dir), options.table, file], `import from ${dir}`);
    const reader = openArrow(file);
    const meta = reader.metadata?.get("vqlite.json_fields");
    const jsonFields = new Set<string>(meta ? (JSON.parse(meta) as string[]) : []);
    const source = {
      ...reader,
      batches: function* (wanted: readonly string[]) {
        for (const b of reader.batches(wanted)) {
          yield jsonFields.size === 0
            ? b
            : {
                ...b,
                numRows: b.numRows,
                value: (c: string, i: number) => {
                  const v = b.value(c, i);
                  return jsonFields.has(c) && typeof v === "string" ? JSON.parse(v) : v;
                },
              };
        }
      },
    };
    return readTable(`${dir} (LanceDB table ${options.table})`, source, options, onBatch);
  } finally {
    vfs.rmTree(tmp);
  }
}
