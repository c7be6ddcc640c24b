/**
 * Text and simple binary formats: JSON lines, CSV (id, vector, payload) and
 * .fvecs, read a piece at a time (4 MiB of text, or 4 MiB of .fvecs records)
 * so an import never holds the whole file. Parsing reports the file and line
 * of the first bad record.
 */
import { errors, io, VqliteError } from "../../errors";
import { readDataFile } from "../data_files";
import { closeQuietly, readAt } from "../files";
import { vfs } from "../fs";
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
type OnBatch = (records: Item[], firstRecord: number) => void;

/** Bytes of text parsed at a time (JSON lines, CSV): a piece ends at a line break. */
const PIECE_BYTES = 4 << 20;
/**
 * Bytes of vectors per batch from an .fvecs or .npy file. Each batch lives
 * several times over while it is staged (the read, the validated copy, the
 * items), so it sets a bulk load's transient memory: at 2 MiB, a COPY of 1M
 * 128-d rows into mmap + clustered peaked 18 MB lower than at 8 MiB, in the
 * same time.
 */
export const BINARY_BATCH_BYTES = 2 << 20;

/**
 * A file's bytes a piece at a time, each piece ending after a line break (for
 * CSV, one outside double quotes), so that no record spans two pieces. A
 * plain file is read with positioned reads; a .gz file is decompressed whole
 * (gzip has no random access) and then cut the same way. `progress` gets the
 * bytes consumed of the total.
 */
