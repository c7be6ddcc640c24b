/**
 * Which 1-bit code works best for the clustered index? Recall@10 on the
 * Fashion-MNIST 10k test set (500 queries, exact ground truth) at fixed probes
 * and rerank, for residual codes without and with the Hadamard rotation (one
 * and two rounds). The variant is an index option (saved with the index).
 *
 *   bun bench/code_experiment.ts
 */
import * as path from "node:path";
import { ClusteredIndex } from "../src/clustered_index";
import { DATA_DIR, readVecs, writeResult } from "./lib";

const dir = path.join(DATA_DIR, "fashion-mnist-784-euclidean-small");
const base = readVecs(path.join(dir, "base.fvecs.gz"), "f");
const q = readVecs(path.join(dir, "query.fvecs.gz"), "f");
const gt = readVecs(path.join(dir, "groundtruth.ivecs.gz"), "i");

function variant(rotationRounds: number): Record<string, number> {
  const ix = ClusteredIndex.build({ data: base.data as Float32Array, dimension: base.dim }, { seed: 1, rotationRounds });
  const out: Record<string, number> = {};
  for (const [probes, rerankFactor] of [[4, 2], [4, 5], [8, 2], [8, 5], [16, 5]] as const) {
    let hits = 0;
    for (let i = 0; i < q.n; i++) {
      const truth = new Set((gt.data as Int32Array).subarray(i * gt.dim, i * gt.dim + 10));
      for (const h of ix.search((q.data as Float32Array).subarray(i * q.dim, (i + 1) * q.dim), 10, { probes, rerankFactor })) if (truth.has(h.id)) hits++;
    }
    out[`probes ${probes}, rerank ×${rerankFactor}`] = +(hits / (q.n * 10)).toFixed(4);
  }
  return out;
}

const variants = [
  ["residual to the leaf centroid, no rotation", 0],
  ["residual + randomized Hadamard rotation, 1 round (default)", 1],
  ["residual + randomized Hadamard rotation, 2 rounds", 2],
] as const;
const rows = variants.map(([label, rounds]) => ({ codes: label, ...variant(rounds) }));
console.log("recall@10 on Fashion-MNIST 10k, 500 queries, clustered index defaults otherwise");
console.table(rows);
console.log("wrote", writeResult("code_experiment", { rows }));
