/** Helpers for tests of the VQL parser: one statement's AST, a syntax error, an error's position fields. */
import { expect } from "bun:test";
import type { Statement } from "../src/query/ast";
import { VqliteError } from "../src/errors";
import { parse } from "../src/query/parser";

/** The AST of a text holding exactly one statement. */
export function one(text: string): Statement {
  const s = parse(text);
  expect(s).toHaveLength(1);
  return s[0]!;
}

/** The SYNTAX_ERROR that parsing `text` throws. */
export function syntaxError(text: string): VqliteError {
  try {
    parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(VqliteError);
    expect((e as VqliteError).code).toBe("SYNTAX_ERROR");
    return e as VqliteError;
  }
  throw new Error(`expected a syntax error for ${text}`);
}

/** An error's plain message and its position fields. */
export function where(e: VqliteError): [string, number | undefined, number | undefined] {
  return [e.message, e.line, e.column];
}
