/**
 * Long mode of the VQL fuzzer (issue 12): 100,000 statements by default.
 *
 *   bun test/long/vql_fuzz.ts --statements 100000 [--seed 1] [--disk]
 *
 * Prints the statements run, the errors by code, the slowest statement and
 * every failure (an uncaught exception, an error without a position, a
 * statement over the time limit, a failed statement that changed the database).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fuzzVql } from "../fixtures/vql_fuzz";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const total = arg("statements", 100_000);
const seed = arg("seed", 1);
const scratch = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "vqlite-fuzz-"));
const t0 = performance.now();
let failures = 0;
try {
  // in chunks of 10,000, each with its own seed, so progress shows
  for (let done = 0, chunk = 0; done < total; chunk++) {
    const n = Math.min(10_000, total - done);
    const s = fuzzVql({ statements: n, seed: seed * 1_000 + chunk, scratch, limitMs: 5000, heavyChance: 0.03, onDisk: process.argv.includes("--disk") });
    done += n;
    failures += s.failures.length;
    for (const f of s.failures) console.error(f.slice(0, 500));
    console.log(
      `${done} statements (chunk ${chunk}: ${s.generated} generated, ${s.mutated} mutated, ${s.succeeded} ran, errors ${JSON.stringify(s.errorsByCode)}, slowest ${s.slowest.ms.toFixed(0)} ms), ${failures} failures, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
  }
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
process.exit(failures === 0 ? 0 : 1);
