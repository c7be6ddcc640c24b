/**
 * Which index a collection config asks for, created over the collection's rows,
 * and restored from a snapshot section.
 */
import { assertNever } from "../errors";
import type { ByteReader, ByteWriter } from "../storage/binary";
import { ClusteredTree } from "./clustered";
import { FlatIndex } from "./flat";
import { HnswIndex } from "./hnsw";
import { validateQuantization, type IndexConfig, type QuantizationKind } from "./config";
import type { RowSource, VectorIndex } from "./types";

const TAG = { flat: 0, clustered: 1, hnsw: 2 } as const;

export function createIndex(config: IndexConfig, source: RowSource, quantization: QuantizationKind = "none"): VectorIndex {
  validateQuantization(quantization, config);
  switch (config.type) {
    case "flat":
      return new FlatIndex(source);
    case "clustered":
      return new ClusteredTree(source, {
        branchingFactor: config.branchingFactor,
        maxLeafSize: config.maxLeafSize,
        maxIterations: config.maxIterations,
        seed: config.seed,
      });
    case "hnsw":
      return new HnswIndex(source, { m: config.m, efConstruction: config.efConstruction, efSearch: config.efSearch, seed: config.seed, quantization });
    default:
      return assertNever(config);
  }
}

export function writeIndexSection(w: ByteWriter, index: VectorIndex): void {
  w.u8(TAG[index.type]);
  index.serialize(w);
}

/**
 * Restore the index saved in a snapshot. A section of another type than the
 * config asks for (the config changed) yields a fresh index, rebuilt.
 */
export function readIndexSection(
  r: ByteReader,
  config: IndexConfig,
  source: RowSource,
  quantization: QuantizationKind,
): { index: VectorIndex; rebuilt: boolean } {
  const tag = r.u8();
  if (tag === TAG.clustered && config.type === "clustered") return { index: ClusteredTree.deserialize(r, source), rebuilt: false };
  if (tag === TAG.hnsw && config.type === "hnsw") return { index: HnswIndex.deserialize(r, source, quantization), rebuilt: false };
  if (tag === TAG.flat && config.type === "flat") return { index: new FlatIndex(source), rebuilt: false };
  if (tag !== TAG.flat && tag !== TAG.clustered && tag !== TAG.hnsw) throw new RangeError(`unknown index section ${tag}`);
  const index = createIndex(config, source, quantization);
  index.rebuild();
  return { index, rebuilt: true };
}
