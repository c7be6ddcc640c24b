/**
 * On-disk vector file and the mmap-backed vector store.
 *
 * Layout (little-endian):
 *   0   8  magic "VQLVEC\0\1"
 *   8   4  format version (1)
 *   12  4  dimension
 *   16  8  row count as of the last sync (float64)
 *   24  8  capacity in rows (float64)
 *   32  4  CRC32 of bytes 0..32
 *   4096 .. rows, float32, stride = dimension, capacity rows
 * File size is exactly HEADER_BYTES + capacity * dimension * 4.
 *
 * Rows reach the file with pwrite, never by storing into the mapping: a full
 * disk then fails the write with ENOSPC instead of a SIGBUS on a sparse page.
 * A batch's rows are written before its log record (MmapVectorStore.writeAhead,
 * called by the database's journal), so a full disk fails the write cleanly
 * before the log, and a reader that sees the record finds the rows. Replay
 * writes a row again with the bytes it already holds, so a reader following
 * the file never sees anything but the committed vector.
 *
 * Bun.mmap facts this design respects: mappings are never unmapped explicitly
 * (they go with GC), so the file is only ever grown, never truncated while
 * mapped; an empty file cannot be mapped, so the header page always exists;
 * the mapping always starts at offset 0 and rows start on a page boundary.
 */
import { errors, io, rethrowIo } from "../errors";
import { crc32 } from "./binary";
import { closeQuietly, readAt, readInto, writeAll } from "./files";
import { vfs } from "./fs";
import type { VectorStore } from "./vector_store";

export const VECTOR_FILE_MAGIC = new Uint8Array([0x56, 0x51, 0x4c, 0x56, 0x45, 0x43, 0x00, 0x01]); // "VQLVEC\0\1"
export const VECTOR_FILE_VERSION = 1;
export const HEADER_BYTES = 4096;

export interface VectorFileHeader {
  dimension: number;
  count: number;
  capacity: number;
}

export function encodeHeader(h: VectorFileHeader): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  const v = new DataView(out.buffer);
  out.set(VECTOR_FILE_MAGIC, 0);
  v.setUint32(8, VECTOR_FILE_VERSION, true);
  v.setUint32(12, h.dimension, true);
  v.setFloat64(16, h.count, true);
  v.setFloat64(24, h.capacity, true);
  v.setUint32(32, crc32(out.subarray(0, 32)), true);
  return out;
}

