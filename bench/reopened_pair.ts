/**
 * Two saved databases of the same HNSW graph, reopened read-only in one
 * process and searched in interleaved passes (best of 5, main-thread CPU
 * time): whether they answer alike and how fast each is. For comparing how a
 * reopened graph is held, e.g. a section written before level 0 was aligned
 * (version 1: packed) against one written after (version 2: mapped).
 *
 *   bun bench/reopened_pair.ts DIR_A DIR_B [DATASET_DIR] [--queries 500] [--efs 10,32,64,128]
 *
 * Each DIR holds a collection "v" (as bench/ann.ts --keep-db DIR leaves in DIR/QUANT).
 */
import * as path from "node:path";
import { open } from "../src/index";
import type { HnswIndex } from "../src/ann/hnsw";
import { DATA_DIR, readVecs, threadCpuMs } from "./lib";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : def);
const positional = args.filter((a, i) => !a.startsWith("--") && !(i > 0 && args[i - 1]!.startsWith("--")));
const [dirA, dirB] = positional;
const dataset = path.resolve(positional[2] ?? path.join(DATA_DIR, "fashion-mnist-784-euclidean"));
const q = readVecs(path.join(dataset, "query.fvecs.gz"), "f"), gt = readVecs(path.join(dataset, "groundtruth.ivecs.gz"), "i");
const nq = Math.min(q.n, Number(flag("--queries", "500"))), dim = q.dim, qd = q.data as Float32Array, truth = gt.data as Int32Array;
const a = open(dirA!, { readonly: true }).collection("v"), b = open(dirB!, { readonly: true }).collection("v");
console.log(`A ${dirA}: level 0 ${(a.index as HnswIndex).level0Layout()}; B ${dirB}: level 0 ${(b.index as HnswIndex).level0Layout()}`);
for (const ef of flag("--efs", "10,32,64,128").split(",").map(Number)) {
  const run = (c: typeof a) => Array.from({ length: nq }, (_, i) => c.search(qd.subarray(i * dim, (i + 1) * dim), { k: 10, ef }).map((h) => Number(h.id)));
  run(a);
  run(b); // warm-up
  let ta = Infinity, tb = Infinity, ra: number[][] = [], rb: number[][] = [];
  for (let p = 0; p < 5; p++) {
    let t = threadCpuMs();
    ra = run(a);
    ta = Math.min(ta, threadCpuMs() - t);
    t = threadCpuMs();
    rb = run(b);
    tb = Math.min(tb, threadCpuMs() - t);
  }
  let hits = 0;
  for (let i = 0; i < nq; i++) {
    const s = new Set(truth.subarray(i * gt.dim, i * gt.dim + 10));
    for (const r of rb[i]!) if (s.has(r)) hits++;
  }
  const qa = Math.round((nq / ta) * 1000), qb = Math.round((nq / tb) * 1000);
  console.log(`ef=${ef}: answers ${JSON.stringify(ra) === JSON.stringify(rb) ? "identical" : "DIFFER"}, recall@10 ${(hits / nq / 10).toFixed(4)}, qps A ${qa} B ${qb} (B/A ${(qb / qa).toFixed(3)})`);
}
