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
import { fuzzFiles } from "./fixtures/file_fuzz";

setDefaultTimeout(120_000);

function root(): string {
  return fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "vqlite-filefuzz-"));
}

describe("fuzzed files", () => {
  for (const resealed of [false, true]) {
    test(resealed ? "with checksums recomputed: no crash, no hang" : "CORRUPT_FILE naming the file, or a correct database", () => {
      const dir = root();
      try {
        const s = fuzzFiles({ root: dir, seed: resealed ? 77 : 76, perFile: 15, resealed });
        expect(s.failures).toEqual([]);
        for (const kind of ["MANIFEST", "snapshot", "vector", "wal"]) expect(s.byKind[kind]).toBeGreaterThan(10);
        expect(s.corrupt).toBeGreaterThan(s.cases / 2);
        expect(s.opened).toBeGreaterThan(0); // torn WAL tails open as a prefix of the log
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
