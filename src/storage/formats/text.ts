/**
 * Text and simple binary formats: JSON lines, CSV (id, vector, payload) and
 * .fvecs. Parsing reports the file and line of the first bad record.
 */
import { VqliteError } from "../../errors";
import type { ImportRecord } from "./types";

type Item = ImportRecord;

export type CopyFormat = "jsonl" | "csv" | "fvecs";

export function formatOf(file: string): CopyFormat {
  const f = file.toLowerCase().replace(/\.gz$/, "");
  if (f.endsWith(".jsonl") || f.endsWith(".ndjson") || f.endsWith(".json")) return "jsonl";
  if (f.endsWith(".csv")) return "csv";
  if (f.endsWith(".fvecs")) return "fvecs";
  throw new VqliteError("INVALID_ARGUMENT", `COPY cannot tell the format of ${file}: use .jsonl, .csv or .fvecs[.gz]`);
}

function bad(file: string, line: number, why: string): VqliteError {
  return new VqliteError("INVALID_ARGUMENT", `${file}:${line}: ${why}`);
}

type Progress = (done: number, total: number) => void;

export function parseJsonl(file: string, text: string, progress?: Progress): Item[] {
  const lines = text.split(/\r?\n/);
  const items: Item[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw bad(file, i + 1, `not valid JSON (${(e as Error).message})`);
    }
    if (!rec || typeof rec !== "object" || Array.isArray(rec)) throw bad(file, i + 1, 'each line must be an object { "id", "vector", "payload"? }');
    const r = rec as { id?: unknown; vector?: unknown; payload?: unknown; sparse?: unknown };
    if (typeof r.id !== "string") throw bad(file, i + 1, '"id" must be a string');
    if (!Array.isArray(r.vector)) throw bad(file, i + 1, '"vector" must be an array of numbers');
    const item: Item = { id: r.id, vector: r.vector as number[], payload: (r.payload ?? null) as Item["payload"] };
    items.push(r.sparse === undefined || r.sparse === null ? item : { ...item, sparse: r.sparse as Item["sparse"] });
    if (progress && i % 1000 === 0) progress(i, lines.length);
  }
  return items;
}

/** RFC 4180 fields: commas, double quotes with "" for a quote, newlines inside quotes. */
function csvRecords(text: string): { fields: string[]; line: number }[] {
  const out: { fields: string[]; line: number }[] = [];
  let field = "";
  let fields: string[] = [];
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === "\n") line++;
        field += ch;
      }
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      fields.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      fields.push(field);
      if (fields.length > 1 || fields[0] !== "") out.push({ fields, line: recordLine });
      fields = [];
      field = "";
      line++;
      recordLine = line;
    } else field += ch;
  }
  if (field !== "" || fields.length > 0) {
    fields.push(field);
    out.push({ fields, line: recordLine });
  }
  return out;
}

export function parseCsv(file: string, text: string, progress?: Progress): Item[] {
  const records = csvRecords(text);
  if (records.length === 0) return [];
  const header = records[0]!.fields.map((h) => h.trim().toLowerCase());
  const idCol = header.indexOf("id"), vecCol = header.indexOf("vector"), payCol = header.indexOf("payload");
  if (idCol < 0 || vecCol < 0) throw bad(file, 1, "the header must name the columns id, vector and optionally payload");
  const items: Item[] = [];
  for (let r = 1; r < records.length; r++) {
    const { fields, line } = records[r]!;
    const id = fields[idCol];
    if (id === undefined || id === "") throw bad(file, line, "missing id");
    let vector: unknown;
    try {
      vector = JSON.parse(fields[vecCol] ?? "");
    } catch {
      throw bad(file, line, "vector must be a JSON array such as [0.1, 0.2]");
    }
    if (!Array.isArray(vector)) throw bad(file, line, "vector must be a JSON array such as [0.1, 0.2]");
    let payload: unknown = null;
    const pf = payCol >= 0 ? (fields[payCol] ?? "") : "";
    if (pf.trim() !== "") {
      try {
        payload = JSON.parse(pf);
      } catch {
        throw bad(file, line, "payload must be a JSON object");
      }
    }
    items.push({ id, vector: vector as number[], payload: payload as Item["payload"] });
    if (progress && r % 1000 === 0) progress(r, records.length);
  }
  return items;
}

/** .fvecs: per vector an int32 dimension then that many float32; ids are '0', '1', ... */
export function parseFvecs(file: string, bytes: Uint8Array, progress?: Progress): Item[] {
  if (bytes.length === 0) return [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) throw bad(file, 1, "too short for an .fvecs file");
  const dim = view.getInt32(0, true);
  if (dim < 1 || dim > 65536) throw bad(file, 1, `bad dimension ${dim} in the first record`);
  const rec = (dim + 1) * 4;
  if (bytes.length % rec !== 0) throw bad(file, 1, `size ${bytes.length} is not a whole number of ${dim}-dimensional records`);
  const n = bytes.length / rec;
  const all = new Float32Array(n * dim);
  const items: Item[] = new Array(n);
  for (let i = 0; i < n; i++) {
    if (view.getInt32(i * rec, true) !== dim) throw bad(file, i + 1, `record ${i} has dimension ${view.getInt32(i * rec, true)}, not ${dim}`);
    const v = all.subarray(i * dim, (i + 1) * dim);
    for (let j = 0; j < dim; j++) v[j] = view.getFloat32(i * rec + 4 + j * 4, true);
    items[i] = { id: String(i), vector: v };
    if (progress && i % 1000 === 0) progress(i, n);
  }
  return items;
}

export interface ExportedItem {
  readonly id: string;
  readonly vector: ArrayLike<number>;
  readonly payload: unknown;
}

export function formatJsonl(items: Iterable<ExportedItem>): string {
  let out = "";
  for (const it of items) out += `${JSON.stringify({ id: it.id, vector: Array.from(it.vector), payload: it.payload })}\n`;
  return out;
}

export function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function formatCsv(items: Iterable<ExportedItem>): string {
  let out = "id,vector,payload\n";
  for (const it of items) {
    out += `${csvField(it.id)},${csvField(JSON.stringify(Array.from(it.vector)))},${it.payload === null ? "" : csvField(JSON.stringify(it.payload))}\n`;
  }
  return out;
}
