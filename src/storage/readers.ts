/**
 * Readers beside a writer: the protocol.
 *
 * One process at a time writes a database (LOCK, lock.ts). Any number of
 * read-only handles, in any processes, read it at the same time without a
 * lock. Everything a reader needs is built from these rules:
 *
 * 1. Immutable files. A snapshot (NAME.GEN.snap) and the MANIFEST are written
 *    whole to a temp file and renamed into place; they never change after.
 *    A vector file (.vec) only grows: rows are appended and never rewritten,
 *    it is never truncated or shrunk (vacuum and ALTER write a new file).
 *    The writer puts a batch's new vectors into an mmap collection's file
 *    BEFORE it appends the batch's WAL record, so a reader that sees the
 *    record finds its rows already in the file (and a reader never writes).
 *
 * 2. The write-ahead log is appended to in place and read with pread only
 *    (never mapped). Its header carries a salt, the manifest generation it
 *    follows. A checkpoint writes the new manifest, then stamps the new salt
 *    into the log header, then cuts the log back to its header. A writer that
 *    opens a log whose salt is not its manifest's generation (its predecessor
 *    was killed between those two steps) stamps it before appending anything:
 *    records always build on the files of the generation the salt names.
 *    LSNs are consecutive. A reader remembers (generation, salt, offset, LSN):
 *      - same salt, same size: nothing new (two syscalls, the cheap check);
 *      - same salt, bigger: parse records from its offset and apply each whole,
 *        checksummed record whose LSN is exactly LSN + 1 (a torn tail fails
 *        that test and is left for later), provided the header still has the
 *        same salt once the bytes are read (else they may be a refilled log's,
 *        built on newer files: they are dropped and the reader looks again);
 *      - new salt: the writer checkpointed. Move to the newest manifest. A
 *        collection is kept as it is if its snapshot did not change, or if it
 *        is still on the same vector file and this reader had every record up
 *        to the checkpoint (its state is then exactly the snapshot's); others
 *        are reloaded from their snapshot (mmap vectors by mapping, no vector
 *        read). Then read the log from its start, skipping LSNs already covered;
 *      - a whole record with an LSN past LSN + 1: records this reader never saw
 *        were cut by a reset; reload everything from the newest manifest.
 *    So a reader always holds exactly a prefix of the committed history: a
 *    batch is one record, and a record is applied whole or not at all.
 *    A bulk load (collection/bulk_load.ts) writes no record: its rows go past
 *    the committed ends of the files and its commit is a checkpoint whose
 *    checkpoint LSN is one past the last record, so no reader counts itself
 *    caught up with it and each reloads the collection's new snapshot.
 *
 * 3. Pins. A reader registers a file readers/PID.STARTTIME.N naming the files
 *    of the generation it uses (vector files it maps, snapshots it may still
 *    load). To load generation G it reads MANIFEST, writes its pin, and reads
 *    MANIFEST again: if G is still current, the writer cannot have deleted
 *    G's files yet (it deletes only after writing a newer manifest, and then
 *    reads the pins first); otherwise it retries with the newer manifest.
 *    The writer deletes a file no manifest entry names only when no live
 *    reader pins it. A registration whose process is gone (pid dead, or the
 *    pid reused by a process with another start time, as LOCK checks) is
 *    removed by the writer, so a reader killed with kill -9 pins nothing for
 *    longer than until the writer's next checkpoint or open.
 *
 * A reader never writes, truncates or repairs database files: recovery (cutting
 * a torn log tail, fixing an interrupted vector-file growth) is the writer's job.
 * Its only writes are its own registration under readers/.
 */
import * as path from "node:path";
import { errors, io } from "../errors";
import { closeQuietly, readAt, writeAll } from "./files";
import { vfs } from "./fs";
import { isAlive, processStartTime } from "./lock";
import { crc32 } from "./binary";
import { MAX_RECORD_BYTES, RECORD_HEADER_BYTES, WAL_HEADER_BYTES, walSalt, type WalRecord } from "./wal";

export const READERS_DIR = "readers";

let handleCounter = 0;

/** One read-only handle's registration: the files it pins. */
export class ReaderRegistration {
  private released = false;
  private constructor(readonly file: string) {}

  /** False when the directory cannot be written (read-only media, another user's files): nothing is pinned then. */
  private enabled = true;

  static register(dir: string): ReaderRegistration {
    const rdir = path.join(dir, READERS_DIR);
    const name = `${process.pid}.${processStartTime(process.pid) ?? "0"}.${++handleCounter}`;
    const reg = new ReaderRegistration(path.join(rdir, name));
    try {
      vfs.mkdirp(rdir);
      reg.pin([]);
    } catch (e) {
      const code = (e as { code?: string }).code ?? ((e as { cause?: { code?: string } }).cause?.code);
      if (code !== "EACCES" && code !== "EROFS" && code !== "EPERM") throw errors.io(`registering a reader in ${rdir}`, e);
      reg.enabled = false; // no writer can change a database it cannot write either
    }
    return reg;
  }

