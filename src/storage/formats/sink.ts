/**
 * Streaming output files: bytes are buffered, written to FILE.tmp as they
 * come, and the file appears under its name only when complete (fsync,
 * rename, directory fsync). An aborted export leaves no partial file.
 */
import * as path from "node:path";
import { io } from "../../errors";
import { syncDirectory, writeAll } from "../files";
import { vfs } from "../fs";

const FLUSH_BYTES = 1 << 20;

export class FileSink {
  private readonly tmp: string;
  private fd: number;
  private buf = new Uint8Array(FLUSH_BYTES);
  private used = 0;
  /** Bytes written so far (flushed or buffered). */
  bytes = 0;

  constructor(readonly file: string) {
    this.tmp = `${file}.tmp`;
    this.fd = io(`creating ${file}`, () => vfs.open(this.tmp, "w"));
  }

  write(data: Uint8Array | string): void {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    this.bytes += bytes.length;
    if (this.used + bytes.length > this.buf.length) this.flush();
    if (bytes.length >= this.buf.length) {
      io(`writing ${this.file}`, () => writeAll(this.fd, bytes));
      return;
    }
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }

  private flush(): void {
    if (this.used === 0) return;
    const chunk = this.buf.subarray(0, this.used);
    io(`writing ${this.file}`, () => writeAll(this.fd, chunk));
    this.used = 0;
  }

  /** Make the file durable and give it its name. */
  commit(): void {
    this.flush();
    io(`writing ${this.file}`, () => {
      vfs.fsync(this.fd);
      vfs.close(this.fd);
      vfs.rename(this.tmp, this.file);
    });
    this.fd = -1;
    syncDirectory(path.dirname(this.file));
  }

  /** Drop the partial file (after a failure). */
  abort(): void {
    if (this.fd >= 0) {
      try {
        vfs.close(this.fd);
      } catch {
        // already closed
      }
      this.fd = -1;
    }
    vfs.unlink(this.tmp);
  }
}

/** Run `fill` against a sink and commit it, or remove the partial file if anything fails. */
export function writeStreaming(file: string, fill: (sink: FileSink) => void): number {
  const sink = new FileSink(file);
  try {
    fill(sink);
    sink.commit();
  } catch (e) {
    sink.abort();
    throw e;
  }
  return sink.bytes;
}
