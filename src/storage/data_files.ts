/**
 * Reading and writing the files COPY names (the only file access the query
 * layer needs goes through here).
 */
import { errors } from "../errors";
import { readFileBytes, writeFileAtomic } from "./files";

/** The bytes of a file, gunzipped when its name ends in .gz. */
export function readDataFile(file: string): Uint8Array {
  const raw = readFileBytes(file);
  if (!file.endsWith(".gz")) return raw;
  try {
    return Bun.gunzipSync(raw);
  } catch (e) {
    throw errors.corrupt(file, `not a valid gzip file (${(e as Error).message})`);
  }
}

/** Write a whole file atomically (temp file, fsync, rename). */
export function writeDataFile(file: string, text: string): void {
  writeFileAtomic(file, text);
}
