/**
 * Evaluation of value nodes (literals, arrays, objects, $parameters) to plain
 * JavaScript values.
 */
import { assertNever, VqliteError } from "../errors";
import type { ValueNode } from "./ast";

export type Params = Readonly<Record<string, unknown>>;

export function evaluate(node: ValueNode, params: Params): unknown {
  switch (node.kind) {
    case "literal":
      return node.value;
    case "param": {
      if (!Object.prototype.hasOwnProperty.call(params, node.name)) {
        throw new VqliteError("UNKNOWN_PARAMETER", `unknown parameter $${node.name}`).withPosition(node.pos);
      }
      return params[node.name];
    }
    case "array":
      return node.items.map((i) => evaluate(i, params));
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [k, v] of node.entries) out[k] = evaluate(v, params);
      return out;
    }
    default:
      return assertNever(node);
  }
}

/** Run `fn`; a VqliteError it throws without a position gets the node's. */
export function at<T>(node: { readonly pos: { line: number; column: number } }, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof VqliteError && e.line === undefined) {
      throw e.withPosition(node.pos);
    }
    throw e;
  }
}

export function typeError(message: string, node: { readonly pos: { line: number; column: number } }): VqliteError {
  return new VqliteError("TYPE_ERROR", message).withPosition(node.pos);
}

export function evaluateString(node: ValueNode, params: Params, what: string): string {
  const v = evaluate(node, params);
  if (typeof v !== "string") throw typeError(`${what} must be a string, got ${describe(v)}`, node);
  return v;
}

export function evaluateInteger(node: ValueNode, params: Params, what: string, min = 1, max = 1_000_000): number {
  const v = evaluate(node, params);
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw typeError(`${what} must be a whole number from ${min} to ${max}, got ${describe(v)}`, node);
  }
  return v;
}

export function describe(v: unknown): string {
  if (v === null) return "NULL";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Float32Array || v instanceof Float64Array) return "a vector";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `a string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