export function decodeHeader(file: string, bytes: Uint8Array): VectorFileHeader {
  if (bytes.length < 36) throw errors.corrupt(file, "file is shorter than a vector file header");
  for (let i = 0; i < 8; i++) {
    if (bytes[i] !== VECTOR_FILE_MAGIC[i]) throw errors.corrupt(file, "not a vqlite vector file (bad magic)");
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = v.getUint32(8, true);
  if (version !== VECTOR_FILE_VERSION) throw errors.corrupt(file, `unsupported vector file version ${version}`);
  if (v.getUint32(32, true) !== crc32(bytes.subarray(0, 32))) throw errors.corrupt(file, "header checksum mismatch");
  const dimension = v.getUint32(12, true);
  const count = v.getFloat64(16, true);
  const capacity = v.getFloat64(24, true);
  if (dimension < 1 || !Number.isSafeInteger(count) || !Number.isSafeInteger(capacity) || count < 0 || count > capacity) {
    throw errors.corrupt(file, "header fields out of range");
  }
  return { dimension, count, capacity };
}

function fileSizeFor(dimension: number, capacity: number): number {
  return HEADER_BYTES + capacity * dimension * 4;
}

/**
 * A vector file opened for reading and appending with positional I/O.
 * Durable row count is `syncedCount`; rows past it exist only until the next sync.
 */
export class VectorFile {
  private constructor(
    readonly path: string,
    private fd: number,
    readonly dimension: number,
    public capacity: number,
    public syncedCount: number,
  ) {}

  static create(path: string, dimension: number, capacity = 1024): VectorFile {
    capacity = Math.max(1, capacity);
    return io(`creating vector file ${path}`, () => {
      const fd = vfs.open(path, "wx+");
      try {
        vfs.ftruncate(fd, fileSizeFor(dimension, capacity));
        writeAll(fd, encodeHeader({ dimension, count: 0, capacity }), 0);
        vfs.fsync(fd);
      } catch (e) {
        closeQuietly(fd);
        try {
          vfs.unlink(path);
        } catch {
          // a leftover file no manifest names is removed at the next open
        }
        throw e;
      }
      return new VectorFile(path, fd, dimension, capacity, 0);
    });
  }

  /**
   * Open and validate: magic, version, checksum, dimension and exact file size.
   * With `repairGrowth`, a file that is larger than its header says by whole rows
   * (a growth interrupted between ftruncate and the header write) is accepted and
   * its header fixed; the database's recovery path uses this, nothing else does.
   */
  static open(path: string, expectedDimension?: number, repairGrowth = false, readOnly = false): VectorFile {
    let fd: number;
    try {
      fd = vfs.open(path, readOnly ? "r" : "r+");
    } catch (e) {
      throw errors.io(`opening vector file ${path}`, e);
    }
    try {
      let size = vfs.fileSize(fd);
      let header: VectorFileHeader;
      if (readOnly) {
        // The writer may rewrite the header (growth, sync) as we read it: retry a torn read.
        // Header before size: a header that names a grown capacity comes after the growth itself.
        for (let attempt = 0; ; attempt++) {
          try {
            header = decodeHeader(path, readAt(fd, 36, 0));
            break;
          } catch (e) {
            if (attempt >= 20) throw e;
            Bun.sleepSync(1);
          }
        }
        size = vfs.fileSize(fd);
      } else {
        header = decodeHeader(path, readAt(fd, 36, 0));
      }
      if (expectedDimension !== undefined && header.dimension !== expectedDimension) {
        throw errors.corrupt(path, `dimension ${header.dimension} in file, ${expectedDimension} expected`);
      }
      const expected = fileSizeFor(header.dimension, header.capacity);
      const rowBytes = header.dimension * 4;
      if (readOnly && repairGrowth && size > expected && (size - HEADER_BYTES) % rowBytes === 0) {
        // read-only recovery: the extra rows are never read, the header stays as it is
      } else if (repairGrowth && size > expected && (size - HEADER_BYTES) % rowBytes === 0) {
        header.capacity = (size - HEADER_BYTES) / rowBytes;
        writeAll(fd, encodeHeader(header), 0);
        vfs.fdatasync(fd);
      } else if (readOnly && size >= expected) {
        // a writer may be growing the file right now (new size first, then the header): fine to read
      } else if (size !== expected) {
        throw errors.corrupt(path, `file size ${size} does not match header (expected ${expected} bytes)`);
      }
      return new VectorFile(path, fd, header.dimension, header.capacity, header.count);
    } catch (e) {
      closeQuietly(fd);
      rethrowIo(e, `opening vector file ${path}`);
    }
  }

  get rowBytes(): number {
    return this.dimension * 4;
  }

  /** Read-only handles: pick up growth done by the writer (capacity from the file size). */
  refreshCapacity(): boolean {
    const size = io(`reading vector file ${this.path}`, () => vfs.fileSize(this.fd));
    const cap = Math.floor((size - HEADER_BYTES) / this.rowBytes);
    if (cap <= this.capacity) return false;
    this.capacity = cap;
    return true;
  }

  /** Grow (doubling) so at least `rows` rows fit. Only ever grows: a mapped file is never shrunk. */
  ensureCapacity(rows: number): boolean {
    if (rows <= this.capacity) return false;
    let cap = this.capacity;
    while (cap < rows) cap *= 2;
    io(`growing vector file ${this.path}`, () => {
      vfs.ftruncate(this.fd, fileSizeFor(this.dimension, cap));
      // The header's capacity must match the size, or the next open rejects the file.
      writeAll(this.fd, encodeHeader({ dimension: this.dimension, count: this.syncedCount, capacity: cap }), 0);
    });
    this.capacity = cap;
    return true;
  }



  /**
   * Undo a growth whose writes failed (a full disk), giving the space back.
   * Only for a file that is not mapped (a memory store's persistence file):
   * a mapped file must never shrink.
   */
  shrinkTo(capacity: number): void {
    if (capacity >= this.capacity) return;
    io(`shrinking vector file ${this.path}`, () => {
      vfs.ftruncate(this.fd, fileSizeFor(this.dimension, capacity));
      writeAll(this.fd, encodeHeader({ dimension: this.dimension, count: Math.min(this.syncedCount, capacity), capacity }), 0);
    });
    this.capacity = capacity;
  }

  writeRows(startRow: number, rows: Float32Array): void {
    if (rows.length === 0) return;
    this.ensureCapacity(startRow + rows.length / this.dimension);
    const bytes = new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength);
    io(`writing vector file ${this.path}`, () => writeAll(this.fd, bytes, HEADER_BYTES + startRow * this.rowBytes));
  }

  readRows(startRow: number, count: number): Float32Array {
    const out = new Float32Array(count * this.dimension);
    const bytes = io(`reading vector file ${this.path}`, () =>
      readAt(this.fd, count * this.rowBytes, HEADER_BYTES + startRow * this.rowBytes),
    );
    if (bytes.length !== count * this.rowBytes) throw errors.corrupt(this.path, "file ends inside a row");
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }

  /** Read one row into `out` with a positioned read (no mapping touched). */
  readRowInto(row: number, out: Float32Array): void {
    const bytes = new Uint8Array(out.buffer, out.byteOffset, this.rowBytes);
    const pos = HEADER_BYTES + row * this.rowBytes;
    // not io(): a bulk load reads millions of rows this way, and its label and closure were per call
    let got: number;
    try {
      got = readInto(this.fd, bytes, pos);
    } catch (e) {
      rethrowIo(e, `reading vector file ${this.path}`);
    }
    if (got !== bytes.length) throw errors.corrupt(this.path, "file ends inside a row");
  }

  /** fsync the rows, then record `count` as durable in the header and fsync again. */
  sync(count: number): void {
    io(`syncing vector file ${this.path}`, () => {
      vfs.fdatasync(this.fd);
      writeAll(this.fd, encodeHeader({ dimension: this.dimension, count, capacity: this.capacity }), 0);
      vfs.fdatasync(this.fd);
    });
    this.syncedCount = count;
  }

  /** Map the whole file (offset 0, so no page rounding) and return the rows region. */
  map(): Float32Array {
    const bytes = io(`mapping vector file ${this.path}`, () => vfs.mmap(this.path));
    if (bytes.byteLength < fileSizeFor(this.dimension, this.capacity)) {
      throw errors.corrupt(this.path, "file shrank while open");
    }
    return new Float32Array(bytes.buffer, bytes.byteOffset + HEADER_BYTES, this.capacity * this.dimension);
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      vfs.close(this.fd);
    } catch {
      // closing a descriptor can only fail if it is already gone
    }
    this.fd = -1;
  }
}

