/**
 * Fuzzed files (test/fixtures/file_fuzz.ts): bit flips, truncations and
 * appended garbage in every file kind give CORRUPT_FILE naming the file or a
 * correct database; with forged checksums, the parsers behind them (index
 * sections included) still never crash or hang. test/long/file_fuzz.ts runs more.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HnswIndex } from "../src/ann/hnsw";
import { open } from "../src/index";
import { ByteReader, ByteWriter, crc32 } from "../src/storage/binary";
import { fuzzFiles } from "./fixtures/file_fuzz";

setDefaultTimeout(120_000);

function root(): string {
  return fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "vqlite-filefuzz-"));
}

describe("fuzzed files", () => {
  test("a snapshot with a forged row count (negative, fractional, NaN) is CORRUPT_FILE naming it", () => {
    const dir = root();
    try {
      const db = open(dir);
      db.createCollection("f", { dimension: 2 }).insert("a", [1, 2]);
      db.close();
      const snap = path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith(".snap"))!);
      const orig = new Uint8Array(fs.readFileSync(snap));
      for (const rows of [-1, 1.5, Number.NaN, 2 ** 60]) {
        const b = orig.slice();
        const v = new DataView(b.buffer);
        v.setFloat64(12, rows, true); // the body starts with the row count
        v.setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)), true);
        fs.writeFileSync(snap, b);
        let err: unknown = null;
        try {
          open(dir).close();
        } catch (e) {
          err = e;
        }
        expect((err as { code?: string })?.code).toBe("CORRUPT_FILE");
        expect((err as Error).message).toContain(path.basename(snap));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an HNSW section with a forged top level or entry point is rejected, not a search that never ends", () => {
    using db = open();
    const c = db.createCollection("h", { dimension: 2, metric: "l2", index: { type: "hnsw", m: 4 } });
    c.insertMany(Array.from({ length: 50 }, (_, i) => ({ id: `i${i}`, vector: [i, i % 7] })));
    const w = new ByteWriter();
    c.index.serialize(w);
    const good = w.finish();
    expect(() => HnswIndex.deserialize(new ByteReader(good.slice(), "h"), c.rowSource, "none")).not.toThrow();
    // version, dim, m, efConstruction, efSearch (u32 each), seed (f64), quantization "none" (u32 + 4), entry, maxLevel (f64)
    const maxLevelAt = 4 * 5 + 8 + 8 + 8;
    for (const [at, value] of [[maxLevelAt, 2 ** 40], [maxLevelAt, 1.5], [maxLevelAt, 60], [maxLevelAt - 8, 3], [maxLevelAt - 8, -7]] as const) {
      const bad = good.slice();
      new DataView(bad.buffer).setFloat64(at, value, true);
      expect(() => HnswIndex.deserialize(new ByteReader(bad, "h"), c.rowSource, "none")).toThrow(RangeError);
    }
  });

  for (const resealed of [false, true]) {
    test(resealed ? "with checksums recomputed: no crash, no hang" : "CORRUPT_FILE naming the file, or a correct database", () => {
      const dir = root();
      try {
        const s = fuzzFiles({ root: dir, seed: resealed ? 77 : 76, perFile: 15, resealed });
        expect(s.failures).toEqual([]);
        for (const kind of ["MANIFEST", "snapshot", "vector", "wal", "rows", "zstd blocks"]) expect(s.byKind[kind]).toBeGreaterThan(10);
        expect(s.corrupt).toBeGreaterThan(s.cases / 2);
        expect(s.opened).toBeGreaterThan(0); // torn WAL tails open as a prefix of the log
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
