import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { FASHION_DIR, fashionSmall, row } from "./helpers";

const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

describe("the in-repo test data (test/data/fashion-mnist-2k)", () => {
  test("every file matches the checksums in its README, gzipped and decompressed", () => {
    const readme = fs.readFileSync(path.join(FASHION_DIR, "README.md"), "utf8");
    const rows = [...readme.matchAll(/^\| `([\w.]+\.gz)` \| `([0-9a-f]{64})` \| `([0-9a-f]{64})` \|$/gm)];
    const listed = rows.map((m) => m[1]).sort();
    expect(listed).toEqual(fs.readdirSync(FASHION_DIR).filter((f) => f.endsWith(".gz")).sort());
    expect(listed).toHaveLength(4);
    for (const [, file, gz, raw] of rows) {
      const bytes = fs.readFileSync(path.join(FASHION_DIR, file!));
      expect(sha256(bytes)).toBe(gz!);
      expect(sha256(Bun.gunzipSync(bytes))).toBe(raw!);
    }
  });

  test("shapes, pixel values, and ground truth that is the exact brute force (spot check)", () => {
    const ds = fashionSmall();
    expect([ds.n, ds.nq, ds.dim, ds.truthK]).toEqual([2000, 100, 784, 100]);
    for (const a of [ds.base, ds.queries]) expect(a.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)).toBe(true);
    for (const qi of [0, 37, 99]) {
      const q = row(ds.queries, qi, ds.dim);
      const d2 = Array.from({ length: ds.n }, (_, i) => {
        const x = row(ds.base, i, ds.dim);
        let s = 0;
        for (let j = 0; j < ds.dim; j++) s += (x[j]! - q[j]!) ** 2;
        return s;
      });
      const ids = Array.from({ length: ds.n }, (_, i) => i).sort((a, b) => d2[a]! - d2[b]! || a - b).slice(0, ds.truthK);
      expect(Array.from(ds.truth.subarray(qi * ds.truthK, (qi + 1) * ds.truthK))).toEqual(ids);
      expect(Array.from(ds.truthDist.subarray(qi * ds.truthK, (qi + 1) * ds.truthK))).toEqual(ids.map((i) => Math.fround(Math.sqrt(d2[i]!))));
    }
  });
});
