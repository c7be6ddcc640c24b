import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as path from "node:path";
import { open } from "../src/index";
import { payloadFor, sparseFor, vectorFor } from "./fixtures/crash_data";
import { killChild, rng, tempDir } from "./helpers";

setDefaultTimeout(120_000);

const CHILD = path.join(import.meta.dir, "fixtures", "ingest_child.ts");

const ROWS_CHILD = path.join(import.meta.dir, "fixtures", "rows_child.ts");

async function runAndKill(dir: string, storage: string, durability: string, firstId: number, seed: number, killAfterMs: number): Promise<string> {
  return killChild([process.execPath, CHILD, dir, storage, durability, String(firstId), String(seed)], killAfterMs);
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

describe("crash recovery of row files: kill -9 while writing large and unicode payloads, sparse vectors, payload updates", () => {
  for (const compression of ["none", "zstd"] as const) test(`mmap storage, compression ${compression}, keeps exactly the acknowledged ids, payload versions and sparse vectors`, async () => {
    const dir = tempDir();
    const r = rng(compression === "none" ? 77 : 78);
    const version = new Map<number, number>(); // live id → acknowledged payload version
    let acked = 0;
    for (let t = 0; t < (compression === "none" ? 8 : 6); t++) {
      const first = (t + 1) * 1_000_000;
      const out = await killChild([process.execPath, ROWS_CHILD, dir, String(first), String(1 + t), compression], 50 + Math.floor(r() * 400));
      let inFlight: string | null = null;
      for (const line of out.split("\n")) {
        if (line.startsWith("? ")) {
          inFlight = line.slice(2);
          continue;
        }
        if (!/^[IUD]( \d+)+$/.test(line)) continue;
        inFlight = null;
        const [kind, ...nums] = line.split(" ");
        acked++;
        if (kind === "I") for (const id of nums.map(Number)) version.set(id, 0);
        else if (kind === "U") version.set(Number(nums[0]), Number(nums[1]));
        else version.delete(Number(nums[0]));
      }
      using db = open(dir);
      const c = db.collection("rows");
      expect(c.config.compression).toBe(compression);
      if (inFlight !== null) {
        const [kind, a, b, ...rest] = inFlight.split(" ");
        const id = Number(a);
        if (kind === "I" && c.has(a!)) for (const x of [a, b, ...rest]) if (x !== undefined) version.set(Number(x), 0);
        if (kind === "D" && !c.has(String(id))) version.delete(id);
        if (kind === "U" && (c.get(String(id))?.payload as { v?: number } | null)?.v === Number(b)) version.set(id, Number(b));
      }
      expect(c.count()).toBe(version.size);
      for (const [id, v] of version) {
        const got = c.get(String(id));
        expect(got).not.toBeNull();
        expect(got!.vector).toEqual(vectorFor(id));
        expect(got!.payload).toEqual(payloadFor(id, v));
        const sp = sparseFor(id);
        expect(got!.sparse === null ? null : { indices: Array.from(got!.sparse.indices), values: Array.from(got!.sparse.values) }).toEqual(sp);
      }
    }
    expect(acked).toBeGreaterThan(50);
  });
});
