/**
 * The grammar-aware VQL fuzzer (test/fixtures/vql_fuzz.ts), 2,000 statements;
 * test/long/vql_fuzz.ts runs 100,000.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fuzzVql } from "./fixtures/vql_fuzz";

setDefaultTimeout(120_000);

describe("VQL fuzzer", () => {
  test("2,000 generated and mutated statements: VqliteErrors with positions, no hang, failed statements change nothing", () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "vqlite-fuzz-"));
    try {
      const stats = fuzzVql({ statements: 2000, seed: 20261122, scratch, limitMs: 5000 });
      expect(stats.failures).toEqual([]);
      expect(stats.statements).toBe(2000);
      // both halves did work: statements ran, and many kinds of error were met
      expect(stats.succeeded).toBeGreaterThan(500);
      expect(stats.mutated).toBeGreaterThan(500);
      for (const code of ["SYNTAX_ERROR", "UNKNOWN_COLLECTION", "DIMENSION_MISMATCH", "TYPE_ERROR"]) expect(stats.errorsByCode[code]).toBeGreaterThan(0);
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });
});
