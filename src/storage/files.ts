/**
 * Small filesystem primitives with the durability rules vqlite relies on:
 * atomic replace (temp file, fsync, rename, directory fsync) and directory sync.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { io } from "../errors";

export function ensureDirectory(dir: string): void {
  io(`creating directory ${dir}`, () => fs.mkdirSync(dir, { recursive: true }));
}

export function syncDirectory(dir: string): void {
  io(`syncing directory ${dir}`, () => {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** Write `data` to `file` so that after a crash either the old or the new content is there, never a mix. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.tmp`;
  io(`writing ${file}`, () => {
    const fd = fs.openSync(tmp, "w");
    try {
      let bytes = typeof data === "string" ? Buffer.from(data) : data;
      let off = 0;
      while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  });
  syncDirectory(path.dirname(file));
}

export function readFileBytes(file: string): Uint8Array {
  return io(`reading ${file}`, () => new Uint8Array(fs.readFileSync(file)));
}

export function fileExists(file: string): boolean {
  return fs.existsSync(file);
}

export function removeFile(file: string): void {
  io(`removing ${file}`, () => fs.rmSync(file, { force: true }));
}

export function listDirectory(dir: string): string[] {
  return io(`listing ${dir}`, () => fs.readdirSync(dir));
}

export function writeAll(fd: number, bytes: Uint8Array, position?: number): void {
  let off = 0;
  while (off < bytes.length) {
    const n = fs.writeSync(fd, bytes, off, bytes.length - off, position === undefined ? null : position + off);
    off += n;
  }
}

export function readAt(fd: number, length: number, position: number): Uint8Array {
  const out = new Uint8Array(length);
  let off = 0;
  while (off < length) {
    const n = fs.readSync(fd, out, off, length - off, position + off);
    if (n === 0) break;
    off += n;
  }
  return off === length ? out : out.subarray(0, off);
}
