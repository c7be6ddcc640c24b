/**
 * The file half of db.check(): re-read and verify every file the database
 * depends on (manifest, snapshots, vector file headers, the log), without
 * writing anything.
 */
import { readFileBytes, fileExists } from "./files";
import { readManifestFile, readSnapshotFile } from "./snapshot";
import { VectorFile } from "./vector_file";
import { parseWal } from "./wal";

export interface FileCheck {
  readonly filesChecked: number;
  readonly walRecords: number;
  readonly problems: string[];
}

function attempt(problems: string[], fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    problems.push((e as Error).message);
    return false;
  }
}

export function checkFiles(options: {
  manifest: string;
  wal: string;
  snapshots: readonly string[];
  vectors: readonly { path: string; dimension: number; rows: number }[];
}): FileCheck {
  const problems: string[] = [];
  let files = 0;
  if (attempt(problems, () => readManifestFile(options.manifest))) files++;
  for (const s of options.snapshots) if (attempt(problems, () => readSnapshotFile(s))) files++;
  for (const v of options.vectors) {
    const ok = attempt(problems, () => {
      const f = VectorFile.open(v.path, v.dimension, true, true);
      try {
        if (f.capacity < v.rows) problems.push(`${v.path}: capacity ${f.capacity} rows, ${v.rows} in use`);
      } finally {
        f.close();
      }
    });
    if (ok) files++;
  }
  let walRecords = 0;
  if (fileExists(options.wal)) {
    attempt(problems, () => {
      const bytes = readFileBytes(options.wal);
      const { records, goodEnd } = parseWal(options.wal, bytes);
      walRecords = records.length;
      if (bytes.length > 16 && goodEnd < bytes.length) problems.push(`${options.wal}: ${bytes.length - goodEnd} bytes after the last good record`);
      files++;
    });
  }
  return { filesChecked: files, walRecords, problems };
}
