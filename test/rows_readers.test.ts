import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open, type Collection } from "../src/index";
import { tempDir } from "./helpers";

/** Every live item as [id, vector, payload, sparse indices], sorted by id. */
function items(c: Collection): unknown[] {
  return [...c].map((it) => [it.id, Array.from(it.vector), it.payload, it.sparse ? Array.from(it.sparse.indices) : null]).sort();
}

function fill(c: Collection, from: number, to: number): void {
  c.insertMany(
    Array.from({ length: to - from }, (_, j) => {
      const i = from + j;
      return {
        id: `doc-${i}-ü`,
        vector: [Math.sin(i), Math.cos(i), i / 100],
        payload: { i, text: "é".repeat(i % 50), tags: [i % 3, "x"] },
        sparse: i % 4 === 0 ? { indices: [i, i + 5], values: [0.5, 1.5] } : null,
      };
    }),
  );
}

describe("row files (mmap metadata on disk) with readers and backups", () => {
  test("a read-only handle reads ids, payloads and sparse vectors from the writer's row files and follows new writes", () => {
    const dir = tempDir();
    using db = open(dir);
    const c = db.createCollection("docs", { dimension: 3, storage: "mmap", metric: "l2" });
    fill(c, 0, 300);
    db.checkpoint(); // the rows now live in row files
    expect(fs.readdirSync(dir).some((f) => f.endsWith(".rows"))).toBe(true);
    fill(c, 300, 350); // since the checkpoint: in the log only
    c.update("doc-7-ü", { payload: { changed: true } });
    c.delete("doc-8-ü");
    using r = open(dir, { readonly: true });
    const rc = r.collection("docs");
    expect(items(rc)).toEqual(items(c));
    expect(rc.search([Math.sin(42), Math.cos(42), 0.42], { k: 1 })[0]!.payload).toEqual({ i: 42, text: "é".repeat(42), tags: [0, "x"] });
    db.checkpoint();
    fill(c, 350, 360);
    c.vacuum();
    expect(items(rc)).toEqual(items(c)); // the reader moved to the new generation and its row files
  });

  test("a backup of an mmap collection carries its rows (no row files needed) and opens as a normal database", () => {
    const dir = tempDir();
    using db = open(dir);
    const c = db.createCollection("docs", { dimension: 3, storage: "mmap", metric: "l2" });
    fill(c, 0, 200);
    db.checkpoint();
    fill(c, 200, 220);
    const target = path.join(tempDir(), "copy");
    db.backup(target);
    const want = items(c);
    {
      using copy = open(target);
      const cc = copy.collection("docs");
      expect(cc.config.storage).toBe("mmap");
      expect(items(cc)).toEqual(want);
      fill(cc, 220, 230);
      copy.checkpoint(); // the copy writes its own row files
      expect(fs.readdirSync(target).some((f) => f.endsWith(".rows"))).toBe(true);
    }
    using again = open(target);
    expect(again.collection("docs").count()).toBe(230);
  });
});
