/**
 * Little-endian binary encoding used by every vqlite file format
 * (WAL records, snapshots, index files).
 */
import { isUtf8 } from "node:buffer";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Past this size a ByteWriter grows by chunks: a 100 MB snapshot no longer takes 1.5× its size while written. */
const CHUNK_BYTES = 8 << 20;
/** A writer with a sink hands it chunks of about this size, and arrays from this size on directly. */
const SINK_CHUNK_BYTES = 1 << 20;

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  /**
   * With `sink`, every full chunk is handed to it and its buffer reused, so a
   * snapshot of any size streams into its file holding one chunk (flush() at
   * the end hands over the rest); finish() and chunks() are then not for use.
   */
  constructor(
    initialSize = 256,
    private readonly sink: ((chunk: Uint8Array) => void) | null = null,
    /** Where bytes written by unchecked() go, outside the sink's checksum (a snapshot's). */
    private readonly uncheckedSink: ((chunk: Uint8Array) => void) | null = null,
  ) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  /** Hand what is buffered to the sink. */
  flush(): void {
    if (this.sink === null || this.pos === 0) return;
    this.sink(this.buf.subarray(0, this.pos));
    this.sealedBytes += this.pos;
    this.pos = 0;
  }

  /** Whether a big image continues in new chunks (finish() then joins them) instead of one buffer doubling. */
  private sealing = true;

  /**
   * A writer whose bytes always stay in one buffer, doubling as it grows, so
   * finish() never copies: for a scratch writer that is restart()ed and reused.
   */
  static contiguous(initialSize = 256): ByteWriter {
    const w = new ByteWriter(initialSize);
    w.sealing = false;
    return w;
  }

  /** Start again, empty, with `skip` bytes left free at the front (the buffer is kept: no fresh allocation). */
  restart(skip = 0): this {
    if (this.sink !== null) throw new Error("restart() is not for a writer with a sink");
    this.sealed = [];
    this.sealedBytes = 0;
    this.pos = 0;
    this.ensure(skip);
    this.pos = skip;
    return this;
  }

  /** Bytes allocated, used or not. */
  get capacity(): number {
    return this.buf.length;
  }

  get length(): number {
    return this.sealedBytes + this.pos;
  }

  /** Full chunks before `buf` (a writer past CHUNK_BYTES grows by chunks, not by doubling and copying). */
  private sealed: Uint8Array[] = [];
  private sealedBytes = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.sink !== null && this.buf.length >= SINK_CHUNK_BYTES) {
      this.flush();
      if (n > this.buf.length) {
        this.buf = new Uint8Array(n);
        this.view = new DataView(this.buf.buffer);
      }
      return;
    }
    if (this.sealing && this.buf.length >= CHUNK_BYTES) {
      // a big image (a snapshot of millions of rows): keep what is written, continue in a new chunk
      this.sealed.push(this.buf.subarray(0, this.pos));
      this.sealedBytes += this.pos;
      this.buf = new Uint8Array(Math.max(CHUNK_BYTES, n));
      this.view = new DataView(this.buf.buffer);
      this.pos = 0;
      return;
    }
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.ensure(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
    return this;
  }

  f64(v: number): this {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
    return this;
  }

  /**
   * Bytes their reader checks itself (a clustered leaf's arrays, against a CRC32
   * written elsewhere): a snapshot leaves them out of its file checksum (see
   * writeSnapshotStream), so opening need not read them at all.
   */
  unchecked(parts: readonly Uint8Array[]): this {
    if (this.sink === null || this.uncheckedSink === null) {
      for (const p of parts) this.raw(p);
      return this;
    }
    this.flush();
    for (const p of parts) {
      if (p.length === 0) continue;
      this.uncheckedSink(p);
      this.sealedBytes += p.length;
    }
    return this;
  }

  bytes(b: Uint8Array): this {
    this.u32(b.length);
    this.raw(b);
    return this;
  }

  raw(b: Uint8Array): this {
    if (this.sink !== null && b.length >= SINK_CHUNK_BYTES) {
      // a big array (a snapshot's bitmap, norms or codes) goes to the sink as it is, after what is
      // buffered: no copy of it, and no buffer of its size (15 MB of norms at 4M rows)
      this.flush();
      this.sink(b);
      this.sealedBytes += b.length;
      return this;
    }
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  string(s: string): this {
    return this.bytes(encoder.encode(s));
  }

  /** A typed array's bytes, length-prefixed by element count (the reader copies them out, so no alignment is needed). */
  f32array(a: Float32Array): this {
    this.u32(a.length);
    this.raw(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return this;
  }

  u32array(a: Uint32Array): this {
    this.u32(a.length);
    this.raw(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return this;
  }

  u8array(a: Uint8Array): this {
    return this.bytes(a);
  }

  /**
   * A u32 array whose values start at a multiple of 4 bytes from the writer's
   * first byte: count, a pad byte p (0–3), p zero bytes, the values. A reader
   * over a mapped file can then take them as a view, uncopied
   * (ByteReader.u32arrayAligned), provided the writer's first byte sits at a
   * multiple of 4 in the file (a snapshot's body starts at byte 12).
   */
  u32arrayAligned(a: Uint32Array): this {
    return this.aligned(a.length, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }

  /** A f32 array laid out as u32arrayAligned (ByteReader.alignedBytes reads either). */
  f32arrayAligned(a: Float32Array): this {
    return this.aligned(a.length, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }

  private aligned(count: number, bytes: Uint8Array): this {
    this.u32(count);
    const pad = (4 - ((this.length + 1) % 4)) % 4;
    this.u8(pad);
    for (let i = 0; i < pad; i++) this.u8(0);
    return this.raw(bytes);
  }

  /** Everything written, in one array (copied together when the writer grew by chunks). */
  finish(): Uint8Array {
    if (this.sealed.length === 0) return this.buf.subarray(0, this.pos);
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks()) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  /** Everything written, as the chunks it is held in (no copy): for writing a big image to a file. */
  chunks(): Uint8Array[] {
    return [...this.sealed, this.buf.subarray(0, this.pos)];
  }
}

export class ByteReader {
  private view: DataView;
  pos: number;

  /**
   * `mapped`: buf is a private mapping of an immutable file (a snapshot), which
   * stays valid as long as a view on it is referenced: readers may keep views
   * on it (u32arrayAligned) instead of copies in fresh memory.
   */
  constructor(
    readonly buf: Uint8Array,
    private readonly what: string,
    start = 0,
    private readonly end = buf.length,
    readonly mapped = false,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new RangeError(`${this.what}: unexpected end of data`);
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.pos++);
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  raw(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  bytes(): Uint8Array {
    return this.raw(this.u32());
  }

  string(): string {
    return decoder.decode(this.bytes());
  }

  /** Copies into a fresh, aligned array: the source offset may not be 4-aligned. */
  f32array(): Float32Array {
    const n = this.u32();
    const bytes = this.raw(n * 4);
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }

  u32array(): Uint32Array {
    const n = this.u32();
    const bytes = this.raw(n * 4);
    const out = new Uint32Array(n);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }

  u8array(): Uint8Array {
    return this.bytes().slice();
  }

  /**
   * An array written by ByteWriter.u32arrayAligned: a view on the bytes (no
   * copy; never to be written to: a private mapping would take the write in
   * fresh memory) when the reader is over a mapped file and the values are
   * 4-aligned there, else a copy. `view` says which.
   */
  u32arrayAligned(): { array: Uint32Array; view: boolean } {
    const bytes = this.alignedBytes();
    const n = bytes.length / 4;
    if (this.mapped && bytes.byteOffset % 4 === 0) return { array: new Uint32Array(bytes.buffer, bytes.byteOffset, n), view: true };
    const out = new Uint32Array(n);
    new Uint8Array(out.buffer).set(bytes);
    return { array: out, view: false };
  }

  /** Step over `n` bytes; returns where they start in `buf`. */
  skip(n: number): number {
    this.need(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** The source's name in errors (a file's path). */
  get source(): string {
    return this.what;
  }

  /**
   * The bytes of an array written by u32arrayAligned or f32arrayAligned,
   * uncopied: 4-aligned in memory when the writer's start was in the source.
   */
  alignedBytes(): Uint8Array {
    const n = this.u32();
    const pad = this.u8();
    if (pad > 3) throw new RangeError(`${this.what}: bad padding before an array`);
    this.raw(pad);
    return this.raw(n * 4);
  }

  /** The bytes of a length-prefixed f32 array, uncopied (for a caller that copies them into aligned memory). */
  f32bytes(): Uint8Array {
    return this.raw(this.u32() * 4);
  }

  /** The bytes of a length-prefixed u32 array, uncopied (as f32bytes). */
  u32bytes(): Uint8Array {
    return this.raw(this.u32() * 4);
  }
}

export function utf8Length(s: string): number {
  return encoder.encode(s).length;
}

/** CRC32 of `data`; `previous`: the CRC32 of the bytes before it (so crc32(b, crc32(a)) is the CRC32 of a then b). */
export function crc32(data: Uint8Array, previous?: number): number {
  return (previous === undefined ? Bun.hash.crc32(data) : Bun.hash.crc32(data, previous)) >>> 0;
}

/**
 * JSON.parse of UTF-8 bytes without making their text first (Bun.JSONL reads
 * the bytes in place): a payload read from a mapped row file skips one string
 * allocation as large as the payload. Bun.JSONL is lax where JSON.parse is not
 * (a truncated value is skipped, more than one value accepted, bad UTF-8
 * replaced), so it reads only bytes that are UTF-8, and only a single value
 * that consumed every byte is taken as is; for anything else the decoder and
 * JSON.parse decide: a TypeError for bytes that are not UTF-8, a SyntaxError
 * for text that is not one JSON value.
 */
export function jsonFromUtf8(bytes: Uint8Array): unknown {
  if (isUtf8(bytes)) {
    const r = Bun.JSONL.parseChunk(bytes);
    if (r.error === null && r.done && r.read === bytes.length && r.values.length === 1) return r.values[0];
  }
  return JSON.parse(decoder.decode(bytes));
}