  /** Replace the set of pinned files (atomically: a writer sees the old set or the new one). */
  pin(files: Iterable<string>): void {
    if (this.released || !this.enabled) return;
    const text = `${process.pid} ${processStartTime(process.pid) ?? ""}\n${[...files].join("\n")}\n`;
    const tmp = `${this.file}.tmp`;
    io(`registering reader ${this.file}`, () => {
      const fd = vfs.open(tmp, "w");
      try {
        writeAll(fd, new TextEncoder().encode(text), 0);
      } finally {
        closeQuietly(fd);
      }
      vfs.rename(tmp, this.file);
    });
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    if (!this.enabled) return;
    try {
      vfs.unlink(this.file);
    } catch {
      // best effort: a registration left behind names a dead process and is cleaned by the writer
    }
  }
}

/**
 * Files pinned by live readers of `dir`. Registrations of dead processes (and
 * stray temp files of dead ones) are deleted on the way.
 */
export function pinnedFiles(dir: string): Set<string> {
  const pinned = new Set<string>();
  const rdir = path.join(dir, READERS_DIR);
  let names: string[];
  try {
    if (!vfs.exists(rdir)) return pinned;
    names = vfs.readdir(rdir);
  } catch {
    return pinned;
  }
  for (const name of names) {
    const file = path.join(rdir, name);
    const m = /^(\d+)\.(\d*)\.\d+(\.tmp)?$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (!isAlive(pid, m[2] || undefined)) {
      try {
        vfs.unlink(file);
      } catch {
        // another writer-side cleanup got it first
      }
      continue;
    }
    if (m[3]) continue; // a live reader's pin in the middle of being replaced: its old file is still there
    let text: string;
    try {
      text = new TextDecoder().decode(vfs.readFile(file));
    } catch {
      continue; // released meanwhile
    }
    const lines = text.split("\n");
    for (let i = 1; i < lines.length; i++) if (lines[i]) pinned.add(lines[i]!);
  }
  return pinned;
}

/** What a reader found in the log since its last look. */
export interface FollowResult {
  /** Records to apply, in order: each has LSN = previous + 1. */
  readonly records: WalRecord[];
  /** Offset after the last record consumed (applied or already covered). */
  readonly end: number;
  /** A whole record with an LSN past the next one: this reader missed records and must reload. */
  readonly gap: boolean;
  /** The log was emptied while it was being read: the bytes may be the next log's; nothing was taken. */
  readonly stale: boolean;
}

/** Read-only access to a write-ahead log that another handle is appending to. */
export class WalFollower {
  private fd = -1;

  constructor(readonly path: string) {}

  private ensureOpen(): boolean {
    if (this.fd >= 0) return true;
    try {
      if (!vfs.exists(this.path)) return false;
      this.fd = vfs.open(this.path, "r");
      return true;
    } catch {
      return false;
    }
  }

  /** The header's salt and the file size; salt null when there is no complete header. */
  look(): { salt: number | null; size: number } {
    if (!this.ensureOpen()) return { salt: null, size: 0 };
    return io(`reading ${this.path}`, () => {
      const size = vfs.fileSize(this.fd);
      return { salt: walSalt(readAt(this.fd, WAL_HEADER_BYTES, 0)), size };
    });
  }

  /**
   * Whole, checksummed records in [from, to) that come after `lastLsn`, from the
   * log whose header salt is `salt`: if the salt has changed by the time the
   * bytes are read, they may belong to the next log (built on newer files), so
   * none is taken (`stale`).
   */
  read(from: number, to: number, lastLsn: number, salt: number): FollowResult {
    const records: WalRecord[] = [];
    if (to <= from || !this.ensureOpen()) return { records, end: from, gap: false, stale: false };
    const bytes = io(`reading ${this.path}`, () => readAt(this.fd, to - from, from));
    // The salt changes before a reset cuts the log and before anything new is written:
    // the same salt after the read means every byte read belongs to that log.
    const after = io(`reading ${this.path}`, () => walSalt(readAt(this.fd, WAL_HEADER_BYTES, 0)));
    if (after !== salt) return { records, end: from, gap: false, stale: true };
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 0;
    let last = lastLsn;
    while (pos + RECORD_HEADER_BYTES <= bytes.length) {
      const len = view.getUint32(pos, true);
      if (len > MAX_RECORD_BYTES || pos + RECORD_HEADER_BYTES + len > bytes.length) break;
      if (crc32(bytes.subarray(pos + 8, pos + RECORD_HEADER_BYTES + len)) !== view.getUint32(pos + 4, true)) break;
      const lsn = view.getFloat64(pos + 8, true);
      if (lsn > last + 1) return { records, end: from + pos, gap: true, stale: false };
      if (lsn === last + 1) {
        records.push({ lsn, payload: bytes.slice(pos + RECORD_HEADER_BYTES, pos + RECORD_HEADER_BYTES + len) });
        last = lsn;
      }
      pos += RECORD_HEADER_BYTES + len;
    }
    return { records, end: from + pos, gap: false, stale: false };
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      closeQuietly(this.fd);
    } catch {
      // already gone
    }
    this.fd = -1;
  }
}

export function notADatabase(dir: string) {
  return errors.io(`opening ${dir} read-only`, new Error("no vqlite database there (no MANIFEST)"));
}
