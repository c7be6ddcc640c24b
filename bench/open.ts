/**
 * Open time of an mmap collection as it grows: opening reads ids, payloads,
 * norms and the manifest, never the vectors, so it stays small.
 *
 *   bun bench/open.ts [MAX_N] [DIM]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { open } from "../src/index";
import { procMemory, syntheticRows, writeResult } from "./lib";

const maxN = Number(process.argv[2] ?? 100_000);
const dim = Number(process.argv[3] ?? 768);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vqlite-open-"));
const rows: Record<string, unknown>[] = [];
let have = 0;
const buf = new Float32Array(1000 * dim);
for (const target of [10_000, 25_000, 50_000, maxN]) {
  if (target > maxN) continue;
  const db = open(dir, { durability: "normal" });
  const c = db.hasCollection("v") ? db.collection("v") : db.createCollection("v", { dimension: dim, metric: "l2", storage: "mmap" });
  for (; have < target; have += 1000) {
    syntheticRows(buf, dim, have, 1000);
    c.insertMany(Array.from({ length: 1000 }, (_, i) => ({ id: `doc-${have + i}`, vector: buf.subarray(i * dim, (i + 1) * dim), payload: { n: have + i } })));
  }
  db.close();
  // evict the vector file from the page cache so a read of it would show
  const vec = fs.readdirSync(dir).find((f) => f.endsWith(".vec"))!;
  Bun.spawnSync(["dd", `if=${path.join(dir, vec)}`, "iflag=nocache", "count=0"], { stderr: "ignore" });
  const times: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const before = procMemory();
    const t0 = performance.now();
    const again = open(dir);
    const ms = performance.now() - t0;
    const after = procMemory();
    times.push(ms);
    if (rep === 4) rows.push({ rows: target, "vector file MB": +((target * dim * 4) / 1048576).toFixed(0), "open ms (median of 5)": +times.sort((a, b) => a - b)[2]!.toFixed(1), "RssFile Δ MB": +(after.rssFileMB - before.rssFileMB).toFixed(1) });
    again.close();
  }
}
console.log(`open time of an mmap collection at ${dim} dimensions`);
console.table(rows);
console.log("wrote", writeResult("open", { dim, rows }));
fs.rmSync(dir, { recursive: true, force: true });
