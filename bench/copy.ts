/**
 * COPY FROM in bounded memory (issues 10 and 13): a 2 GB .fvecs file
 * (128-d, ~3.9M rows) into an mmap collection with a clustered index, the
 * same COPY failing at 50 % (an injected I/O error), and a Parquet import.
 *
 *   bun bench/copy.ts [--rows 3900000] [--parquet-rows 1000000] [--keep]
 *
 * Files go to VQLITE_BENCH_DIR or the system temp directory and are removed
 * afterwards (--keep leaves the generated inputs). Each measurement runs in a
 * fresh process that samples /proc/self/status (RssAnon, RssFile) and the JS
 * heap at every progress call of the COPY (about every 4 MiB of input) and
 * reports the peak growth over the process's state just before the COPY
 * ("sum" is the peak of RssAnon + RssFile; the JS heap is inside RssAnon),
 * plus VmHWM (peak RSS, reset through /proc/self/clear_refs before the COPY).
 * Prints a table and writes bench/results/copy.json.
 */
import { execSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { open } from "../src/index";
import { writeRecords } from "../src/storage/formats";
import { setFaultHook } from "../src/storage/fs";
import { jsHeapMB, syntheticRows, writeResult } from "./lib";

const DIM = 128;

function status(key: string): number {
  const text = fs.readFileSync("/proc/self/status", "utf8");
  return Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) / 1024;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

// ---- child: one COPY, one process ----------------------------------------------------------

interface ChildResult {
  rows: number;
  seconds: number;
  cpuSeconds: number;
  peakAnonMB: number;
  peakFileMB: number;
  peakHeapMB: number;
  peakSumMB: number;
  hwmGrowthMB: number;
  error?: string;
  rollbackSeconds?: number;
  unchanged?: boolean;
  checkOk?: boolean;
  reopenedUnchanged?: boolean;
}

function child(kind: "ok" | "fail" | "parquet", dbDir: string, file: string): ChildResult {
  const db = open(dbDir, { durability: "normal" });
  const c = db.createCollection("vecs", { dimension: kind === "parquet" ? 768 : DIM, storage: "mmap", index: { type: "clustered" } });
  // a collection that already holds something, so "unchanged" means something
  const seed = new Float32Array(10_000 * c.dimension);
  syntheticRows(seed, c.dimension, 7, 10_000);
  c.insertMany(Array.from({ length: 10_000 }, (_, i) => ({ id: `seed${i}`, vector: seed.subarray(i * c.dimension, (i + 1) * c.dimension) })));
  db.checkpoint();
  const before = { count: c.count(), top: c.search(seed.subarray(0, c.dimension), { k: 10 }).map((h) => h.id) };
  Bun.gc(true);
  const base = { anon: status("RssAnon"), file: status("RssFile"), heap: jsHeapMB(), hwm: status("VmHWM") };
  try {
    fs.writeFileSync("/proc/self/clear_refs", "5");
    base.hwm = status("VmRSS");
  } catch {
    // no peak reset: VmHWM is the peak since the process started
  }
  const peak = { anon: 0, file: 0, heap: 0, sum: 0 };
  const sample = () => {
    const a = status("RssAnon") - base.anon, f = status("RssFile") - base.file, h = jsHeapMB() - base.heap;
    peak.anon = Math.max(peak.anon, a);
    peak.file = Math.max(peak.file, f);
    peak.heap = Math.max(peak.heap, h);
    peak.sum = Math.max(peak.sum, a + f);
    if (process.env.TRACE) console.error(`trace anon ${a.toFixed(0)} file ${f.toFixed(0)} heap ${h.toFixed(0)} rows ${c.rowCount}`);
  };
  let failedAt = 0;
  const onProgress = (done: number, total: number) => {
    sample();
    if (kind === "fail" && failedAt === 0 && done >= total / 2) {
      // the next write to the database fails: the COPY must leave the collection as it was
      setFaultHook((op, p) => {
        if (op === "write" && p.startsWith(dbDir)) {
          failedAt = performance.now();
          throw Object.assign(new Error("EIO: injected at 50 %"), { code: "EIO" });
        }
      });
    }
  };
  const t0 = performance.now(), cpu0 = process.cpuUsage();
  let rows = 0;
  let error: string | undefined;
  try {
    rows = c.importFrom(file, { onProgress });
  } catch (e) {
    error = (e as Error).message;
  } finally {
    setFaultHook(null);
  }
  const t1 = performance.now();
  sample();
  const cpu = process.cpuUsage(cpu0);
  const result: ChildResult = {
    rows,
    seconds: (t1 - t0) / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakAnonMB: peak.anon,
    peakFileMB: peak.file,
    peakHeapMB: peak.heap,
    peakSumMB: peak.sum,
    hwmGrowthMB: status("VmHWM") - base.hwm,
  };
  if (kind === "fail") {
    result.error = error;
    result.rollbackSeconds = failedAt > 0 ? (t1 - failedAt) / 1000 : undefined;
    const now = { count: c.count(), top: c.search(seed.subarray(0, c.dimension), { k: 10 }).map((h) => h.id) };
    result.unchanged = JSON.stringify(now) === JSON.stringify(before);
    result.checkOk = db.check().ok;
    db.close();
    const again = open(dbDir);
    const c2 = again.collection("vecs");
    result.reopenedUnchanged = JSON.stringify({ count: c2.count(), top: c2.search(seed.subarray(0, c.dimension), { k: 10 }).map((h) => h.id) }) === JSON.stringify(before);
    again.close();
  } else {
    if (error) throw new Error(error);
    db.close();
  }
  return result;
}

// ---- parent --------------------------------------------------------------------------------

function writeFvecs(file: string, rows: number): void {
  const fd = fs.openSync(file, "w");
  const chunk = 16384, rec = (DIM + 1) * 4;
  const buf = new ArrayBuffer(chunk * rec);
  const ints = new Int32Array(buf), floats = new Float32Array(buf);
  const tmp = new Float32Array(chunk * DIM);
  try {
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const m = Math.min(chunk, rows - r0);
      syntheticRows(tmp, DIM, r0 + 1, m);
      // clustered data: 64 centres, each row near one
      for (let i = 0; i < m; i++) {
        ints[i * (DIM + 1)] = DIM;
        const centre = (r0 + i) % 64;
        for (let j = 0; j < DIM; j++) floats[i * (DIM + 1) + 1 + j] = tmp[i * DIM + j]! * 0.3 + (((centre * 131 + j * 17) % 64) / 32 - 1);
      }
      fs.writeSync(fd, new Uint8Array(buf, 0, m * rec));
    }
  } finally {
    fs.closeSync(fd);
  }
}

