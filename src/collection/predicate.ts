/**
 * Structured search predicates: a filter the collection can both evaluate on
 * a payload and plan with payload indexes (payload_index.ts), unlike an
 * opaque `(payload, id) => boolean` function.
 *
 * Semantics are SQL's three-valued logic, the same as VQL's WHERE (which is
 * compiled to these): a comparison with a missing or null field is unknown,
 * NOT unknown is unknown, and only a true result keeps an item. Comparing
 * values of different types: `eq` is false, `ne` true, `<`/`<=`/`>`/`>=`
 * unknown; `between` and `like` are false (true when negated).
 *
 *   { field: "cat", eq: "news" }                    field = value (also ne)
 *   { field: "year", gte: 2000, lt: 2010 }          ranges: any of lt, lte, gt, gte (all must hold)
 *   { field: "cat", in: ["a", "b"] }                IN (notIn: NOT IN); a null in the list makes misses unknown
 *   { field: "year", between: [2000, 2009] }        inclusive, two numbers or two strings (notBetween)
 *   { field: "title", like: "Intro%" }             % any run, _ one character (notLike)
 *   { field: "cat", isNull: true }                  missing or null (false: present and not null)
 *   { and: [...] }, { or: [...] }, { not: p }
 *   { test: (payload, id) => boolean }              anything else (never planned with an index)
 *
 * `field` is a dotted path ("a.b" for payload.a.b), an array of keys (for
 * keys holding dots), or ITEM_ID for the item's id.
 */
import { errors } from "../errors";
import type { Payload } from "./validate";

export type Scalar = string | number | boolean;

/** Names the item's id (a string) instead of a payload field. */
export const ITEM_ID: unique symbol = Symbol("vqlite.itemId");
export type FieldRef = string | readonly string[] | typeof ITEM_ID;

export type Predicate =
  | { readonly and: readonly Predicate[] }
  | { readonly or: readonly Predicate[] }
  | { readonly not: Predicate }
  | { readonly field: FieldRef; readonly eq: Scalar }
  | { readonly field: FieldRef; readonly ne: Scalar }
  | { readonly field: FieldRef; readonly lt?: Scalar; readonly lte?: Scalar; readonly gt?: Scalar; readonly gte?: Scalar }
  | { readonly field: FieldRef; readonly in: readonly (Scalar | null)[] }
  | { readonly field: FieldRef; readonly notIn: readonly (Scalar | null)[] }
  | { readonly field: FieldRef; readonly between: readonly [Scalar, Scalar] }
  | { readonly field: FieldRef; readonly notBetween: readonly [Scalar, Scalar] }
  | { readonly field: FieldRef; readonly like: string }
  | { readonly field: FieldRef; readonly notLike: string }
  | { readonly field: FieldRef; readonly isNull: boolean }
  | { readonly test: (payload: Payload, id: string) => boolean };

export type CompareOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

/** A validated field path; `key` identifies it (payload indexes are keyed by it). */
export interface FieldPath {
  readonly isId: boolean;
  readonly segments: readonly string[];
  readonly key: string;
}

/** The validated, normalised form the collection evaluates and plans. */
export type Cond =
  | { readonly kind: "and" | "or"; readonly items: readonly Cond[] }
  | { readonly kind: "not"; readonly item: Cond }
  | { readonly kind: "cmp"; readonly path: FieldPath; readonly op: CompareOp; readonly value: Scalar }
  | { readonly kind: "in"; readonly path: FieldPath; readonly values: readonly (Scalar | null)[]; readonly negated: boolean }
  | { readonly kind: "between"; readonly path: FieldPath; readonly low: Scalar; readonly high: Scalar; readonly negated: boolean }
  | { readonly kind: "like"; readonly path: FieldPath; readonly pattern: string; readonly negated: boolean }
  | { readonly kind: "isNull"; readonly path: FieldPath; readonly negated: boolean }
  | { readonly kind: "test"; readonly fn: (payload: Payload, id: string) => boolean };

export type Leaf = Extract<Cond, { path: FieldPath }>;
export type Tri = boolean | null;

export function fieldKey(segments: readonly string[]): string {
  return JSON.stringify(segments);
}

/** A payload field path from "a.b" or ["a", "b"]. */
export function fieldPath(field: string | readonly string[]): FieldPath {
  const segments = typeof field === "string" ? field.split(".") : [...field];
  if (segments.length === 0 || segments.some((s) => typeof s !== "string" || s.length === 0)) {
    throw errors.invalidArgument(`a field must be a non-empty dotted path or an array of non-empty keys, got ${JSON.stringify(field)}`);
  }
  return { isId: false, segments, key: fieldKey(segments) };
}

/** How a field path is shown (DESCRIBE, EXPLAIN): keys joined by dots. */
export function fieldName(segments: readonly string[]): string {
  return segments.join(".");
}

