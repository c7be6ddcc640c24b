/**
 * HNSW construction on several threads at once (as hnswlib's parallel
 * addPoint): the rows, their norms, every node's level and link lists live
 * in one shared WebAssembly memory; each thread (this one and Bun Workers
 * running hnsw_parallel_worker.ts) takes the next row from a shared counter
 * and inserts it with the single-thread algorithm of hnsw.ts (beam search
 * with efConstruction, the neighbour heuristic, a full list keeps its
 * closest by stored link distance). Writers lock the list they change
 * (a spin lock per node, Atomics); readers walk lists without locks (a list
 * only ever holds ids of rows, so a stale read costs a detour, never a bad
 * id). A row whose level is above the graph's top holds the graph-wide lock
 * for its whole insert, so the entry point changes under it.
 *
 * Levels are drawn in row order with the index's own generator before the
 * threads start, so the levels (and the generator's state afterwards) are
 * those a single-thread build draws; the links differ with the insert order.
 * The caller (HnswIndex.rebuildParallel) adopts the lists as its graph.
 */
import { drainAscending, MaxHeap, MinHeap } from "./heap";
import { sharedKernels, wasmKernels, type WasmKernels } from "./wasm";
import { scoreFromRaw, type Metric } from "./distance";

/** Where everything is in the shared memory (byte offsets) and the build's parameters. */
export interface SharedGraph {
  readonly memory: WebAssembly.Memory;
  readonly n: number;
  readonly d: number;
  readonly m: number;
  readonly maxM0: number;
  readonly efConstruction: number;
  readonly metric: Metric;
  readonly threads: number;
  /** Whether the threads score with the WebAssembly kernels (else the TypeScript float64 sums): as the building thread was set. */
  readonly useKernels: boolean;
  /** First row inserted before the threads start (the first entry point), or -1 when no row is live. */
  readonly first: number;
  readonly vectors: number;
  readonly norms: number;
  readonly live: number;
  readonly levels: number;
  /** Int32 per node: start (in ints) of its upper lists in the upper pools, or -1. */
  readonly upperAt: number;
  readonly upper: number;
  readonly upperDists: number;
  readonly links0: number;
  readonly dists0: number;
  readonly locks: number;
  readonly globals: number;
  /** Per-thread scratch: gathered neighbour ids and their scores. */
  readonly scratch: number;
  readonly scratchBytes: number;
}

/** Slots of the globals (Int32). */
export const G_LOCK = 0, G_ENTRY = 1, G_MAX_LEVEL = 2, G_NEXT = 3, G_DONE = 4, G_FINISHED = 5, G_FAILED = 6, G_STARTED = 7;
export const GLOBALS = 8;

const align = (x: number) => Math.ceil(x / 64) * 64;

/** Lay out and allocate the shared memory for n rows; the caller fills vectors, norms, live and levels. */
export function allocateSharedGraph(p: { n: number; d: number; m: number; efConstruction: number; metric: Metric; threads: number; levels: Int8Array; first: number }): SharedGraph | null {
  const { n, d, m, threads } = p;
  const maxM0 = 2 * m, stride0 = 1 + maxM0;
  let upperInts = 0;
  for (let i = 0; i < n; i++) if (p.levels[i]! > 0) upperInts += p.levels[i]! * (1 + m);
  let at = 64;
  const take = (bytes: number) => {
    const o = at;
    at = align(at + bytes);
    return o;
  };
  const vectors = take(n * d * 4), norms = take(n * 4), live = take(n), levels = take(n), upperAt = take(n * 4);
  const upper = take(upperInts * 4), upperDists = take(upperInts * 4);
  const links0 = take(n * stride0 * 4), dists0 = take(n * stride0 * 4), locks = take(n * 4), globals = take(GLOBALS * 4);
  const scratchBytes = align((stride0 + 1) * 8);
  const scratch = take(threads * scratchBytes);
  const pages = Math.ceil(at / 65536);
  if (pages > 65536) return null;
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: 65536, shared: true });
  } catch {
    return null;
  }
  const g: SharedGraph = { memory, n, d, m, maxM0, efConstruction: p.efConstruction, metric: p.metric, threads, useKernels: wasmKernels() !== null, first: p.first, vectors, norms, live, levels, upperAt, upper, upperDists, links0, dists0, locks, globals, scratch, scratchBytes };
  const buf = memory.buffer;
  new Int8Array(buf, levels, n).set(p.levels);
  const ua = new Int32Array(buf, upperAt, n);
  for (let i = 0, u = 0; i < n; i++) {
    const l = p.levels[i]!;
    ua[i] = l > 0 ? u : -1;
    if (l > 0) u += l * (1 + m);
  }
  const G = new Int32Array(buf, globals, GLOBALS);
  G[G_ENTRY] = p.first;
  G[G_MAX_LEVEL] = p.first >= 0 ? p.levels[p.first]! : -1;
  G[G_NEXT] = 0;
  return g;
}

