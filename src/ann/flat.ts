/**
 * Exact search: every live row scored. The oracle other indexes are tested against.
 */
import type { ByteWriter } from "../storage/binary";
import { normAt, scoreAt, scoreFromRaw, scoreToDistance } from "./distance";
import { TopK } from "./topk";
import type { IndexSearchOptions, IndexSearchResult, Progress, RowFilter, RowSource, VectorIndex } from "./types";
import { wasmKernels, WasmScratch, type WasmKernels } from "./wasm";

/** Rows scored per WebAssembly call: the block of scores stays in L1. */
const BLOCK = 1024;
/**
 * The WebAssembly scan keeps this many candidates beyond k by its float32
 * scores, then rescores them with the TypeScript kernels (float64 sums): the
 * answer, distances included, is the TypeScript path's unless float32
 * rounding reorders rows across more than this many places.
 */
const RESCORE_MARGIN = 8;

export class FlatIndex implements VectorIndex {
  readonly type = "flat" as const;
  private heap = new TopK(10);
  private scratch: WasmScratch | null = null;

  constructor(private readonly source: RowSource) {}

  add(_row: number): void {}
  remove(_row: number): void {}
  remap(_oldToNew: Int32Array): void {}
  rebuild(onProgress?: Progress): void {
    onProgress?.(1, 1);
  }
  serialize(_w: ByteWriter): void {}

  searchRows(query: Float32Array, k: number, options: IndexSearchOptions = {}): IndexSearchResult {
    const { store, metric } = this.source;
    const d = store.dimension;
    const n = store.length;
    const qNorm = normAt(query, 0, d);
    const heap = this.heap;
    heap.reset(k);
    const filter = options.filter;
    let scanned = 0;
    const kernels = wasmKernels();
    if (kernels !== null && store.wasmOffset() >= 0 && n > 0) {
      heap.reset(k + RESCORE_MARGIN);
      scanned = this.scanWasm(kernels, query, qNorm, filter);
      this.rescore(query, qNorm, k);
    } else {
      const data = store.data();
      for (let row = 0; row < n; row++) {
        if (!this.source.isLive(row)) continue;
        if (filter !== undefined && !filter(row)) continue;
        scanned++;
        heap.push(scoreAt(metric, query, qNorm, data, row * d, this.source.norm(row), d), row);
      }
    }
    const rows: number[] = [];
    const scores: number[] = [];
    heap.drain(rows, scores);
    return {
      rows,
      distances: scores.map((s) => scoreToDistance(metric, s)),
      route: filter ? "exact-filtered" : "exact",
      stats: { scanned },
    };
  }

  /**
   * The WebAssembly scan's survivors (float32 scores) rescored with the
   * TypeScript kernels, in row order as the TypeScript scan offers them, so
   * exact ties go the same way; the heap then holds the top k.
   */
  private rescore(query: Float32Array, qNorm: number, k: number): void {
    const { store, metric } = this.source;
    const d = store.dimension, data = store.data(), heap = this.heap;
    const cand: number[] = [];
    heap.drain(cand, []);
    cand.sort((a, b) => a - b);
    heap.reset(k);
    for (const row of cand) heap.push(scoreAt(metric, query, qNorm, data, row * d, this.source.norm(row), d), row);
  }

  /**
   * Exact search over a list of candidate rows (ascending), e.g. the rows a
   * payload index matched: only those rows are read and scored, in row order
   * (so ties go as in a full scan), each also passing `filter` when given.
   */
  searchCandidates(query: Float32Array, k: number, candidates: Uint32Array, filter?: RowFilter): IndexSearchResult {
    const { store, metric } = this.source;
    const d = store.dimension;
    const qNorm = normAt(query, 0, d);
    const heap = this.heap;
    const data = store.data();
    const live = this.source.liveMask();
    let scanned = 0;
    const kernels = wasmKernels();
    if (kernels !== null && candidates.length > k + RESCORE_MARGIN) {
      // gather the candidates' vectors into the WebAssembly heap a block at a time,
      // score them there, then rescore the survivors as the TypeScript scan would
      heap.reset(k + RESCORE_MARGIN);
      scanned = this.gatherWasm(kernels, query, qNorm, candidates, filter);
      this.rescore(query, qNorm, k);
    } else {
      heap.reset(k);
      for (let i = 0; i < candidates.length; i++) {
        const row = candidates[i]!;
        if (live[row] !== 1) continue;
        if (filter !== undefined && !filter(row)) continue;
        scanned++;
        heap.push(scoreAt(metric, query, qNorm, data, row * d, this.source.norm(row), d), row);
      }
    }
    const rows: number[] = [];
    const scores: number[] = [];
    heap.drain(rows, scores);
    return { rows, distances: scores.map((s) => scoreToDistance(metric, s)), route: "exact-indexed", stats: { scanned, candidates: candidates.length } };
  }

