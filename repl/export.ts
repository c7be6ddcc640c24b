/**
 * vqlite export DB COLLECTION --to FORMAT TARGET [--table NAME] [--overwrite]
 *
 * Writes a collection somewhere else: FORMAT is lancedb (TARGET a directory
 * or URI; the table is named after the collection unless --table), parquet,
 * arrow, npy, jsonl, csv, or an engine's layout: pgvector (CSV), qdrant (JSON
 * lines of points), milvus (Parquet). See docs/SCALING.md.
 */
import * as fs from "node:fs";
import { open, VqliteError, type ExportOptions } from "../src/index";

export const EXPORT_USAGE = `usage: vqlite export DB COLLECTION --to FORMAT TARGET [--table NAME] [--overwrite]
  FORMAT      lancedb (TARGET is a directory or URI), parquet, arrow, npy, jsonl, csv,
              or an engine's layout: pgvector (CSV), qdrant (JSON lines), milvus (Parquet)
  --table     LanceDB table name (default: the collection's name)
  --overwrite replace an existing LanceDB table`;

const FORMATS = new Set(["lancedb", "parquet", "arrow", "npy", "jsonl", "csv"]);
const FLAVORS = new Set(["pgvector", "qdrant", "milvus"]);

export function runExport(argv: string[], out: (t: string) => void, err: (t: string) => void): number {
  const positional: string[] = [];
  let to: string | undefined;
  let target: string | undefined;
  let table: string | undefined;
  let overwrite = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--to") {
      to = argv[++i];
      target = argv[++i];
    } else if (a === "--table") table = argv[++i];
    else if (a === "--overwrite") overwrite = true;
    else if (a === "-h" || a === "--help") {
      out(EXPORT_USAGE);
      return 0;
    } else if (a.startsWith("--")) {
      err(`vqlite export: unknown option ${a}\n${EXPORT_USAGE}`);
      return 2;
    } else positional.push(a);
  }
  const [dbPath, name] = positional;
  if (positional.length !== 2 || !to || !target || !(FORMATS.has(to) || FLAVORS.has(to))) {
    err(`vqlite export: needs DB, COLLECTION and --to FORMAT TARGET\n${EXPORT_USAGE}`);
    return 2;
  }
  if (!fs.existsSync(dbPath!)) {
    err(`vqlite export: no database at ${dbPath}`);
    return 1;
  }
  try {
    using db = open(dbPath!);
    const options: ExportOptions = FLAVORS.has(to)
      ? { flavor: to as ExportOptions["flavor"] }
      : { format: to as ExportOptions["format"], table, overwrite };
    const n = db.collection(name!).exportTo(target!, options);
    out(`exported ${n} items of ${name} to ${to === "lancedb" ? `LanceDB table ${table ?? name} in ` : ""}${target}`);
    return 0;
  } catch (e) {
    if (e instanceof VqliteError) {
      err(`Error: ${e.message} [${e.code}]`);
      return 1;
    }
    throw e;
  }
}