const ID_PATH: FieldPath = { isId: true, segments: [], key: "id" };

function isScalar(v: unknown): v is Scalar {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean";
}

function scalarArg(v: unknown, what: string, path: FieldPath): Scalar {
  if (!isScalar(v)) throw errors.invalidArgument(`${what} must be a string, a number or a boolean, got ${JSON.stringify(v) ?? String(v)}`);
  if (path.isId && typeof v !== "string") throw errors.invalidArgument(`the item id is a string, compared with ${JSON.stringify(v)}`);
  return v;
}

/** Deepest and/or/not nesting a predicate may have (VQL's own limits keep its filters far below). */
export const MAX_PREDICATE_DEPTH = 1000;

const LEAF_KEYS = ["eq", "ne", "lt", "lte", "gt", "gte", "in", "notIn", "between", "notBetween", "like", "notLike", "isNull"] as const;
const OPS: Record<string, CompareOp> = { eq: "=", ne: "!=", lt: "<", lte: "<=", gt: ">", gte: ">=" };

/** Validate a predicate (INVALID_ARGUMENT for anything malformed) into its normalised form. */
export function toCond(p: Predicate, depth = 0): Cond {
  if (depth > MAX_PREDICATE_DEPTH) throw errors.invalidArgument(`a predicate may nest at most ${MAX_PREDICATE_DEPTH} levels`);
  if (p === null || typeof p !== "object" || Array.isArray(p)) throw errors.invalidArgument(`a predicate must be an object, got ${JSON.stringify(p)}`);
  const o = p as Record<string, unknown>;
  if ("and" in o || "or" in o) {
    const kind = "and" in o ? "and" : "or";
    const list = o[kind];
    if (!Array.isArray(list) || list.length === 0) throw errors.invalidArgument(`${kind} needs a non-empty array of predicates`);
    if (Object.keys(o).length !== 1) throw errors.invalidArgument(`a predicate with ${kind} has no other keys`);
    return { kind, items: list.map((x) => toCond(x as Predicate, depth + 1)) };
  }
  if ("not" in o) {
    if (Object.keys(o).length !== 1) throw errors.invalidArgument("a predicate with not has no other keys");
    return { kind: "not", item: toCond(o.not as Predicate, depth + 1) };
  }
  if ("test" in o) {
    if (typeof o.test !== "function" || Object.keys(o).length !== 1) throw errors.invalidArgument("test must be a function (payload, id) => boolean, alone in its predicate");
    return { kind: "test", fn: o.test as (payload: Payload, id: string) => boolean };
  }
  if (!("field" in o)) throw errors.invalidArgument(`a predicate needs and, or, not, test or field, got keys ${JSON.stringify(Object.keys(o))}`);
  const path = o.field === ITEM_ID ? ID_PATH : fieldPath(o.field as string | string[]);
  const keys = Object.keys(o).filter((k) => k !== "field");
  if (keys.length === 0) throw errors.invalidArgument(`a field predicate needs one of ${LEAF_KEYS.join(", ")}`);
  for (const k of keys) if (!(LEAF_KEYS as readonly string[]).includes(k)) throw errors.invalidArgument(`unknown predicate key ${JSON.stringify(k)}`);
  const ranges = keys.filter((k) => k === "lt" || k === "lte" || k === "gt" || k === "gte");
  if (keys.length > 1 && ranges.length !== keys.length) throw errors.invalidArgument(`only lt, lte, gt and gte combine in one predicate, got ${keys.join(", ")}`);
  if (ranges.length > 1) {
    return { kind: "and", items: ranges.map((k) => ({ kind: "cmp", path, op: OPS[k]!, value: scalarArg(o[k], k, path) })) };
  }
  const k = keys[0]!;
  switch (k) {
    case "eq":
    case "ne":
    case "lt":
    case "lte":
    case "gt":
    case "gte":
      return { kind: "cmp", path, op: OPS[k]!, value: scalarArg(o[k], k, path) };
    case "in":
    case "notIn": {
      const list = o[k];
      if (!Array.isArray(list)) throw errors.invalidArgument(`${k} needs an array of values`);
      const values = list.map((v) => (v === null ? null : scalarArg(v, `a value of ${k}`, path)));
      return { kind: "in", path, values, negated: k === "notIn" };
    }
    case "between":
    case "notBetween": {
      const b = o[k];
      if (!Array.isArray(b) || b.length !== 2) throw errors.invalidArgument(`${k} needs [low, high]`);
      const [low, high] = b as unknown[];
      if (typeof low !== typeof high || (typeof low !== "string" && typeof low !== "number")) {
        throw errors.invalidArgument(`${k} needs two numbers or two strings, got ${JSON.stringify(b)}`);
      }
      return { kind: "between", path, low: low as Scalar, high: high as Scalar, negated: k === "notBetween" };
    }
    case "like":
    case "notLike":
      if (typeof o[k] !== "string") throw errors.invalidArgument(`${k} needs a string pattern`);
      return { kind: "like", path, pattern: o[k] as string, negated: k === "notLike" };
    case "isNull":
      if (typeof o.isNull !== "boolean") throw errors.invalidArgument("isNull must be true or false");
      return { kind: "isNull", path, negated: !o.isNull };
  }
  throw errors.invalidArgument(`unknown predicate key ${JSON.stringify(k)}`);
}

