/**
 * Payload compression (issue 10): an mmap collection of N × 128 vectors
 * (clustered index) with ~1 KB realistic text payloads (bench/text_payloads.ts:
 * Zipf-distributed words, never a repeated string), once with compression
 * "none" and once with "zstd". Reports payload bytes raw and stored (DESCRIBE)
 * and the .rows file size, ingest time (batches of 10,000, durability normal,
 * the database's automatic checkpoints, which compress, plus a final one;
 * payload generation excluded), then in a fresh process per mode: search latency with
 * payloads (k = 10, 1,000 queries, best of 3), random get() latency, and
 * RssAnon / RssFile / heap after the searches.
 *
 *   bun bench/compression.ts [N=100000] [--keep]
 *   bun bench/compression.ts probe DIR    (the fresh process; prints one JSON line)
 *
 * Writes bench/results/compression-N.json.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { open } from "../src/index";
import { procMemory, syntheticRows, writeResult } from "./lib";
import { textGenerator } from "./text_payloads";

const DIM = 128;
const BATCH = 10_000;
const QUERIES = 1_000;
const PAYLOAD_BYTES = 1024;

function probe(dir: string): void {
  const t0 = performance.now();
  const db = open(dir, { readonly: true });
  const openMs = performance.now() - t0;
  const c = db.collection("docs");
  const q = new Float32Array(DIM);
  let searchMs = Infinity, chars = 0;
  for (let pass = 0; pass < 3; pass++) {
    const t = performance.now();
    for (let i = 0; i < QUERIES; i++) {
      syntheticRows(q, DIM, 9_000_000 + i, 1);
      for (const h of c.search(q, { k: 10 })) chars += (h.payload as { body: string }).body.length;
    }
    searchMs = Math.min(searchMs, (performance.now() - t) / QUERIES);
  }
  const n = c.count();
  let getMs = Infinity;
  for (let pass = 0; pass < 3; pass++) {
    let s = 12345 + pass;
    const t = performance.now();
    for (let i = 0; i < QUERIES; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      chars += JSON.stringify(c.get(`doc${s % n}`)!.payload).length;
    }
    getMs = Math.min(getMs, (performance.now() - t) / QUERIES);
  }
  const m = procMemory();
  console.log(JSON.stringify({ openMs, searchMs, getMs, rssAnonMB: m.rssAnonMB, rssFileMB: m.rssFileMB, heapUsedMB: m.heapUsedMB, chars }));
  db.close();
}

function build(dir: string, n: number, compression: "none" | "zstd") {
  fs.rmSync(dir, { recursive: true, force: true });
  const db = open(dir, { durability: "normal" });
  const c = db.createCollection("docs", { dimension: DIM, metric: "l2", storage: "mmap", index: { type: "clustered" }, compression });
  const g = textGenerator(42);
  const vecs = new Float32Array(BATCH * DIM);
  let genMs = 0;
  const t0 = performance.now();
  for (let start = 0; start < n; start += BATCH) {
    const rows = Math.min(BATCH, n - start);
    const tg = performance.now();
    syntheticRows(vecs, DIM, start, rows);
    const items = Array.from({ length: rows }, (_, k) => ({ id: `doc${start + k}`, vector: vecs.subarray(k * DIM, (k + 1) * DIM), payload: g.payload(start + k, PAYLOAD_BYTES) }));
    genMs += performance.now() - tg;
    c.insertMany(items);
  }
  db.checkpoint();
  const ingestMs = performance.now() - t0 - genMs;
  const d = db.query("DESCRIBE docs")[0] as { payloadBytesRaw: number; payloadBytesStored: number };
  db.close();
  const rowsFile = fs.readdirSync(dir).find((f) => f.endsWith(".rows"))!;
  return {
    compression,
    rows: n,
    payloadBytesRaw: d.payloadBytesRaw,
    payloadBytesStored: d.payloadBytesStored,
    ratio: Math.round((d.payloadBytesRaw / d.payloadBytesStored) * 100) / 100,
    rowsFileBytes: fs.statSync(path.join(dir, rowsFile)).size,
    ingestMs: Math.round(ingestMs),
    ingestRowsPerSec: Math.round(n / (ingestMs / 1000)),
  };
}

async function main(): Promise<void> {
  if (process.argv[2] === "probe") return probe(process.argv[3]!);
  const n = Number(process.argv.find((a, i) => i >= 2 && /^\d+$/.test(a)) ?? 100_000);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "vqlite-compression-"));
  const results = [];
  try {
    for (const compression of ["none", "zstd"] as const) {
      const dir = path.join(root, compression);
      const built = build(dir, n, compression);
      const p = Bun.spawnSync([process.execPath, import.meta.path, "probe", dir], { stderr: "inherit" });
      const probed = JSON.parse(p.stdout.toString().trim().split("\n").at(-1)!);
      delete probed.chars;
      results.push({ ...built, ...probed });
      console.log(JSON.stringify(results.at(-1)));
    }
  } finally {
    if (!process.argv.includes("--keep")) fs.rmSync(root, { recursive: true, force: true });
  }
  console.table(
    results.map((r) => ({
      compression: r.compression,
      "raw MB": (r.payloadBytesRaw / 1e6).toFixed(1),
      "stored MB": (r.payloadBytesStored / 1e6).toFixed(1),
      ratio: r.ratio,
      ".rows MB": (r.rowsFileBytes / 1e6).toFixed(1),
      "ingest s": (r.ingestMs / 1000).toFixed(1),
      "search k=10 ms": r.searchMs.toFixed(3),
      "get ms": r.getMs.toFixed(3),
      "RssAnon MB": r.rssAnonMB,
      "RssFile MB": r.rssFileMB,
    })),
  );
  console.log(writeResult(`compression-${n}`, { dim: DIM, payloadBytes: PAYLOAD_BYTES, queries: QUERIES, results }));
}

await main();