function writeParquetInput(file: string, rows: number): void {
  // streamed by vqlite's own Parquet writer (a row group per ~5,200 rows of 768-d), no collection in RAM
  const block = 10_000;
  const data = new Float32Array(block * 768);
  function* records(): Generator<{ id: string; vector: Float32Array; payload: Record<string, unknown>; sparse: null }> {
    for (let r0 = 0; r0 < rows; r0 += block) {
      const m = Math.min(block, rows - r0);
      syntheticRows(data, 768, r0 + 1, m);
      for (let i = 0; i < m; i++) yield { id: `r${r0 + i}`, vector: data.subarray(i * 768, (i + 1) * 768), payload: { n: r0 + i }, sparse: null };
    }
  }
  writeRecords(file, records(), { dimension: 768, count: rows });
}

function runChild(kind: string, dbDir: string, file: string): ChildResult {
  const r = Bun.spawnSync([process.execPath, import.meta.path, "--child", kind, dbDir, file], { stdout: "pipe", stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error(`child ${kind} failed`);
  return JSON.parse(r.stdout.toString().trim().split("\n").pop()!) as ChildResult;
}

if (process.argv[2] === "--child") {
  const [, , , kind, dbDir, file] = process.argv as string[];
  console.log(JSON.stringify(child(kind as "ok" | "fail" | "parquet", dbDir!, file!)));
} else {
  const rows = arg("rows", 3_900_000);
  const parquetRows = arg("parquet-rows", 1_000_000);
  const keep = process.argv.includes("--keep");
  const base = process.env.VQLITE_BENCH_DIR ?? os.tmpdir();
  console.log(execSync(`df -h ${base}`).toString().trim());
  const dir = fs.mkdtempSync(path.join(base, "vqlite-copy-bench-"));
  const fvecs = path.join(dir, "input.fvecs");
  const parquet = path.join(dir, "input.parquet");
  const results: Record<string, unknown> = { rows, dimension: DIM, parquetRows };
  try {
    let t = performance.now();
    writeFvecs(fvecs, rows);
    const bytes = fs.statSync(fvecs).size;
    console.log(`generated ${fvecs}: ${(bytes / 2 ** 30).toFixed(2)} GiB in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const ok = runChild("ok", path.join(dir, "db-ok"), fvecs);
    fs.rmSync(path.join(dir, "db-ok"), { recursive: true, force: true });
    const fail = runChild("fail", path.join(dir, "db-fail"), fvecs);
    fs.rmSync(path.join(dir, "db-fail"), { recursive: true, force: true });
    const mb = bytes / 2 ** 20;
    results.fvecs = { fileMB: mb, ok: { ...ok, rowsPerSecond: ok.rows / ok.seconds, mbPerSecond: mb / ok.seconds }, fail };
    t = performance.now();
    writeParquetInput(parquet, parquetRows);
    const pbytes = fs.statSync(parquet).size;
    console.log(`generated ${parquet}: ${(pbytes / 2 ** 20).toFixed(0)} MiB in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const pq = runChild("parquet", path.join(dir, "db-pq"), parquet);
    results.parquet = { fileMB: pbytes / 2 ** 20, ...pq, rowsPerSecond: pq.rows / pq.seconds };
    const f = (x: number | undefined, d = 1) => (x === undefined ? "-" : x.toFixed(d));
    console.table([
      { what: `COPY ${f(mb / 1024, 2)} GiB .fvecs → mmap+clustered`, rows: ok.rows, "s": f(ok.seconds), "cpu s": f(ok.cpuSeconds), "rows/s": Math.round(ok.rows / ok.seconds), "MB/s": f(mb / ok.seconds), "RssAnon+": f(ok.peakAnonMB), "RssFile+": f(ok.peakFileMB), "heap+": f(ok.peakHeapMB), "sum+": f(ok.peakSumMB), "VmHWM+": f(ok.hwmGrowthMB) },
      { what: "same, EIO injected at 50 %", rows: 0, "s": f(fail.seconds), "cpu s": f(fail.cpuSeconds), "rows/s": "-", "MB/s": "-", "RssAnon+": f(fail.peakAnonMB), "RssFile+": f(fail.peakFileMB), "heap+": f(fail.peakHeapMB), "sum+": f(fail.peakSumMB), "VmHWM+": f(fail.hwmGrowthMB) },
      { what: `COPY ${parquetRows} × 768 Parquet (${f(pbytes / 2 ** 20, 0)} MiB) → mmap+clustered`, rows: pq.rows, "s": f(pq.seconds), "cpu s": f(pq.cpuSeconds), "rows/s": Math.round(pq.rows / pq.seconds), "MB/s": f(pbytes / 2 ** 20 / pq.seconds), "RssAnon+": f(pq.peakAnonMB), "RssFile+": f(pq.peakFileMB), "heap+": f(pq.peakHeapMB), "sum+": f(pq.peakSumMB), "VmHWM+": f(pq.hwmGrowthMB) },
    ]);
    console.log(`failure at 50 %: ${fail.error}; rollback ${f(fail.rollbackSeconds, 3)} s; unchanged ${fail.unchanged}, check ok ${fail.checkOk}, unchanged after reopen ${fail.reopenedUnchanged}`);
    console.log(`wrote ${writeResult("copy", results)}`);
  } finally {
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}
