/**
 * Growable binary heaps of (key, value) pairs in typed arrays, reused across
 * searches (clear() keeps the storage). MinHeap pops the smallest key,
 * MaxHeap the largest.
 */
class Heap {
  keys: Float64Array;
  vals: Int32Array;
  size = 0;

  constructor(
    capacity: number,
    private readonly max: boolean,
  ) {
    this.keys = new Float64Array(Math.max(4, capacity));
    this.vals = new Int32Array(Math.max(4, capacity));
  }

  clear(): void {
    this.size = 0;
  }

  private before(a: number, b: number): boolean {
    return this.max ? a > b : a < b;
  }

  push(key: number, val: number): void {
    if (this.size === this.keys.length) {
      const k = new Float64Array(this.keys.length * 2);
      k.set(this.keys);
      this.keys = k;
      const v = new Int32Array(this.vals.length * 2);
      v.set(this.vals);
      this.vals = v;
    }
    const keys = this.keys, vals = this.vals;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(key, keys[p]!)) break;
      keys[i] = keys[p]!;
      vals[i] = vals[p]!;
      i = p;
    }
    keys[i] = key;
    vals[i] = val;
  }

  get topKey(): number {
    return this.keys[0]!;
  }

  get topVal(): number {
    return this.vals[0]!;
  }

  /** Remove the top; read topKey/topVal first. */
  pop(): void {
    const n = --this.size;
    if (n <= 0) return;
    this.siftDown(this.keys[n]!, this.vals[n]!, n);
  }

  /** Replace the top with (key, val) in one sift: pop and push at the cost of one. */
  replaceTop(key: number, val: number): void {
    this.siftDown(key, val, this.size);
  }

  private siftDown(key: number, val: number, n: number): void {
    const keys = this.keys, vals = this.vals;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.before(keys[r]!, keys[l]!) ? r : l;
      if (!this.before(keys[c]!, key)) break;
      keys[i] = keys[c]!;
      vals[i] = vals[c]!;
      i = c;
    }
    keys[i] = key;
    vals[i] = val;
  }
}

export class MinHeap extends Heap {
  constructor(capacity = 64) {
    super(capacity, false);
  }
}

export class MaxHeap extends Heap {
  constructor(capacity = 64) {
    super(capacity, true);
  }
}

/** Empty a max-heap of the best results into `ids` and `scores`, ascending by score. */
export function drainAscending(res: MaxHeap, ids: number[], scores: number[]): void {
  const n = res.size;
  ids.length = n;
  scores.length = n;
  for (let i = n - 1; i >= 0; i--) {
    ids[i] = res.topVal;
    scores[i] = res.topKey;
    res.pop();
  }
}
