/**
 * The k lowest scores seen, with their rows: a max-heap bounded at k (the
 * worst kept score on top, replaced by anything better). Reusable across
 * queries via reset(); push allocates nothing.
 */
import { MaxHeap } from "./heap";

export class TopK {
  private readonly heap: MaxHeap;

  constructor(public capacity: number) {
    this.heap = new MaxHeap(Math.max(1, capacity));
  }

  reset(capacity = this.capacity): void {
    this.capacity = capacity;
    this.heap.clear();
  }

  get size(): number {
    return this.heap.size;
  }

  /** Largest score kept, or +Infinity while not full: the bar a new score must beat. */
  get worst(): number {
    return this.heap.size < this.capacity ? Infinity : this.heap.topKey;
  }

  push(score: number, row: number): void {
    if (this.heap.size < this.capacity) this.heap.push(score, row);
    else if (this.capacity > 0 && score < this.heap.topKey) this.heap.replaceTop(score, row);
  }

  /** Drain into ascending order (ties by row). Empties it. */
  drain(outRows: number[], outScores: number[]): void {
    const n = this.heap.size;
    const s = this.heap.keys, r = this.heap.vals;
    const idx = new Array<number>(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    idx.sort((a, b) => s[a]! - s[b]! || r[a]! - r[b]!);
    for (let i = 0; i < n; i++) {
      outRows.push(r[idx[i]!]!);
      outScores.push(s[idx[i]!]!);
    }
    this.heap.clear();
  }
}
