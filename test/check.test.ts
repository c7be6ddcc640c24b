import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open } from "../src/index";
import { expectCode, randomVectors, row, tempDir } from "./helpers";

function fill(db: ReturnType<typeof open>) {
  const specs = [
    ["h", { type: "hnsw", m: 4, efConstruction: 20 }, "mmap"],
    ["k", { type: "clustered", maxLeafSize: 8 }, "memory"],
    ["f", { type: "flat" }, "memory"],
  ] as const;
  const data = randomVectors(120, 4, 7);
  for (const [name, index, storage] of specs) {
    const c = db.createCollection(name, { dimension: 4, index, storage: db.inMemory ? "memory" : storage } as never);
    c.insertMany(Array.from({ length: 120 }, (_, i) => ({ id: `i${i}`, vector: row(data, i, 4), payload: { i } })));
    for (let i = 0; i < 40; i++) c.delete(`i${i * 3}`);
    c.upsert("i1", [9, 9, 9, 9], { x: 1 });
  }
}

describe("db.check() and CHECK", () => {
  test("a sound database passes, in memory and on disk, before and after a reopen", () => {
    using mem = open();
    fill(mem);
    const r0 = mem.check();
    expect(r0.ok).toBe(true);
    expect(r0.collections.map((c) => [c.name, c.items, c.index])).toEqual([
      ["h", 80, "hnsw"],
      ["k", 80, "clustered"],
      ["f", 80, "flat"],
    ]);
    const dir = tempDir();
    const db = open(dir);
    fill(db);
    const r1 = db.check();
    expect(r1.problems).toEqual([]);
    expect(r1.walRecords).toBeGreaterThan(0);
    db.checkpoint();
    db.collection("k").vacuum();
    expect(db.check().ok).toBe(true);
    db.close();
    using again = open(dir);
    const r2 = again.check();
    expect(r2.ok).toBe(true);
    expect(r2.filesChecked).toBe(1 + 3 + 3 + 1); // manifest, snapshots, vector files, log
  });

  test("a damaged file on disk is reported, naming it", () => {
    const dir = tempDir();
    using db = open(dir);
    fill(db);
    db.checkpoint();
    const snap = fs.readdirSync(dir).find((f) => f.startsWith("f.") && f.endsWith(".snap"))!;
    const bytes = fs.readFileSync(path.join(dir, snap));
    bytes[20]! ^= 0xff;
    fs.writeFileSync(path.join(dir, snap), bytes);
    const vec = fs.readdirSync(dir).find((f) => f.startsWith("h.") && f.endsWith(".vec"))!;
    const fd = fs.openSync(path.join(dir, vec), "r+");
    fs.writeSync(fd, new Uint8Array([0xee]), 0, 1, 13);
    fs.closeSync(fd);
    const r = db.check();
    expect(r.ok).toBe(false);
    expect(r.problems.some((p) => p.includes(snap) && p.includes("checksum"))).toBe(true);
    expect(r.problems.some((p) => p.includes(vec))).toBe(true);
    const res = db.exec("CHECK;")[0]!;
    expect(res.count).toBe(2);
    expect(res.rows!.at(-1)!.status).toContain(snap);
  });

  test("an index that lost a row is reported", () => {
    using db = open();
    fill(db);
    const c = db.collection("k");
    // simulate a lost index entry: rebuild the index while one row is hidden
    const live = c.rowSource.liveMask();
    const row0 = c.rowOfId("i2")!;
    live[row0] = 0;
    c.index.rebuild();
    live[row0] = 1;
    const r = db.check();
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual(["k: clustered index: 1 live rows are in no leaf"]);
  });

  test("CHECK in VQL: a row per collection, a count of problems, and the named collection only", () => {
    using db = open();
    fill(db);
    const [all] = db.exec("CHECK;");
    expect(all!.count).toBe(0);
    expect(all!.rows!.map((r) => r.collection)).toEqual(["h", "k", "f"]);
    expect(all!.rows!.every((r) => r.status === "ok")).toBe(true);
    expect(db.query("CHECK k")).toEqual([{ collection: "k", items: 80, rows: 121, index: "clustered", status: "ok" }]);
    const e = expectCode(() => db.exec("CHECK nothing;"), "UNKNOWN_COLLECTION");
    expect(e.column).toBe(7);
  });
});
