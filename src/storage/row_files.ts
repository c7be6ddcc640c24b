/**
 * Row metadata files of an mmap collection: ids, payload texts and sparse
 * vectors on disk, read through Bun.mmap, with an on-disk id → row hash table.
 *
 * Three files, each a 4 KiB header page (magic, version) then data:
 *   NAME.TAG.rows   record heap, append-only. Version 1 (compression "none"), a record (8-byte aligned):
 *                   u32 idBytes | u32 payloadBytes (0xFFFFFFFF: no payload) | u32 nnz | u32 0
 *                   | id UTF-8 | payload UTF-8 | pad to 4 | u32 indices × nnz | f32 values × nnz | pad to 8
 *                   Version 2 (compression "zstd"): the header page holds at byte 12 the size of
 *                   the heap's zstd dictionary (0: none), which then opens the heap:
 *                   u32 DICT_TAG | u32 bytes | u32 bytes | u32 crc32(dictionary) | dictionary | pad to 8
 *                   (raw content: payload texts sampled across the rows when the file was written, at
 *                   most 16 KiB and 1/16 of the payload text).
 *                   Then blocks, each followed by the id records of its rows.
 *                   A block (8-byte aligned) holds the payloads and sparse vectors of consecutive
 *                   records, about BLOCK_TARGET raw bytes, as one zstd frame (with the dictionary):
 *                   u32 BLOCK_TAG | u32 frameBytes | u32 rawBytes | u32 crc32(frame) | frame | pad to 8
 *                   raw, per row with a payload or a sparse vector (4-aligned):
 *                   payload UTF-8 | pad to 4 | u32 indices × nnz | f32 values × nnz
 *                   An id record (8-byte aligned), what the row index points at; ids stay
 *                   uncompressed so the id hash lookup never decompresses:
 *                   u32 idBytes | u32 payloadBytes | u32 nnz | u32 offset in the raw block
 *                   | u32 blockLo | u32 blockHi (0: neither payload nor sparse) | id UTF-8 | pad to 8
 *                   Reading a payload decompresses its block once (checksum checked first);
 *                   the last few blocks read are cached.
 *   NAME.TAG.ridx   row index, append-only: 16 bytes per row
 *                   u32 offsetLo | u32 offsetHi | u32 recordBytes | u32 idHash   (offset 0: no record)
 *   NAME.TAG.hidx   open-addressing id hash table, written anew in parts (hash_slots.ts): u32 capacity | u32 rows covered
 *                   in the header, then `capacity` u32 slots of row + 1 (0: empty), linear probing
 *                   on idHash & (capacity − 1).
 *
 * What is committed (rows, heap end, rows the hash covers, and rows whose record
 * was replaced since the row index was written) is not in these files but in
 * the collection's snapshot, so a checkpoint commits with the manifest switch:
 * bytes appended past the committed ends by a checkpoint that never committed
 * are ignored and overwritten by the next one. Files only grow; a file is
 * never truncated (a mapping must never shrink) and committed bytes are never
 * rewritten.
 */
import { errors, io, rethrowIo } from "../errors";
import { crc32, jsonFromUtf8 } from "./binary";
import * as zlib from "node:zlib";
import { closeQuietly, readAt, readInto, syncDirectory, writeAll } from "./files";
import { writeHashSlots } from "./hash_slots";
import { vfs } from "./fs";
import * as path from "node:path";

export const ROW_FILE_HEADER = 4096;
const MAGIC_ROWS = "VQLROWS\u0001";
const MAGIC_RIDX = "VQLRIDX\u0001";
const MAGIC_HIDX = "VQLHIDX\u0001";
const NO_PAYLOAD = 0xffffffff;
/** First word of a compressed block (an id record starts with its id length, at most 1 KiB). */
const BLOCK_TAG = 0xb10c2d57;
const BLOCK_HEADER = 16;
const ID_RECORD_HEADER = 24;
const DICT_TAG = 0xd1c7d1c7;
/**
 * Raw bytes of payloads and sparse vectors per compressed block, and the most
 * payload text sampled into a heap's dictionary. On 1 KB text payloads
 * (bench/text_payloads.ts), per block: without a dictionary 8 KiB blocks are
 * 1.98× smaller, 32 KiB ones 2.18× (~55 µs to decompress one); with a 16 KiB
 * dictionary 8 KiB blocks are 2.18× smaller and decompress in ~25 µs. Larger
 * dictionaries compress better (112 KiB: 2.45×) but node:zlib loads the
 * dictionary on every call: compressing a block took 0.13 ms with 16 KiB,
 * 0.87 ms with 112 KiB (checkpoints 4× slower).
 */
export const BLOCK_TARGET = 8 * 1024;
const DICT_TARGET = 16 * 1024;
/** Payload text per byte of dictionary, at least: a small heap gets a small dictionary or none. */
const DICT_SHARE = 16;
const DICT_MIN = 4 * 1024;
const BLOCK_CACHE = 4;
const MAX_BLOCK_RAW = 1 << 28;

/** Blocks decompressed by this process (tests check that reads share blocks). */
export const blockStats = { decompressed: 0 };

/**
 * A dictionary of raw content: the payload texts of rows spread over [0, n),
 * up to DICT_TARGET bytes and to 1/DICT_SHARE of the payload text the rows
 * hold (estimated from the sample); null below DICT_MIN.
 */
