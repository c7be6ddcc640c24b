/**
 * WHERE clauses turned into the collection's structured predicates
 * (collection/predicate.ts, which holds the semantics: SQL's three-valued
 * logic, where a comparison with a missing or NULL field is unknown, NOT
 * unknown is unknown, and only a true result keeps an item).
 */
import type { Payload } from "../collection/validate";
import { assertNever } from "../errors";
import { compileCond, ITEM_ID, toCond, type FieldRef, type Predicate } from "../collection/predicate";
import type { CompareOp, FilterNode, PathNode, ValueNode } from "./ast";
import { describe, evaluate, typeError, type Params } from "./values";

type Scalar = string | number | boolean;

function scalar(node: ValueNode, params: Params, what: string): Scalar | null {
  const v = evaluate(node, params);
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  throw typeError(`${what} must be a string, number, boolean or NULL, got ${describe(v)}`, node);
}

function field(path: PathNode): FieldRef {
  return path.isId ? ITEM_ID : path.segments;
}

const OPS: Record<CompareOp, "eq" | "ne" | "lt" | "lte" | "gt" | "gte"> = { "=": "eq", "!=": "ne", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte" };

/** The operands of a chain of ANDs (or ORs), left to right: `a OR b OR c` is one OR of three, not nested ORs. */
function operands(node: FilterNode, kind: "and" | "or"): FilterNode[] {
  const out: FilterNode[] = [];
  const stack = [node];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n.kind === kind) stack.push(n.right, n.left);
    else out.push(n);
  }
  return out;
}

/**
 * A WHERE clause as the collection's structured predicate (which the
 * collection evaluates, and plans with payload indexes). Type errors in its
 * values are reported here, with their positions, before any item is read.
 */
export function filterPredicate(node: FilterNode, params: Params): Predicate {
  switch (node.kind) {
    case "and":
      return { and: operands(node, "and").map((n) => filterPredicate(n, params)) };
    case "or":
      return { or: operands(node, "or").map((n) => filterPredicate(n, params)) };
    case "not":
      return { not: filterPredicate(node.operand, params) };
    case "compare": {
      const v = scalar(node.value, params, "a comparison value");
      if (v === null) throw typeError("comparing with NULL is never true: use IS NULL or IS NOT NULL", node.value);
      if (node.path.isId && typeof v !== "string") throw typeError(`id is a string, compared with ${describe(v)}`, node.value);
      return { field: field(node.path), [OPS[node.op]]: v } as Predicate;
    }
    case "in": {
      const values = node.values.map((n) => {
        const v = scalar(n, params, "an IN value");
        if (node.path.isId && typeof v !== "string") throw typeError(`id is a string, IN lists ${describe(v)}`, n);
        return v;
      });
      return node.negated ? { field: field(node.path), notIn: values } : { field: field(node.path), in: values };
    }
    case "between": {
      const low = scalar(node.low, params, "BETWEEN's low bound");
      const high = scalar(node.high, params, "BETWEEN's high bound");
      if (low === null || high === null || typeof low !== typeof high || typeof low === "boolean") {
        throw typeError(`BETWEEN needs two numbers or two strings, got ${describe(low)} and ${describe(high)}`, node.low);
      }
      const range: [Scalar, Scalar] = [low, high];
      return node.negated ? { field: field(node.path), notBetween: range } : { field: field(node.path), between: range };
    }
    case "like": {
      const pat = evaluate(node.pattern, params);
      if (typeof pat !== "string") throw typeError(`LIKE needs a string pattern, got ${describe(pat)}`, node.pattern);
      return node.negated ? { field: field(node.path), notLike: pat } : { field: field(node.path), like: pat };
    }
    case "isNull":
      return { field: field(node.path), isNull: !node.negated };
    default:
      return assertNever(node);
  }
}

/** Compile a filter; type errors in its values are reported here, before any item is read. */
export function compileFilter(node: FilterNode, params: Params): (payload: Payload, id: string) => boolean {
  return compileCond(toCond(filterPredicate(node, params)));
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
