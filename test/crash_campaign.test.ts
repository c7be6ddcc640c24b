/**
 * The short version of the crash campaign (test/long/crash.ts runs 1,000
 * trials): the mixed workload killed with SIGKILL at random moments, across
 * storage kinds, index variants and durability modes.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { crashTrial } from "./fixtures/crash_trial";
import { rng } from "./helpers";

setDefaultTimeout(120_000);

describe("crash campaign (short): kill -9 during the mixed workload", () => {
  test("8 trials: every acknowledged step survives exactly, the step in flight is whole or absent", async () => {
    const base = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
    const root = fs.mkdtempSync(path.join(base, "vqlite-crash-ci-"));
    const r = rng(12);
    let killed = 0, acked = 0;
    const problems: string[] = [];
    try {
      // one run to the end measures the workload, so the kills spread over all of it
      const full = await crashTrial({ root, seed: 499, variant: 0, batch: 12, durability: "full", killAfterMs: 60_000 });
      problems.push(...full.problems);
      for (let t = 0; t < 8; t++) {
        const killAfterMs = Math.floor(r() * full.runMs * 0.9);
        const res = await crashTrial({ root, seed: 500 + t, variant: t % 4, batch: 12, durability: t % 2 ? "normal" : "full", killAfterMs });
        if (res.killed) killed++;
        acked += res.ackedSteps;
        problems.push(...res.problems);
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
    expect(problems).toEqual([]);
    expect(killed).toBeGreaterThanOrEqual(3);
    expect(acked).toBeGreaterThan(20);
  });
});
