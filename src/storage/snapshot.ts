/**
 * Snapshot and manifest files: whole-file images written atomically and
 * verified by checksum on read.
 *
 * Snapshot: "VQLSNAP\1" | u32 version | body | u32 CRC32(everything before it)
 * Manifest: JSON text, then a line "crc32 XXXXXXXX" over the JSON text.
 */
import { errors, io } from "../errors";
import { ByteReader, ByteWriter, crc32 } from "./binary";
import { readFileBytes, writeFileAtomic, writeFileAtomicStream } from "./files";
import { vfs } from "./fs";

const SNAP_MAGIC = new Uint8Array([0x56, 0x51, 0x4c, 0x53, 0x4e, 0x41, 0x50, 0x01]); // "VQLSNAP\1"
const SNAP_VERSION = 1;

export function writeSnapshotFile(file: string, body: Uint8Array): void {
  writeSnapshotStream(file, (w) => w.raw(body));
}

/**
 * Write a snapshot whose body `fill` writes into a ByteWriter that streams
 * into the file a chunk at a time (the checksum is chained over the chunks),
 * so a snapshot of millions of rows never exists whole in RAM.
 */
export function writeSnapshotStream(file: string, fill: (w: ByteWriter) => void): void {
  writeFileAtomicStream(file, (write) => {
    const head = new Uint8Array(12);
    head.set(SNAP_MAGIC, 0);
    new DataView(head.buffer).setUint32(8, SNAP_VERSION, true);
    write(head);
    let sum = crc32(head);
    const w = new ByteWriter(1 << 16, (chunk) => {
      sum = crc32(chunk, sum);
      write(chunk);
    });
    fill(w);
    w.flush();
    const tail = new Uint8Array(4);
    new DataView(tail.buffer).setUint32(0, sum, true);
    write(tail);
  });
}

/** From this size a snapshot is mapped rather than read: at 1M rows reading 29 MB into fresh memory took 32–64 ms, mapping it and checksumming the mapping 3 ms. */
const MAP_FROM_BYTES = 1 << 20;

/**
 * Read and verify a snapshot; returns a reader positioned at the body. A large
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
  if (version !== SNAP_VERSION) throw errors.corrupt(file, `unsupported snapshot version ${version}`);
  const end = bytes.length - 4;
  if (v.getUint32(end, true) !== crc32(bytes.subarray(0, end))) throw errors.corrupt(file, "checksum mismatch");
  return new ByteReader(bytes, file, 12, end, mapped);
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
