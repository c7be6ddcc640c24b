import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as path from "node:path";
import { open } from "../src/index";
import { vectorFor } from "./fixtures/crash_data";
import { rng, tempDir } from "./helpers";

setDefaultTimeout(120_000);

const CHILD = path.join(import.meta.dir, "fixtures", "ingest_child.ts");

async function runAndKill(dir: string, storage: string, durability: string, firstId: number, seed: number, killAfterMs: number): Promise<string> {
  const child = Bun.spawn([process.execPath, CHILD, dir, storage, durability, String(firstId), String(seed)], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = child.stdout.getReader();
  let out = "";
  const decoder = new TextDecoder();
  // wait until it is ingesting, then let it run a random while
  while (!out.includes("READY\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`child exited early: ${await new Response(child.stderr).text()}`);
    out += decoder.decode(value);
  }
  await Bun.sleep(killAfterMs);
  child.kill("SIGKILL");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value);
  }
  await child.exited;
  expect(child.signalCode).toBe("SIGKILL");
  return out;
}

describe("crash recovery: kill -9 at random moments never loses an acknowledged write", () => {
  for (const [storage, durability] of [["mmap", "full"], ["memory", "full"], ["mmap", "normal"]] as const) {
    test(`${storage} storage, durability ${durability}`, async () => {
      const dir = tempDir();
      const r = rng(storage.length * 7 + durability.length);
      const inserted = new Set<number>();
      const deleted = new Set<number>();
      let totalAcked = 0;
      const trials = 8;
      for (let t = 0; t < trials; t++) {
        const out = await runAndKill(dir, storage, durability, t * 1_000_000, 1 + t, 30 + Math.floor(r() * 300));
        const lines = out.split("\n");
        // A delete announced but not acknowledged was in flight at the kill: it may have landed.
        let inFlight: number | null = null;
        for (const line of lines) {
          if (line.startsWith("? D ")) inFlight = Number(line.slice(4));
          else if (line.startsWith("D ")) inFlight = null;
        }
        for (const line of lines) {
          // only whole lines are acknowledgements; a line cut by the kill is not
          if (!/^[ID]( \d+)+$/.test(line)) continue;
          const [kind, ...ids] = line.split(" ");
          for (const id of ids.map(Number)) {
            totalAcked++;
            if (kind === "I") inserted.add(id);
            else {
              inserted.delete(id);
              deleted.add(id);
            }
          }
        }
        // reopen after every kill: recovery must see every acknowledged write, exactly
        using db = open(dir);
        const c = db.collection("items");
        if (inFlight !== null && !c.has(String(inFlight))) {
          inserted.delete(inFlight);
          deleted.add(inFlight);
        }
        for (const id of inserted) {
          const got = c.get(String(id));
          expect(got).not.toBeNull();
          expect(got!.vector).toEqual(vectorFor(id));
          expect(got!.payload).toEqual({ id, tag: `t${id % 7}` });
        }
        for (const id of deleted) expect(c.has(String(id))).toBe(false);
        // nothing that was never written appears: every stored id is well-formed and its vector matches
        for (const item of c) expect(item.vector).toEqual(vectorFor(Number(item.id)));
      }
      expect(totalAcked).toBeGreaterThan(50);
    });
  }
});