function sampleDictionary(n: number, recordOf: (row: number) => RowRecord | null): Uint8Array | null {
  const sample: string[] = [];
  let chars = 0, visited = 0;
  // about 256 rows, 1 in `step` (odd, to avoid periodic patterns), so the sample spans the rows
  const step = Math.max(1, Math.floor(n / 256)) | 1;
  for (let row = 0; row < n; row += step) {
    visited++;
    const p = recordOf(row)?.payload;
    if (p === null || p === undefined) continue;
    sample.push(p);
    chars += p.length;
  }
  if (sample.length === 0) return null;
  const size = Math.min(DICT_TARGET, Math.floor(((chars / visited) * n) / DICT_SHARE));
  if (size < DICT_MIN) return null;
  // every `pick`-th sampled payload, so the dictionary too spans the rows
  const pick = Math.max(1, Math.floor(chars / size));
  const parts: string[] = [];
  let taken = 0;
  for (let i = 0; i < sample.length && taken < size; i += pick) {
    parts.push(sample[i]!);
    taken += sample[i]!.length;
  }
  const dict = encoder.encode(parts.join(""));
  return dict.length >= DICT_MIN ? dict.slice(0, size) : null;
}

/** How payloads and sparse vectors are stored in the record heap. */
export type Compression = "none" | "zstd";
const ROWS_VERSION: Record<Compression, number> = { none: 1, zstd: 2 };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Slots of the hash table built in RAM at once when it is rewritten (4 MiB; see writeHashSlots). VQLITE_HASH_PART_SLOTS overrides it (tests). */
function hashPartSlots(): number {
  const v = Number(process.env.VQLITE_HASH_PART_SLOTS);
  return Number.isSafeInteger(v) && v >= 16 && (v & (v - 1)) === 0 ? v : 1 << 20;
}

/** FNV-1a over the UTF-16 code units of an id (never 0 not needed: 0 is a valid hash). */
export function idHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** One row's metadata as stored. */
export interface RowRecord {
  id: string;
  payload: string | null;
  sparse: { indices: Uint32Array; values: Float32Array } | null;
}

/** Where a row's record lives in the heap. */
export interface RecordRef {
  offset: number;
  length: number;
}

/** What the snapshot holds to reopen a file set at its committed state. */
export interface RowFilesState {
  rowsFile: string;
  ridxFile: string;
  hidxFile: string;
  rows: number;
  heapEnd: number;
  hashRows: number;
  overrides: Map<number, RecordRef>;
  /** Recorded in the snapshot, checked against the heap's header version. */
  compression: Compression;
}

function header(magic: string, extra?: (v: DataView) => void, version = 1): Uint8Array {
  const out = new Uint8Array(ROW_FILE_HEADER);
  out.set(encoder.encode(magic), 0);
  const v = new DataView(out.buffer);
  v.setUint32(8, version, true);
  extra?.(v);
  return out;
}

function checkHeader(file: string, bytes: Uint8Array, magic: string, version = 1): void {
  const m = encoder.encode(magic);
  if (bytes.length < ROW_FILE_HEADER) throw errors.corrupt(file, "shorter than its header");
  for (let i = 0; i < m.length; i++) if (bytes[i] !== m[i]) throw errors.corrupt(file, "bad magic");
  const found = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (found !== version) throw errors.corrupt(file, found === 1 || found === 2 ? `version ${found}, its snapshot says ${version}` : "unsupported version");
}

/** Receives where each record went: its offset in the writer's buffer and its length. */
type OnRecord = (row: number, offset: number, length: number, rec: RowRecord) => void;

/** A growing byte buffer. */
class Bytes {
  buf = new Uint8Array(1 << 16);
  len = 0;

  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  get view(): DataView {
    return new DataView(this.buf.buffer);
  }
}

/**
 * Encodes records into compressed blocks and id records (version 2), for one
 * append at heap offset `base`. Rows are added in the order they are written.
 */
export class BlockWriter {
  readonly out = new Bytes();
  private readonly raw = new Bytes();
  private queued: { row: number; rec: RowRecord; at: number; payBytes: number }[] = [];

  constructor(
    private readonly base: number,
    private readonly onRecord: OnRecord,
    private readonly dict: Uint8Array | null,
  ) {}

  add(row: number, rec: RowRecord): void {
    const nnz = rec.sparse ? rec.sparse.indices.length : 0;
    let at = 0, payBytes = NO_PAYLOAD;
    if (rec.payload !== null || nnz > 0) {
      const raw = this.raw;
      raw.ensure((rec.payload === null ? 0 : rec.payload.length * 3) + 4 + nnz * 8);
      at = raw.len;
      let pos = at;
      if (rec.payload !== null) {
        payBytes = encoder.encodeInto(rec.payload, raw.buf.subarray(pos)).written;
        pos += payBytes;
      }
      const aligned = (pos + 3) & ~3;
      raw.buf.fill(0, pos, aligned);
      pos = aligned;
      if (nnz > 0) {
        raw.buf.set(new Uint8Array(rec.sparse!.indices.buffer, rec.sparse!.indices.byteOffset, nnz * 4), pos);
        pos += nnz * 4;
        raw.buf.set(new Uint8Array(rec.sparse!.values.buffer, rec.sparse!.values.byteOffset, nnz * 4), pos);
        pos += nnz * 4;
      }
      raw.len = pos;
    }
    this.queued.push({ row, rec, at, payBytes });
    if (this.raw.len >= BLOCK_TARGET) this.emit();
  }

