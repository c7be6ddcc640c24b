/**
 * Import and export throughput and peak memory of the file formats:
 * Parquet, Arrow IPC and .npy next to COPY FROM .fvecs, on Fashion-MNIST
 * (60k x 784, real data) and a synthetic 1M x 128 set.
 *
 *   bun bench/formats.ts [--runs N] [--only fashion|synthetic]
 *
 * Each measurement runs in a fresh process (peak RSS is VmHWM from
 * /proc/self/status, reset through /proc/self/clear_refs just before the
 * operation), best of N runs (default 3). The VM is shared, so next to
 * the wall time ("best s", from which rows/s and MB/s) the table gives the
 * process's CPU time ("cpu s", the lowest of the runs). Imports go into an in-memory
 * collection, so their peak includes the collection's own copy of the
 * vectors (rows x dim x 4 bytes); "codec MB" subtracts it.
 * Prints a table and writes bench/results/formats.json.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { open } from "../src/index";
import { DATA_DIR, syntheticRows, writeResult } from "./lib";

type Format = "fvecs" | "npy" | "parquet" | "arrow";

function status(key: string): number {
  const text = fs.readFileSync("/proc/self/status", "utf8");
  return Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) / 1024;
}

function resetPeak(): boolean {
  try {
    fs.writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

// ---- child: one operation, one process ---------------------------------------------------

async function child(op: "import" | "export", format: Format, file: string, dim: number, source: string): Promise<void> {
  using db = open();
  const c = db.createCollection("v", { dimension: dim, metric: "l2" });
  if (op === "export") c.importFrom(source); // untimed: the data to export
  Bun.gc(true);
  const base = status("VmRSS");
  const reset = resetPeak();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const n = op === "import" ? c.importFrom(file) : c.exportTo(file);
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  const peak = status("VmHWM");
  process.stdout.write(`${JSON.stringify({ n, ms, cpuMs: (cpu.user + cpu.system) / 1000, base, peak, reset })}\n`);
}

// ---- parent ------------------------------------------------------------------------------

interface Measure {
  n: number;
  ms: number;
  /** CPU time of the process during the operation (user + system): the VM is shared, so wall time includes waiting. */
  cpuMs: number;
  base: number;
  peak: number;
  reset: boolean;
}

function measure(op: "import" | "export", format: Format, file: string, dim: number, source: string): Measure {
  const r = Bun.spawnSync([process.execPath, import.meta.path, "--child", op, format, file, String(dim), source], { stdout: "pipe", stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error(`${op} ${format} failed (exit ${r.exitCode})`);
  return JSON.parse(r.stdout.toString().trim().split("\n").pop()!) as Measure;
}

function writeFvecs(file: string, n: number, dim: number, fill: (buf: Float32Array, start: number, rows: number) => void): void {
  const fd = fs.openSync(file, "w");
  const chunk = 10_000;
  const rec = new Float32Array(chunk * (dim + 1));
  const dims = new Int32Array(rec.buffer);
  const buf = new Float32Array(chunk * dim);
  for (let s = 0; s < n; s += chunk) {
    const rows = Math.min(chunk, n - s);
    fill(buf, s, rows);
    for (let i = 0; i < rows; i++) {
      dims[i * (dim + 1)] = dim;
      rec.set(buf.subarray(i * dim, (i + 1) * dim), i * (dim + 1) + 1);
    }
    fs.writeSync(fd, new Uint8Array(rec.buffer, 0, rows * (dim + 1) * 4));
  }
  fs.closeSync(fd);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const runs = Number(args[args.indexOf("--runs") + 1] ?? 3) || 3;
  const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vqlite-bench-formats-"));
  const sets: { name: string; n: number; dim: number; fvecs: string }[] = [];
  try {
    if (only !== "synthetic") {
      const gz = path.join(DATA_DIR, "fashion-mnist-784-euclidean", "base.fvecs.gz");
      if (fs.existsSync(gz)) {
        const fvecs = path.join(tmp, "fashion.fvecs");
        fs.writeFileSync(fvecs, Bun.gunzipSync(fs.readFileSync(gz)));
        sets.push({ name: "fashion-mnist 60k x 784", n: 60_000, dim: 784, fvecs });
      } else console.error(`skipping Fashion-MNIST: ${gz} not found (set VQLITE_DATA_DIR)`);
    }
    if (only !== "fashion") {
      const fvecs = path.join(tmp, "synthetic.fvecs");
      writeFvecs(fvecs, 1_000_000, 128, (buf, s, rows) => syntheticRows(buf, 128, s, rows));
      sets.push({ name: "synthetic 1M x 128", n: 1_000_000, dim: 128, fvecs });
    }
    const rows: Record<string, unknown>[] = [];
    for (const set of sets) {
      const rawMB = (set.n * set.dim * 4) / 1e6;
      const best = (op: "import" | "export", format: Format, file: string) => {
        const all: Measure[] = [];
        for (let r = 0; r < runs; r++) {
          const m = measure(op, format, file, set.dim, set.fvecs);
          if (m.n !== set.n) throw new Error(`${op} ${format}: ${m.n} rows, expected ${set.n}`);
          all.push(m);
        }
        const fastest = all.reduce((a, b) => (b.ms < a.ms ? b : a));
        return {
          ...fastest,
          cpuMs: Math.min(...all.map((m) => m.cpuMs)),
          peak: Math.max(...all.map((m) => m.peak)),
          base: Math.min(...all.map((m) => m.base)),
        };
      };
      const row = (op: string, format: Format, file: string, m: Measure) => {
        const fileMB = fs.statSync(file).size / 1e6;
        const collectionMB = op === "import" ? rawMB : 0;
        const r = {
          data: set.name,
          op,
          format,
          "file MB": +fileMB.toFixed(1),
          "best s": +(m.ms / 1000).toFixed(2),
          "cpu s": +(m.cpuMs / 1000).toFixed(2),
          "rows/s": Math.round(set.n / (m.ms / 1000)),
          "MB/s": +(fileMB / (m.ms / 1000)).toFixed(1),
          "peak RSS MB": Math.round(m.peak),
          "over start MB": Math.round(m.peak - m.base),
          "codec MB": Math.round(m.peak - m.base - collectionMB),
        };
        rows.push(r);
        console.log(JSON.stringify(r));
      };
      row("import", "fvecs", set.fvecs, best("import", "fvecs", set.fvecs));
      for (const format of ["npy", "arrow", "parquet"] as const) {
        const file = path.join(tmp, `${set.dim}.${format}`);
        const e = best("export", format, file);
        row("export", format, file, e);
        row("import", format, file, best("import", format, file));
        fs.rmSync(file, { force: true });
      }
    }
    console.table(rows);
    console.log(`wrote ${writeResult("formats", { runs, machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`, note: "best of runs by wall time; cpu s is the lowest CPU time (user+system) of the runs; peak RSS is the highest VmHWM of the runs; imports include the collection's copy of the vectors (codec MB subtracts it)", rows })}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--child") {
  const [, op, format, file, dim, source] = process.argv.slice(2);
  await child(op as "import" | "export", format as Format, file!, Number(dim), source!);
} else await main();
