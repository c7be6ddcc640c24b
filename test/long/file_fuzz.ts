/**
 * Long mode of the file fuzzer (issue 12).
 *
 *   bun test/long/file_fuzz.ts --seeds 10 --per-file 200
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fuzzFiles } from "../fixtures/file_fuzz";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const seeds = arg("seeds", 10);
const perFile = arg("per-file", 200);
const root = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "vqlite-filefuzz-"));
let cases = 0, corrupt = 0, opened = 0, failures = 0;
const byKind: Record<string, number> = {};
try {
  for (let seed = 1; seed <= seeds; seed++) {
    for (const resealed of [false, true]) {
      const s = fuzzFiles({ root, seed, perFile, resealed });
      cases += s.cases;
      corrupt += s.corrupt;
      opened += s.opened;
      failures += s.failures.length;
      for (const [k, n] of Object.entries(s.byKind)) byKind[`${resealed ? "resealed " : ""}${k}`] = (byKind[`${resealed ? "resealed " : ""}${k}`] ?? 0) + n;
      for (const f of s.failures) console.error(f.slice(0, 500));
    }
    console.log(`seed ${seed}: ${cases} fuzzed files (${corrupt} CORRUPT_FILE, ${opened} opened correct or as a log prefix), ${failures} failures; ${JSON.stringify(byKind)}`);
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
process.exit(failures === 0 ? 0 : 1);
