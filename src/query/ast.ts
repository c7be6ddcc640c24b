/**
 * VQL syntax tree: small readonly objects with a `kind`. Every dispatch over
 * kinds ends in assertNever, so a new kind the executor forgets is a compile error.
 */
import type { IndexConfig, QuantizationKind } from "../ann/config";

export interface Position {
  readonly line: number;
  readonly column: number;
}

// ---- values ------------------------------------------------------------------------------

export type ValueNode =
  | { readonly kind: "literal"; readonly value: string | number | boolean | null; readonly pos: Position }
  | { readonly kind: "param"; readonly name: string; readonly pos: Position }
  | { readonly kind: "array"; readonly items: readonly ValueNode[]; readonly pos: Position }
  | { readonly kind: "object"; readonly entries: readonly (readonly [string, ValueNode])[]; readonly pos: Position };

// ---- filters -----------------------------------------------------------------------------

export type CompareOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

/** `id` is the item id; anything else a payload path (an optional leading `payload.` is dropped). */
export interface PathNode {
  readonly kind: "path";
  readonly segments: readonly string[];
  readonly isId: boolean;
  readonly pos: Position;
}

export type FilterNode =
  | { readonly kind: "and"; readonly left: FilterNode; readonly right: FilterNode }
  | { readonly kind: "or"; readonly left: FilterNode; readonly right: FilterNode }
  | { readonly kind: "not"; readonly operand: FilterNode }
  | { readonly kind: "compare"; readonly path: PathNode; readonly op: CompareOp; readonly value: ValueNode }
  | { readonly kind: "in"; readonly path: PathNode; readonly values: readonly ValueNode[]; readonly negated: boolean }
  | { readonly kind: "between"; readonly path: PathNode; readonly low: ValueNode; readonly high: ValueNode; readonly negated: boolean }
  | { readonly kind: "like"; readonly path: PathNode; readonly pattern: ValueNode; readonly negated: boolean }
  | { readonly kind: "isNull"; readonly path: PathNode; readonly negated: boolean };

// ---- statements --------------------------------------------------------------------------

/** A collection named in a statement, with where its name stands (for error positions). */
export interface NameRef {
  readonly name: string;
  readonly pos: Position;
}

export type MetricName = "cosine" | "l2" | "dot";
export type StorageName = "memory" | "mmap";
export type CompressionName = "none" | "zstd";

export interface InsertRow {
  readonly id: ValueNode;
  readonly vector: ValueNode;
  readonly payload: ValueNode;
  readonly pos: Position;
}

export interface SearchOptionsNode {
  readonly probes?: ValueNode;
  readonly rerank?: ValueNode;
  readonly ef?: ValueNode;
  readonly exact?: boolean;
}

/** COPY's options: column names, format, LanceDB table, excluded columns. */
export interface CopyOptionsNode {
  readonly id?: ValueNode;
  readonly vector?: ValueNode;
  readonly payload?: ValueNode;
  readonly sparse?: ValueNode;
  readonly format?: ValueNode;
  readonly table?: ValueNode;
  readonly exclude?: readonly ValueNode[];
  readonly overwrite?: boolean;
}

export type Statement =
  | {
      readonly kind: "createCollection";
      readonly collection: NameRef;
      readonly ifNotExists: boolean;
      readonly dimension: number;
      readonly metric: MetricName;
      readonly normalize: boolean;
      readonly storage?: StorageName;
      readonly index?: IndexConfig;
      readonly quantization?: QuantizationKind;
      readonly compression?: CompressionName;
      readonly pos: Position;
    }
  | { readonly kind: "dropCollection"; readonly collection: NameRef; readonly ifExists: boolean; readonly pos: Position }
  | { readonly kind: "showCollections"; readonly pos: Position }
  | { readonly kind: "describe"; readonly collection: NameRef; readonly pos: Position }
  | { readonly kind: "insert"; readonly mode: "insert" | "upsert"; readonly collection: NameRef; readonly rows: readonly InsertRow[]; readonly pos: Position }
  | {
      readonly kind: "update";
      readonly collection: NameRef;
      readonly payload?: ValueNode;
      readonly vector?: ValueNode;
      readonly where: FilterNode;
      readonly pos: Position;
    }
  | { readonly kind: "delete"; readonly collection: NameRef; readonly where?: FilterNode; readonly pos: Position }
  | {
      readonly kind: "select";
      readonly collection: NameRef;
      readonly columns: readonly ("id" | "payload" | "vector")[];
      readonly where?: FilterNode;
      readonly limit?: ValueNode;
      readonly pos: Position;
    }
  | {
      readonly kind: "search";
      readonly collection: NameRef;
      readonly near: { readonly kind: "vector"; readonly value: ValueNode } | { readonly kind: "id"; readonly value: ValueNode };
      readonly where?: FilterNode;
      readonly limit: ValueNode;
      readonly options: SearchOptionsNode;
      readonly explain: boolean;
      readonly pos: Position;
    }
  | { readonly kind: "alterStorage"; readonly collection: NameRef; readonly storage: StorageName; readonly pos: Position }
  | { readonly kind: "alterCompression"; readonly collection: NameRef; readonly compression: CompressionName; readonly pos: Position }
  | { readonly kind: "buildIndex"; readonly collection: NameRef; readonly pos: Position }
  | { readonly kind: "createIndex"; readonly collection: NameRef; readonly field: PathNode; readonly ifNotExists: boolean; readonly pos: Position }
  | { readonly kind: "dropIndex"; readonly collection: NameRef; readonly field: PathNode; readonly ifExists: boolean; readonly pos: Position }
  | {
      readonly kind: "copyFrom" | "copyTo";
      readonly collection: NameRef;
      /** The file, or with `lancedb` the LanceDB directory (or URI). */
      readonly file: ValueNode;
      readonly lancedb: boolean;
      readonly options: CopyOptionsNode;
      readonly pos: Position;
    }
  | { readonly kind: "checkpoint"; readonly pos: Position }
  | { readonly kind: "backup"; readonly dir: ValueNode; readonly pos: Position }
  | { readonly kind: "check"; readonly collection: NameRef | null; readonly pos: Position }
  | { readonly kind: "vacuum"; readonly collection: NameRef; readonly pos: Position };

export type StatementKind = Statement["kind"];