/** One thread's inserter over the shared graph. */
export class SharedGraphBuilder {
  private readonly kernels: WasmKernels | null;
  private readonly f32: Float32Array;
  private readonly i32: Int32Array;
  private readonly levels: Int8Array;
  private readonly live: Uint8Array;
  private readonly norms: Float32Array;
  private readonly G: Int32Array;
  private readonly locks: Int32Array;
  private readonly stride0: number;
  private readonly visited: Uint32Array;
  private tag = 0;
  private readonly cand = new MinHeap(256);
  private readonly res = new MaxHeap(256);
  private readonly gIdsOff: number;
  private readonly gOutOff: number;
  private readonly ids: number[] = [];
  private readonly scores: number[] = [];

  constructor(
    private readonly g: SharedGraph,
    thread: number,
  ) {
    const buf = g.memory.buffer;
    this.kernels = g.useKernels ? sharedKernels(g.memory) : null;
    this.f32 = new Float32Array(buf);
    this.i32 = new Int32Array(buf);
    this.levels = new Int8Array(buf, g.levels, g.n);
    this.live = new Uint8Array(buf, g.live, g.n);
    this.norms = new Float32Array(buf, g.norms, g.n);
    this.G = new Int32Array(buf, g.globals, GLOBALS);
    this.locks = new Int32Array(buf, g.locks, g.n);
    this.stride0 = 1 + g.maxM0;
    this.visited = new Uint32Array(g.n);
    this.gIdsOff = g.scratch + thread * g.scratchBytes;
    this.gOutOff = this.gIdsOff + (this.stride0 + 1) * 4;
  }

  /** Insert rows taken from the shared counter until none is left (or `stop` says so). */
  run(stop: () => boolean = () => false, onRow?: () => void): void {
    const G = this.G, n = this.g.n;
    for (;;) {
      if (stop()) return;
      const row = Atomics.add(G, G_NEXT, 1);
      if (row >= n) return;
      if (row !== this.g.first && this.live[row] === 1) this.insert(row);
      Atomics.add(G, G_DONE, 1);
      onRow?.();
    }
  }

  private static lock(L: Int32Array, i: number): void {
    for (let spins = 0; Atomics.compareExchange(L, i, 0, 1) !== 0; spins++) {
      if (spins > 64) Atomics.wait(L, i, 1, 1);
    }
  }

  private static unlock(L: Int32Array, i: number): void {
    Atomics.store(L, i, 0);
    Atomics.notify(L, i, 1);
  }

  /** Offset (in ints, into i32/f32) of node's list count at level; -1 when the node is not on it. */
  private listAt(node: number, level: number): number {
    const g = this.g;
    if (level === 0) return (g.links0 >> 2) + node * this.stride0;
    const u = this.i32[(g.upperAt >> 2) + node]!;
    return (g.upper >> 2) + u + (level - 1) * (1 + g.m);
  }

  /** The link distance slot matching list offset `off` (same layout, the distances' region). */
  private distAt(off: number, level: number): number {
    const g = this.g;
    return level === 0 ? off - (g.links0 >> 2) + (g.dists0 >> 2) : off - (g.upper >> 2) + (g.upperDists >> 2);
  }

  /** Exact score of rows a and b (lower is closer), as HnswIndex.nodeScore (float32 kernels, or float64 sums without them). */
  private nodeScore(a: number, b: number): number {
    const g = this.g, d = g.d, k = this.kernels;
    let s: number;
    if (k !== null) s = g.metric === "l2" ? k.l2sq(g.vectors + a * d * 4, g.vectors + b * d * 4, d) : k.dot(g.vectors + a * d * 4, g.vectors + b * d * 4, d);
    else {
      const f = this.f32, oa = (g.vectors >> 2) + a * d, ob = (g.vectors >> 2) + b * d;
      s = 0;
      if (g.metric === "l2") for (let i = 0; i < d; i++) s += (f[oa + i]! - f[ob + i]!) ** 2;
      else for (let i = 0; i < d; i++) s += f[oa + i]! * f[ob + i]!;
    }
    return scoreFromRaw(g.metric, s, this.norms[a]!, this.norms[b]!);
  }

  private nextTag(): number {
    if (++this.tag === 0xffffffff) {
      this.visited.fill(0);
      this.tag = 1;
    }
    return this.tag;
  }

