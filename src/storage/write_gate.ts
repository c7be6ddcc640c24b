/**
 * The write gate: once a database can no longer promise that what it
 * acknowledges is on disk, it refuses every further write until it is
 * reopened (reads keep working). It closes on:
 *   - a failed fsync/fdatasync/directory sync, anywhere: the kernel may have
 *     dropped the dirty pages, so a retried sync could "succeed" without the
 *     data (never retry a sync and assume success);
 *   - a failed WAL append: the log's tail is in doubt;
 *   - a failure after in-memory state moved ahead of what the log can replay
 *     (a vacuum or ALTER whose checkpoint failed);
 *   - a recovery that could not write (disk full, read-only files): the
 *     database was opened for reads from the log.
 * Reopening is the only way to open the gate again: recovery then rebuilds the
 * state from what is really on disk.
 */
import { errors, VqliteError } from "../errors";
import { isSyncFailure } from "./fs";

export class WriteGate {
  private reason: VqliteError | null = null;

  /** Why writes are refused, or null when they are allowed. */
  get blocked(): VqliteError | null {
    return this.reason;
  }

  /** Throw DISK_FULL (the cause was a full disk) or IO_ERROR when writes are refused. */
  assertWritable(): void {
    const r = this.reason;
    if (r !== null) throw new VqliteError(r.code, r.message, { cause: r.cause });
  }

  /** Refuse writes from now on (the first reason is kept). */
  close(why: string, cause: unknown): void {
    if (this.reason !== null) return;
    const detail = cause instanceof Error ? cause.message : String(cause);
    this.reason = errors.writesRefused(`${why} (${detail})`, cause);
  }

  /** Close the gate when `e` is a failed sync. Returns e, to rethrow. */
  noteFailure(e: unknown, what: string): unknown {
    if (isSyncFailure(e)) this.close(`a sync failed while ${what}`, e);
    return e;
  }
}
