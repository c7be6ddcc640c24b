/**
 * Memory of a 100k × 768 collection, memory storage vs mmap storage, each
 * measured in its own fresh process after reopening the database:
 * vqlite's self-reported heap figure beside the kernel's RssAnon and RssFile.
 *
 *   bun bench/memory.ts [N] [DIM]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { open } from "../src/index";
import { procMemory, syntheticRows, writeResult } from "./lib";

const [modeArg, nArg, dimArg, dirArg] = process.argv.slice(2);

function child(mode: "memory" | "mmap", n: number, dim: number, dir: string) {
  // phase 1 (ingest) runs in its own process so phase 2 starts clean
  const base = procMemory();
  const db = open(dir);
  const c = db.collection("v");
  const afterOpen = procMemory();
  const usage = c.memoryUsage();
  const q = syntheticRows(new Float32Array(dim), dim, 424242, 1);
  for (let i = 0; i < 5; i++) c.search(q, { k: 10 });
  const afterSearch = procMemory();
  console.log(JSON.stringify({ mode, base, afterOpen, afterSearch, usage }));
  db.close();
}

function ingest(mode: "memory" | "mmap", n: number, dim: number, dir: string) {
  const db = open(dir, { durability: "normal" });
  const c = db.createCollection("v", { dimension: dim, metric: "l2", storage: mode });
  const batch = 1000;
  const buf = new Float32Array(batch * dim);
  for (let s = 0; s < n; s += batch) {
    syntheticRows(buf, dim, s, batch);
    c.insertMany(Array.from({ length: Math.min(batch, n - s) }, (_, i) => ({ id: `doc-${s + i}`, vector: buf.subarray(i * dim, (i + 1) * dim) })));
  }
  db.close();
}

if (modeArg === "--child") {
  child(nArg as "memory" | "mmap", Number(dimArg), Number(dirArg), process.argv[6]!);
} else if (modeArg === "--ingest") {
  ingest(nArg as "memory" | "mmap", Number(dimArg), Number(dirArg), process.argv[6]!);
} else {
  const n = Number(modeArg ?? 100_000);
  const dim = Number(nArg ?? 768);
  const results = [];
  for (const mode of ["memory", "mmap"] as const) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `vqlite-mem-${mode}-`));
    const run = (args: string[]) => Bun.spawnSync([process.execPath, import.meta.path, ...args], { stderr: "inherit" });
    run(["--ingest", mode, String(n), String(dim), dir]);
    const out = run(["--child", mode, String(n), String(dim), dir]).stdout.toString().trim();
    results.push(JSON.parse(out));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const rawMB = (n * dim * 4) / 1048576;
  console.log(`\n${n} × ${dim} float32 = ${rawMB.toFixed(1)} MB of raw vectors; figures in MB, each mode in a fresh process after reopen`);
  console.table(
    results.map((r) => ({
      mode: r.mode,
      "self-reported heap": +(r.usage.heapBytes / 1048576).toFixed(1),
      "self-reported mapped": +(r.usage.vectorMappedBytes / 1048576).toFixed(1),
      "RssAnon after open (Δ)": +(r.afterOpen.rssAnonMB - r.base.rssAnonMB).toFixed(1),
      "RssFile after open (Δ)": +(r.afterOpen.rssFileMB - r.base.rssFileMB).toFixed(1),
      "RssAnon after 5 exact searches (Δ)": +(r.afterSearch.rssAnonMB - r.base.rssAnonMB).toFixed(1),
      "RssFile after 5 exact searches (Δ)": +(r.afterSearch.rssFileMB - r.base.rssFileMB).toFixed(1),
      "JS heap used": r.afterSearch.heapUsedMB,
    })),
  );
  console.log("wrote", writeResult("memory", { n, dim, results }));
}
