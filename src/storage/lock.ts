/**
 * Process lock on a database directory: a LOCK file created with O_EXCL that
 * names the owner's pid and start time. A lock whose owner is gone (killed,
 * crashed) is stale and is taken over; a live owner means "database is locked".
 */
import * as path from "node:path";
import { errors, io } from "../errors";
import { closeQuietly, writeAll } from "./files";
import { vfs } from "./fs";

const heldInThisProcess = new Set<string>();

export function processStartTime(pid: number): string | null {
  try {
    const stat = new TextDecoder().decode(vfs.readFile(`/proc/${pid}/stat`));
    // Field 22 (starttime) comes after the parenthesised command name.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

export function isAlive(pid: number, startTime: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
  if (startTime && vfs.exists("/proc/self/stat")) {
    const now = processStartTime(pid);
    if (now !== null && now !== startTime) return false; // pid reused by another process
  }
  return true;
}

export class DirectoryLock {
  private released = false;
  private constructor(readonly file: string) {}

  static acquire(dir: string): DirectoryLock {
    const file = path.join(dir, "LOCK");
    const key = path.resolve(file);
    if (heldInThisProcess.has(key)) throw errors.locked(dir, process.pid);
    const content = `${process.pid} ${processStartTime(process.pid) ?? ""}\n`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = vfs.open(file, "wx");
        try {
          writeAll(fd, new TextEncoder().encode(content), 0);
          vfs.fsync(fd);
        } catch (e) {
          closeQuietly(fd);
          try {
            vfs.unlink(file); // ours, half-made: leave no lock behind
          } catch {
            // a lock naming this process and not held by it is taken over (below)
          }
          throw e;
        }
        closeQuietly(fd);
        heldInThisProcess.add(key);
        return new DirectoryLock(file);
      } catch (e) {
        if ((e as { code?: string }).code !== "EEXIST") throw errors.io(`locking ${dir}`, e);
      }
      let text = "";
      try {
        text = new TextDecoder().decode(vfs.readFile(file));
      } catch {
        continue; // vanished between open and read: retry
      }
      const [pidText, startTime] = text.trim().split(" ");
      const pid = Number(pidText);
      // A lock naming this process that this process does not hold is a leftover of a failed release.
      const ours = pid === process.pid && startTime === (processStartTime(process.pid) ?? undefined);
      if (Number.isInteger(pid) && pid > 0 && !ours && isAlive(pid, startTime)) throw errors.locked(dir, pid);
      // Stale: owner is gone (or the file is garbage from a crash mid-write). Take it over.
      io(`removing stale lock ${file}`, () => vfs.unlink(file));
    }
    throw errors.io(`locking ${dir}`, new Error("lock file keeps reappearing"));
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    heldInThisProcess.delete(path.resolve(this.file));
    try {
      vfs.unlink(this.file);
    } catch {
      // best effort: a lock left behind by a failed removal is stale and will be taken over
    }
  }
}
