/**
 * Collection configuration: what a user may pass, the defaults, and validation.
 */
import { errors } from "../errors";
import { METRICS, type Metric } from "../ann/distance";

export type StorageKind = "memory" | "mmap";
export type QuantizationKind = "none" | "scalar" | "binary";

export interface ClusteredIndexConfig {
  readonly type: "clustered";
  readonly branchingFactor?: number;
  readonly maxLeafSize?: number;
  readonly maxIterations?: number;
  readonly seed?: number;
}

export interface HnswIndexConfig {
  readonly type: "hnsw";
  readonly m?: number;
  readonly efConstruction?: number;
  readonly efSearch?: number;
  readonly seed?: number;
}

export type IndexConfig = { readonly type: "flat" } | ClusteredIndexConfig | HnswIndexConfig;

export interface CollectionOptions {
  readonly dimension: number;
  readonly metric?: Metric;
  readonly normalize?: boolean;
  readonly storage?: StorageKind;
  readonly index?: IndexConfig | IndexConfig["type"];
  readonly quantization?: QuantizationKind;
}

export interface CollectionConfig {
  readonly dimension: number;
  readonly metric: Metric;
  readonly normalize: boolean;
  readonly storage: StorageKind;
  readonly index: IndexConfig;
  readonly quantization: QuantizationKind;
}

export const MAX_DIMENSION = 65536;
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export function validateName(name: unknown): string {
  if (typeof name !== "string" || !NAME_RE.test(name)) throw errors.invalidName(String(name));
  return name;
}

function positiveInt(what: string, v: unknown, max = 1 << 30): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max) {
    throw errors.invalidConfig(`${what} must be an integer from 1 to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function resolveConfig(options: CollectionOptions): CollectionConfig {
  if (options === null || typeof options !== "object") throw errors.invalidConfig("collection options must be an object");
  const dimension = positiveInt("dimension", options.dimension, MAX_DIMENSION);
  if (dimension === undefined) throw errors.invalidConfig("dimension is required");
  const metric = options.metric ?? "cosine";
  if (!METRICS.includes(metric)) throw errors.invalidConfig(`metric must be one of ${METRICS.join(", ")}, got ${JSON.stringify(metric)}`);
  const normalize = options.normalize ?? false;
  if (typeof normalize !== "boolean") throw errors.invalidConfig("normalize must be true or false");
  const storage = options.storage ?? "memory";
  if (storage !== "memory" && storage !== "mmap") throw errors.invalidConfig(`storage must be memory or mmap, got ${JSON.stringify(storage)}`);
  const quantization = options.quantization ?? "none";
  if (!["none", "scalar", "binary"].includes(quantization)) {
    throw errors.invalidConfig(`quantization must be none, scalar or binary, got ${JSON.stringify(quantization)}`);
  }
  const rawIndex = options.index ?? "flat";
  const index: IndexConfig = typeof rawIndex === "string" ? ({ type: rawIndex } as IndexConfig) : rawIndex;
  switch (index.type) {
    case "flat":
      break;
    case "clustered":
      positiveInt("branchingFactor", index.branchingFactor, 256);
      positiveInt("maxLeafSize", index.maxLeafSize);
      positiveInt("maxIterations", index.maxIterations, 1000);
      if ((index.branchingFactor ?? 10) < 2) throw errors.invalidConfig("branchingFactor must be at least 2");
      break;
    case "hnsw":
      positiveInt("m", index.m, 256);
      positiveInt("efConstruction", index.efConstruction, 100000);
      positiveInt("efSearch", index.efSearch, 100000);
      if ((index.m ?? 16) < 2) throw errors.invalidConfig("m must be at least 2");
      break;
    default:
      throw errors.invalidConfig(`index must be flat, clustered or hnsw, got ${JSON.stringify((index as { type: unknown }).type)}`);
  }
  return { dimension, metric, normalize, storage, index: { ...index }, quantization };
}
