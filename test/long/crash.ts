/**
 * Crash campaign (issue 12): the mixed workload of test/fixtures/workload.ts
 * (create, batched insert, upsert, delete, update, checkpoint, vacuum, ALTER
 * storage, BUILD INDEX, COPY, drop) with memory and mmap storage, both
 * durability modes and four index variants, killed with SIGKILL at random
 * moments; every trial reopens and checks every acknowledged step exactly.
 *
 *   bun test/long/crash.ts --trials 1000 [--seed 1] [--batch 40]
 *
 * Not run by `bun test` (no .test. in its name); test/crash_campaign.test.ts
 * runs a short version.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { rng } from "../helpers";
import { crashTrial } from "../fixtures/crash_trial";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const trials = arg("trials", 1000);
const seed0 = arg("seed", 1);
const batch = arg("batch", 40);
const base = fs.existsSync("/dev/shm") && !process.argv.includes("--disk") ? "/dev/shm" : os.tmpdir();
const root = fs.mkdtempSync(path.join(base, "vqlite-crash-"));
const r = rng(seed0 * 7919);
let killed = 0, ackedSteps = 0, ackedItems = 0, failures = 0, inFlight = 0;
let runMs = 200; // the workload's length when not killed (adapts): kills spread over the whole run
const t0 = performance.now();
try {
  for (let t = 0; t < trials; t++) {
    const res = await crashTrial({
      root,
      seed: seed0 * 100_000 + t,
      variant: t % 4,
      batch,
      durability: t % 3 === 2 ? "normal" : "full",
      killAfterMs: Math.floor(r() * runMs * 0.95),
    });
    if (res.killed) killed++;
    else runMs = Math.max(runMs * 0.8, res.runMs);
    if (res.inFlight) inFlight++;
    ackedSteps += res.ackedSteps;
    ackedItems += res.ackedItems;
    failures += res.problems.length;
    for (const p of res.problems) console.error(p);
    if ((t + 1) % 50 === 0 || t + 1 === trials) {
      console.log(
        `${t + 1} trials (${killed} killed, ${inFlight} with a step in flight), ${ackedSteps} acknowledged steps and ${ackedItems} acknowledged items checked, ${failures} failures, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
      );
    }
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
process.exit(failures === 0 ? 0 : 1);
