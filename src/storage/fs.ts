/**
 * The file-system seam: every open, read, write, fsync/fdatasync, ftruncate,
 * rename, unlink, mkdir, readdir, stat, mmap and directory sync that vqlite
 * makes goes through `vfs`. In production each call passes straight to
 * node:fs (or Bun.mmap). Tests install a fault hook (setFaultHook) that sees
 * every call before it runs and may throw to make it fail, the way SQLite's
 * test VFS fails the Nth I/O call.
 *
 * Nothing outside src/storage imports node:fs for database files; storage
 * files import this module instead of node:fs.
 *
 * Fault semantics (tested by test/faults.test.ts, which fails every call of a
 * mixed workload in turn with ENOSPC, EIO, EACCES, a torn write or a failed sync):
 *  - A failed call surfaces as a VqliteError naming the file and the call:
 *    DISK_FULL for ENOSPC/EDQUOT, IO_ERROR otherwise (errors.io). The write it
 *    belonged to changes nothing the caller can see: the log is cut back, temp
 *    files are removed, an mmap batch's rows are written (vector_file.ts,
 *    writeAhead) before the write is logged so a logged write always applies.
 *  - A short write is continued (writeAll); one that makes no progress is EIO.
 *  - A failed fsync/fdatasync/directory sync is marked (isSyncFailure): the
 *    database then refuses writes until reopened and never syncs again in this
 *    session (write_gate.ts). So does a failed WAL append.
 *  - Opening does not need free space to serve reads: the database layer falls
 *    back to a recovery that writes nothing (db.ts, readOnlyRecovery).
 */
import * as fs from "node:fs";

export type FsOp =
  | "open"
  | "close"
  | "read"
  | "write"
  | "fsync"
  | "fdatasync"
  | "ftruncate"
  | "fstat"
  | "rename"
  | "unlink"
  | "mkdir"
  | "readdir"
  | "readFile"
  | "exists"
  | "mmap"
  | "syncDir"
  | "mkdtemp"
  | "rmTree";

/**
 * Sees each call before it runs. Throwing fails the call with that error.
 * For a write, returning a number n (0 ≤ n < length) makes it a short write
 * of n bytes (the bytes are written, the call returns n).
 */
export type FaultHook = (op: FsOp, path: string, length?: number) => number | void;

let hook: FaultHook | null = null;
/** Open descriptors and the files they name, so a fault (and an error) can say which file. */
const fdPaths = new Map<number, string>();

/** Install (or, with null, remove) the fault hook. Returns the previous one. */
export function setFaultHook(h: FaultHook | null): FaultHook | null {
  const previous = hook;
  hook = h;
  return previous;
}

function check(op: FsOp, path: string, length?: number): number | void {
  if (hook === null) return;
  try {
    return hook(op, path, length);
  } catch (e) {
    throw tag(e, op);
  }
}

/** Name the call on an error (injected faults have no syscall) and mark failed syncs. */
function tag(e: unknown, op: FsOp): unknown {
  if (e !== null && typeof e === "object") {
    const err = e as { syscall?: string; vqliteSyncFailed?: boolean };
    if (err.syscall === undefined) err.syscall = op;
    if (op === "fsync" || op === "fdatasync" || op === "syncDir") err.vqliteSyncFailed = true;
  }
  return e;
}

function synced(op: FsOp, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    throw tag(e, op);
  }
}

/**
 * Whether an error (or any error in its cause chain) is a failed fsync,
 * fdatasync or directory sync. After one, the kernel may have dropped the dirty
 * pages: retrying the sync can succeed without the data being on disk, so the
 * database must stop writing instead (the PostgreSQL "fsyncgate" lesson).
 */
export function isSyncFailure(e: unknown): boolean {
  for (let c = e, depth = 0; c !== null && typeof c === "object" && depth < 8; c = (c as { cause?: unknown }).cause, depth++) {
    if ((c as { vqliteSyncFailed?: boolean }).vqliteSyncFailed === true) return true;
  }
  return false;
}

