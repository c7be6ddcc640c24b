/**
 * Filters compiled to predicates over (payload, id), with SQL's three-valued
 * logic: a comparison with a missing or NULL field is unknown, NOT unknown is
 * unknown, and only a true result keeps an item.
 */
import type { Payload } from "../collection/validate";
import { assertNever } from "../errors";
import type { FilterNode, PathNode, ValueNode } from "./ast";
import { describe, evaluate, typeError, type Params } from "./values";

type Tri = boolean | null;
type Compiled = (payload: Payload, id: string) => Tri;
type Scalar = string | number | boolean;

function lookup(path: PathNode, payload: Payload, id: string): unknown {
  if (path.isId) return id;
  let v: unknown = payload;
  for (const seg of path.segments) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

function scalar(node: ValueNode, params: Params, what: string): Scalar | null {
  const v = evaluate(node, params);
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  throw typeError(`${what} must be a string, number, boolean or NULL, got ${describe(v)}`, node);
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

function compareScalars(a: unknown, b: Scalar, op: string): Tri {
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
    default:
      return null;
  }
}

function compileNode(node: FilterNode, params: Params): Compiled {
  switch (node.kind) {
    case "and": {
      const l = compileNode(node.left, params), r = compileNode(node.right, params);
      return (p, id) => {
        const a = l(p, id);
        if (a === false) return false;
        const b = r(p, id);
        if (b === false) return false;
        return a === null || b === null ? null : true;
      };
    }
    case "or": {
      const l = compileNode(node.left, params), r = compileNode(node.right, params);
      return (p, id) => {
        const a = l(p, id);
        if (a === true) return true;
        const b = r(p, id);
        if (b === true) return true;
        return a === null || b === null ? null : false;
      };
    }
    case "not": {
      const inner = compileNode(node.operand, params);
      return (p, id) => {
        const v = inner(p, id);
        return v === null ? null : !v;
      };
    }
    case "compare": {
      const v = scalar(node.value, params, "a comparison value");
      if (v === null) throw typeError("comparing with NULL is never true: use IS NULL or IS NOT NULL", node.value);
      if (node.path.isId && typeof v !== "string") throw typeError(`id is a string, compared with ${describe(v)}`, node.value);
      const { path, op } = node;
      return (p, id) => compareScalars(lookup(path, p, id), v, op);
    }
    case "in": {
      const values = node.values.map((n) => {
        const v = scalar(n, params, "an IN value");
        if (node.path.isId && typeof v !== "string") throw typeError(`id is a string, IN lists ${describe(v)}`, n);
        return v;
      });
      const set = new Set(values.filter((v) => v !== null));
      const hasNull = values.includes(null);
      const { path, negated } = node;
      return (p, id) => {
        const x = lookup(path, p, id);
        if (x === undefined || x === null) return null;
        if (set.has(x as Scalar)) return !negated;
        return hasNull ? null : negated;
      };
    }
    case "between": {
      const low = scalar(node.low, params, "BETWEEN's low bound");
      const high = scalar(node.high, params, "BETWEEN's high bound");
      if (low === null || high === null || typeof low !== typeof high || typeof low === "boolean") {
        throw typeError(`BETWEEN needs two numbers or two strings, got ${describe(low)} and ${describe(high)}`, node.low);
      }
      const { path, negated } = node;
      return (p, id) => {
        const x = lookup(path, p, id);
        if (x === undefined || x === null) return null;
        if (typeof x !== typeof low) return negated ? true : false;
        const inside = (x as Scalar) >= low && (x as Scalar) <= high;
        return negated ? !inside : inside;
      };
    }
    case "like": {
      const pat = evaluate(node.pattern, params);
      if (typeof pat !== "string") throw typeError(`LIKE needs a string pattern, got ${describe(pat)}`, node.pattern);
      const re = likeToRegExp(pat);
      const { path, negated } = node;
      return (p, id) => {
        const x = lookup(path, p, id);
        if (x === undefined || x === null) return null;
        if (typeof x !== "string") return negated ? true : false;
        const m = re.test(x);
        return negated ? !m : m;
      };
    }
    case "isNull": {
      const { path, negated } = node;
      return (p, id) => {
        const x = lookup(path, p, id);
        const isNull = x === undefined || x === null;
        return negated ? !isNull : isNull;
      };
    }
    default:
      return assertNever(node);
  }
}

/** Compile a filter; type errors in its values are reported here, before any item is read. */
export function compileFilter(node: FilterNode, params: Params): (payload: Payload, id: string) => boolean {
  const c = compileNode(node, params);
  return (p, id) => c(p, id) === true;
}

/** The ids a filter names exactly (`id = 'a'`, `id IN (...)`), so DELETE/UPDATE need not scan. */
export function exactIds(node: FilterNode, params: Params): string[] | null {
  if (node.kind === "compare" && node.path.isId && node.op === "=") {
    const v = evaluate(node.value, params);
    return typeof v === "string" ? [v] : null;
  }
  if (node.kind === "in" && node.path.isId && !node.negated) {
    const vs = node.values.map((n) => evaluate(n, params));
    return vs.every((v) => typeof v === "string") ? (vs as string[]) : null;
  }
  return null;
}