  private insert(row: number): void {
    const g = this.g, G = this.G, level = this.levels[row]!;
    // a row above the top holds the graph-wide lock for its whole insert (it becomes the entry point)
    SharedGraphBuilder.lock(G, G_LOCK);
    const entry = G[G_ENTRY]!, maxLevel = G[G_MAX_LEVEL]!;
    const holdGlobal = level > maxLevel;
    if (!holdGlobal) SharedGraphBuilder.unlock(G, G_LOCK);
    try {
      let cur = entry, curScore = this.nodeScore(row, entry);
      const i32 = this.i32;
      // greedy descent through the levels above the row's own
      for (let l = maxLevel; l > level; l--) {
        let changed = true;
        while (changed) {
          changed = false;
          const off = this.listAt(cur, l);
          const count = i32[off]!;
          for (let i = 1; i <= count; i++) {
            const nb = i32[off + i]!;
            const s = this.nodeScore(row, nb);
            if (s < curScore) {
              curScore = s;
              cur = nb;
              changed = true;
            }
          }
        }
      }
      const ids = this.ids, scores = this.scores;
      for (let l = Math.min(level, maxLevel); l >= 0; l--) {
        this.searchLevel(row, cur, curScore, l);
        drainAscending(this.res, ids, scores);
        if (ids.length === 0) continue;
        cur = ids[0]!;
        curScore = scores[0]!;
        const chosen = this.selectNeighbours(ids, scores, g.m);
        const off = this.listAt(row, l), doff = this.distAt(off, l);
        SharedGraphBuilder.lock(this.locks, row);
        for (let i = 0; i < chosen.length; i++) {
          i32[off + 1 + i] = ids[chosen[i]!]!;
          this.f32[doff + 1 + i] = scores[chosen[i]!]!;
        }
        Atomics.store(i32, off, chosen.length); // the count after the links it counts
        SharedGraphBuilder.unlock(this.locks, row);
        for (const ci of chosen) this.link(ids[ci]!, row, scores[ci]!, l);
      }
      if (holdGlobal) {
        G[G_ENTRY] = row;
        G[G_MAX_LEVEL] = level;
      }
    } finally {
      if (holdGlobal) SharedGraphBuilder.unlock(G, G_LOCK);
    }
  }

  /** Beam search at one level for row's neighbours: res ends with the best efConstruction live rows other than row. */
  private searchLevel(row: number, start: number, startScore: number, level: number): void {
    const g = this.g, ef = g.efConstruction, d = g.d;
    const tag = this.nextTag();
    const visited = this.visited, cand = this.cand, res = this.res, live = this.live, i32 = this.i32, f32 = this.f32;
    const k = this.kernels;
    cand.clear();
    res.clear();
    visited[start] = tag;
    cand.push(startScore, start);
    if (live[start] === 1 && start !== row) res.push(startScore, start);
    let bound = res.size > 0 ? res.topKey : Infinity;
    const gIds = this.gIdsOff >> 2, gOut = this.gOutOff >> 2;
    const scoreKind = g.metric === "l2" ? 0 : 1;
    while (cand.size > 0) {
      const cs = cand.topKey, c = cand.topVal;
      if (cs > bound && res.size >= ef) break;
      cand.pop();
      const off = this.listAt(c, level);
      const count = Math.min(i32[off]!, level === 0 ? g.maxM0 : g.m);
      let mm = 0;
      for (let i = 1; i <= count; i++) {
        const nb = i32[off + i]!;
        if (visited[nb] === tag) continue;
        visited[nb] = tag;
        i32[gIds + mm++] = nb;
      }
      if (mm === 0) continue;
      if (k !== null) k.score_gather(g.vectors + row * d * 4, g.vectors, d * 4, this.gIdsOff, mm, d, this.gOutOff, scoreKind);
      for (let j = 0; j < mm; j++) {
        const nb = i32[gIds + j]!;
        let s: number;
        if (k === null) s = this.nodeScore(row, nb);
        else {
          s = scoreFromRaw(g.metric, f32[gOut + j]!, this.norms[row]!, this.norms[nb]!);
        }
        if (res.size < ef || s < bound) {
          cand.push(s, nb);
          if (live[nb] === 1 && nb !== row) {
            res.push(s, nb);
            if (res.size > ef) res.pop();
          }
          bound = res.size > 0 ? res.topKey : Infinity;
        }
      }
    }
  }

  /** The paper's heuristic over candidates in ascending order (HnswIndex.selectNeighbours): indices into ids. */
  private selectNeighbours(ids: number[], scores: number[], max: number): number[] {
    const chosen: number[] = [];
    for (let i = 0; i < ids.length && chosen.length < max; i++) {
      const c = ids[i]!, cs = scores[i]!;
      let keep = true;
      for (const j of chosen) {
        if (this.nodeScore(c, ids[j]!) < cs) {
          keep = false;
          break;
        }
      }
      if (keep) chosen.push(i);
    }
    return chosen;
  }

  /** Add `to` to node's list at level under node's lock; a full list keeps its closest (HnswIndex.link). */
  private link(node: number, to: number, score: number, level: number): void {
    const i32 = this.i32, f32 = this.f32;
    const off = this.listAt(node, level), doff = this.distAt(off, level);
    const max = level === 0 ? this.g.maxM0 : this.g.m;
    SharedGraphBuilder.lock(this.locks, node);
    try {
      const count = i32[off]!;
      for (let i = 1; i <= count; i++) if (i32[off + i] === to) return;
      if (count < max) {
        i32[off + 1 + count] = to;
        f32[doff + 1 + count] = score;
        Atomics.store(i32, off, count + 1);
        return;
      }
      let worst = 1, worstScore = f32[doff + 1]!;
      for (let i = 2; i <= count; i++) {
        if (f32[doff + i]! > worstScore) {
          worstScore = f32[doff + i]!;
          worst = i;
        }
      }
      if (score < worstScore) {
        i32[off + worst] = to;
        f32[doff + worst] = score;
      }
    } finally {
      SharedGraphBuilder.unlock(this.locks, node);
    }
  }
}
