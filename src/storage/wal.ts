/**
 * Write-ahead log.
 *
 * File: 16-byte header ("VQLWAL\0\1", u32 version, u32 salt), then records:
 *   u32 payload length | u32 CRC32 of (lsn bytes + payload) | f64 lsn | payload
 * A record is the unit of atomicity: a batch is written as one record, so it
 * commits as a group. Recovery reads records in order and stops at the first
 * one that is short, oversized or fails its checksum; that tail is cut off so
 * new records never follow garbage.
 *
 * The salt is the manifest generation the log follows: a checkpoint writes a
 * new salt into the header before it cuts the log back to the header, so a
 * reader that remembers (salt, size) can tell a log that grew from one that
 * was emptied and refilled (see readers.ts for the whole reader protocol).
 * The log is read with pread only, never mapped, so cutting it under a reader
 * only makes that reader's read come back short; it is never a SIGBUS.
 * LSNs are consecutive: a record is the next one for a reader at LSN L only if
 * its LSN is L + 1.
 */
import { errors, io, VqliteError } from "../errors";
import { crc32 } from "./binary";
import { closeQuietly, fileExists, readFileBytes, writeAll } from "./files";
import { vfs } from "./fs";

const MAGIC = new Uint8Array([0x56, 0x51, 0x4c, 0x57, 0x41, 0x4c, 0x00, 0x01]); // "VQLWAL\0\1"
const VERSION = 1;
export const WAL_HEADER_BYTES = 16;
export const RECORD_HEADER_BYTES = 16;
/** Upper bound on one record, so a corrupt length cannot make recovery allocate wildly. */
export const MAX_RECORD_BYTES = 1 << 30;

export type Durability = "full" | "normal";

export interface WalRecord {
  readonly lsn: number;
  readonly payload: Uint8Array;
}

export interface WalRecovery {
  readonly records: WalRecord[];
  /** Bytes cut from the end (a torn or corrupt tail); 0 when the log was clean. */
  readonly discardedBytes: number;
}

function walHeader(salt: number): Uint8Array {
  const h = new Uint8Array(WAL_HEADER_BYTES);
  h.set(MAGIC, 0);
  new DataView(h.buffer).setUint32(8, VERSION, true);
  new DataView(h.buffer).setUint32(12, salt >>> 0, true);
  return h;
}

/** The salt of a WAL image's header, or null when the header is incomplete or not a WAL's. */
export function walSalt(bytes: Uint8Array): number | null {
  if (bytes.length < WAL_HEADER_BYTES) return null;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return null;
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(12, true);
}

export function encodeRecord(lsn: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  out.set(payload, RECORD_HEADER_BYTES);
  return frameRecord(lsn, out);
}

/**
 * Fill in the header of a record whose payload is already in place after
 * RECORD_HEADER_BYTES free bytes at the front of `framed` (no copy of the payload).
 */
export function frameRecord(lsn: number, framed: Uint8Array): Uint8Array {
  const v = new DataView(framed.buffer, framed.byteOffset, framed.byteLength);
  v.setUint32(0, framed.length - RECORD_HEADER_BYTES, true);
  v.setFloat64(8, lsn, true);
  v.setUint32(4, crc32(framed.subarray(8)), true);
  return framed;
}