  /** Write the current block, then the id records of its rows. */
  private emit(): void {
    if (this.queued.length === 0) return;
    const out = this.out;
    let blockAt = 0;
    if (this.raw.len > 0) {
      const raw = this.raw.buf.subarray(0, this.raw.len);
      const frame = this.dict === null ? zlib.zstdCompressSync(raw) : zlib.zstdCompressSync(raw, { dictionary: this.dict } as zlib.ZstdOptions);
      out.ensure(BLOCK_HEADER + frame.length + 8);
      blockAt = out.len;
      const v = out.view;
      v.setUint32(blockAt, BLOCK_TAG, true);
      v.setUint32(blockAt + 4, frame.length, true);
      v.setUint32(blockAt + 8, this.raw.len, true);
      v.setUint32(blockAt + 12, crc32(frame), true);
      out.buf.set(frame, blockAt + BLOCK_HEADER);
      const end = (blockAt + BLOCK_HEADER + frame.length + 7) & ~7;
      out.buf.fill(0, blockAt + BLOCK_HEADER + frame.length, end);
      out.len = end;
    }
    const block = this.raw.len > 0 ? this.base + blockAt : 0;
    for (const q of this.queued) {
      const nnz = q.rec.sparse ? q.rec.sparse.indices.length : 0;
      out.ensure(ID_RECORD_HEADER + q.rec.id.length * 3 + 8);
      const start = out.len;
      const idBytes = encoder.encodeInto(q.rec.id, out.buf.subarray(start + ID_RECORD_HEADER)).written;
      const end = (start + ID_RECORD_HEADER + idBytes + 7) & ~7;
      out.buf.fill(0, start + ID_RECORD_HEADER + idBytes, end);
      const v = out.view;
      const hasData = q.payBytes !== NO_PAYLOAD || nnz > 0;
      v.setUint32(start, idBytes, true);
      v.setUint32(start + 4, q.payBytes, true);
      v.setUint32(start + 8, nnz, true);
      v.setUint32(start + 12, hasData ? q.at : 0, true);
      v.setUint32(start + 16, hasData ? block >>> 0 : 0, true);
      v.setUint32(start + 20, hasData ? Math.floor(block / 4294967296) : 0, true);
      out.len = end;
      this.onRecord(q.row, start, end - start, q.rec);
    }
    this.queued = [];
    this.raw.len = 0;
  }

  /** Write what is left; `out` then holds everything to append. */
  finish(): void {
    this.emit();
  }
}

/** Encodes records into one growing buffer, 8-byte aligned, for one append. */
export class RecordWriter extends Bytes {

  /** Encode a record; returns its offset in this buffer and its length. */
  add(rec: RowRecord): RecordRef {
    const idLen = rec.id.length * 3, payLen = rec.payload === null ? 0 : rec.payload.length * 3;
    const nnz = rec.sparse ? rec.sparse.indices.length : 0;
    this.ensure(16 + idLen + payLen + 4 + nnz * 8 + 8);
    const start = this.len;
    const v = new DataView(this.buf.buffer);
    let pos = start + 16;
    const idBytes = encoder.encodeInto(rec.id, this.buf.subarray(pos)).written;
    pos += idBytes;
    let payBytes = NO_PAYLOAD;
    if (rec.payload !== null) {
      payBytes = encoder.encodeInto(rec.payload, this.buf.subarray(pos)).written;
      pos += payBytes;
    }
    pos = (pos + 3) & ~3;
    if (nnz > 0) {
      this.buf.set(new Uint8Array(rec.sparse!.indices.buffer, rec.sparse!.indices.byteOffset, nnz * 4), pos);
      pos += nnz * 4;
      this.buf.set(new Uint8Array(rec.sparse!.values.buffer, rec.sparse!.values.byteOffset, nnz * 4), pos);
      pos += nnz * 4;
    }
    const end = (pos + 7) & ~7;
    this.buf.fill(0, pos, end);
    v.setUint32(start, idBytes, true);
    v.setUint32(start + 4, payBytes, true);
    v.setUint32(start + 8, nnz, true);
    v.setUint32(start + 12, 0, true);
    this.len = end;
    return { offset: start, length: end - start };
  }

  reset(): void {
    this.len = 0;
  }
}

