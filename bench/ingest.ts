/**
 * Ingest throughput at 768 dimensions: memory and mmap storage, durability
 * full and normal, single inserts and batches of 1,000.
 *
 *   bun bench/ingest.ts [DIM]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { open } from "../src/index";
import { syntheticRows, writeResult } from "./lib";

const dim = Number(process.argv[2] ?? 768);
const rows: Record<string, unknown>[] = [];
for (const storage of ["memory", "mmap"] as const) {
  for (const durability of ["full", "normal"] as const) {
    for (const batch of [1, 1000]) {
      // single inserts with fsync each are slow: fewer of them, still seconds of work
      const n = batch === 1 && durability === "full" ? 2_000 : 50_000;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vqlite-ingest-"));
      const db = open(dir, { durability });
      const c = db.createCollection("v", { dimension: dim, metric: "l2", storage });
      const buf = new Float32Array(Math.max(batch, 1) * dim);
      const t0 = performance.now();
      for (let s = 0; s < n; s += batch) {
        syntheticRows(buf, dim, s, batch);
        if (batch === 1) c.insert(`d${s}`, buf);
        else c.insertMany(Array.from({ length: batch }, (_, i) => ({ id: `d${s + i}`, vector: buf.subarray(i * dim, (i + 1) * dim) })));
      }
      const ingestMs = performance.now() - t0;
      const t1 = performance.now();
      db.close(); // includes the final checkpoint
      const closeMs = performance.now() - t1;
      rows.push({
        storage,
        durability,
        batch,
        vectors: n,
        "vectors/s": Math.round(n / (ingestMs / 1000)),
        "vectors/s incl. close": Math.round(n / ((ingestMs + closeMs) / 1000)),
      });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}
console.log(`ingest at ${dim} dimensions (synthetic vectors, generated outside the timed region per batch)`);
console.table(rows);
console.log("wrote", writeResult("ingest", { dim, rows }));