/** Parse a WAL image; returns the good records and the offset where they end. */
export function parseWal(file: string, bytes: Uint8Array): { records: WalRecord[]; goodEnd: number } {
  if (bytes.length < WAL_HEADER_BYTES) {
    // A header that never finished being written: an empty log.
    return { records: [], goodEnd: 0 };
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw errors.corrupt(file, "not a vqlite write-ahead log (bad magic)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== VERSION) throw errors.corrupt(file, `unsupported WAL version ${version}`);
  const records: WalRecord[] = [];
  let pos = WAL_HEADER_BYTES;
  let lastLsn = -Infinity;
  while (pos + RECORD_HEADER_BYTES <= bytes.length) {
    const len = view.getUint32(pos, true);
    if (len > MAX_RECORD_BYTES || pos + RECORD_HEADER_BYTES + len > bytes.length) break;
    const sum = view.getUint32(pos + 4, true);
    if (crc32(bytes.subarray(pos + 8, pos + RECORD_HEADER_BYTES + len)) !== sum) break;
    const lsn = view.getFloat64(pos + 8, true);
    if (!(lsn > lastLsn)) break; // LSNs strictly increase; anything else is stale or corrupt
    lastLsn = lsn;
    records.push({ lsn, payload: bytes.slice(pos + RECORD_HEADER_BYTES, pos + RECORD_HEADER_BYTES + len) });
    pos += RECORD_HEADER_BYTES + len;
  }
  return { records, goodEnd: pos };
}

export class WriteAheadLog {
  private fd: number;
  private size: number;
  private unsynced = false;
  private headerSalt: number;

  private constructor(
    readonly path: string,
    fd: number,
    size: number,
    readonly durability: Durability,
    salt: number,
  ) {
    this.fd = fd;
    this.size = size;
    this.headerSalt = salt;
  }

  /** The salt in the log's header. */
  get salt(): number {
    return this.headerSalt;
  }

  /** Open (creating if missing, with header salt `salt`), recover the records, and cut any torn tail. */
  static open(path: string, durability: Durability, salt = 0): { wal: WriteAheadLog; recovery: WalRecovery } {
    let bytes: Uint8Array = new Uint8Array(0);
    const exists = fileExists(path);
    if (exists) bytes = readFileBytes(path);
    const { records, goodEnd } = parseWal(path, bytes);
    const fd = io(`opening ${path}`, () => vfs.open(path, exists ? "r+" : "w+"));
    try {
      let size = goodEnd;
      if (goodEnd === 0) {
        io(`initialising ${path}`, () => {
          vfs.ftruncate(fd, 0);
          writeAll(fd, walHeader(salt), 0);
          vfs.fdatasync(fd);
        });
        size = WAL_HEADER_BYTES;
      } else if (goodEnd < bytes.length) {
        io(`cutting the torn tail of ${path}`, () => {
          vfs.ftruncate(fd, goodEnd);
          vfs.fdatasync(fd);
        });
      }
      return {
        wal: new WriteAheadLog(path, fd, size, durability, goodEnd === 0 ? salt >>> 0 : (walSalt(bytes) ?? 0)),
        recovery: { records, discardedBytes: bytes.length > WAL_HEADER_BYTES ? bytes.length - Math.max(goodEnd, WAL_HEADER_BYTES) : 0 },
      };
    } catch (e) {
      closeQuietly(fd);
      throw e instanceof VqliteError ? e : errors.io(`opening ${path}`, e);
    }
  }

  get byteSize(): number {
    return this.size;
  }

  /**
   * Append one record. With durability "full" it is fdatasync'ed before this
   * returns, so a returned append is an acknowledged, crash-proof write.
   * On failure the log is cut back to where it was, so nothing half-written stays.
   */
  append(lsn: number, payload: Uint8Array): void {
    if (payload.length > MAX_RECORD_BYTES) throw errors.invalidArgument(`a single write of ${payload.length} bytes exceeds the 1 GiB record limit`);
    this.write(encodeRecord(lsn, payload));
  }

  /**
   * Append one record whose payload sits after RECORD_HEADER_BYTES free bytes
   * at the front of `framed` (the header is written into them): the bulk path,
   * which copies a large batch no more than it must.
   */
  appendFramed(lsn: number, framed: Uint8Array): void {
    const bytes = framed.length - RECORD_HEADER_BYTES;
    if (bytes > MAX_RECORD_BYTES) throw errors.invalidArgument(`a single write of ${bytes} bytes exceeds the 1 GiB record limit`);
    this.write(frameRecord(lsn, framed));
  }

  private write(rec: Uint8Array): void {
    const start = this.size;
    try {
      writeAll(this.fd, rec, start);
      if (this.durability === "full") vfs.fdatasync(this.fd);
      else this.unsynced = true;
    } catch (e) {
      try {
        vfs.ftruncate(this.fd, start);
      } catch {
        // if even this fails, recovery's checksum check still rejects the partial record
      }
      throw errors.io(`writing ${this.path}`, e);
    }
    this.size = start + rec.length;
  }

  sync(): void {
    if (!this.unsynced) return;
    io(`syncing ${this.path}`, () => vfs.fdatasync(this.fd));
    this.unsynced = false;
  }

  /**
   * Empty the log after a checkpoint made its records redundant. The new salt
   * goes into the header first, then the file is cut: a reader that sees the
   * old salt sees the old records (or a short read), never old salt + new records.
   */
  reset(salt: number): void {
    io(`truncating ${this.path}`, () => {
      writeAll(this.fd, walHeader(salt), 0);
      vfs.ftruncate(this.fd, WAL_HEADER_BYTES);
      vfs.fdatasync(this.fd);
    });
    this.size = WAL_HEADER_BYTES;
    this.headerSalt = salt >>> 0;
    this.unsynced = false;
  }

  /** Close, syncing first unless `sync` is false (after a failed sync: never retry one). */
  close(sync = true): void {
    if (this.fd < 0) return;
    try {
      if (sync) this.sync();
    } finally {
      closeQuietly(this.fd);
      this.fd = -1;
    }
  }
}