  /** searchCandidates' WebAssembly pass: float32 scores of the live, accepted candidates offered to the heap. */
  private gatherWasm(kernels: WasmKernels, query: Float32Array, qNorm: number, candidates: Uint32Array, filter: RowFilter | undefined): number {
    const { store, metric } = this.source;
    const d = store.dimension;
    const block = Math.max(1, Math.min(BLOCK, Math.floor((256 * 1024) / (d * 4))));
    const scratch = (this.scratch ??= new WasmScratch());
    const qOff = scratch.ensure((d + block * d + block) * 4);
    const rowsOff = qOff + d * 4;
    const outOff = rowsOff + block * d * 4;
    scratch.f32(qOff, d).set(query.subarray(0, d));
    const rowsView = scratch.f32(rowsOff, block * d);
    const out = scratch.f32(outOff, block);
    const data = store.data();
    const rowBytes = d * 4;
    const srcBytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const dstBytes = Buffer.from(rowsView.buffer, rowsView.byteOffset, rowsView.byteLength);
    const live = this.source.liveMask();
    const heap = this.heap;
    const isL2 = metric === "l2";
    const picked = new Int32Array(block);
    let worst = heap.worst, scanned = 0, i = 0;
    while (i < candidates.length) {
      let count = 0;
      for (; i < candidates.length && count < block; i++) {
        const row = candidates[i]!;
        if (live[row] !== 1) continue;
        if (filter !== undefined && !filter(row)) continue;
        // a native copy that allocates nothing (a subarray view per row is garbage the GC keeps around)
        srcBytes.copy(dstBytes, count * rowBytes, row * rowBytes, row * rowBytes + rowBytes);
        picked[count++] = row;
      }
      if (count === 0) break;
      scanned += count;
      if (isL2) kernels.l2sq_batch(qOff, rowsOff, d, count, d, outOff);
      else kernels.dot_batch(qOff, rowsOff, d, count, d, outOff);
      for (let j = 0; j < count; j++) {
        const row = picked[j]!;
        const s = scoreFromRaw(metric, out[j]!, qNorm, this.source.norm(row));
        if (s < worst) {
          heap.push(s, row);
          worst = heap.worst;
        }
      }
    }
    return scanned;
  }

  /**
   * The same scan with the WebAssembly kernels over rows that live in the
   * WebAssembly heap: a block of rows scored per call, then the live (and
   * accepted) ones offered to the heap. Scores are float32 sums, so the
   * caller rescores the survivors with the TypeScript kernels.
   */
  private scanWasm(kernels: WasmKernels, query: Float32Array, qNorm: number, filter: IndexSearchOptions["filter"]): number {
    const { store, metric } = this.source;
    const d = store.dimension, n = store.length;
    const scratch = (this.scratch ??= new WasmScratch());
    // allocate before taking any view: it may grow (and so detach) the memory
    const qOff = scratch.ensure((d + BLOCK) * 4);
    const outOff = qOff + d * 4;
    scratch.f32(qOff, d).set(query.subarray(0, d));
    const out = scratch.f32(outOff, BLOCK);
    const base = store.wasmOffset(), rowBytes = d * 4;
    const live = this.source.liveMask();
    const heap = this.heap;
    const isL2 = metric === "l2";
    let worst = heap.worst, scanned = 0;
    for (let start = 0; start < n; start += BLOCK) {
      const count = Math.min(BLOCK, n - start);
      if (isL2) kernels.l2sq_batch(qOff, base + start * rowBytes, d, count, d, outOff);
      else kernels.dot_batch(qOff, base + start * rowBytes, d, count, d, outOff);
      for (let i = 0; i < count; i++) {
        const row = start + i;
        if (live[row] !== 1) continue;
        if (filter !== undefined && !filter(row)) continue;
        scanned++;
        const s = scoreFromRaw(metric, out[i]!, qNorm, this.source.norm(row));
        if (s < worst) {
          heap.push(s, row);
          worst = heap.worst;
        }
      }
    }
    return scanned;
  }

  heapBytes(): number {
    return 0;
  }
}
