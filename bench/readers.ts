/**
 * Readers beside a writer:
 *   - commit→visible latency (p50, p99) for 1 and 3 reader processes polling every millisecond;
 *   - the writer's batched ingest rate (batches of 1,000 × 768) with 0 and 3 readers following;
 *   - a reader's open time on a 100k × 768 mmap collection.
 *
 *   bun bench/readers.ts [ROWS=100000] [DIM=768]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { open } from "../src/index";
import { syntheticRows, writeResult } from "./lib";

const ROWS = Number(process.argv[2] ?? 100_000);
const DIM = Number(process.argv[3] ?? 768);
const CHILD = path.join(import.meta.dir, "readers_child.ts");
const now = () => performance.timeOrigin + performance.now();
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function startReaders(mode: string, dir: string, n: number) {
  const procs = [];
  for (let i = 0; i < n; i++) {
    const p = Bun.spawn([process.execPath, CHILD, mode, dir], { stdout: "pipe", stderr: "inherit" });
    procs.push(p);
  }
  const outs = procs.map(async (p) => {
    const text = await new Response(p.stdout).text();
    return JSON.parse(text.trim().split("\n").at(-1)!) as { latencies: number[]; polls: number };
  });
  // wait for READY: a reader is attached once its registration exists
  const attached = () => (fs.existsSync(path.join(dir, "readers")) ? fs.readdirSync(path.join(dir, "readers")).filter((f) => !f.endsWith(".tmp")).length : 0);
  for (const start = Date.now(); attached() < n; ) {
    if (Date.now() - start > 30_000) throw new Error("readers did not start");
    await Bun.sleep(20);
  }
  return async () => {
    fs.writeFileSync(path.join(path.dirname(dir), "stop"), "");
    const results = await Promise.all(outs);
    fs.rmSync(path.join(path.dirname(dir), "stop"));
    return results;
  };
}

function freshDir(): string {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "vqlite-readers-"));
  return path.join(base, "db");
}

const results: Record<string, unknown> = { dim: DIM };
const rows: Record<string, unknown>[] = [];

// 1. commit→visible latency
for (const readers of [1, 3]) {
  const dir = freshDir();
  const db = open(dir, { durability: "normal" });
  const c = db.createCollection("v", { dimension: DIM, metric: "l2", storage: "mmap" });
  const stop = await startReaders("latency", dir, readers);
  const v = new Float32Array(DIM);
  for (let i = 0; i < 400; i++) {
    syntheticRows(v, DIM, i, 1);
    c.insert(`l${i}`, v, { t: now() });
    await Bun.sleep(5);
  }
  await Bun.sleep(200);
  const res = await stop();
  db.close();
  const all = res.flatMap((r) => r.latencies);
  const row = { what: `commit→visible, ${readers} reader${readers > 1 ? "s" : ""}`, "p50 ms": +pct(all, 50).toFixed(3), "p99 ms": +pct(all, 99).toFixed(3), samples: all.length };
  rows.push(row);
  results[`latency_${readers}`] = row;
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
}

// 2. batched ingest with 0 and 3 readers following
for (const readers of [0, 3]) {
  const best: number[] = [];
  for (let pass = 0; pass < 2; pass++) {
    const dir = freshDir();
    const db = open(dir, { durability: "normal" });
    const c = db.createCollection("v", { dimension: DIM, metric: "l2", storage: "mmap" });
    db.checkpoint();
    const stop = readers > 0 ? await startReaders("follow", dir, readers) : null;
    const buf = new Float32Array(1000 * DIM);
    const n = 20_000;
    const t0 = performance.now();
    for (let have = 0; have < n; have += 1000) {
      syntheticRows(buf, DIM, have, 1000);
      c.insertMany(Array.from({ length: 1000 }, (_, i) => ({ id: `d${have + i}`, vector: buf.subarray(i * DIM, (i + 1) * DIM), payload: { n: have + i } })));
    }
    const rate = n / ((performance.now() - t0) / 1000);
    await stop?.();
    db.close();
    best.push(rate);
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
  const row = { what: `batched ingest (1,000 × ${DIM}), ${readers} readers`, "items/s (best of 2)": Math.round(Math.max(...best)) };
  rows.push(row);
  results[`ingest_${readers}_readers`] = row;
}

// 3. a reader's open time on a ROWS × DIM mmap collection
{
  const dir = freshDir();
  const db = open(dir, { durability: "normal" });
  const c = db.createCollection("v", { dimension: DIM, metric: "l2", storage: "mmap" });
  const buf = new Float32Array(1000 * DIM);
  for (let have = 0; have < ROWS; have += 1000) {
    syntheticRows(buf, DIM, have, 1000);
    c.insertMany(Array.from({ length: 1000 }, (_, i) => ({ id: `doc-${have + i}`, vector: buf.subarray(i * DIM, (i + 1) * DIM), payload: { n: have + i } })));
  }
  db.checkpoint(); // the writer stays open: readers open beside it
  // each open in a fresh reader process (timed inside it), the writer still attached
  const times: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const p = Bun.spawnSync([process.execPath, CHILD, "open", dir], { stderr: "inherit" });
    const r = JSON.parse(p.stdout.toString().trim().split("\n").at(-1)!) as { ms: number; count: number };
    if (r.count !== ROWS) throw new Error("reader sees the wrong count");
    times.push(r.ms);
  }
  db.close();
  const row = { what: `reader open (fresh process), ${ROWS} × ${DIM} mmap, writer attached`, "ms (median of 5)": +times.sort((a, b) => a - b)[2]!.toFixed(1) };
  rows.push(row);
  results.reader_open = row;
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
}

console.table(rows);
console.log("wrote", writeResult("readers", results));
