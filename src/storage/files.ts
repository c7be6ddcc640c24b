/**
 * Small filesystem primitives with the durability rules vqlite relies on:
 * atomic replace (temp file, fsync, rename, directory fsync) and directory sync.
 */
import { vfs } from "./fs";
import * as path from "node:path";
import { io } from "../errors";

export function ensureDirectory(dir: string): void {
  io(`creating directory ${dir}`, () => {
    if (!vfs.exists(dir)) vfs.mkdirp(dir);
  });
}

export function syncDirectory(dir: string): void {
  io(`syncing directory ${dir}`, () => vfs.syncDir(dir));
}

/** Write `data` to `file` so that after a crash either the old or the new content is there, never a mix. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  writeFileAtomicStream(file, (write) => write(typeof data === "string" ? Buffer.from(data) : data));
}

/** writeFileAtomic for content made piece by piece: `produce` calls `write` with each piece in order. */
export function writeFileAtomicStream(file: string, produce: (write: (bytes: Uint8Array) => void) => void): void {
  const tmp = `${file}.tmp`;
  io(`writing ${file}`, () => {
    try {
      const fd = vfs.open(tmp, "w");
      try {
        let at = 0;
        produce((bytes) => {
          writeAll(fd, bytes, at);
          at += bytes.length;
        });
        vfs.fsync(fd);
      } finally {
        closeQuietly(fd);
      }
      vfs.rename(tmp, file);
    } catch (e) {
      try {
        vfs.unlink(tmp); // give the space back (a full disk)
      } catch {
        // a leftover .tmp is removed at the next open
      }
      throw e;
    }
  });
  syncDirectory(path.dirname(file));
}

export function readFileBytes(file: string): Uint8Array<ArrayBuffer> {
  return io(`reading ${file}`, () => vfs.readFile(file));
}

export function fileExists(file: string): boolean {
  return io(`looking for ${file}`, () => vfs.exists(file));
}

/** Close a descriptor whose work is over (a failed close cannot lose data that was synced before it). */
export function closeQuietly(fd: number): void {
  try {
    vfs.close(fd);
  } catch {
    // nothing to do: the descriptor is gone either way
  }
}

export function removeFile(file: string): void {
  io(`removing ${file}`, () => vfs.unlink(file));
}

export function listDirectory(dir: string): string[] {
  return io(`listing ${dir}`, () => vfs.readdir(dir));
}

export function writeAll(fd: number, bytes: Uint8Array, position?: number): void {
  let off = 0;
  let stalled = 0;
  while (off < bytes.length) {
    const n = vfs.write(fd, bytes, off, bytes.length - off, position === undefined ? null : position + off);
    if (n <= 0 && ++stalled > 1) {
      throw Object.assign(new Error("EIO: write made no progress"), { code: "EIO", syscall: "write" });
    }
    if (n > 0) stalled = 0;
    off += Math.max(0, n);
  }
}

/** Fill `out` from `position` (fewer bytes at the end of the file); returns the bytes read. */
export function readInto(fd: number, out: Uint8Array, position: number): number {
  let off = 0;
  while (off < out.length) {
    const n = vfs.read(fd, out, off, out.length - off, position + off);
    if (n === 0) break;
    off += n;
  }
  return off;
}

export function readAt(fd: number, length: number, position: number): Uint8Array {
  const out = new Uint8Array(length);
  let off = 0;
  while (off < length) {
    const n = vfs.read(fd, out, off, length - off, position + off);
    if (n === 0) break;
    off += n;
  }
  return off === length ? out : out.subarray(0, off);
}