/**
 * Vectors in a file, read through a shared mapping (zero-copy views).
 * reserve() grows the file; writeAhead() writes a batch's rows with pwrite
 * before its log record (the step that can fail), and append() then only
 * counts them, so a journaled write always applies. Rows appended without
 * writeAhead (replay, compaction into a new file) are written with pwrite.
 */
export class MmapVectorStore implements VectorStore {
  readonly kind = "mmap" as const;
  private view: Float32Array;
  private rows: number;
  /** Rows from `rows` up to here were already written by writeAhead(): append() skips writing them again. */
  private aheadUntil = 0;
  /**
   * Set during a bulk load: readRow() reads with pread instead of through the
   * mapping. An index reading back rows it was just given (a clustered leaf
   * splitting) would otherwise map pages all over the file; the kernel maps
   * 64 KiB around each faulting page, so scattered reads made the whole file
   * resident in this process (RssFile +516 MB of 508 MB at 1M rows).
   */
  readThrough = false;

  /**
   * With `follow`, the store belongs to a read-only handle: it never writes the
   * file; append() takes the row the writer already put there (readers.ts).
   */
  constructor(
    readonly file: VectorFile,
    length: number = file.syncedCount,
    readonly follow = false,
  ) {
    if (length > file.capacity) throw errors.corrupt(file.path, `${length} rows expected, capacity is ${file.capacity}`);
    this.rows = length;
    this.view = file.map();
  }

  static create(path: string, dimension: number, capacity?: number): MmapVectorStore {
    return new MmapVectorStore(VectorFile.create(path, dimension, capacity), 0);
  }

