/**
 * NumPy .npy files (format versions 1.0–3.0): a magic string, a header that
 * is a Python dict literal ({'descr': '<f4', 'fortran_order': False,
 * 'shape': (n, d), }), then the raw array. vqlite reads 2-D float32 or
 * float64 arrays in C order (either byte order) in chunks of rows, and writes
 * little-endian float32 (version 1.0). Rows get the ids '0', '1', … as with .fvecs.
 */
import { errors, io, VqliteError } from "../../errors";
import { closeQuietly, readAt } from "../files";
import { writeStreaming } from "./sink";
import { fileError, type ExportRecord, type ImportRecord, type Progress } from "./types";
import { vfs } from "../fs";
import { BINARY_BATCH_BYTES } from "./text";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export interface NpyHeader {
  readonly rows: number;
  readonly dimension: number;
  readonly bytesPerValue: 4 | 8;
  readonly littleEndian: boolean;
  /** Where the array data starts. */
  readonly dataOffset: number;
}

function corrupt(file: string, why: string): VqliteError {
  return errors.corrupt(file, why);
}

/** Parse the header of an .npy file from its first bytes. */
export function parseNpyHeader(file: string, head: Uint8Array, fileSize: number): NpyHeader {
  if (head.length < 10 || MAGIC.some((b, i) => head[i] !== b)) throw corrupt(file, "not a .npy file (no \\x93NUMPY magic)");
  const major = head[6]!;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let headerLen: number, start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (head.length < 12) throw corrupt(file, "truncated header");
    headerLen = view.getUint32(8, true);
    start = 12;
  } else throw corrupt(file, `unsupported .npy format version ${major}.${head[7]}`);
  if (start + headerLen > head.length) throw corrupt(file, "truncated header");
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(head.subarray(start, start + headerLen));
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw corrupt(file, `unreadable header ${JSON.stringify(text.trim())}`);
  const m = /^([<>=|])f([48])$/.exec(descr);
  if (!m) throw fileError(file, `dtype ${descr} is not supported: .npy imports take float32 (<f4) or float64 (<f8) arrays`);
  if (fortran === "True") throw fileError(file, "the array is in Fortran order; save it in C order (numpy.ascontiguousarray)");
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(Number);
  if (shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw fileError(file, `the array has shape (${shapeText.trim()}); .npy imports take a 2-D array (rows, dimension)`);
  }
  const [rows, dimension] = shape as [number, number];
  const bytesPerValue = m[2] === "4" ? 4 : 8;
  const dataOffset = start + headerLen;
  const expected = dataOffset + rows * dimension * bytesPerValue;
  if (fileSize !== expected) throw corrupt(file, `size ${fileSize} does not match shape (${rows}, ${dimension}) of ${descr} (expected ${expected} bytes)`);
  return { rows, dimension, bytesPerValue, littleEndian: m[1] !== ">", dataOffset };
}

/**
 * Read an .npy file in batches of rows; each batch's vectors are float32
 * views into one buffer per batch. Only one batch is read at a time.
 */
export function readNpy(
  file: string,
  onBatch: (records: ImportRecord[], firstRow: number) => void,
  options: { dimension?: number; batchRows?: number; onProgress?: Progress } = {},
): NpyHeader {
  const fd = io(`opening ${file}`, () => vfs.open(file, "r"));
  try {
    const size = io(`reading ${file}`, () => vfs.fileSize(fd));
    const first = io(`reading ${file}`, () => readAt(fd, Math.min(size, 12), 0));
    let headLen = 10;
    if (first.length >= 10 && (first[6] === 2 || first[6] === 3) && first.length >= 12) {
      headLen = 12 + new DataView(first.buffer, first.byteOffset).getUint32(8, true);
    } else if (first.length >= 10) headLen = 10 + new DataView(first.buffer, first.byteOffset).getUint16(8, true);
    const head = io(`reading ${file}`, () => readAt(fd, Math.min(size, headLen), 0));
    const h = parseNpyHeader(file, head, size);
    if (options.dimension !== undefined && h.rows > 0 && h.dimension !== options.dimension) {
      throw new VqliteError("DIMENSION_MISMATCH", `${file}: row 0, column "vector": vector has dimension ${h.dimension}, collection expects ${options.dimension}`);
    }
    const rowBytes = h.dimension * h.bytesPerValue;
    const batchRows = Math.max(1, options.batchRows ?? Math.max(1, Math.floor(BINARY_BATCH_BYTES / Math.max(1, rowBytes))));
    const nativeLE = true; // Bun runs on little-endian machines only
    for (let r0 = 0; r0 < h.rows; r0 += batchRows) {
      const n = Math.min(batchRows, h.rows - r0);
      const raw = io(`reading ${file}`, () => readAt(fd, n * rowBytes, h.dataOffset + r0 * rowBytes));
      if (raw.length !== n * rowBytes) throw corrupt(file, "truncated data");
      let values: Float32Array;
      if (h.bytesPerValue === 4 && h.littleEndian === nativeLE) {
        values = new Float32Array(raw.buffer, raw.byteOffset, n * h.dimension);
      } else {
        values = new Float32Array(n * h.dimension);
        const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
        if (h.bytesPerValue === 4) for (let i = 0; i < values.length; i++) values[i] = dv.getFloat32(i * 4, h.littleEndian);
        else for (let i = 0; i < values.length; i++) values[i] = dv.getFloat64(i * 8, h.littleEndian);
      }
      const records: ImportRecord[] = new Array(n);
      for (let i = 0; i < n; i++) records[i] = { id: String(r0 + i), vector: values.subarray(i * h.dimension, (i + 1) * h.dimension) };
      onBatch(records, r0);
      options.onProgress?.(r0 + n, h.rows);
    }
    return h;
  } finally {
    closeQuietly(fd);
  }
}

export function npyHeaderBytes(rows: number, dimension: number): Uint8Array {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dimension}), }`;
  // magic(6) + version(2) + len(2) + dict + padding + \n, a multiple of 64 bytes
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, " ") + "\n";
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  return out;
}

/** Write the vectors as a (count, dimension) little-endian float32 array, streaming. Ids and payloads are not kept. */
export function writeNpy(
  file: string,
  records: Iterable<ExportRecord>,
  options: { dimension: number; count: number; onProgress?: Progress },
): number {
  const { dimension, count } = options;
  return writeStreaming(file, (sink) => {
    sink.write(npyHeaderBytes(count, dimension));
    const chunkRows = Math.max(1, Math.floor((1 << 20) / (dimension * 4)));
    const chunk = new Float32Array(chunkRows * dimension);
    let inChunk = 0;
    let written = 0;
    for (const r of records) {
      if (written === count) throw errors.invalidArgument(`${file}: the collection has more than the ${count} items counted`);
      chunk.set(r.vector, inChunk * dimension);
      inChunk++;
      written++;
      if (inChunk === chunkRows) {
        sink.write(new Uint8Array(chunk.buffer, 0, inChunk * dimension * 4));
        inChunk = 0;
        options.onProgress?.(written, count);
      }
    }
    if (inChunk > 0) sink.write(new Uint8Array(chunk.buffer, 0, inChunk * dimension * 4));
    if (written !== count) throw errors.invalidArgument(`${file}: expected ${count} items, got ${written}`);
    options.onProgress?.(written, count);
  });
}
