/**
 * Issue 10's scale targets: an mmap collection with a clustered index and
 * ~1 KB of text payload per item, at 10k / 100k / 1M × 128 (synthetic).
 *
 *   bun bench/scale.ts [MAX_N] [--skip-ingest]
 *   bun bench/scale.ts ingest             only the durable ingest rates (writes bench/results/scale-ingest.json)
 *
 * Builds the collection in steps (durability full, batches of 10,000); at each
 * step a fresh process per run opens it and reports open time, heap and
 * RssAnon/RssFile after open and after 1,000 searches (k = 10, payloads
 * returned), best of 3 runs. At the largest step a copy of the database is
 * moved to memory storage and searched the same way, for the latency ratio.
 * Then durable batched ingest rates at 128 and 768 dimensions. Prints a table
 * and writes bench/results/scale.json.
 *
 * Sub-commands run in the fresh processes:
 *   bun bench/scale.ts probe DIR          open + memory + searches, prints one JSON line
 *   bun bench/scale.ts compare DIR DIR    search latency of two databases, fresh processes
 *                                         taking turns so both see the same machine load
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { open } from "../src/index";
import { jsHeapMB, procMemory, syntheticRows, textPayload, writeResult } from "./lib";

const DIM = 128;
const BATCH = 10_000;
const QUERIES = 1_000;

/** /proc/self/status figures, with `heapUsedMB` as JS objects only: Bun counts mapped buffers as heap "extra memory". */
function memory() {
  const m = procMemory();
  return { ...m, heapUsedMB: Math.round(jsHeapMB() * 10) / 10 };
}

function probe(dir: string): void {
  const base = memory();
  const t0 = performance.now();
  const db = open(dir);
  const openMs = performance.now() - t0;
  const c = db.collection("docs");
  const afterOpen = memory();
  const usage = c.memoryUsage();
  const q = new Float32Array(DIM);
  let payloadChars = 0;
  /** Best of 3 passes over 1,000 queries; seed(pass, i) picks each query. */
  const timeSearches = (seed: (pass: number, i: number) => number): number => {
    let best = Infinity;
    for (let pass = 0; pass < 3; pass++) {
      const t = performance.now();
      for (let i = 0; i < QUERIES; i++) {
        syntheticRows(q, DIM, seed(pass, i), 1);
        for (const h of c.search(q, { k: 10 })) payloadChars += (h.payload as { text: string }).text.length;
      }
      best = Math.min(best, (performance.now() - t) / QUERIES);
    }
    return best;
  };
  // the same 1,000 queries each pass: from the second on, memory storage returns the payload objects it parsed in the first
  const best = timeSearches((_, i) => 7_000_000 + i);
  const afterSearch = memory();
  // 3,000 queries never asked before: few hits on rows either storage has read (memory storage parses a payload on its first use)
  const fresh = timeSearches((pass, i) => 8_000_000 + pass * QUERIES + i);
  console.log(
    JSON.stringify({
      rows: c.count(),
      storage: c.config.storage,
      openMs,
      base,
      afterOpen,
      afterSearch,
      indexBytes: usage.indexBytes,
      metadataBytes: usage.metadataBytes,
      searchMs: best,
      searchMsFresh: fresh,
      payloadChars,
    }),
  );
  db.close();
}

/**
 * Mean search latency (k = 10, payloads read) of each database: fresh processes
 * taking turns (A, B, A, B, …), each the best of its 3 passes over the same
 * 1,000 queries (`mmap`, `memory`) and of 3 passes over queries it never asked
 * (`mmap fresh`, `memory fresh`); the best of `rounds` per database. Memory
 * storage keeps each payload it parsed, so repeated queries find theirs
 * parsed while mmap storage reads and parses them again. Turns let both see the
 * same machine load; separate processes keep one's garbage collections from
 * paying for the other's heap (the memory copy of 1M items holds ~1.7 GB of
 * payload strings: in one process, every collection the mmap searches set
 * off scanned them too, and the mmap side read 1.5x slower than alone).
 */
type Latency = { mmap: number; memory: number; "mmap fresh": number; "memory fresh": number };

function compare(dirs: string[], rounds = 5): Record<string, number> {
  const best: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    for (const d of dirs) {
      const p = runProbe(d);
      best[p.storage] = Math.min(best[p.storage] ?? Infinity, p.searchMs);
      best[`${p.storage} fresh`] = Math.min(best[`${p.storage} fresh`] ?? Infinity, p.searchMsFresh);
    }
  }
  return best;
}

