/**
 * Faults on purpose (issue 12). The fault loop runs the mixed workload of
 * test/fixtures/workload.ts once per call N and per fault kind, failing call
 * N, then reopens without faults and checks every acknowledged write, the
 * failed step whole or absent, and db.check(). VQLITE_LONG=1 runs bigger
 * batches and more seeds.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { open } from "../src/index";
import { setFaultHook } from "../src/storage/fs";
import { FAULT_KINDS, faultRun, freshDir, type FaultKind } from "./fixtures/fault_run";
import { expectCode, tempDir } from "./helpers";

setDefaultTimeout(300_000);
afterEach(() => setFaultHook(null));

const LONG = process.env.VQLITE_LONG === "1";
/** Fast scratch space: fsync on a tmpfs costs nothing. */
function scratchRoot(): string {
  const base = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  return fs.mkdtempSync(path.join(base, "vqlite-faults-"));
}

function enospc(op = "write"): Error {
  return Object.assign(new Error(`ENOSPC: no space left on device, ${op}`), { code: "ENOSPC" });
}

describe("the fault loop: call N fails, for every N the workload makes", () => {
  // variant 0: a = memory + HNSW, b = mmap + clustered; variant 1: a = mmap + clustered, b = memory + flat
  const configs: { kind: FaultKind; durability: "full" | "normal"; variant: number }[] = [
    ...FAULT_KINDS.map((kind) => ({ kind, durability: "full" as const, variant: 0 })),
    { kind: "EIO", durability: "normal", variant: 0 },
    { kind: "fsync", durability: "normal", variant: 0 },
    { kind: "ENOSPC", durability: "full", variant: 1 },
    { kind: "EIO", durability: "full", variant: 1 },
  ];
  for (const { kind, durability, variant } of configs) {
    test(`${kind}, durability ${durability}, variant ${variant}`, () => {
      const root = scratchRoot();
      try {
        const seeds = LONG ? [1, 2, 3] : [1];
        const batch = LONG ? 40 : 6;
        let runs = 0, failedSteps = 0;
        const problems: string[] = [];
        const steps = new Set<string>();
        for (const seed of seeds) {
          const clean = faultRun({ dir: freshDir(root, "db"), scratch: root, kind, n: 0, batch, seed, durability, variant });
          expect(clean.problems).toEqual([]);
          expect(clean.calls).toBeGreaterThan(50);
          for (let n = 1; n <= clean.calls; n++) {
            const r = faultRun({ dir: freshDir(root, "db"), scratch: root, kind, n, batch, seed, durability, variant });
            runs++;
            expect(r.injected).toBe(true);
            if (r.failedStep !== null) {
              failedSteps++;
              steps.add(r.failedStep);
            }
            problems.push(...r.problems);
          }
        }
        console.log(`fault loop ${kind}/${durability}/variant ${variant}: ${runs} runs, ${failedSteps} with a failed step, ${problems.length} failures`);
        expect(problems).toEqual([]);
        // the faults reached every kind of step, not just the first ones
        for (const s of ["checkpoint", "vacuum a", "create d"]) expect(steps.has(s)).toBe(true);
        expect(failedSteps).toBeGreaterThan(runs / 3);
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }
});

describe("fault semantics", () => {
  test("a full disk is DISK_FULL naming the file and the call, and changes nothing", () => {
    const dir = tempDir();
    const db = open(dir);
    const c = db.createCollection("c", { dimension: 2, storage: "mmap" });
    c.insert("a", [1, 2]);
    setFaultHook((op, file) => {
      if (op === "write" && file.endsWith("wal.log")) throw enospc();
    });
    const e = expectCode(() => c.insertMany([{ id: "b", vector: [3, 4] }, { id: "c", vector: [5, 6] }]), "DISK_FULL");
    expect(e.message).toContain(path.join(dir, "wal.log"));
    expect(e.message).toContain("ENOSPC in write");
    setFaultHook(null);
    expect(c.count()).toBe(1);
    expect(c.has("b")).toBe(false);
    // a failed WAL append closes the gate: refused, with the reason, until reopened; reads work
    const refused = expectCode(() => c.insert("d", [7, 8]), "DISK_FULL");
    expect(refused.message).toContain("refuses writes until it is reopened");
    expect(db.writeBlocked).not.toBeNull();
    expect(c.get("a")!.vector).toEqual(new Float32Array([1, 2]));
    expect(c.search([1, 2], { k: 1 })[0]!.id).toBe("a");
    db.close();
    using again = open(dir);
    expect(again.writeBlocked).toBeNull();
    again.collection("c").insert("d", [7, 8]);
    expect(again.collection("c").count()).toBe(2);
  });

  test("a failed growth of an mmap vector file fails the write before the log", () => {
    const dir = tempDir();
    using db = open(dir);
    const c = db.createCollection("c", { dimension: 2, storage: "mmap" });
    setFaultHook((op, file) => {
      if (op === "write" && file.endsWith(".vec")) throw enospc();
    });
    expectCode(() => c.insertMany(Array.from({ length: 5 }, (_, i) => ({ id: `i${i}`, vector: [i, 1] }))), "DISK_FULL");
    setFaultHook(null);
    expect(c.count()).toBe(0);
    // nothing reached the log, so the database still takes writes
    expect(db.writeBlocked).toBeNull();
    c.insert("x", [1, 1]);
    expect(db.check().ok).toBe(true);
  });

  test("a failed remap after an mmap file grew is retried, not written past", () => {
    const dir = tempDir();
    using db = open(dir);
    const c = db.createCollection("c", { dimension: 2, storage: "mmap" });
    c.insertMany(Array.from({ length: 1000 }, (_, i) => ({ id: `i${i}`, vector: [i, 1] })));
    setFaultHook((op) => {
      if (op === "mmap") throw Object.assign(new Error("EIO: mmap"), { code: "EIO" });
    });
    // the growth to 2048 rows succeeds, its mapping fails: the write fails before the log
    expectCode(() => c.insertMany(Array.from({ length: 100 }, (_, i) => ({ id: `j${i}`, vector: [i, 2] }))), "IO_ERROR");
    setFaultHook(null);
    expect(c.count()).toBe(1000);
    c.insertMany(Array.from({ length: 100 }, (_, i) => ({ id: `j${i}`, vector: [i, 2] })));
    expect(c.get("j99")!.vector).toEqual(new Float32Array([99, 2]));
    expect(db.check().ok).toBe(true);
  });

  test("a failed fsync is never retried: writes are refused until reopen, reads keep working", () => {
    const dir = tempDir();
    const db = open(dir, { durability: "normal" });
    const c = db.createCollection("c", { dimension: 2 });
    c.insert("a", [1, 2]);
    let syncs = 0;
    setFaultHook((op) => {
      if (op === "fdatasync" || op === "fsync") {
        syncs++;
        throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
      }
    });
    const e = expectCode(() => db.checkpoint(), "IO_ERROR");
    expect(e.message).toContain("fdatasync");
    expect(syncs).toBe(1);
    setFaultHook(null);
    const refused = expectCode(() => c.insert("b", [3, 4]), "IO_ERROR");
    expect(refused.message).toContain("refuses writes until it is reopened");
    expectCode(() => db.checkpoint(), "IO_ERROR");
    expect(c.get("a")).not.toBeNull();
    expect(db.check().writeBlocked).toContain("a sync failed");
    db.close(); // does not sync again
    using again = open(dir);
    expect(again.collection("c").count()).toBe(1);
    again.collection("c").insert("b", [3, 4]);
  });

  test("recovery that cannot write opens for reads from the log; writes are DISK_FULL until reopened with space", () => {
    const dir = tempDir();
    {
      const db = open(dir);
      for (const storage of ["memory", "mmap"] as const) {
        const c = db.createCollection(storage, { dimension: 3, storage, index: { type: "hnsw", m: 4 } });
        c.insertMany(Array.from({ length: 50 }, (_, i) => ({ id: `i${i}`, vector: [i, 1, 2], payload: { i } })));
        db.checkpoint();
        c.insertMany(Array.from({ length: 50 }, (_, i) => ({ id: `j${i}`, vector: [i, 2, 1], payload: { j: i } })));
        c.delete("i3");
      }
      db.createCollection("late", { dimension: 2, storage: "mmap" }).insert("z", [1, 1]);
      // a crash: the log holds what the last checkpoint does not
      setFaultHook((op) => {
        if (op !== "close" && op !== "unlink") throw enospc(op);
      });
      try {
        db.close();
      } catch {
        // the checkpoint at close fails: the disk is full
      }
      setFaultHook(null);
    }
    // the disk is full: every allocating call fails, reads work (the LOCK file needs its one block)
    setFaultHook((op, file) => {
      if ((op === "write" || op === "ftruncate" || op === "mkdir" || op === "rename") && !file.endsWith("LOCK")) throw enospc(op);
    });
    const ro = open(dir);
    expect(ro.writeBlocked?.code).toBe("DISK_FULL");
    for (const name of ["memory", "mmap"]) {
      const c = ro.collection(name);
      expect(c.count()).toBe(99);
      expect(c.get("j7")!.payload).toEqual({ j: 7 });
      expect(c.has("i3")).toBe(false);
      expect(c.search([7, 2, 1], { k: 1 })[0]!.id).toBe("j7");
    }
    expect(ro.collection("late").get("z")!.vector).toEqual(new Float32Array([1, 1]));
    expect(ro.check().ok).toBe(true);
    const e = expectCode(() => ro.collection("memory").insert("new", [1, 1, 1]), "DISK_FULL");
    expect(e.message).toContain("reopened");
    expectCode(() => ro.createCollection("x", { dimension: 1 }), "DISK_FULL");
    ro.close();
    setFaultHook(null);
    // space is back: reopening recovers everything and takes writes
    using db = open(dir);
    expect(db.writeBlocked).toBeNull();
    expect(db.collection("mmap").count()).toBe(99);
    db.collection("mmap").insert("new", [1, 1, 1]);
    expect(db.check().ok).toBe(true);
  });
});

/** Mount a 16 MB tmpfs when running as root; otherwise null (the seam case below runs instead). */
function mountTmpfs(): { dir: string; unmount: () => void } | null {
  if (process.getuid?.() !== 0 || process.env.VQLITE_NO_TMPFS === "1") return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vqlite-tmpfs-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", dir]);
  if (r.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return {
    dir,
    unmount: () => {
      spawnSync("umount", ["-l", dir]); // lazily: mappings of its files may outlive the test until collected
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Simulated 16 MB disk through the seam: writes past the budget fail with ENOSPC. */
function simulatedDisk(dir: string, bytes: number): { release: (n: number) => void } {
  let used = 0;
  const sizes = new Map<string, number>();
  for (const f of fs.readdirSync(dir)) used += fs.statSync(path.join(dir, f)).size;
  setFaultHook((op, file, length) => {
    if (op === "write" || op === "ftruncate") {
      const before = sizes.get(file) ?? (fs.existsSync(file) ? fs.statSync(file).size : 0);
      const grow = op === "write" ? (length ?? 0) : Math.max(0, (length ?? 0) - before);
      if (used + grow > bytes) throw enospc(op);
      used += grow;
      sizes.set(file, before + grow);
    }
  });
  return { release: (n) => void (used -= n) };
}

describe("a real full disk (16 MB tmpfs as root, the seam otherwise)", () => {
  for (const storage of ["memory", "mmap"] as const) {
    test(`${storage} storage: fill the disk, free 2 MB, reopen for reads; free a few MB, reopen and write`, () => {
      const fsMount = mountTmpfs();
      const dir = fsMount ? path.join(fsMount.dir, "db") : tempDir();
      const filler = path.join(fsMount ? fsMount.dir : dir, "filler");
      const extra = path.join(fsMount ? fsMount.dir : dir, "extra");
      try {
        let disk: ReturnType<typeof simulatedDisk> | null = null;
        if (fsMount) {
          fs.writeFileSync(filler, new Uint8Array(2 << 20).fill(1));
          fs.writeFileSync(extra, new Uint8Array(4 << 20).fill(1));
        }
        const acked = new Map<string, number[]>();
        const db = open(dir);
        if (!fsMount) disk = simulatedDisk(dir, 10 << 20);
        const c = db.createCollection("v", { dimension: 256, storage, metric: "l2" });
        let failure: unknown = null;
        for (let b = 0; b < 10_000 && failure === null; b++) {
          const items = Array.from({ length: 50 }, (_, i) => {
            const id = `b${b}-${i}`;
            return { id, vector: Array.from({ length: 256 }, (_, k) => ((b * 7 + i * 3 + k) % 17) / 4), payload: { b, i } };
          });
          try {
            c.insertMany(items);
            for (const it of items) acked.set(it.id, it.vector);
          } catch (e) {
            failure = e;
          }
        }
        expect(failure).not.toBeNull();
        expect((failure as { code: string }).code).toBe("DISK_FULL");
        expect(acked.size).toBeGreaterThan(1000);
        if (fsMount) expect(fs.statfsSync(fsMount.dir).bavail).toBeLessThan(64); // really full
        // reads keep working; writes are refused
        expect(c.count()).toBe(acked.size);
        expect(c.get("b0-0")!.payload).toEqual({ b: 0, i: 0 });
        // a failed WAL append closes the gate; a failed allocation (mmap rows, before the log) does not
        const walFailed = (failure as Error).message.includes("wal.log");
        try {
          c.insert("more", new Array(256).fill(0));
          expect(walFailed).toBe(false);
          acked.set("more", new Array(256).fill(0));
        } catch (e) {
          expect((e as { code: string }).code).toBe("DISK_FULL");
          if (walFailed) expect((e as Error).message).toContain("refuses writes until it is reopened");
        }
        try {
          db.close();
        } catch (e) {
          expect((e as { code: string }).code).toBe("DISK_FULL");
        }
        // free the 2 MB filler: reopening serves reads (writes may still fail)
        if (fsMount) fs.rmSync(filler);
        else disk!.release(2 << 20);
        const reader = open(dir);
        expect(reader.collection("v").count()).toBe(acked.size);
        for (const [id, v] of [...acked].filter((_, i) => i % 97 === 0)) expect(Array.from(reader.collection("v").get(id)!.vector)).toEqual(v);
        expect(reader.check().ok).toBe(true);
        try {
          reader.close();
        } catch {
          // a checkpoint may not fit yet
        }
        // a few more MB back: reopening recovers every acknowledged write and writes work
        if (fsMount) fs.rmSync(extra);
        else disk!.release(4 << 20);
        setFaultHook(null);
        const db2 = open(dir);
        expect(db2.writeBlocked).toBeNull();
        const c2 = db2.collection("v");
        expect(c2.count()).toBe(acked.size);
        for (const [id, v] of acked) {
          const got = c2.get(id);
          expect(got).not.toBeNull();
          expect(got!.vector).toEqual(new Float32Array(v));
        }
        c2.insertMany(Array.from({ length: 50 }, (_, i) => ({ id: `after${i}`, vector: new Array(256).fill(i) })));
        expect(c2.search(new Array(256).fill(3), { k: 1 })[0]!.id).toBe("after3");
        expect(db2.check().ok).toBe(true);
        db2.close();
      } finally {
        setFaultHook(null);
        fs.rmSync(filler, { force: true });
        fs.rmSync(extra, { force: true });
        if (fsMount) fsMount.unmount();
      }
    });
  }
});
