/**
 * Bounded max-heap of (score, row) pairs in typed arrays: keeps the k lowest
 * scores seen. Reusable across queries via reset(); push allocates nothing.
 */
export class TopK {
  private scores: Float64Array;
  private rows: Int32Array;
  size = 0;

  constructor(public capacity: number) {
    this.scores = new Float64Array(Math.max(1, capacity));
    this.rows = new Int32Array(Math.max(1, capacity));
  }

  reset(capacity = this.capacity): void {
    if (capacity > this.scores.length) {
      this.scores = new Float64Array(capacity);
      this.rows = new Int32Array(capacity);
    }
    this.capacity = capacity;
    this.size = 0;
  }

  /** Largest score kept, or +Infinity while not full. */
  get worst(): number {
    return this.size < this.capacity ? Infinity : this.scores[0]!;
  }

  push(score: number, row: number): void {
    const s = this.scores, r = this.rows;
    if (this.size < this.capacity) {
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (s[p]! >= score) break;
        s[i] = s[p]!;
        r[i] = r[p]!;
        i = p;
      }
      s[i] = score;
      r[i] = row;
      return;
    }
    if (this.capacity === 0 || score >= s[0]!) return;
    // replace root and sift down
    let i = 0;
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const rr = l + 1;
      const c = rr < n && s[rr]! > s[l]! ? rr : l;
      if (s[c]! <= score) break;
      s[i] = s[c]!;
      r[i] = r[c]!;
      i = c;
    }
    s[i] = score;
    r[i] = row;
  }

  /** Drain into ascending order (ties by row). Empties the heap. */
  drain(outRows: number[], outScores: number[]): void {
    const n = this.size;
    const idx = new Array<number>(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    const s = this.scores, r = this.rows;
    idx.sort((a, b) => s[a]! - s[b]! || r[a]! - r[b]!);
    for (let i = 0; i < n; i++) {
      outRows.push(r[idx[i]!]!);
      outScores.push(s[idx[i]!]!);
    }
    this.size = 0;
  }
}
