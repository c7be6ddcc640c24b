/**
 * COPY: evaluates the statement's file and options and hands them to the
 * collection's importFrom / exportTo (codecs live in src/storage/formats).
 * Option values may be parameters; a bad option value is reported where it stands.
 */
import * as path from "node:path";
import type { Collection } from "../collection/collection";
import type { ExportOptions, ImportOptions } from "../collection/transfer";
import { FORMATS, type ExportFlavor, type FileFormat } from "../storage/formats/types";
import type { Statement, ValueNode } from "./ast";
import { at, evaluateString, typeError, type Params } from "./values";

type CopyStatement = Extract<Statement, { kind: "copyFrom" | "copyTo" }>;

const FLAVORS: readonly ExportFlavor[] = ["pgvector", "qdrant", "milvus"];

function formatOption(node: ValueNode, params: Params, exporting: boolean): { format?: FileFormat; flavor?: ExportFlavor } {
  const v = evaluateString(node, params, "FORMAT").toLowerCase();
  if ((FORMATS as readonly string[]).includes(v) && v !== "lancedb") return { format: v as FileFormat };
  if (v === "feather") return { format: "arrow" };
  if (exporting && (FLAVORS as readonly string[]).includes(v)) return { flavor: v as ExportFlavor };
  const known = [...FORMATS.filter((f) => f !== "lancedb"), ...(exporting ? FLAVORS : [])].map((f) => `'${f}'`).join(", ");
  throw typeError(`FORMAT must be one of ${known}, got '${v}'`, node);
}

export function runCopy(c: Collection, stmt: CopyStatement, params: Params, onProgress?: (done: number, total: number) => void): { count: number; message: string } {
  const o = stmt.options;
  const exporting = stmt.kind === "copyTo";
  const target = evaluateString(stmt.file, params, stmt.lancedb ? "COPY's LanceDB directory" : "COPY's file");
  // LanceDB accepts URIs (s3://…); local paths are resolved against the working directory
  const file = stmt.lancedb && /^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target : path.resolve(target);
  const str = (n: ValueNode | undefined, what: string) => (n ? evaluateString(n, params, what) : undefined);
  const format = o.format ? formatOption(o.format, params, exporting) : {};
  if (stmt.lancedb && o.format) throw typeError("FORMAT does not apply to a LANCEDB copy", o.format);
  if (o.table && !stmt.lancedb) throw typeError("TABLE applies to COPY ... LANCEDB", o.table);
  if (o.overwrite && !(stmt.lancedb && exporting)) throw typeError("OVERWRITE applies to COPY ... TO LANCEDB", stmt);
  const columns = { id: str(o.id, "ID"), vector: str(o.vector, "VECTOR"), payload: str(o.payload, "PAYLOAD"), sparse: str(o.sparse, "SPARSE") };
  const table = str(o.table, "TABLE");
  if (exporting) {
    if (o.exclude) throw typeError("EXCLUDE applies to COPY ... FROM", o.exclude[0]!);
    const options: ExportOptions = { ...columns, ...format, table, overwrite: o.overwrite, onProgress, ...(stmt.lancedb ? { format: "lancedb" } : {}) };
    const n = at(stmt.file, () => c.exportTo(file, options));
    return { count: n, message: `copied ${n} items to ${stmt.lancedb ? `LanceDB table ${table ?? c.name} in ` : ""}${file}` };
  }
  if (stmt.lancedb && table === undefined) throw typeError("COPY ... FROM LANCEDB needs the table: FROM LANCEDB 'dir' TABLE 'name'", stmt.file);
  const exclude = o.exclude?.map((n) => evaluateString(n, params, "EXCLUDE"));
  const options: ImportOptions = { ...columns, format: stmt.lancedb ? "lancedb" : format.format, table, exclude, onProgress };
  const n = at(stmt.file, () => c.importFrom(file, options));
  return { count: n, message: `copied ${n} items from ${stmt.lancedb ? `LanceDB table ${table} in ` : ""}${file}` };
}