function runProbe(dir: string, command = "probe", extra: string[] = []): Record<string, any> {
  const res = Bun.spawnSync([process.execPath, import.meta.path, command, dir, ...extra], { stdout: "pipe", stderr: "inherit" });
  if (res.exitCode !== 0) throw new Error(`probe failed with ${res.exitCode}`);
  const lines = res.stdout.toString().trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

/** Best of `runs` fresh-process probes: least open time, least memory, least latency, each independently. */
function bestProbe(dir: string, runs: number): Record<string, any> {
  const all = Array.from({ length: runs }, () => runProbe(dir));
  const min = (f: (p: Record<string, any>) => number) => Math.min(...all.map(f));
  const p = all[0]!;
  return {
    rows: p.rows,
    storage: p.storage,
    openMs: min((x) => x.openMs),
    heapAfterOpenMB: min((x) => x.afterOpen.heapUsedMB),
    rssAnonAfterOpenMB: min((x) => x.afterOpen.rssAnonMB),
    rssAnonGrowthOpenMB: min((x) => x.afterOpen.rssAnonMB - x.base.rssAnonMB),
    rssFileAfterOpenMB: min((x) => x.afterOpen.rssFileMB),
    heapAfterSearchMB: min((x) => x.afterSearch.heapUsedMB),
    rssAnonAfterSearchMB: min((x) => x.afterSearch.rssAnonMB),
    rssAnonGrowthSearchMB: min((x) => x.afterSearch.rssAnonMB - x.base.rssAnonMB),
    rssFileAfterSearchMB: min((x) => x.afterSearch.rssFileMB),
    baseRssAnonMB: min((x) => x.base.rssAnonMB),
    indexMB: p.indexBytes / 1048576,
    metadataMB: p.metadataBytes / 1048576,
    searchMs: min((x) => x.searchMs),
  };
}

/** Durable batched ingest (durability full, batches of 10,000, small payloads, flat index) into a fresh mmap collection. */
function ingestRate(dim: number, n: number): Record<string, number> {
  const rates: number[] = [];
  for (let run = 0; run < 3; run++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vqlite-scale-ingest-"));
    const db = open(dir, { durability: "full" });
    const c = db.createCollection("v", { dimension: dim, metric: "l2", storage: "mmap" });
    const buf = new Float32Array(BATCH * dim);
    let ms = 0;
    for (let s = 0; s < n; s += BATCH) {
      syntheticRows(buf, dim, s, BATCH);
      const items = Array.from({ length: BATCH }, (_, i) => ({ id: `d${s + i}`, vector: buf.subarray(i * dim, (i + 1) * dim), payload: { n: s + i } }));
      const t = performance.now();
      c.insertMany(items);
      ms += performance.now() - t;
    }
    const t = performance.now();
    db.close();
    ms += performance.now() - t;
    rates.push(n / (ms / 1000));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { dim, vectors: n, "vectors/s (best of 3, incl. close)": Math.round(Math.max(...rates)) };
}

function main(): void {
  const maxN = Number(process.argv[2] ?? 1_000_000);
  const skipIngest = process.argv.includes("--skip-ingest");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vqlite-scale-"));
  const steps = [10_000, 100_000, 1_000_000, 3_000_000].filter((s) => s <= maxN);
  const results: Record<string, any>[] = [];
  const builds: Record<string, number>[] = [];
  let have = 0;
  const buf = new Float32Array(BATCH * DIM);
  const compareAt = Math.max(...steps.filter((s) => s <= 1_000_000));
  let memory: Record<string, any> = {}, latency: Latency = { mmap: NaN, memory: NaN, "mmap fresh": NaN, "memory fresh": NaN }, disk: Record<string, any> = {};
  for (const target of steps) {
    const db = open(dir, { durability: "full" });
    const c = db.hasCollection("docs")
      ? db.collection("docs")
      : db.createCollection("docs", { dimension: DIM, metric: "l2", storage: "mmap", index: { type: "clustered" } });
    const from = have;
    const t0 = performance.now();
    for (; have < target; have += BATCH) {
      syntheticRows(buf, DIM, have, BATCH);
      c.insertMany(Array.from({ length: BATCH }, (_, i) => ({ id: `doc-${have + i}`, vector: buf.subarray(i * DIM, (i + 1) * DIM), payload: textPayload(have + i) })));
    }
    db.close();
    const sec = (performance.now() - t0) / 1000;
    builds.push({ rows: target, added: target - from, "build s": +sec.toFixed(1), "items/s": Math.round((target - from) / sec) });
    console.error(`built ${target} rows in ${sec.toFixed(1)} s`);
    results.push(bestProbe(dir, 3));
    console.error(JSON.stringify(results[results.length - 1]));
    if (target === compareAt) {
      // the same collection in memory storage: a copy moved to RAM (at most 1M: past that its payloads alone take GBs of heap)
      const memDir = `${dir}-memory`;
      fs.cpSync(dir, memDir, { recursive: true });
      {
        const db = open(memDir);
        db.collection("docs").setStorage("memory");
        db.close();
      }
      memory = bestProbe(memDir, 3);
      latency = compare([dir, memDir]) as Latency;
      fs.rmSync(memDir, { recursive: true, force: true });
      disk = results[results.length - 1]!;
    }
  }
  const ingest = skipIngest ? [] : [ingestRate(128, 200_000), ingestRate(768, 50_000)];
  const diskFiles = fs.readdirSync(dir).map((f) => ({ f, mb: fs.statSync(path.join(dir, f)).size / 1048576 }));
  fs.rmSync(dir, { recursive: true, force: true });

  const r1 = (x: number) => +x.toFixed(1);
  console.log(`bare process before open: RssAnon ${r1(Math.min(...results.map((p) => p.baseRssAnonMB)))} MB (Bun + vqlite + the VQL parser); Δ columns are growth over it`);
  console.log(`mmap + clustered, ${DIM}-d synthetic, ~1 KB text payload per item (fresh process per measurement, best of 3)`);
  console.table(
    results.map((p) => ({
      rows: p.rows,
      "open ms": r1(p.openMs),
      "JS heap MB (open)": r1(p.heapAfterOpenMB),
      "RssAnon MB (open)": r1(p.rssAnonAfterOpenMB),
      "RssAnon Δ MB (open)": r1(p.rssAnonGrowthOpenMB),
      "JS heap MB (1k searches)": r1(p.heapAfterSearchMB),
      "RssAnon MB (1k searches)": r1(p.rssAnonAfterSearchMB),
      "RssAnon Δ MB (1k searches)": r1(p.rssAnonGrowthSearchMB),
      "RssFile MB (1k searches)": r1(p.rssFileAfterSearchMB),
      "index MB": r1(p.indexMB),
      "search ms": +p.searchMs.toFixed(3),
    })),
  );
  console.log(`search at ${disk.rows} (k = 10, payloads returned), fresh processes taking turns, best of 5 each: mmap ${latency.mmap.toFixed(3)} ms, memory ${latency.memory.toFixed(3)} ms, ratio ${(latency.mmap / latency.memory).toFixed(2)}× (repeated queries); queries never asked before: mmap ${latency["mmap fresh"].toFixed(3)} ms, memory ${latency["memory fresh"].toFixed(3)} ms, ratio ${(latency["mmap fresh"] / latency["memory fresh"]).toFixed(2)}×`);
  console.log(`(separate fresh processes: mmap ${disk.searchMs.toFixed(3)} ms, memory ${memory.searchMs.toFixed(3)} ms); memory storage: RssAnon Δ ${r1(memory.rssAnonGrowthOpenMB)} MB, open ${r1(memory.openMs)} ms`);
  console.table(builds);
  if (ingest.length) console.table(ingest);
  console.table(diskFiles.map((d) => ({ file: d.f, MB: r1(d.mb) })));
  console.log("wrote", writeResult("scale", { dim: DIM, queries: QUERIES, mmap: results, memory, latency, searchRatio: latency.mmap / latency.memory, searchRatioFresh: latency["mmap fresh"] / latency["memory fresh"], builds, ingest, diskFiles }));
}

function ingestOnly(): void {
  const ingest = [ingestRate(128, 200_000), ingestRate(768, 50_000)];
  console.table(ingest);
  console.log("wrote", writeResult("scale-ingest", { ingest }));
}

if (process.argv[2] === "probe") probe(process.argv[3]!);
else if (process.argv[2] === "ingest") ingestOnly();
else if (process.argv[2] === "compare") console.log(JSON.stringify(compare(process.argv.slice(3))));
else main();
