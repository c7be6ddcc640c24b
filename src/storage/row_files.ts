/**
 * Row metadata files of an mmap collection: ids, payload texts and sparse
 * vectors on disk, read through Bun.mmap, with an on-disk id → row hash table.
 *
 * Three files, each a 4 KiB header page (magic, version) then data:
 *   NAME.TAG.rows   record heap, append-only. A record (8-byte aligned):
 *                   u32 idBytes | u32 payloadBytes (0xFFFFFFFF: no payload) | u32 nnz | u32 0
 *                   | id UTF-8 | payload UTF-8 | pad to 4 | u32 indices × nnz | f32 values × nnz | pad to 8
 *   NAME.TAG.ridx   row index, append-only: 16 bytes per row
 *                   u32 offsetLo | u32 offsetHi | u32 recordBytes | u32 idHash   (offset 0: no record)
 *   NAME.TAG.hidx   open-addressing id hash table, written whole: u32 capacity | u32 rows covered
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
import { errors, io } from "../errors";
import { closeQuietly, readAt, readInto, syncDirectory, writeAll } from "./files";
import { vfs } from "./fs";
import * as path from "node:path";

export const ROW_FILE_HEADER = 4096;
const MAGIC_ROWS = "VQLROWS\u0001";
const MAGIC_RIDX = "VQLRIDX\u0001";
const MAGIC_HIDX = "VQLHIDX\u0001";
const NO_PAYLOAD = 0xffffffff;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

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
}

function header(magic: string, extra?: (v: DataView) => void): Uint8Array {
  const out = new Uint8Array(ROW_FILE_HEADER);
  out.set(encoder.encode(magic), 0);
  const v = new DataView(out.buffer);
  v.setUint32(8, 1, true);
  extra?.(v);
  return out;
}

function checkHeader(file: string, bytes: Uint8Array, magic: string): void {
  const m = encoder.encode(magic);
  if (bytes.length < ROW_FILE_HEADER) throw errors.corrupt(file, "shorter than its header");
  for (let i = 0; i < m.length; i++) if (bytes[i] !== m[i]) throw errors.corrupt(file, "bad magic");
  if (new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true) !== 1) throw errors.corrupt(file, "unsupported version");
}

/** Encodes records into one growing buffer, 8-byte aligned, for one append. */
export class RecordWriter {
  buf = new Uint8Array(1 << 16);
  len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

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

function openFile(file: string, magic: string): { fd: number; size: number } {
  return io(`opening ${file}`, () => {
    const fd = vfs.open(file, "r+");
    try {
      const size = vfs.fileSize(fd);
      checkHeader(file, readAt(fd, ROW_FILE_HEADER, 0), magic);
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
    const heap = openFile(path.join(dir, st.rowsFile), MAGIC_ROWS);
    let ridx: { fd: number; size: number } | null = null;
    try {
      ridx = openFile(path.join(dir, st.ridxFile), MAGIC_RIDX);
      if (heap.size < st.heapEnd) throw errors.corrupt(path.join(dir, st.rowsFile), `holds ${heap.size} bytes, ${st.heapEnd} committed`);
      if (ridx.size < ROW_FILE_HEADER + st.rows * 16) throw errors.corrupt(path.join(dir, st.ridxFile), `holds fewer than the ${st.rows} committed rows`);
      const f = new RowFiles(dir, heap.fd, ridx.fd, st);
      f.remap();
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
  static write(dir: string, base: string, tag: string, n: number, recordOf: (row: number) => RowRecord | null, live: (row: number) => boolean): RowFiles {
    const st: RowFilesState = {
      rowsFile: `${base}.${tag}.rows`,
      ridxFile: `${base}.${tag}.ridx`,
      hidxFile: `${base}.${tag}.hidx`,
      rows: 0,
      heapEnd: ROW_FILE_HEADER,
      hashRows: 0,
      overrides: new Map(),
    };
    const heapFd = createFile(path.join(dir, st.rowsFile), header(MAGIC_ROWS));
    let ridxFd = -1;
    try {
      ridxFd = createFile(path.join(dir, st.ridxFile), header(MAGIC_RIDX));
      const f = new RowFiles(dir, heapFd, ridxFd, st);
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

  /** Append records for rows [from, to) (which must be `rows`…) past the committed ends; not synced. */
  appendRows(from: number, to: number, recordOf: (row: number) => RowRecord | null): void {
    if (from !== this.state.rows) throw new RangeError("rows are appended in order");
    const w = new RecordWriter();
    const idx = new Uint32Array((to - from) * 4);
    const base = this.state.heapEnd;
    for (let row = from; row < to; row++) {
      const rec = recordOf(row);
      if (rec === null) continue;
      const ref = w.add(rec);
      const off = base + ref.offset, i = (row - from) * 4;
      idx[i] = off >>> 0;
      idx[i + 1] = Math.floor(off / 4294967296);
      idx[i + 2] = ref.length;
      idx[i + 3] = idHash(rec.id);
      if (this.hashes !== null) this.cacheHash(row, idx[i + 3]!);
    }
    io(`writing ${path.join(this.dir, this.state.rowsFile)}`, () => writeAll(this.heapFd, w.buf.subarray(0, w.len), base));
    io(`writing ${path.join(this.dir, this.state.ridxFile)}`, () => writeAll(this.ridxFd, new Uint8Array(idx.buffer), ROW_FILE_HEADER + from * 16));
    this.state.heapEnd = base + w.len;
    this.state.rows = to;
  }

  /** Append replacement records for committed rows (payload or sparse changed); returns their refs. */
  appendReplacements(recs: Map<number, RowRecord>): void {
    const w = new RecordWriter();
    const base = this.state.heapEnd;
    const refs: [number, RecordRef][] = [];
    for (const [row, rec] of recs) {
      const ref = w.add(rec);
      refs.push([row, { offset: base + ref.offset, length: ref.length }]);
    }
    io(`writing ${path.join(this.dir, this.state.rowsFile)}`, () => writeAll(this.heapFd, w.buf.subarray(0, w.len), base));
    this.state.heapEnd = base + w.len;
    for (const [row, ref] of refs) this.state.overrides.set(row, ref);
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
    const slots = new Uint32Array(cap);
    const mask = cap - 1;
    this.forEachHash(n, (row, h) => {
      if (!live(row)) return;
      let s = h & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = row + 1;
    });
    const file = path.join(this.dir, name);
    const fd = createFile(file, header(MAGIC_HIDX, (v) => {
      v.setUint32(12, cap, true);
      v.setUint32(16, n, true);
    }));
    try {
      io(`writing ${file}`, () => {
        writeAll(fd, new Uint8Array(slots.buffer), ROW_FILE_HEADER);
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
    // one buffer for every read (a new one per MiB was 120 MB of garbage per rehash at 4M rows)
    const idx = new Uint32Array(Math.min(CHUNK, n) * 4);
    const bytes = new Uint8Array(idx.buffer);
    for (let start = 0; start < n; start += CHUNK) {
      const m = Math.min(CHUNK, n - start);
      const got = io(`reading ${file}`, () => readInto(this.ridxFd, bytes.subarray(0, m * 16), ROW_FILE_HEADER + start * 16));
      if (got !== m * 16) throw errors.corrupt(file, `holds fewer than ${n} rows`);
      for (let i = 0; i < m; i++) {
        if (idx[i * 4] === 0 && idx[i * 4 + 1] === 0) continue;
        fn(start + i, idx[i * 4 + 3]!);
      }
    }
  }

  private mapSlots(file: string): Uint32Array {
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

  /** Offset of a committed row's record (no allocation: this is on every payload read). */
  private at(row: number): number {
    const o = this.state.overrides.size > 0 ? this.state.overrides.get(row) : undefined;
    const i = row * 4;
    const offset = o !== undefined ? o.offset : this.ridx[i]! + this.ridx[i + 1]! * 4294967296;
    if (!(offset >= ROW_FILE_HEADER && offset + 16 <= this.state.heapEnd)) throw errors.corrupt(path.join(this.dir, this.state.rowsFile), `no record for row ${row}`);
    return offset;
  }

  idAt(row: number): string {
    const off = this.at(row);
    const n = this.heapView.getUint32(off, true);
    return decoder.decode(this.heapMap.subarray(off + 16, off + 16 + n));
  }

  payloadAt(row: number): string | null {
    const off = this.at(row);
    const idLen = this.heapView.getUint32(off, true), n = this.heapView.getUint32(off + 4, true);
    if (n === NO_PAYLOAD) return null;
    const s = off + 16 + idLen;
    return decoder.decode(this.heapMap.subarray(s, s + n));
  }

  sparseAt(row: number): { indices: Uint32Array; values: Float32Array } | null {
    const off = this.at(row);
    const idLen = this.heapView.getUint32(off, true), n = this.heapView.getUint32(off + 4, true);
    const nnz = this.heapView.getUint32(off + 8, true);
    if (nnz === 0) return null;
    const s = (off + 16 + idLen + (n === NO_PAYLOAD ? 0 : n) + 3) & ~3;
    const indices = new Uint32Array(nnz), values = new Float32Array(nnz);
    new Uint8Array(indices.buffer).set(this.heapMap.subarray(s, s + nnz * 4));
    new Uint8Array(values.buffer).set(this.heapMap.subarray(s + nnz * 4, s + nnz * 8));
    return { indices, values };
  }

  /** The id hash of a committed row with a record, or null. */
  hashAt(row: number): number | null {
    const i = row * 4;
    return this.ridx[i] === 0 && this.ridx[i + 1] === 0 ? null : this.ridx[i + 3]!;
  }

  /** Among rows [0, hashRows), the first holding `id` that `accept` takes. */
  /**
   * Keep every row's id hash in RAM (4 bytes a row) while `on`: findRow then
   * compares hashes there instead of in the mapped row index, whose pages a
   * bulk load's lookups of new ids would otherwise make resident all over
   * (16 bytes a row of RssFile). Off again, the copy goes.
   */
  cacheHashes(on: boolean): void {
    if (!on) {
      this.hashes = null;
      return;
    }
    if (this.hashes !== null) return;
    this.hashes = new Uint32Array(Math.max(1024, this.state.rows));
    this.forEachHash(this.state.rows, (row, h) => this.cacheHash(row, h));
  }

  private hashes: Uint32Array | null = null;

  private cacheHash(row: number, h: number): void {
    let a = this.hashes!;
    if (row >= a.length) {
      let cap = a.length;
      while (cap <= row) cap *= 2;
      const next = new Uint32Array(cap);
      next.set(a);
      this.hashes = a = next;
    }
    a[row] = h;
  }

  findRow(id: string, accept: (row: number) => boolean): number | undefined {
    if (this.state.hashRows === 0) return undefined;
    const h = idHash(id), mask = this.hashMask, slots = this.slots, ridx = this.ridx, hashes = this.hashes;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const v = slots[s]!;
      if (v === 0) return undefined;
      const row = v - 1;
      const rh = hashes !== null && row < hashes.length ? hashes[row]! : ridx[row * 4 + 3];
      if (rh === h && accept(row) && this.idAt(row) === id) return row;
    }
  }

  /** Go back to a state taken with snapshotState (a failed append: its bytes past the ends are ignored). */
  restore(st: RowFilesState): void {
    Object.assign(this.state, st);
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
  }
}