// ---- evaluation ----------------------------------------------------------------------------

export function lookup(path: FieldPath, payload: Payload, id: string): unknown {
  if (path.isId) return id;
  let v: unknown = payload;
  for (const seg of path.segments) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

function likeToRegExp(pattern: string): RegExp {
  let re = "^";
  for (const ch of pattern) {
    if (ch === "%") re += "[\\s\\S]*";
    else if (ch === "_") re += "[\\s\\S]";
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`${re}$`);
}

function compareScalars(a: unknown, b: Scalar, op: CompareOp): Tri {
  if (a === undefined || a === null) return null;
  if (typeof a !== typeof b) return op === "!=" ? true : op === "=" ? false : null;
  switch (op) {
    case "=":
      return a === b;
    case "!=":
      return a !== b;
    case "<":
      return (a as Scalar) < b;
    case "<=":
      return (a as Scalar) <= b;
    case ">":
      return (a as Scalar) > b;
    case ">=":
      return (a as Scalar) >= b;
  }
}

/** A leaf as a function of the field's value (undefined when missing). */
export function compileLeafValue(c: Leaf): (x: unknown) => Tri {
  switch (c.kind) {
    case "cmp": {
      const { value, op } = c;
      return (x) => compareScalars(x, value, op);
    }
    case "in": {
      const set = new Set(c.values.filter((v) => v !== null));
      const hasNull = c.values.includes(null);
      const negated = c.negated;
      return (x) => {
        if (x === undefined || x === null) return null;
        if (set.has(x as Scalar)) return !negated;
        return hasNull ? null : negated;
      };
    }
    case "between": {
      const { low, high, negated } = c;
      return (x) => {
        if (x === undefined || x === null) return null;
        if (typeof x !== typeof low) return negated;
        const inside = (x as Scalar) >= low && (x as Scalar) <= high;
        return negated ? !inside : inside;
      };
    }
    case "like": {
      const re = likeToRegExp(c.pattern);
      const negated = c.negated;
      return (x) => {
        if (x === undefined || x === null) return null;
        if (typeof x !== "string") return negated;
        const m = re.test(x);
        return negated ? !m : m;
      };
    }
    case "isNull": {
      const negated = c.negated;
      return (x) => {
        const isNull = x === undefined || x === null;
        return negated ? !isNull : isNull;
      };
    }
  }
}

/**
 * Whether every number gets the same answer from a leaf: true unless the leaf
 * compares with a number (numbers are only told apart by comparing them with numbers).
 */
export function sameForAllNumbers(c: Leaf): boolean {
  switch (c.kind) {
    case "cmp":
      return typeof c.value !== "number";
    case "in":
      return !c.values.some((v) => typeof v === "number");
    case "between":
      return typeof c.low !== "number";
    case "like":
    case "isNull":
      return true;
  }
}

type Compiled = (payload: Payload, id: string) => Tri;

function compile(c: Cond): Compiled {
  switch (c.kind) {
    case "and": {
      const items = c.items.map(compile);
      return (p, id) => {
        let unknown = false;
        for (const f of items) {
          const v = f(p, id);
          if (v === false) return false;
          if (v === null) unknown = true;
        }
        return unknown ? null : true;
      };
    }
    case "or": {
      const items = c.items.map(compile);
      return (p, id) => {
        let unknown = false;
        for (const f of items) {
          const v = f(p, id);
          if (v === true) return true;
          if (v === null) unknown = true;
        }
        return unknown ? null : false;
      };
    }
    case "not": {
      const inner = compile(c.item);
      return (p, id) => {
        const v = inner(p, id);
        return v === null ? null : !v;
      };
    }
    case "test": {
      const fn = c.fn;
      return (p, id) => fn(p, id) === true;
    }
    default: {
      const f = compileLeafValue(c);
      const path = c.path;
      return (p, id) => f(lookup(path, p, id));
    }
  }
}

/** A normalised predicate as a filter over (payload, id): true keeps the item. */
export function compileCond(c: Cond): (payload: Payload, id: string) => boolean {
  const f = compile(c);
  return (p, id) => f(p, id) === true;
}