function openFile(file: string, magic: string, version = 1): { fd: number; size: number } {
  return io(`opening ${file}`, () => {
    const fd = vfs.open(file, "r+");
    try {
      const size = vfs.fileSize(fd);
      checkHeader(file, readAt(fd, ROW_FILE_HEADER, 0), magic, version);
      return { fd, size };
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
  });
}

function createFile(file: string, head: Uint8Array): number {
  return io(`creating ${file}`, () => {
    const fd = vfs.open(file, "w+");
    try {
      writeAll(fd, head, 0);
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
    return fd;
  });
}

/**
 * A committed file set, mapped. Reads never touch rows past `rows`; appends go
 * past the committed ends and become committed only when the caller's snapshot does.
 */
export class RowFiles {
  private heapMap!: Uint8Array;
  private heapView!: DataView;
  private ridx!: Uint32Array;
  private slots!: Uint32Array;
  private hashMask = 0;
  /** The heap's zstd dictionary (version 2 heaps that have one). */
  private dict: Uint8Array | null = null;

  private constructor(
    readonly dir: string,
    private heapFd: number,
    private ridxFd: number,
    readonly state: RowFilesState,
  ) {}

  get rows(): number {
    return this.state.rows;
  }

  /** Rows [0, hashRows) are found through the hash table. */
  get hashRows(): number {
    return this.state.hashRows;
  }

  /** Open a committed state (from a snapshot); checks every file holds its committed bytes. */
  static open(dir: string, st: RowFilesState): RowFiles {
    const heap = openFile(path.join(dir, st.rowsFile), MAGIC_ROWS, ROWS_VERSION[st.compression]);
    let ridx: { fd: number; size: number } | null = null;
    try {
      ridx = openFile(path.join(dir, st.ridxFile), MAGIC_RIDX);
      if (heap.size < st.heapEnd) throw errors.corrupt(path.join(dir, st.rowsFile), `holds ${heap.size} bytes, ${st.heapEnd} committed`);
      if (ridx.size < ROW_FILE_HEADER + st.rows * 16) throw errors.corrupt(path.join(dir, st.ridxFile), `holds fewer than the ${st.rows} committed rows`);
      const f = new RowFiles(dir, heap.fd, ridx.fd, st);
      f.remap();
      if (st.compression === "zstd") f.readDictionary();
      f.mapHash();
      return f;
    } catch (e) {
      closeQuietly(heap.fd);
      if (ridx) closeQuietly(ridx.fd);
      throw e;
    }
  }

  /**
   * Write a new file set under `tag` from rows [0, n): `recordOf(row)` gives a
   * live row's record, null for a dead row. Files are synced; the caller commits.
   * An existing file of the same name (left by a failed attempt, never mapped
   * by a reader) is overwritten.
   */
  static write(
    dir: string,
    base: string,
    tag: string,
    n: number,
    recordOf: (row: number) => RowRecord | null,
    live: (row: number) => boolean,
    compression: Compression = "none",
  ): RowFiles {
    const st: RowFilesState = {
      rowsFile: `${base}.${tag}.rows`,
      ridxFile: `${base}.${tag}.ridx`,
      hidxFile: `${base}.${tag}.hidx`,
      rows: 0,
      heapEnd: ROW_FILE_HEADER,
      hashRows: 0,
      overrides: new Map(),
      compression,
    };
    const dict = compression === "zstd" ? sampleDictionary(n, recordOf) : null;
    const head = header(MAGIC_ROWS, (v) => v.setUint32(12, dict?.length ?? 0, true), ROWS_VERSION[compression]);
    const heapFd = createFile(path.join(dir, st.rowsFile), head);
    let ridxFd = -1;
    try {
      ridxFd = createFile(path.join(dir, st.ridxFile), header(MAGIC_RIDX));
      const f = new RowFiles(dir, heapFd, ridxFd, st);
      if (dict !== null) f.writeDictionary(dict);
      const CHUNK = 65536;
      for (let start = 0; start < n; start += CHUNK) {
        const end = Math.min(n, start + CHUNK);
        f.appendRows(start, end, recordOf);
      }
      f.syncData();
      f.remap();
      f.writeHash(st.hidxFile, n, live);
      syncDirectory(dir);
      return f;
    } catch (e) {
      closeQuietly(heapFd);
      if (ridxFd >= 0) closeQuietly(ridxFd);
      throw e;
    }
  }

  /** Open the heap with its dictionary record (a new file). */
  private writeDictionary(dict: Uint8Array): void {
    const rec = new Uint8Array((BLOCK_HEADER + dict.length + 7) & ~7);
    const v = new DataView(rec.buffer);
    v.setUint32(0, DICT_TAG, true);
    v.setUint32(4, dict.length, true);
    v.setUint32(8, dict.length, true);
    v.setUint32(12, crc32(dict), true);
    rec.set(dict, BLOCK_HEADER);
    io(`writing ${path.join(this.dir, this.state.rowsFile)}`, () => writeAll(this.heapFd, rec, ROW_FILE_HEADER));
    this.state.heapEnd = ROW_FILE_HEADER + rec.length;
    this.dict = dict;
  }

  /** Load and check the dictionary a version 2 heap's header announces. */
  private readDictionary(): void {
    const v = this.heapView;
    const n = v.getUint32(12, true);
    if (n === 0) return;
    const end = ROW_FILE_HEADER + BLOCK_HEADER + n;
    if (end > this.state.heapEnd || v.getUint32(ROW_FILE_HEADER, true) !== DICT_TAG || v.getUint32(ROW_FILE_HEADER + 4, true) !== n || v.getUint32(ROW_FILE_HEADER + 8, true) !== n) {
      throw this.corrupt("its zstd dictionary does not match its header");
    }
    const dict = this.heapMap.slice(ROW_FILE_HEADER + BLOCK_HEADER, end);
    if (crc32(dict) !== v.getUint32(ROW_FILE_HEADER + 12, true)) throw this.corrupt("its zstd dictionary fails its checksum");
    this.dict = dict;
  }

  /** Whether this zstd heap has a dictionary (a heap written with too little payload text has none). */
  get hasDictionary(): boolean {
    return this.dict !== null;
  }

  /** Heap bytes of the dictionary record (0 without one). */
  get dictionaryBytes(): number {
    return this.dict === null ? 0 : (BLOCK_HEADER + this.dict.length + 7) & ~7;
  }

  /** Append records for rows [from, to) (which must be `rows`…) past the committed ends; not synced. */
  appendRows(from: number, to: number, recordOf: (row: number) => RowRecord | null): void {
    if (from !== this.state.rows) throw new RangeError("rows are appended in order");
    const idx = new Uint32Array((to - from) * 4);
    const base = this.state.heapEnd;
    const bytes = this.encode(base, from, to, recordOf, (row, offset, length, rec) => {
      const off = base + offset, i = (row - from) * 4;
      idx[i] = off >>> 0;
      idx[i + 1] = Math.floor(off / 4294967296);
      idx[i + 2] = length;
      idx[i + 3] = idHash(rec.id);
      if (this.hashes !== null) this.cacheHash(row, idx[i + 3]!);
    });
    io(`writing ${path.join(this.dir, this.state.rowsFile)}`, () => writeAll(this.heapFd, bytes, base));
    io(`writing ${path.join(this.dir, this.state.ridxFile)}`, () => writeAll(this.ridxFd, new Uint8Array(idx.buffer), ROW_FILE_HEADER + from * 16));
    this.state.heapEnd = base + bytes.length;
    this.state.rows = to;
  }

  /** Append replacement records for committed rows (payload or sparse changed); returns their refs. */
  appendReplacements(recs: Map<number, RowRecord>): void {
    const base = this.state.heapEnd;
    const refs: [number, RecordRef][] = [];
    const rows = [...recs.keys()];
    const bytes = this.encode(base, 0, rows.length, (i) => recs.get(rows[i]!)!, (i, offset, length) => {
      refs.push([rows[i]!, { offset: base + offset, length }]);
    });
    io(`writing ${path.join(this.dir, this.state.rowsFile)}`, () => writeAll(this.heapFd, bytes, base));
    this.state.heapEnd = base + bytes.length;
    for (const [row, ref] of refs) this.state.overrides.set(row, ref);
  }

  /** Encode the records of [from, to) in this heap's format, for an append at `base`. */
  private encode(base: number, from: number, to: number, recordOf: (row: number) => RowRecord | null, onRecord: OnRecord): Uint8Array {
    if (this.state.compression === "zstd") {
      const w = new BlockWriter(base, onRecord, this.dict);
      for (let row = from; row < to; row++) {
        const rec = recordOf(row);
        if (rec !== null) w.add(row, rec);
      }
      w.finish();
      return w.out.buf.subarray(0, w.out.len);
    }
    const w = new RecordWriter();
    for (let row = from; row < to; row++) {
      const rec = recordOf(row);
      if (rec === null) continue;
      const ref = w.add(rec);
      onRecord(row, ref.offset, ref.length, rec);
    }
    return w.buf.subarray(0, w.len);
  }

  syncData(): void {
    io(`syncing ${path.join(this.dir, this.state.rowsFile)}`, () => vfs.fdatasync(this.heapFd));
    io(`syncing ${path.join(this.dir, this.state.ridxFile)}`, () => vfs.fdatasync(this.ridxFd));
  }

  /** Write a new hash table file covering the live rows of [0, n) (after remap: it reads the row index), synced. */
  writeHash(name: string, n: number, live: (row: number) => boolean): void {
    let count = 0;
    this.forEachHash(n, (row) => {
      if (live(row)) count++;
    });
    let cap = 16;
    while (cap < count * 2) cap *= 2;
    const file = path.join(this.dir, name);
    const fd = createFile(file, header(MAGIC_HIDX, (v) => {
      v.setUint32(12, cap, true);
      v.setUint32(16, n, true);
    }));
    try {
      io(`writing ${file}`, () => {
        writeHashSlots(
          cap,
          hashPartSlots(),
          (fn) => this.forEachHash(n, (row, h) => live(row) && fn(row, h)),
          (slots, at) => writeAll(fd, new Uint8Array(slots.buffer, slots.byteOffset, slots.byteLength), ROW_FILE_HEADER + at * 4),
          (into, first) => {
            const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
            if (readInto(fd, bytes, ROW_FILE_HEADER + first * 4) !== bytes.length) throw new Error("short read of a hash table being written");
          },
        );
        vfs.fsync(fd);
      });
    } finally {
      closeQuietly(fd);
    }
    const before = { name: this.state.hidxFile, rows: this.state.hashRows };
    this.state.hidxFile = name;
    this.state.hashRows = n;
    try {
      this.slots = this.mapSlots(file);
    } catch (e) {
      this.state.hidxFile = before.name;
      this.state.hashRows = before.rows;
      throw e;
    }
  }

  /**
   * The id hash of every row of [0, n) with a record, read from the row index
   * with positioned reads a MiB at a time: reading it through the mapping would
   * keep the whole index resident in this process (RssFile) after a rehash.
   */
  private forEachHash(n: number, fn: (row: number, hash: number) => void): void {
    const CHUNK = 65536;
    const file = path.join(this.dir, this.state.ridxFile);
    // one buffer for every read (a new one per MiB was 120 MB of garbage per rehash at 4M rows),
    // kept for the next pass (a hash table rewrite makes one per 4 MiB part)
    const shared = n >= CHUNK && !this.hashReadBusy;
    const idx = shared ? (this.hashReadBuf ??= new Uint32Array(CHUNK * 4)) : new Uint32Array(Math.min(CHUNK, n) * 4);
    const bytes = new Uint8Array(idx.buffer);
    if (shared) this.hashReadBusy = true;
    try {
      for (let start = 0; start < n; start += CHUNK) {
        const m = Math.min(CHUNK, n - start);
        const got = io(`reading ${file}`, () => readInto(this.ridxFd, bytes.subarray(0, m * 16), ROW_FILE_HEADER + start * 16));
        if (got !== m * 16) throw errors.corrupt(file, `holds fewer than ${n} rows`);
        for (let i = 0; i < m; i++) {
          if (idx[i * 4] === 0 && idx[i * 4 + 1] === 0) continue;
          fn(start + i, idx[i * 4 + 3]!);
        }
      }
    } finally {
      if (shared) this.hashReadBusy = false;
    }
  }

  private hashReadBuf: Uint32Array | null = null;
  private hashReadBusy = false;

  private mapSlots(file: string): Uint32Array {
    this.closeSlotReader(); // the table may be a new one
    // an empty file cannot be mapped (EINVAL): a file shorter than its header is damaged, not unreadable
    if (io(`reading ${file}`, () => vfs.sizeOf(file)) < ROW_FILE_HEADER) throw errors.corrupt(file, "shorter than its header");
    const map = io(`mapping ${file}`, () => vfs.mmap(file));
    checkHeader(file, map, MAGIC_HIDX);
    const v = new DataView(map.buffer, map.byteOffset);
    const cap = v.getUint32(12, true);
    if (v.getUint32(16, true) !== this.state.hashRows || map.byteLength < ROW_FILE_HEADER + cap * 4 || cap < 1 || (cap & (cap - 1)) !== 0) {
      throw errors.corrupt(file, "hash table does not match its snapshot");
    }
    this.hashMask = cap - 1;
    return new Uint32Array(map.buffer, map.byteOffset + ROW_FILE_HEADER, cap);
  }

  private mapHash(): void {
    this.slots = this.mapSlots(path.join(this.dir, this.state.hidxFile));
  }

  /** Map the heap and the row index again after they grew. */
  remap(): void {
    const heapPath = path.join(this.dir, this.state.rowsFile);
    const ridxPath = path.join(this.dir, this.state.ridxFile);
    this.heapMap = io(`mapping ${heapPath}`, () => vfs.mmap(heapPath));
    this.heapView = new DataView(this.heapMap.buffer, this.heapMap.byteOffset, this.heapMap.byteLength);
    const ridxMap = io(`mapping ${ridxPath}`, () => vfs.mmap(ridxPath));
    this.ridx = new Uint32Array(ridxMap.buffer, ridxMap.byteOffset + ROW_FILE_HEADER, this.state.rows * 4);
  }

  // ---- reads -------------------------------------------------------------------------------

  /** Offset of a committed row's record as the row index (or a replaced record) gives it, unchecked. */
  private recordOffset(row: number): number {
    const o = this.state.overrides.size > 0 ? this.state.overrides.get(row) : undefined;
    return o !== undefined ? o.offset : this.ridx[row * 4]! + this.ridx[row * 4 + 1]! * 4294967296;
  }

  /** Offset of a committed row's record, checked to lie in the committed heap (no allocation: this is on every payload read). */
  private at(row: number): number {
    const offset = this.recordOffset(row);
    if (!(offset >= ROW_FILE_HEADER && offset + (this.zstd ? ID_RECORD_HEADER : 16) <= this.state.heapEnd)) throw this.corrupt(`no record for row ${row}`);
    return offset;
  }

  private corrupt(what: string): Error {
    return errors.corrupt(path.join(this.dir, this.state.rowsFile), what);
  }

  private get zstd(): boolean {
    return this.state.compression === "zstd";
  }

  /**
   * Load the row index entry, then the record's first bytes, of each row in
   * `rows` below `end`, before their ids and payloads are read one by one: the
   * loads are independent, so their cache and TLB misses overlap instead of
   * coming in turn (a search's 10 hits: 3-9 % of its time at 1M rows). Rows
   * whose entry is out of range are left to the reads that follow to report.
   */
  prefetch(rows: readonly number[], end: number): void {
    const offsets = this.prefetchOffsets, heapEnd = this.state.heapEnd;
    let n = 0;
    for (let i = 0; i < rows.length && n < offsets.length; i++) {
      if (rows[i]! >= end) continue;
      const offset = this.recordOffset(rows[i]!);
      if (offset >= ROW_FILE_HEADER && offset < heapEnd) offsets[n++] = offset;
    }
    const map = this.heapMap;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += map[offsets[i]!]!;
    this.prefetched = sum; // kept, so the loads are not dropped
  }

  private readonly prefetchOffsets = new Float64Array(64);
  private prefetched = 0;

  idAt(row: number): string {
    const off = this.at(row);
    const n = this.heapView.getUint32(off, true);
    const s = off + (this.zstd ? ID_RECORD_HEADER : 16);
    if (s + n > this.state.heapEnd) throw this.corrupt(`the id of row ${row} runs past the committed end`);
    return this.text(this.heapMap.subarray(s, s + n), row, "id");
  }

  payloadAt(row: number): string | null {
    const bytes = this.payloadBytes(row);
    return bytes === null ? null : this.text(bytes, row, "payload");
  }

  /** A committed row's payload parsed straight from its bytes (no text in between); null for none. */
  payloadValueAt(row: number): Record<string, unknown> | null {
    const bytes = this.payloadBytes(row);
    if (bytes === null) return null;
    try {
      return jsonFromUtf8(bytes) as Record<string, unknown> | null;
    } catch (e) {
      if (e instanceof TypeError) throw this.notUtf8(row, "payload"); // the decoder's (a SyntaxError goes on: not JSON)
      throw e;
    }
  }

  /** The UTF-8 bytes of a committed row's payload (a view, in the mapping or a decompressed block); null for none. */
  private payloadBytes(row: number): Uint8Array | null {
    const off = this.at(row);
    const idLen = this.heapView.getUint32(off, true), n = this.heapView.getUint32(off + 4, true);
    if (n === NO_PAYLOAD) return null;
    if (this.zstd) {
      const at = this.heapView.getUint32(off + 12, true);
      const block = this.blockAt(off);
      if (at + n > block.length) throw this.corrupt(`the payload of row ${row} runs past its block`);
      return block.subarray(at, at + n);
    }
    const s = off + 16 + idLen;
    if (s + n > this.state.heapEnd) throw this.corrupt(`the payload of row ${row} runs past the committed end`);
    return this.heapMap.subarray(s, s + n);
  }

  /** UTF-8 text of a record field; bytes that are not UTF-8 can only come from a damaged file. */
  private text(bytes: Uint8Array, row: number, what: string): string {
    try {
      return decoder.decode(bytes);
    } catch {
      throw this.notUtf8(row, what);
    }
  }

  private notUtf8(row: number, what: string): Error {
    return this.corrupt(`the ${what} of row ${row} is not valid UTF-8`);
  }

  sparseAt(row: number): { indices: Uint32Array; values: Float32Array } | null {
    const off = this.at(row);
    const idLen = this.heapView.getUint32(off, true), n = this.heapView.getUint32(off + 4, true);
    const nnz = this.heapView.getUint32(off + 8, true);
    if (nnz === 0) return null;
    let src: Uint8Array, s: number;
    if (this.zstd) {
      src = this.blockAt(off);
      s = (this.heapView.getUint32(off + 12, true) + (n === NO_PAYLOAD ? 0 : n) + 3) & ~3;
      if (s + nnz * 8 > src.length) throw this.corrupt(`the sparse vector of row ${row} runs past its block`);
    } else {
      src = this.heapMap;
      s = (off + 16 + idLen + (n === NO_PAYLOAD ? 0 : n) + 3) & ~3;
    }
    const indices = new Uint32Array(nnz), values = new Float32Array(nnz);
    new Uint8Array(indices.buffer).set(src.subarray(s, s + nnz * 4));
    new Uint8Array(values.buffer).set(src.subarray(s + nnz * 4, s + nnz * 8));
    return { indices, values };
  }

  /** UTF-8 bytes of a committed row's payload (0 for none), from its record header. */
  payloadBytesAt(row: number): number {
    const n = this.heapView.getUint32(this.at(row) + 4, true);
    return n === NO_PAYLOAD ? 0 : n;
  }

  /**
   * Heap bytes a committed row's payload takes: its UTF-8 bytes uncompressed;
   * compressed, its share (by raw bytes) of its block, header and frame. Header reads only.
   */
  payloadStoredAt(row: number): number {
    const off = this.at(row);
    const n = this.heapView.getUint32(off + 4, true);
    if (n === NO_PAYLOAD) return 0;
    if (!this.zstd) return n;
    const block = this.blockOffset(off);
    const frame = this.heapView.getUint32(block + 4, true), raw = this.heapView.getUint32(block + 8, true);
    return raw === 0 ? 0 : ((BLOCK_HEADER + frame) * n) / raw;
  }

  /** The heap offset of the block an id record points at, checked to lie in the committed heap. */
  private blockOffset(record: number): number {
    const off = this.heapView.getUint32(record + 16, true) + this.heapView.getUint32(record + 20, true) * 4294967296;
    if (!(off >= ROW_FILE_HEADER && off + BLOCK_HEADER <= this.state.heapEnd) || this.heapView.getUint32(off, true) !== BLOCK_TAG) {
      throw this.corrupt(`no block at ${off}`);
    }
    return off;
  }

  private cacheKeys = new Float64Array(BLOCK_CACHE).fill(-1);
  private cacheData: Uint8Array[] = new Array(BLOCK_CACHE);
  private cacheNext = 0;

  /** The raw bytes of the block the id record at `record` points at: from the cache, or decompressed after its checksum is checked. */
  private blockAt(record: number): Uint8Array {
    const off = this.blockOffset(record);
    const keys = this.cacheKeys;
    for (let i = 0; i < BLOCK_CACHE; i++) if (keys[i] === off) return this.cacheData[i]!;
    const v = this.heapView;
    const frameBytes = v.getUint32(off + 4, true), rawBytes = v.getUint32(off + 8, true);
    const start = off + BLOCK_HEADER;
    if (start + frameBytes > this.state.heapEnd || rawBytes > MAX_BLOCK_RAW) throw this.corrupt(`block at ${off} runs past the committed end`);
    const frame = this.heapMap.subarray(start, start + frameBytes);
    if (crc32(frame) !== v.getUint32(off + 12, true)) throw this.corrupt(`block at ${off} fails its checksum`);
    let data: Uint8Array;
    try {
      const options = { maxOutputLength: Math.max(1, rawBytes), ...(this.dict === null ? {} : { dictionary: this.dict }) } as zlib.ZstdOptions;
      data = zlib.zstdDecompressSync(frame, options);
      blockStats.decompressed++;
    } catch {
      throw this.corrupt(`block at ${off} does not decompress`);
    }
    if (data.length !== rawBytes) throw this.corrupt(`block at ${off} decompresses to ${data.length} bytes, its header says ${rawBytes}`);
    const slot = this.cacheNext;
    this.cacheNext = (slot + 1) % BLOCK_CACHE;
    keys[slot] = off;
    this.cacheData[slot] = data;
    return data;
  }

  private clearCache(): void {
    this.cacheKeys.fill(-1);
    this.cacheData = new Array(BLOCK_CACHE);
  }

  /** The id hash of a committed row with a record, or null. */
  hashAt(row: number): number | null {
    const i = row * 4;
    return this.ridx[i] === 0 && this.ridx[i + 1] === 0 ? null : this.ridx[i + 3]!;
  }

  /**
   * Keep every row's id hash in RAM (4 bytes a row) while `on`: findRow then
   * compares hashes there instead of in the mapped row index, whose pages a
   * bulk load's lookups of new ids would otherwise make resident all over
   * (16 bytes a row of RssFile), and reads the hash table's slots with pread
   * (see slotReader). Off again, the copy goes.
   */
  cacheHashes(on: boolean): void {
    if (!on) {
      this.hashes = null;
      this.filter = new Uint32Array(0);
      this.filterRows = 0;
      this.closeSlotReader();
      this.slotReader = null;
      return;
    }
    if (this.hashes !== null) return;
    this.hashes = [];
    this.filterRows = 0;
    this.filter = new Uint32Array(1 << 11);
    const block = new Uint32Array(16);
    this.slotReader = { fd: -1, first: -1, block, bytes: new Uint8Array(block.buffer) };
    this.forEachHash(this.state.rows, (row, h) => this.cacheHash(row, h));
  }

  /** The cached id hashes in pages of 2^16 rows: growing copies nothing and leaves no room unused past the last page. */
  private hashes: Uint32Array[] | null = null;

  private cacheHash(row: number, h: number): void {
    const pages = this.hashes!;
    const p = row >>> 16;
    while (pages.length <= p) pages.push(new Uint32Array(1 << 16));
    pages[p]![row & 0xffff] = h;
    if (row >= this.filterRows) this.filterRows = row + 1;
    if (this.filterRows * 8 > this.filter.length * 32) this.rebuildFilter();
    else this.filterAdd(h);
  }

  /**
   * While hashes are cached: a Bloom filter (two bits per hash, 8–16 bits a
   * row: 4 MB at 4M rows) over the id hashes of rows [0, filterRows), so that a
   * lookup of an id that is not there (every new id of a load) needs no slot
   * read in 95–99 % of cases. It holds every row's hash, so never a false "absent".
   */
  private filter = new Uint32Array(0);
  private filterRows = 0;

  private filterAdd(h: number): void {
    const f = this.filter, mask = f.length * 32 - 1;
    const a = Math.imul(h ^ (h >>> 16), 0x9e3779b1) & mask, b = Math.imul(h ^ (h >>> 13), 0x85ebca6b) & mask;
    f[a >>> 5]! |= 1 << (a & 31);
    f[b >>> 5]! |= 1 << (b & 31);
  }

  private filterHas(h: number): boolean {
    const f = this.filter, mask = f.length * 32 - 1;
    const a = Math.imul(h ^ (h >>> 16), 0x9e3779b1) & mask, b = Math.imul(h ^ (h >>> 13), 0x85ebca6b) & mask;
    return (f[a >>> 5]! & (1 << (a & 31))) !== 0 && (f[b >>> 5]! & (1 << (b & 31))) !== 0;
  }

  /** Size the filter at 8–16 bits a row for the rows cached so far and put every cached hash in it. */
  private rebuildFilter(): void {
    let bits = 1 << 16;
    while (bits < this.filterRows * 8) bits *= 2;
    this.filter = new Uint32Array(bits / 32);
    const pages = this.hashes!;
    for (let row = 0; row < this.filterRows; row++) this.filterAdd(pages[row >>> 16]![row & 0xffff]!);
  }

  /**
   * While hashes are cached (a bulk load), the hash table's slots are read with
   * pread, 16 at a time, instead of through the mapping: every lookup of a new
   * id lands on a random slot, so reading them mapped left the whole table
   * (32 MiB at 4M rows) resident in this process by the end of a load. Reset
   * whenever the table is mapped anew (a spill may write a new one).
   */
  private slotReader: { fd: number; first: number; readonly block: Uint32Array; readonly bytes: Uint8Array } | null = null;

  private slotAt(s: number): number {
    const r = this.slotReader;
    if (r === null) return this.slots[s]!;
    const first = s & ~15;
    if (r.first !== first) {
      // not io(): the file's name is made only for an error
      const file = () => path.join(this.dir, this.state.hidxFile);
      try {
        if (r.fd < 0) r.fd = vfs.open(file(), "r");
        if (readInto(r.fd, r.bytes, ROW_FILE_HEADER + first * 4) !== r.bytes.length) throw errors.corrupt(file(), "hash table shorter than its capacity");
      } catch (e) {
        rethrowIo(e, `reading ${file()}`);
      }
      r.first = first;
    }
    return r.block[s - first]!;
  }

  private closeSlotReader(): void {
    const r = this.slotReader;
    if (r !== null && r.fd >= 0) closeQuietly(r.fd);
    if (r !== null) {
      r.fd = -1;
      r.first = -1;
    }
  }

  /** Among rows [0, hashRows), the first holding `id` that `accept` takes. */
  findRow(id: string, accept: (row: number) => boolean): number | undefined {
    if (this.state.hashRows === 0) return undefined;
    const h = idHash(id), mask = this.hashMask, ridx = this.ridx, hashes = this.hashes;
    // during a load every row of the table has its hash in the filter: a clear bit means absent
    if (hashes !== null && !this.filterHas(h)) return undefined;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const v = this.slotAt(s);
      if (v === 0) return undefined;
      const row = v - 1;
      const page = hashes?.[row >>> 16];
      const rh = page !== undefined ? page[row & 0xffff]! : ridx[row * 4 + 3];
      if (rh === h && accept(row) && this.idAt(row) === id) return row;
    }
  }

  /** Go back to a state taken with snapshotState (a failed append: its bytes past the ends are ignored). */
  restore(st: RowFilesState): void {
    Object.assign(this.state, st);
    this.clearCache();
    this.remap();
    this.mapHash();
  }

  /** The committed state to record in a snapshot (a copy). */
  snapshotState(): RowFilesState {
    return { ...this.state, overrides: new Map(this.state.overrides) };
  }

  fileNames(): string[] {
    return [this.state.rowsFile, this.state.ridxFile, this.state.hidxFile];
  }

  /** Bytes of committed payload and id records in the heap (for DESCRIBE-like reports). */
  get heapBytes(): number {
    return this.state.heapEnd - ROW_FILE_HEADER;
  }

  close(): void {
    for (const fd of [this.heapFd, this.ridxFd]) {
      try {
        closeQuietly(fd);
      } catch {
        // closing a descriptor we will not use again
      }
    }
    this.heapFd = this.ridxFd = -1;
    this.closeSlotReader();
    this.clearCache();
  }
}
