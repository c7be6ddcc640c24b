/**
 * Index configuration, declared once: the index types, their options, the
 * defaults and bounds of every option (build and search), and the one
 * validator. Collections validate their config here, the indexes resolve
 * their options here, DESCRIBE prints from here and the VQL AST uses these
 * types.
 */
import { errors } from "../errors";

export type QuantizationKind = "none" | "scalar" | "binary";
export const QUANTIZATION_KINDS: readonly QuantizationKind[] = ["none", "scalar", "binary"];

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

export interface FlatIndexConfig {
  readonly type: "flat";
}

export type IndexConfig = FlatIndexConfig | ClusteredIndexConfig | HnswIndexConfig;
export type IndexType = IndexConfig["type"];
export const INDEX_TYPES: readonly IndexType[] = ["flat", "clustered", "hnsw"];

/** An integer option: its default and inclusive bounds. */
export interface IntegerOption {
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

const SEED: IntegerOption = { default: 42, min: 0, max: 2 ** 31 };

/** Build options of each index, by the config field that names them. */
export const INDEX_OPTIONS = {
  flat: {},
  clustered: {
    branchingFactor: { default: 10, min: 2, max: 256 },
    maxLeafSize: { default: 1000, min: 1, max: 1 << 24 },
    maxIterations: { default: 20, min: 1, max: 1000 },
    seed: SEED,
  },
  hnsw: {
    m: { default: 16, min: 2, max: 256 },
    efConstruction: { default: 200, min: 1, max: 100000 },
    efSearch: { default: 64, min: 1, max: 100000 },
    seed: SEED,
  },
} as const satisfies Record<IndexType, Record<string, IntegerOption>>;

/** Per-search options, shared by every index that reads them. */
export const SEARCH_OPTIONS = {
  /** Clustered: leaves visited. */
  probes: { default: 8, min: 1, max: 1 << 20 },
  /** Clustered: candidates reranked on full vectors = k × rerankFactor. Quantized HNSW has its own default. */
  rerankFactor: { default: 5, min: 1, max: 1 << 20 },
  /** HNSW: search list size (the index's efSearch when absent). */
  ef: { default: INDEX_OPTIONS.hnsw.efSearch.default, min: 1, max: 100000 },
} as const satisfies Record<string, IntegerOption>;

/** The options of one index config, without its type, writable (for parsers building one). */
export type IndexOptionsOf<C extends IndexConfig> = { -readonly [K in Exclude<keyof C, "type">]?: C[K] };

/** Fully resolved options of one index type (every field present). */
export type ResolvedIndexOptions<T extends IndexType> = { -readonly [K in keyof (typeof INDEX_OPTIONS)[T]]: number };

/** `value` (or the option's default when undefined), checked against the option's bounds. */
export function resolveInteger(name: string, value: unknown, option: IntegerOption): number {
  const x = value ?? option.default;
  if (typeof x !== "number" || !Number.isInteger(x) || x < option.min || x > option.max) {
    throw errors.invalidConfig(`${name} must be an integer from ${option.min} to ${option.max}, got ${JSON.stringify(value)}`);
  }
  return x;
}

/** Every option of index type `type`, taken from `options` or defaulted, each checked. */
export function resolveIndexOptions<T extends IndexType>(type: T, options: object): ResolvedIndexOptions<T> {
  const spec = INDEX_OPTIONS[type] as Record<string, IntegerOption>;
  const given = options as Record<string, unknown>;
  const out: Record<string, number> = {};
  for (const [name, option] of Object.entries(spec)) out[name] = resolveInteger(name, given[name], option);
  return out as ResolvedIndexOptions<T>;
}

/**
 * Validate an index config as a user wrote it (a type name or an object) and
 * return it as an object holding only the fields that were given. Unknown
 * types and unknown fields are INVALID_CONFIG.
 */
export function validateIndexConfig(raw: unknown): IndexConfig {
  const config = typeof raw === "string" ? { type: raw } : raw;
  if (config === null || typeof config !== "object") throw errors.invalidConfig("index must be flat, clustered, hnsw or { type, ... }");
  const type = (config as { type?: unknown }).type;
  if (typeof type !== "string" || !(INDEX_TYPES as readonly string[]).includes(type)) {
    throw errors.invalidConfig(`index must be ${INDEX_TYPES.join(", ")}, got ${JSON.stringify(type)}`);
  }
  const spec = INDEX_OPTIONS[type as IndexType] as Record<string, IntegerOption>;
  const out: Record<string, unknown> = { type };
  for (const [name, value] of Object.entries(config)) {
    if (name === "type" || value === undefined) continue;
    const option = spec[name];
    if (!option) throw errors.invalidConfig(`a ${type} index has no option ${JSON.stringify(name)}`);
    out[name] = resolveInteger(name, value, option);
  }
  return out as unknown as IndexConfig;
}

export function validateQuantization(raw: unknown, index: IndexConfig): QuantizationKind {
  const q = raw ?? "none";
  if (typeof q !== "string" || !(QUANTIZATION_KINDS as readonly string[]).includes(q)) {
    throw errors.invalidConfig(`quantization must be ${QUANTIZATION_KINDS.join(", ")}, got ${JSON.stringify(raw)}`);
  }
  if (q !== "none" && index.type !== "hnsw") {
    throw errors.invalidConfig(`${q} quantization applies to an HNSW index (the clustered index keeps its own 1-bit codes)`);
  }
  return q as QuantizationKind;
}

/** One line naming the index and every build option with its effective value. */
export function describeIndex(config: IndexConfig): string {
  const resolved: Record<string, number> = resolveIndexOptions(config.type, config);
  const parts = Object.entries(resolved)
    .filter(([name]) => name !== "seed")
    .map(([name, v]) => `${DESCRIBE_NAMES[name] ?? name} ${v}`);
  return parts.length === 0 ? config.type : `${config.type}(${parts.join(", ")})`;
}

/** The VQL words for the options DESCRIBE prints. */
const DESCRIBE_NAMES: Record<string, string> = {
  branchingFactor: "branching",
  maxLeafSize: "leaf_size",
  maxIterations: "iterations",
  efConstruction: "ef_construction",
  efSearch: "ef_search",
};
