/**
 * hyparquet's reader is written against an asynchronous byte source. Ours
 * answers every read synchronously (positional reads of the file), so the
 * promises it builds only wait on microtasks; draining them (a documented
 * Bun API) settles the read before we return. vqlite's API stays synchronous.
 */
import { drainMicrotasks } from "bun:jsc";

export function settle<T>(promise: Promise<T>): T {
  let state: "pending" | "ok" | "failed" = "pending";
  let value: T | undefined;
  let error: unknown;
  promise.then(
    (v) => {
      state = "ok";
      value = v;
    },
    (e) => {
      state = "failed";
      error = e;
    },
  );
  drainMicrotasks();
  if (state === "pending") throw new Error("internal error: a synchronous read did not settle");
  if (state === "failed") throw error;
  return value as T;
}
