/**
 * Index builds off the main thread: a Bun Worker (index_build_worker.ts)
 * rebuilds an index over a frozen copy of the rows (the vector file mapped
 * again in the worker, or the in-RAM rows handed over), and sends back the
 * index section a checkpoint would write. The caller swaps it in.
 */
import type { IndexConfig, QuantizationKind } from "../ann/config";
import type { Metric } from "../ann/distance";
import type { Progress } from "../ann/types";
import { errors, VqliteError, type ErrorCode } from "../errors";
import { PARALLEL_MIN_ROWS } from "../ann/hnsw";

/** What the worker needs: the index to build and the rows as of the start. */
export interface BuildRequest {
  readonly index: IndexConfig;
  readonly quantization: QuantizationKind;
  readonly metric: Metric;
  readonly dimension: number;
  readonly rows: number;
  readonly live: Uint8Array;
  readonly norms: Float32Array;
  readonly vectors: { readonly kind: "file"; readonly path: string } | { readonly kind: "buffer"; readonly data: Float32Array };
  /** Threads the build may use (an HNSW build's helpers are workers of the build worker). */
  readonly threads: number;
  /** Set by buildIndexInWorker: slot 0 goes to 1 on cancel, so the build's helper threads stop too. */
  readonly abort?: Int32Array;
}

export type BuildMessage =
  | { readonly type: "progress"; readonly done: number; readonly total: number }
  | { readonly type: "done"; readonly section: Uint8Array }
  | { readonly type: "error"; readonly code?: ErrorCode; readonly message: string };

export interface BuildOptions {
  readonly onProgress?: Progress;
  /** Aborting terminates the worker; the promise rejects with CANCELLED and nothing changes. */
  readonly signal?: AbortSignal;
  /** Threads an HNSW build uses (default: every core, from PARALLEL_MIN_ROWS live items up). */
  readonly threads?: number;
}

/** The threads to build an index with: `requested` (checked), or every core when there are enough rows. */
export function buildThreads(requested: number | undefined, liveRows: number): number {
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 1 || requested > MAX_BUILD_THREADS) {
      throw errors.invalidArgument(`threads must be an integer from 1 to ${MAX_BUILD_THREADS}`);
    }
    return requested;
  }
  if (liveRows < PARALLEL_MIN_ROWS) return 1;
  const cores = typeof navigator !== "undefined" && navigator.hardwareConcurrency > 0 ? navigator.hardwareConcurrency : 1;
  return Math.min(cores, MAX_BUILD_THREADS);
}

export const MAX_BUILD_THREADS = 64;

/** Run the build in a worker; resolves to the serialized index section. */
export function buildIndexInWorker(request: BuildRequest, options: BuildOptions = {}): Promise<Uint8Array> {
  const { onProgress, signal } = options;
  return new Promise<Uint8Array>((resolve, reject) => {
    const cancelled = () => new VqliteError("CANCELLED", "the index build was cancelled; the index is unchanged");
    if (signal?.aborted) {
      reject(cancelled());
      return;
    }
    const worker = new Worker(new URL("./index_build_worker.ts", import.meta.url).href);
    // the build's own helper threads watch this flag: terminating the build worker does not end them
    const abort = new Int32Array(new SharedArrayBuffer(4));
    let settled = false;
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      worker.terminate();
      settle();
    };
    const onAbort = () => {
      Atomics.store(abort, 0, 1);
      finish(() => reject(cancelled()));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    worker.onmessage = (event: MessageEvent<BuildMessage>) => {
      const m = event.data;
      switch (m.type) {
        case "progress":
          if (!settled) onProgress?.(m.done, m.total);
          break;
        case "done":
          finish(() => resolve(m.section));
          break;
        case "error":
          finish(() => reject(new VqliteError(m.code ?? "IO_ERROR", `index build failed: ${m.message}`)));
          break;
      }
    };
    worker.onerror = (event: ErrorEvent) => finish(() => reject(new VqliteError("IO_ERROR", `index build worker failed: ${event.message}`)));
    const transfer = request.vectors.kind === "buffer" ? [request.vectors.data.buffer, request.live.buffer, request.norms.buffer] : [request.live.buffer, request.norms.buffer];
    worker.postMessage({ ...request, abort }, transfer as never);
  });
}
