/**
 * Exact search: every live row scored. The oracle other indexes are tested against.
 */
import type { ByteWriter } from "../storage/binary";
import { normAt, scoreAt, scoreToDistance } from "./distance";
import { TopK } from "./topk";
import type { IndexSearchOptions, IndexSearchResult, Progress, RowSource, VectorIndex } from "./types";

export class FlatIndex implements VectorIndex {
  readonly type = "flat" as const;
  private heap = new TopK(10);

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
    const data = store.data();
    const n = store.length;
    const qNorm = normAt(query, 0, d);
    const heap = this.heap;
    heap.reset(k);
    const filter = options.filter;
    let scanned = 0;
    for (let row = 0; row < n; row++) {
      if (!this.source.isLive(row)) continue;
      if (filter !== undefined && !filter(row)) continue;
      scanned++;
      heap.push(scoreAt(metric, query, qNorm, data, row * d, this.source.norm(row), d), row);
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

  heapBytes(): number {
    return 0;
  }
}
