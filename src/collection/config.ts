/**
 * Collection configuration: what a user may pass, the defaults, and validation.
 */
import { validateIndexConfig, validateQuantization, type IndexConfig, type QuantizationKind } from "../ann/config";
import { METRICS, type Metric } from "../ann/distance";
import { errors } from "../errors";

export type StorageKind = "memory" | "mmap";
/**
 * How payloads (and sparse vectors) are kept in the row files of mmap storage:
 * "zstd" compresses them in blocks. Memory storage keeps the setting (it
 * applies once ALTER … SET STORAGE MMAP moves the rows to files) but holds
 * payloads in RAM and in its snapshot uncompressed.
 */
export type CompressionKind = "none" | "zstd";
export const COMPRESSIONS: readonly CompressionKind[] = ["none", "zstd"];

export interface CollectionOptions {
  readonly dimension: number;
  readonly metric?: Metric;
  readonly normalize?: boolean;
  readonly storage?: StorageKind;
  readonly index?: IndexConfig | IndexConfig["type"];
  readonly quantization?: QuantizationKind;
  readonly compression?: CompressionKind;
}

export interface CollectionConfig {
  readonly dimension: number;
  readonly metric: Metric;
  readonly normalize: boolean;
  readonly storage: StorageKind;
  readonly index: IndexConfig;
  readonly quantization: QuantizationKind;
  readonly compression: CompressionKind;
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
  const index = validateIndexConfig(options.index ?? "flat");
  const quantization = validateQuantization(options.quantization, index);
  const compression = validateCompression(options.compression ?? "none");
  return { dimension, metric, normalize, storage, index, quantization, compression };
}

export function validateCompression(v: unknown): CompressionKind {
  if (!COMPRESSIONS.includes(v as CompressionKind)) throw errors.invalidConfig(`compression must be none or zstd, got ${JSON.stringify(v)}`);
  return v as CompressionKind;
}
