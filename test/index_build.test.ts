import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { open, VqliteError, type Collection } from "../src/index";
import { randomVectors, recallAt, row, tempDir } from "./helpers";

setDefaultTimeout(120_000);

const dim = 32;
const n = 2500;
const data = randomVectors(n + 400, dim, 77);

function fill(c: Collection, from: number, to: number): void {
  c.insertMany(Array.from({ length: to - from }, (_, j) => ({ id: `v${from + j}`, vector: row(data, from + j, dim), payload: { i: from + j } })));
}

/** recall@10 of the collection's index against its exact search, over 40 stored vectors as queries. */
function recall(c: Collection): number {
  const got: number[][] = [], want: number[][] = [];
  for (let q = 0; q < 40; q++) {
    const v = row(data, q * 7, dim);
    got.push(c.search(v, { k: 10 }).map((h) => Number(h.id.slice(1))));
    want.push(c.search(v, { k: 10, exact: true }).map((h) => Number(h.id.slice(1))));
  }
  return recallAt(10, got, want);
}

describe("rebuildIndexAsync: builds in a worker while the collection stays usable", () => {
  for (const storage of ["memory", "mmap"] as const) {
    test(`HNSW, ${storage} storage: writes during the build reach the new index; the event loop keeps running`, async () => {
      const db = open(tempDir());
      const c = db.createCollection("c", { dimension: dim, metric: "l2", storage, index: { type: "hnsw", m: 12, efConstruction: 100 } });
      fill(c, 0, n);
      const before = c.index;
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const build = c.rebuildIndexAsync();
      // writes and searches while the worker builds: they go to the current index
      fill(c, n, n + 200);
      const deleted = Array.from({ length: 100 }, (_, j) => `v${j * 3}`);
      c.deleteMany(deleted);
      c.update("v1", { vector: row(data, n + 300, dim) });
      expect(c.search(row(data, n + 10, dim), { k: 1 })[0]!.id).toBe(`v${n + 10}`);
      await build;
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(0); // timers fired while the build ran: the main thread was free
      expect(c.index).not.toBe(before);
      expect(c.count()).toBe(n + 200 - 100);
      for (const id of deleted.slice(0, 20)) {
        const v = row(data, Number(id.slice(1)), dim);
        expect(c.search(v, { k: 5 }).map((h) => h.id)).not.toContain(id);
      }
      for (const i of [n, n + 77, n + 199]) expect(c.search(row(data, i, dim), { k: 1 })[0]!.id).toBe(`v${i}`);
      expect(c.search(row(data, n + 300, dim), { k: 1 })[0]!.id).toBe("v1"); // the updated vector
      expect(recall(c)).toBeGreaterThanOrEqual(0.9);
      // the swapped index is saved by the next checkpoint and reopened without a rebuild
      const results = Array.from({ length: 10 }, (_, q) => c.search(row(data, q * 11, dim), { k: 10 }));
      const dir = db.path!;
      db.close();
      const again = open(dir);
      const c2 = again.collection("c");
      expect(Array.from({ length: 10 }, (_, q) => c2.search(row(data, q * 11, dim), { k: 10 }))).toEqual(results);
      again.close();
    });
  }

  test("clustered index, and a vacuum during the build restarts it on the new row numbers", async () => {
    const db = open();
    const c = db.createCollection("c", { dimension: dim, metric: "l2", index: { type: "clustered", maxLeafSize: 200 } });
    fill(c, 0, n);
    const build = c.rebuildIndexAsync();
    c.deleteMany(Array.from({ length: 500 }, (_, j) => `v${j}`));
    c.vacuum(); // renumbers every row while the worker still builds on the old numbers
    await build;
    expect(c.count()).toBe(n - 500);
    for (const i of [500, 1234, n - 1]) expect(c.search(row(data, i, dim), { k: 1 })[0]!.id).toBe(`v${i}`);
    // the same answers as a build on the main thread over the same rows (the build is deterministic)
    const answers = () => Array.from({ length: 40 }, (_, q) => c.search(row(data, 600 + q * 7, dim), { k: 10 }));
    const fromWorker = answers();
    c.rebuildIndex();
    expect(answers()).toEqual(fromWorker);
    db.close();
  });

  test("cancelling leaves the current index; a second concurrent build is refused; progress is reported", async () => {
    const db = open();
    const c = db.createCollection("c", { dimension: dim, metric: "l2", index: { type: "hnsw", efConstruction: 200 } });
    fill(c, 0, n);
    const before = c.index;
    const controller = new AbortController();
    const build = c.rebuildIndexAsync({ signal: controller.signal });
    await expect(c.rebuildIndexAsync()).rejects.toThrow("already running");
    controller.abort();
    const err = await build.then(
      () => null,
      (e) => e,
    );
    expect(err).toBeInstanceOf(VqliteError);
    expect((err as VqliteError).code).toBe("CANCELLED");
    expect(c.index).toBe(before);
    expect(c.search(row(data, 5, dim), { k: 1 })[0]!.id).toBe("v5");
    const seen: number[] = [];
    await c.rebuildIndexAsync({ onProgress: (done, total) => seen.push(done / total) });
    expect(seen.length).toBeGreaterThan(1);
    expect(seen[seen.length - 1]).toBe(1);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
    db.close();
  });

  test("a build on a closed database or a dropped collection does not swap anything in", async () => {
    const db = open();
    const c = db.createCollection("c", { dimension: dim, metric: "l2", index: "hnsw" });
    fill(c, 0, 500);
    const build = c.rebuildIndexAsync();
    db.dropCollection("c");
    const err = await build.then(
      () => null,
      (e) => e,
    );
    expect((err as VqliteError).code).toBe("UNKNOWN_COLLECTION");
  });
});

describe("BUILD INDEX in the interactive shell", () => {
  test("runs in a worker with progress; Ctrl-C (interrupt) cancels it and leaves the index as it was", async () => {
    const { ShellSession } = await import("../repl/session");
    const dir = tempDir();
    {
      const db = open(dir);
      const c = db.createCollection("c", { dimension: dim, metric: "l2", index: { type: "hnsw", efConstruction: 200 } });
      fill(c, 0, n);
      db.close();
    }
    const out: string[] = [], err: string[] = [], progress: number[] = [];
    const s = new ShellSession({ db: dir, out: (t) => out.push(t), err: (t) => err.push(t), progress: (_l, d, t) => progress.push(d / t) });
    const cancelled = s.feedInteractive("BUILD INDEX ON c;");
    expect(s.building).toBe(true);
    s.interrupt();
    await cancelled;
    expect(s.building).toBe(false);
    expect(err.join("\n")).toContain("[CANCELLED]");
    expect(out).toEqual([]);
    s.feed("SEARCH c NEAR " + JSON.stringify(Array.from(row(data, 9, dim))) + " LIMIT 1;");
    expect(out.join("\n")).toContain("v9");
    out.length = 0;
    await s.feedInteractive("BUILD INDEX ON c;");
    expect(out.join("\n")).toContain("rebuilt the hnsw index of c");
    expect(progress.length).toBeGreaterThan(1);
    expect(progress[progress.length - 1]).toBe(1);
    s.close();
  });
});