function* linePieces(file: string, quotes: boolean, progress?: Progress): Generator<Uint8Array> {
  const gz = file.endsWith(".gz");
  const whole = gz ? readDataFile(file) : null;
  const fd = whole ? -1 : io(`opening ${file}`, () => vfs.open(file, "r"));
  try {
    const size = whole ? whole.length : io(`reading ${file}`, () => vfs.fileSize(fd));
    let carry: Uint8Array = new Uint8Array(0);
    let inQuotes = false; // the quote state at the end of `carry`
    for (let pos = 0; pos < size || carry.length > 0; ) {
      const n = Math.min(PIECE_BYTES, size - pos);
      const fresh = whole ? whole.subarray(pos, pos + n) : io(`reading ${file}`, () => readAt(fd, n, pos));
      if (fresh.length !== n) throw errors.corrupt(file, "the file shrank while it was read");
      pos += n;
      const bytes = carry.length === 0 ? fresh : concat(carry, fresh);
      if (pos >= size) {
        carry = new Uint8Array(0);
        if (bytes.length > 0) yield bytes;
        progress?.(size, size);
        break;
      }
      // the last line break (outside quotes) of the piece: what follows waits for the next piece
      let cut = -1;
      let q: boolean = inQuotes;
      const from = carry.length;
      if (quotes) {
        for (let i = from; i < bytes.length; i++) {
          const b = bytes[i]!;
          if (b === 0x22) q = !q;
          else if (b === 0x0a && !q) cut = i;
        }
      } else cut = bytes.lastIndexOf(0x0a);
      if (cut < 0) {
        // no complete line yet: keep reading (a line longer than a piece is read whole)
        carry = bytes.slice();
        if (quotes) inQuotes = q;
        continue;
      }
      if (quotes) {
        // quote state at the end of the carried tail
        let t = false;
        for (let i = cut + 1; i < bytes.length; i++) if (bytes[i] === 0x22) t = !t;
        inQuotes = t;
      }
      carry = bytes.slice(cut + 1);
      yield bytes.subarray(0, cut + 1);
      progress?.(pos - carry.length, size);
    }
  } finally {
    if (fd >= 0) closeQuietly(fd);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

const utf8 = new TextDecoder();

/** Hand `items` to `onBatch` in slices of at most `batchRows`. */
function emit(items: Item[], first: number, onBatch: OnBatch, batchRows: number | undefined): void {
  const n = Math.max(1, batchRows ?? items.length);
  if (items.length <= n) {
    if (items.length > 0) onBatch(items, first);
    return;
  }
  for (let k = 0; k < items.length; k += n) onBatch(items.slice(k, k + n), first + k);
}

/** JSON lines, a piece at a time; `onBatch` gets the records of each piece (or `batchRows` of them) with the index of their first record. */
export function readJsonl(file: string, onBatch: OnBatch, progress?: Progress, batchRows?: number): number {
  let line = 0, records = 0;
  for (const piece of linePieces(file, false, progress)) {
    const lines = utf8.decode(piece).split(/\r?\n/);
    const items = parseJsonlLines(file, lines, line);
    // a piece ends with a line break, so split() leaves one empty string after it
    line += piece[piece.length - 1] === 0x0a ? lines.length - 1 : lines.length;
    emit(items, records, onBatch, batchRows);
    records += items.length;
  }
  return records;
}

/** Parse JSON lines; `firstLine` is the 0-based line number of lines[0]. */
function parseJsonlLines(file: string, lines: string[], firstLine: number): Item[] {
  const items: Item[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    const at = firstLine + i + 1;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw bad(file, at, `not valid JSON (${(e as Error).message})`);
    }
    if (!rec || typeof rec !== "object" || Array.isArray(rec)) throw bad(file, at, 'each line must be an object { "id", "vector", "payload"? }');
    const r = rec as { id?: unknown; vector?: unknown; payload?: unknown; sparse?: unknown };
    if (typeof r.id !== "string") throw bad(file, at, '"id" must be a string');
    if (!Array.isArray(r.vector)) throw bad(file, at, '"vector" must be an array of numbers');
    const item: Item = { id: r.id, vector: r.vector as number[], payload: (r.payload ?? null) as Item["payload"] };
    items.push(r.sparse === undefined || r.sparse === null ? item : { ...item, sparse: r.sparse as Item["sparse"] });
  }
  return items;
}

export function parseJsonl(file: string, text: string): Item[] {
  return parseJsonlLines(file, text.split(/\r?\n/), 0);
}

/** RFC 4180 fields: commas, double quotes with "" for a quote, newlines inside quotes. `line`: the 1-based line of text[0]. */
function csvRecords(text: string, line = 1): { fields: string[]; line: number }[] {
  const out: { fields: string[]; line: number }[] = [];
  let field = "";
  let fields: string[] = [];
  let quoted = false;
  let recordLine = line;
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

interface CsvHeader {
  readonly idCol: number;
  readonly vecCol: number;
  readonly payCol: number;
}

function csvHeader(file: string, fields: string[]): CsvHeader {
  const header = fields.map((h) => h.trim().toLowerCase());
  const idCol = header.indexOf("id"), vecCol = header.indexOf("vector"), payCol = header.indexOf("payload");
  if (idCol < 0 || vecCol < 0) throw bad(file, 1, "the header must name the columns id, vector and optionally payload");
  return { idCol, vecCol, payCol };
}

function csvItem(file: string, h: CsvHeader, fields: string[], line: number): Item {
  const id = fields[h.idCol];
  if (id === undefined || id === "") throw bad(file, line, "missing id");
  let vector: unknown;
  try {
    vector = JSON.parse(fields[h.vecCol] ?? "");
  } catch {
    throw bad(file, line, "vector must be a JSON array such as [0.1, 0.2]");
  }
  if (!Array.isArray(vector)) throw bad(file, line, "vector must be a JSON array such as [0.1, 0.2]");
  let payload: unknown = null;
  const pf = h.payCol >= 0 ? (fields[h.payCol] ?? "") : "";
  if (pf.trim() !== "") {
    try {
      payload = JSON.parse(pf);
    } catch {
      throw bad(file, line, "payload must be a JSON object");
    }
  }
  return { id, vector: vector as number[], payload: payload as Item["payload"] };
}

/** CSV (a header naming id, vector and optionally payload), a piece at a time. */
export function readCsv(file: string, onBatch: OnBatch, progress?: Progress, batchRows?: number): number {
  let header: CsvHeader | null = null;
  let line = 1, records = 0;
  for (const piece of linePieces(file, true, progress)) {
    const text = utf8.decode(piece);
    const recs = csvRecords(text, line);
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
    const items: Item[] = [];
    for (const r of recs) {
      if (header === null) header = csvHeader(file, r.fields);
      else items.push(csvItem(file, header, r.fields, r.line));
    }
    emit(items, records, onBatch, batchRows);
    records += items.length;
  }
  return records;
}

export function parseCsv(file: string, text: string): Item[] {
  const records = csvRecords(text);
  if (records.length === 0) return [];
  const h = csvHeader(file, records[0]!.fields);
  return records.slice(1).map((r) => csvItem(file, h, r.fields, r.line));
}

/**
 * .fvecs: per vector an int32 dimension then that many float32; ids are '0',
 * '1', ... Read `batchRows` records at a time with positioned reads (a .gz
 * file is decompressed whole first); each batch's vectors are views of the
 * bytes read.
 */
export function readFvecs(file: string, onBatch: OnBatch, options: { batchRows?: number; onProgress?: Progress } = {}): number {
  const gz = file.endsWith(".gz");
  const whole = gz ? readDataFile(file) : null;
  const fd = whole ? -1 : io(`opening ${file}`, () => vfs.open(file, "r"));
  try {
    const size = whole ? whole.length : io(`reading ${file}`, () => vfs.fileSize(fd));
    if (size === 0) return 0;
    const read = (n: number, at: number): Uint8Array => (whole ? whole.subarray(at, at + n) : io(`reading ${file}`, () => readAt(fd, n, at)));
    if (size < 4) throw bad(file, 1, "too short for an .fvecs file");
    const first = read(4, 0);
    const dim = new DataView(first.buffer, first.byteOffset, 4).getInt32(0, true);
    if (dim < 1 || dim > 65536) throw bad(file, 1, `bad dimension ${dim} in the first record`);
    const rec = (dim + 1) * 4;
    if (size % rec !== 0) throw bad(file, 1, `size ${size} is not a whole number of ${dim}-dimensional records`);
    const n = size / rec;
    const batchRows = Math.max(1, options.batchRows ?? Math.max(1, Math.floor(BINARY_BATCH_BYTES / rec)));
    for (let r0 = 0; r0 < n; r0 += batchRows) {
      const m = Math.min(batchRows, n - r0);
      const bytes = read(m * rec, r0 * rec);
      if (bytes.length !== m * rec) throw errors.corrupt(file, "the file shrank while it was read");
      // records are 4-byte aligned: the vectors are views of the bytes read (Bun runs on little-endian machines only)
      const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
      const ints = new Int32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
      const items: Item[] = new Array(m);
      for (let i = 0; i < m; i++) {
        const d = ints[i * (dim + 1)]!;
        if (d !== dim) throw bad(file, r0 + i + 1, `record ${r0 + i} has dimension ${d}, not ${dim}`);
        items[i] = { id: String(r0 + i), vector: new Float32Array(aligned.buffer, aligned.byteOffset + i * rec + 4, dim) };
      }
      onBatch(items, r0);
      options.onProgress?.(r0 + m, n);
    }
    return n;
  } finally {
    if (fd >= 0) closeQuietly(fd);
  }
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
