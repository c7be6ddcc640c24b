/**
 * Long mode of the file fuzzer (issue 12). Each seed runs in a child process
 * with a time limit, so a hang is reported (with the case it was on) instead
 * of stopping the run.
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
const perFile = arg("per-file", 200);

if (process.argv.includes("--one")) {
  const seed = arg("one", 1);
  const resealed = process.argv.includes("--resealed");
  const root = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "vqlite-filefuzz-"));
  try {
    const s = fuzzFiles({ root, seed, perFile, resealed });
    process.stdout.write(JSON.stringify(s) + "\n");
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  process.exit(0);
}

const seeds = arg("seeds", 10);
const limitMs = arg("limit-ms", 600_000);
let cases = 0, corrupt = 0, opened = 0, failures = 0;
const byKind: Record<string, number> = {};
for (let seed = 1; seed <= seeds; seed++) {
  for (const resealed of [false, true]) {
    const child = Bun.spawn([process.execPath, import.meta.path, "--one", String(seed), "--per-file", String(perFile), ...(resealed ? ["--resealed"] : [])], {
      stdout: "pipe",
      stderr: "inherit",
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
    const out = await new Response(child.stdout).text();
    await child.exited;
    clearTimeout(timer);
    if (child.signalCode === "SIGKILL") {
      failures++;
      console.error(`seed ${seed}${resealed ? " resealed" : ""}: no answer within ${limitMs} ms (a hang)`);
      continue;
    }
    const s = JSON.parse(out.trim().split("\n").at(-1)!) as { cases: number; corrupt: number; opened: number; byKind: Record<string, number>; failures: string[] };
    cases += s.cases;
    corrupt += s.corrupt;
    opened += s.opened;
    failures += s.failures.length;
    for (const [k, n] of Object.entries(s.byKind)) byKind[`${resealed ? "resealed " : ""}${k}`] = (byKind[`${resealed ? "resealed " : ""}${k}`] ?? 0) + n;
    for (const f of s.failures) console.error(f.slice(0, 500));
  }
  console.log(`seed ${seed}: ${cases} fuzzed files (${corrupt} CORRUPT_FILE, ${opened} opened correct or as a log prefix), ${failures} failures; ${JSON.stringify(byKind)}`);
}
process.exit(failures === 0 ? 0 : 1);