  static open(path: string, dimension?: number, length?: number): MmapVectorStore {
    const file = VectorFile.open(path, dimension);
    try {
      return new MmapVectorStore(file, length ?? file.syncedCount);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  get dimension(): number {
    return this.file.dimension;
  }

  get length(): number {
    return this.rows;
  }

  get path(): string {
    return this.file.path;
  }

  data(): Float32Array {
    return this.view;
  }

  get(row: number): Float32Array {
    if (row < 0 || row >= this.rows) throw new RangeError(`row ${row} out of range 0..${this.rows - 1}`);
    const d = this.dimension;
    return this.view.subarray(row * d, row * d + d);
  }

  readRow(row: number, out: Float32Array): void {
    if (row < 0 || row >= this.rows) throw new RangeError(`row ${row} out of range 0..${this.rows - 1}`);
    if (this.readThrough) {
      this.file.readRowInto(row, out);
      return;
    }
    const d = this.dimension, v = this.view, off = row * d;
    for (let i = 0; i < d; i++) out[i] = v[off + i]!;
  }

  reserve(extra: number): void {
    if (this.follow) {
      if (this.rows + extra > this.file.capacity && this.file.refreshCapacity()) this.view = this.file.map();
      return;
    }
    this.file.ensureCapacity(this.rows + extra);
    // remap when the file grew (also when a previous remap failed after the growth)
    if (this.view.length < this.file.capacity * this.dimension) this.view = this.file.map();
  }

  append(vector: Float32Array): number {
    this.reserve(1);
    if (this.follow) {
      if (this.rows >= this.file.capacity) throw errors.corrupt(this.file.path, `row ${this.rows} is past the end of the file`);
      const d = this.dimension, at = this.rows * d;
      for (let i = 0; i < d; i++) {
        if (this.view[at + i] !== vector[i] && !(Number.isNaN(this.view[at + i]!) && Number.isNaN(vector[i]!))) {
          throw errors.corrupt(this.file.path, `row ${this.rows} does not hold the vector its log record names`);
        }
      }
      return this.rows++;
    }
    // rows written ahead of their log record (writeAhead) are in the file already
    if (this.rows >= this.aheadUntil) this.file.writeRows(this.rows, vector);
    return this.rows++;
  }

  /**
   * Write the rows the next appends will add, before their log record is
   * written, so that read-only handles find a logged row in the file. Space
   * must have been reserved. cancelAhead() if the record is not written.
   */
  writeAhead(vectors: readonly Float32Array[]): void {
    if (vectors.length === 0) return;
    this.reserve(vectors.length);
    // vectors that lie back to back in one buffer (a batch's slab) go out as one write, uncopied
    let i = 0;
    while (i < vectors.length) {
      const first = vectors[i]!;
      let j = i + 1;
      while (j < vectors.length && adjacent(vectors[j - 1]!, vectors[j]!)) j++;
      const run = j - i === 1 ? first : new Float32Array(first.buffer, first.byteOffset, (j - i) * this.dimension);
      this.file.writeRows(this.rows + i, run);
      i = j;
    }
    this.aheadUntil = this.rows + vectors.length;
  }

  /**
   * Map the file afresh. The old mapping goes when it is collected, and with it
   * the pages this process touched through it (RssFile): a bulk load remaps
   * now and then so that reading back the rows it wrote does not keep the
   * whole file resident in this process. Views fetched before stay valid.
   */
  remap(): void {
    this.view = this.file.map();
  }

  /** writeAhead for rows already laid out flat (a bulk load's chunk buffer). */
  writeAheadRows(rows: Float32Array): void {
    const n = rows.length / this.dimension;
    if (n === 0) return;
    this.reserve(n);
    this.file.writeRows(this.rows, rows);
    this.aheadUntil = this.rows + n;
  }

  cancelAhead(): void {
    this.aheadUntil = 0;
  }

  /** Make every row durable and record the count in the header. */
  sync(): void {
    if (this.follow) return;
    this.file.sync(this.rows);
  }

  heapBytes(): number {
    return 0;
  }

  mappedBytes(): number {
    return this.rows * this.dimension * 4;
  }

  /** Mapped rows are not in the WebAssembly heap. */
  wasmOffset(): number {
    return -1;
  }

  close(): void {
    this.file.close();
  }
}

/** Whether `b` starts where `a` ends, in the same buffer. */
function adjacent(a: Float32Array, b: Float32Array): boolean {
  return a.buffer === b.buffer && a.byteOffset + a.byteLength === b.byteOffset;
}