function pathOf(fd: number): string {
  return fdPaths.get(fd) ?? `fd ${fd}`;
}

export const vfs = {
  open(path: string, flags: string): number {
    check("open", path);
    const fd = fs.openSync(path, flags);
    fdPaths.set(fd, path);
    return fd;
  },

  close(fd: number): void {
    const path = pathOf(fd);
    fdPaths.delete(fd);
    check("close", path);
    fs.closeSync(fd);
  },

  /** Read up to `length` bytes at `position` into `buffer[offset…]`; returns the bytes read. */
  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    check("read", pathOf(fd), length);
    return fs.readSync(fd, buffer, offset, length, position);
  },

  /** Write `length` bytes of `buffer[offset…]` at `position` (null: the file position); returns the bytes written. */
  write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number {
    const short = check("write", pathOf(fd), length);
    if (typeof short === "number" && short >= 0 && short < length) length = short;
    if (length === 0) return 0;
    return fs.writeSync(fd, buffer, offset, length, position);
  },

  fsync(fd: number): void {
    check("fsync", pathOf(fd));
    synced("fsync", () => fs.fsyncSync(fd));
  },

  fdatasync(fd: number): void {
    check("fdatasync", pathOf(fd));
    synced("fdatasync", () => fs.fdatasyncSync(fd));
  },

  ftruncate(fd: number, size: number): void {
    check("ftruncate", pathOf(fd), size);
    fs.ftruncateSync(fd, size);
  },

  fileSize(fd: number): number {
    check("fstat", pathOf(fd));
    return fs.fstatSync(fd).size;
  },

  /** The size of the file at `path`. */
  sizeOf(path: string): number {
    check("fstat", path);
    return fs.statSync(path).size;
  },

  /** A new, empty directory whose name starts with `prefix`. */
  mkdtemp(prefix: string): string {
    check("mkdtemp", prefix);
    return fs.mkdtempSync(prefix);
  },

  /** Remove a directory and everything below it; a missing one is not an error. */
  rmTree(path: string): void {
    check("rmTree", path);
    fs.rmSync(path, { recursive: true, force: true });
  },

  rename(from: string, to: string): void {
    check("rename", to);
    fs.renameSync(from, to);
  },

  /** Remove a file; a missing file is not an error. */
  unlink(path: string): void {
    check("unlink", path);
    fs.rmSync(path, { force: true });
  },

  mkdirp(path: string): void {
    check("mkdir", path);
    fs.mkdirSync(path, { recursive: true });
  },

  readdir(path: string): string[] {
    check("readdir", path);
    return fs.readdirSync(path);
  },

  readFile(path: string): Uint8Array<ArrayBuffer> {
    check("readFile", path);
    const b = fs.readFileSync(path);
    // Buffers of small files share a pool, so those are copied; a large file's Buffer owns its memory
    if (b.byteOffset === 0 && b.buffer.byteLength === b.byteLength && b.byteLength >= 65536) return new Uint8Array(b.buffer as ArrayBuffer);
    return new Uint8Array(b);
  },

  exists(path: string): boolean {
    check("exists", path);
    return fs.existsSync(path);
  },

  /** Map a whole file shared (writes through pwrite are visible in it). */
  mmap(path: string): Uint8Array {
    check("mmap", path);
    return Bun.mmap(path, { shared: true });
  },

  /**
   * Map a whole file private and read-only in use: for an immutable file read
   * once (a snapshot), whose pages come from the page cache instead of being
   * copied into fresh memory. Writes to it would never reach the file.
   */
  mapPrivate(path: string): Uint8Array<ArrayBuffer> {
    check("mmap", path);
    return Bun.mmap(path, { shared: false }) as Uint8Array<ArrayBuffer>;
  },

  /** fsync a directory, so that renames and creations in it are durable. */
  syncDir(dir: string): void {
    check("syncDir", dir);
    const fd = fs.openSync(dir, "r");
    try {
      synced("syncDir", () => fs.fsyncSync(fd));
    } finally {
      fs.closeSync(fd);
    }
  },
};
