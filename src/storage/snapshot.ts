/**
 * Snapshot and manifest files: whole-file images written atomically and
 * verified by checksum on read.
 *
 * Snapshot: "VQLSNAP\1" | u32 version (2) | body | ranges left out of the checksum
 *   (f64 offset, f64 length each) | u32 their count | u32 CRC32(every byte before
 *   it but those ranges). Version 1 has no table: the CRC covers everything.
 * Manifest: JSON text, then a line "crc32 XXXXXXXX" over the JSON text.
 */
import { errors, io } from "../errors";
import { ByteReader, ByteWriter, crc32 } from "./binary";
import { readFileBytes, writeFileAtomic, writeFileAtomicStream } from "./files";
import { vfs } from "./fs";

const SNAP_MAGIC = new Uint8Array([0x56, 0x51, 0x4c, 0x53, 0x4e, 0x41, 0x50, 0x01]); // "VQLSNAP\1"
/**
 * 1: the checksum covers every byte before it. 2: byte ranges the body's writer
 * leaves to its reader (ByteWriter.unchecked: a clustered index's leaf arrays,
 * each with its own CRC32 in the tree, verified when first used) are listed after the body and
 * left out of the file's checksum, so opening reads and checksums only the
 * rest: its cost does not grow with the rows.
 */
const SNAP_VERSION = 2;

export function writeSnapshotFile(file: string, body: Uint8Array): void {
  writeSnapshotStream(file, (w) => w.raw(body));
}

/**
 * Write a snapshot whose body `fill` writes into a ByteWriter that streams
 * into the file a chunk at a time (the checksum is chained over the chunks),
 * so a snapshot of millions of rows never exists whole in RAM.
 */
export function writeSnapshotStream(file: string, fill: (w: ByteWriter) => void): void {
  writeFileAtomicStream(file, (writeOut) => {
    // the writer hands over its full chunks (written as they are) and small pieces (a leaf's
    // arrays, the end of the tree): gather the small ones into fewer writes
    const out = new Uint8Array(1 << 20);
    let held = 0;
    const write = (chunk: Uint8Array) => {
      if (chunk.length >= 1 << 16 || held + chunk.length > out.length) {
        if (held > 0) writeOut(out.subarray(0, held));
        held = 0;
        if (chunk.length >= 1 << 16) return writeOut(chunk);
      }
      out.set(chunk, held);
      held += chunk.length;
    };
    const head = new Uint8Array(12);
    head.set(SNAP_MAGIC, 0);
    new DataView(head.buffer).setUint32(8, SNAP_VERSION, true);
    write(head);
    let sum = crc32(head);
    let at = head.length;
    // the ranges left out of the checksum: offset and length pairs, in file order
    const skipped: number[] = [];
    const w = new ByteWriter(
      1 << 16,
      (chunk) => {
        sum = crc32(chunk, sum);
        write(chunk);
        at += chunk.length;
      },
      (chunk) => {
        const last = skipped.length - 2;
        if (last >= 0 && skipped[last]! + skipped[last + 1]! === at) skipped[last + 1]! += chunk.length;
        else skipped.push(at, chunk.length);
        write(chunk);
        at += chunk.length;
      },
    );
    fill(w);
    w.flush();
    const tail = new Uint8Array(skipped.length * 8 + 8);
    const v = new DataView(tail.buffer);
    skipped.forEach((x, i) => v.setFloat64(i * 8, x, true));
    v.setUint32(skipped.length * 8, skipped.length / 2, true);
    sum = crc32(tail.subarray(0, tail.length - 4), sum);
    v.setUint32(tail.length - 4, sum, true);
    write(tail);
    if (held > 0) writeOut(out.subarray(0, held));
  });
}

/** From this size a snapshot is mapped rather than read: at 1M rows reading 29 MB into fresh memory took 32–64 ms, mapping it and checksumming the mapping 3 ms. */
const MAP_FROM_BYTES = 1 << 20;

/**
 * Read and verify a snapshot (but for the ranges its checksum leaves to their
 * readers); returns a reader positioned at the body. A large
 * snapshot is mapped privately (snapshots are written whole and renamed into
 * place, never changed or cut, so the mapping stays valid; removing the file
 * later leaves it readable): what its readers copy out comes from the page cache,
 * and a reader may keep a view on it instead (ByteReader.mapped: an HNSW level 0).
 * The body starts at byte 12, a multiple of 4, so what the body's writer aligned
 * (ByteWriter.u32arrayAligned) is aligned in the file and in the page-aligned mapping.
 */
export function readSnapshotFile(file: string): ByteReader {
  const size = io(`reading ${file}`, () => vfs.sizeOf(file));
  const mapped = size >= MAP_FROM_BYTES;
  const bytes = mapped ? io(`reading ${file}`, () => vfs.mapPrivate(file)) : readFileBytes(file);
  if (bytes.length < 16) throw errors.corrupt(file, "too short to be a snapshot");
  for (let i = 0; i < 8; i++) if (bytes[i] !== SNAP_MAGIC[i]) throw errors.corrupt(file, "not a vqlite snapshot (bad magic)");
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = v.getUint32(8, true);
  if (version !== 1 && version !== 2) throw errors.corrupt(file, `unsupported snapshot version ${version}`);
  const end = bytes.length - 4;
  if (version === 1) {
    if (v.getUint32(end, true) !== crc32(bytes.subarray(0, end))) throw errors.corrupt(file, "checksum mismatch");
    return new ByteReader(bytes, file, 12, end, mapped);
  }
  // version 2: the body, the ranges left out of the checksum (f64 offset, f64 length each), their count, the checksum
  const count = v.getUint32(end - 4, true);
  const table = end - 4 - count * 16;
  if (count > (bytes.length - 20) / 16 || table < 12) throw errors.corrupt(file, "bad table of separately checked ranges");
  let sum: number | undefined;
  let from = 0;
  for (let i = 0; i < count; i++) {
    const off = v.getFloat64(table + i * 16, true), len = v.getFloat64(table + i * 16 + 8, true);
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < Math.max(12, from) || len < 1 || off + len > table) {
      throw errors.corrupt(file, "bad table of separately checked ranges");
    }
    sum = crc32(bytes.subarray(from, off), sum);
    from = off + len;
  }
  if (v.getUint32(end, true) !== crc32(bytes.subarray(from, end), sum)) throw errors.corrupt(file, "checksum mismatch");
  return new ByteReader(bytes, file, 12, table, mapped);
}

export function writeManifestFile(file: string, value: unknown): void {
  const json = JSON.stringify(value, null, 2);
  const sum = crc32(new TextEncoder().encode(json)).toString(16).padStart(8, "0");
  writeFileAtomic(file, `${json}\ncrc32 ${sum}\n`);
}

export function readManifestFile(file: string): unknown {
  const text = new TextDecoder().decode(readFileBytes(file));
  const m = /^([\s\S]*)\ncrc32 ([0-9a-f]{8})\n$/.exec(text);
  if (!m) throw errors.corrupt(file, "not a vqlite manifest");
  const json = m[1]!;
  if (crc32(new TextEncoder().encode(json)).toString(16).padStart(8, "0") !== m[2]) {
    throw errors.corrupt(file, "checksum mismatch");
  }
  try {
    return JSON.parse(json);
  } catch {
    throw errors.corrupt(file, "manifest is not valid JSON");
  }
}
