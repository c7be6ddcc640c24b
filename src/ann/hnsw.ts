/**
 * HNSW (Malkov & Yashunin) over a collection's rows.
 *
 * Layout as hnswlib's: level 0 is one Int32Array with a fixed stride per node
 * ([count, neighbour × maxM0]) plus a parallel Float32Array of link
 * distances; upper levels are a small Int32Array per node that has them.
 * Node ids are the collection's row numbers. A visited set bumps a tag
 * instead of clearing; the candidate and result heaps are reused.
 *
 * Construction always uses exact distances. Search traverses on codes when
 * the collection is quantized (scalar or binary, in RAM) and reranks the best
 * candidates on full vectors, so with mmap storage only the rerank reads the file.
 *
 * Neighbour selection for a new node uses the paper's heuristic (keep a
 * candidate only if it is closer to the new node than to every neighbour kept
 * so far). When a neighbour's list overflows it keeps its closest maxM, using
 * the stored link distances: no distance is computed there (hnswlib re-runs the
 * heuristic, which at 784 dimensions in JS would cost ~10k distances per insert).
 *
 * Deletes repair: each neighbour of a deleted node drops it and takes the
 * closest of its live neighbours in its place. Search still walks through
 * deleted nodes, never returns them.
 *
 * Reopened from a mapped snapshot, level 0 stays in the file's pages (a view,
 * see links0View); from a section that cannot be viewed (read, unaligned, or
 * written before section version 2) it is packed (see packed0). Either way the
 * first change makes it an owned array in the fixed-stride layout.
 */
import { errors, VqliteError } from "../errors";
import { ByteReader, ByteWriter } from "../storage/binary";
import { dotAt, l2sqAt, normAt, scoreAt, scoreToDistance, type Metric } from "./distance";
import { Reranker } from "./rerank";
import { TopK } from "./topk";
import { wasmKernels, WasmScratch, type WasmKernels } from "./wasm";
import { FlatIndex } from "./flat";
import { drainAscending, MaxHeap, MinHeap } from "./heap";
import { resolveIndexOptions, type QuantizationKind } from "./config";
import { BinaryQuantizer, ScalarQuantizer, type Quantizer } from "./quantize";
import { XorShift32 } from "./random";
import { estimateSelectivity } from "./selectivity";
import type { IndexSearchOptions, IndexSearchResult, Progress, RebuildOptions, RowFilter, RowSource, SearchRoute, VectorIndex } from "./types";
import { allocateSharedGraph, G_DONE, G_ENTRY, G_FAILED, G_FINISHED, G_MAX_LEVEL, G_STARTED, GLOBALS, SharedGraphBuilder } from "./hnsw_parallel";

export interface HnswOptions {
  readonly m?: number;
  readonly efConstruction?: number;
  readonly efSearch?: number;
  readonly seed?: number;
  readonly quantization?: QuantizationKind;
}

/** Rows needed before codes are trained; until then traversal is exact. */
const TRAIN_ROWS = 1000;
/** Fewer live rows than this are built on one thread by default (starting threads would cost more than they save). */
export const PARALLEL_MIN_ROWS = 5000;
/** Training sample cap for rebuilds. */
const TRAIN_SAMPLE = 20000;
/** A filter keeping less than this share is answered by an exact scan of the matches. */
export const HNSW_SELECTIVE_FILTER = 0.02;
/**
 * Candidates reranked = k × this. Binary estimates of inner products are scaled
 * by large norms and need more (recall 0.94 at ×10, 0.97 at ×30 on shifted Fashion-MNIST).
 */
function defaultOversample(q: QuantizationKind, metric: Metric): number {
  return q === "none" ? 1 : q === "scalar" ? 3 : metric === "dot" ? 30 : 10;
}

export class HnswIndex implements VectorIndex {
  readonly type = "hnsw" as const;
  readonly m: number;
  readonly maxM0: number;
  readonly efConstruction: number;
  readonly efSearch: number;
  readonly seed: number;
  readonly quantization: QuantizationKind;
  private readonly dim: number;
  private readonly metric: Metric;
  private readonly stride0: number;
  private links0: Int32Array = new Int32Array(0);
  /**
   * After a reopen that cannot keep level 0 as a view on the file (see
   * links0View), level 0 is packed: node i's [count, links…] start at
   * links0[packed0[i]], with no room for more (the saved graph's average
   * level-0 degree is about half of maxM0, so this halves its bytes). Null
   * in the fixed-stride layout, which the first change (insert, delete,
   * vacuum) restores.
   */
  private packed0: Int32Array | null = null;
  /**
   * links0 is a view on a mapped snapshot (a reopened graph whose section was
   * aligned in the file): file-backed pages the kernel can drop and re-read,
   * not fresh memory. Read-only: unpack0 makes an owned copy before any change.
   */
  private links0View = false;
  private dists0: Float32Array = new Float32Array(0);
  private upper: (Int32Array | null)[] = [];
  private upperDists: (Float32Array | null)[] = [];
  private levels: Int8Array = new Int8Array(0);
  private entry = -1;
  private maxLevel = -1;
  private capacity = 0;
  private visited: Uint32Array = new Uint32Array(0);
  private tag = 0;
  private readonly cand = new MinHeap(256);
  private readonly res = new MaxHeap(256);
  private rng: XorShift32;
  private readonly mult: number;
  private quant: Quantizer | null = null;
  // query state
  private readonly qv: Float32Array;
  private data: Float32Array = new Float32Array(0);
  private useCodes = false;
  private readonly tmp: Float32Array;
  private distCount = 0;
  private readonly exact: FlatIndex;
  // the WebAssembly kernels, when the store's rows are in the WebAssembly heap (see bindData)
  private kernels: WasmKernels | null = null;
  private wasmBase = -1;
  private qOff = 0;
  /** Neighbour ids in, their float32 scores out, for score_gather (views made by bindData). */
  private gIdsOff = 0;
  private gOutOff = 0;
  private gIds: Int32Array = new Int32Array(0);
  private gOut: Float32Array = new Float32Array(0);
  private readonly wasmScratch = new WasmScratch();
  private readonly reranker = new Reranker();
  private readonly final = new TopK(10);

  constructor(
    private readonly source: RowSource,
    options: HnswOptions = {},
  ) {
    const o = resolveIndexOptions("hnsw", options);
    this.m = o.m;
    this.maxM0 = 2 * this.m;
    this.efConstruction = o.efConstruction;
    this.efSearch = o.efSearch;
    this.seed = o.seed;
    this.quantization = options.quantization ?? "none";
    this.dim = source.store.dimension;
    this.metric = source.metric;
    this.stride0 = 1 + this.maxM0;
    this.rng = new XorShift32(this.seed * 2654435761 + 7);
    this.mult = 1 / Math.log(this.m);
    this.qv = new Float32Array(this.dim);
    this.tmp = new Float32Array(this.dim);
    this.exact = new FlatIndex(source);
  }

  // ---- geometry ----------------------------------------------------------------------------

  /** Exact score between stored nodes a and b (lower is closer). */
  private nodeScore(a: number, b: number): number {
    this.distCount++;
    const d = this.dim, data = this.data;
    const k = this.kernels;
    if (k !== null) {
      const pa = this.wasmBase + a * d * 4, pb = this.wasmBase + b * d * 4;
      switch (this.metric) {
        case "l2":
          return k.l2sq(pa, pb, d);
        case "dot":
          return -k.dot(pa, pb, d);
        case "cosine": {
          const den = this.source.norm(a) * this.source.norm(b);
          return den === 0 ? 1 : 1 - k.dot(pa, pb, d) / den;
        }
      }
    }
    switch (this.metric) {
      case "l2":
        return l2sqAt(data, a * d, data, b * d, d);
      case "dot":
        return -dotAt(data, a * d, data, b * d, d);
      case "cosine": {
        const den = this.source.norm(a) * this.source.norm(b);
        return den === 0 ? 1 : 1 - dotAt(data, a * d, data, b * d, d) / den;
      }
    }
  }

  /** Score of node for the prepared query: from codes when searching a quantized index, exact otherwise. */
  private score(node: number): number {
    this.distCount++;
    if (this.useCodes) return this.quant!.estimate(node);
    const d = this.dim;
    const k = this.kernels;
    if (k !== null) {
      const at = this.wasmBase + node * d * 4;
      switch (this.metric) {
        case "l2":
          return k.l2sq(this.qOff, at, d);
        case "dot":
          return -k.dot(this.qOff, at, d);
        case "cosine": {
          const n = this.source.norm(node);
          return n === 0 ? 1 : 1 - k.dot(this.qOff, at, d) / n;
        }
      }
    }
    return this.exactScore(node);
  }

  /** score() of an exact traversal with the TypeScript kernels (float64 sums): the distances an exact traversal returns. */
  private exactScore(node: number): number {
    const d = this.dim;
    switch (this.metric) {
      case "l2":
        return l2sqAt(this.qv, 0, this.data, node * d, d);
      case "dot":
        return -dotAt(this.qv, 0, this.data, node * d, d);
      case "cosine": {
        const n = this.source.norm(node);
        return n === 0 ? 1 : 1 - dotAt(this.qv, 0, this.data, node * d, d) / n;
      }
    }
  }

  /** Copy a vector into the query slot, at unit length for cosine. */
  private setQuery(v: Float32Array, off: number): void {
    const d = this.dim;
    let inv = 1;
    if (this.metric === "cosine") {
      const n = normAt(v, off, d);
      inv = n > 0 ? 1 / n : 0;
    }
    for (let i = 0; i < d; i++) this.qv[i] = v[off + i]! * inv;
    this.bindData();
  }

  /**
   * Fetch the store's rows for this operation and, when they live in the
   * WebAssembly heap, bind the WebAssembly kernels to them (float32 sums: the
   * final k are rescored with the TypeScript kernels) with the query copied in.
   */
  private bindData(): void {
    const kernels = wasmKernels();
    const base = kernels === null ? -1 : this.source.store.wasmOffset();
    const lists = this.maxM0 + 1;
    if (base >= 0) this.qOff = this.wasmScratch.ensure((this.dim + 2 * lists) * 4); // before any view: it may grow the memory
    this.data = this.source.store.data();
    this.kernels = base >= 0 ? kernels : null;
    this.wasmBase = base;
    if (base >= 0) {
      const scratch = this.wasmScratch;
      scratch.f32(this.qOff, this.dim).set(this.qv);
      this.gIdsOff = this.qOff + this.dim * 4;
      this.gOutOff = this.gIdsOff + lists * 4;
      this.gIds = scratch.i32(this.gIdsOff, lists);
      this.gOut = scratch.f32(this.gOutOff, lists);
    }
  }

  /** The row in index geometry (unit length for cosine), for the quantizer. */
  private geometry(row: number): Float32Array {
    const d = this.dim, data = this.source.store.data(), t = this.tmp;
    const inv = this.metric === "cosine" ? (this.source.norm(row) > 0 ? 1 / this.source.norm(row) : 0) : 1;
    for (let i = 0; i < d; i++) t[i] = data[row * d + i]! * inv;
    return t;
  }

  // ---- storage of the graph ----------------------------------------------------------------

  private ensureCapacity(n: number): void {
    if (n <= this.capacity) return;
    this.unpack0();
    const cap = Math.max(n, this.capacity * 2, 64);
    const l0 = new Int32Array(cap * this.stride0);
    l0.set(this.links0);
    this.links0 = l0;
    if (this.dists0.length > 0 || this.capacity === 0) {
      const d0 = new Float32Array(cap * this.stride0);
      d0.set(this.dists0);
      this.dists0 = d0;
    }
    const lv = new Int8Array(cap).fill(-1);
    lv.set(this.levels);
    this.levels = lv;
    const vis = new Uint32Array(cap);
    vis.set(this.visited);
    this.visited = vis;
    this.capacity = cap;
    this.quant?.ensureCapacity(cap);
  }

  /** Links of node at level, for reading: [array, offset of the count]. */
  private linksAt(node: number, level: number): [Int32Array, number] {
    if (level === 0) {
      const packed = this.packed0;
      return [this.links0, packed === null ? node * this.stride0 : packed[node]!];
    }
    return [this.upper[node]!, (level - 1) * (1 + this.m)];
  }

  /**
   * Level 0 in the packed layout (see packed0), from `l0`, the fixed-stride
   * lists of nodes 0…n−1 (nodes from n up to the capacity have none): what a
   * reopened graph keeps when it cannot keep a view on the file.
   */
  private pack0(l0: Int32Array, n: number): void {
    const cap = this.capacity, stride = this.stride0;
    let total = cap - n;
    for (let i = 0; i < n; i++) total += 1 + l0[i * stride]!;
    const packed = new Int32Array(cap);
    const out = new Int32Array(total);
    for (let i = 0, o = 0; i < cap; i++) {
      const c = i < n ? l0[i * stride]! : 0;
      packed[i] = o;
      if (c > 0) out.set(l0.subarray(i * stride, i * stride + 1 + c), o);
      o += 1 + c;
    }
    this.links0 = out;
    this.packed0 = packed;
    this.links0View = false;
  }

  /** Level 0 owned and in the fixed-stride layout, before any change to it. */
  private unpack0(): void {
    const packed = this.packed0;
    if (packed === null) {
      if (!this.links0View) return;
      // a view on the mapped snapshot: copied out (the file and the mapping stay as they are)
      const l0 = new Int32Array(this.capacity * this.stride0);
      l0.set(this.links0);
      this.links0 = l0;
      this.links0View = false;
      return;
    }
    const stride = this.stride0, src = this.links0;
    const l0 = new Int32Array(this.capacity * stride);
    for (let i = 0; i < packed.length; i++) {
      const o = packed[i]!;
      l0.set(src.subarray(o, o + 1 + src[o]!), i * stride);
    }
    this.links0 = l0;
    this.packed0 = null;
  }

  /** Links and their distances, for writing: [links, dists, offset of the count, capacity]. */
  private listAt(node: number, level: number): [Int32Array, Float32Array, number, number] {
    if (level === 0) {
      this.unpack0();
      if (this.dists0.length < this.links0.length) {
        // after a reopen: allocated on the first write, NaN = not known yet
        const d = new Float32Array(this.links0.length).fill(NaN);
        d.set(this.dists0);
        this.dists0 = d;
      }
      return [this.links0, this.dists0, node * this.stride0, this.maxM0];
    }
    // after a reopen the upper link distances are made on the first write, NaN = not known yet
    const dists = (this.upperDists[node] ??= new Float32Array(this.upper[node]!.length).fill(NaN));
    return [this.upper[node]!, dists, (level - 1) * (1 + this.m), this.m];
  }

  private nextTag(): number {
    if (++this.tag === 0xffffffff) {
      this.visited.fill(0);
      this.tag = 1;
    }
    return this.tag;
  }

  // ---- search primitives -------------------------------------------------------------------

  private greedy(start: number, startScore: number, fromLevel: number, toLevel: number): [number, number] {
    let cur = start, curScore = startScore;
    for (let level = fromLevel; level > toLevel; level--) {
      let changed = true;
      while (changed) {
        changed = false;
        const [links, off] = this.linksAt(cur, level);
        const count = links[off]!;
        for (let i = 1; i <= count; i++) {
          const n = links[off + i]!;
          const s = this.score(n);
          if (s < curScore) {
            curScore = s;
            cur = n;
            changed = true;
          }
        }
      }
    }
    return [cur, curScore];
  }

  /**
   * Beam search at one level from `start`: `res` ends with the best `ef`
   * accepted nodes (a max-heap). Rejected nodes are still walked through.
   */
  private searchLevel(start: number, startScore: number, ef: number, level: number, accept: (n: number) => boolean): void {
    const tag = this.nextTag();
    const visited = this.visited, cand = this.cand, res = this.res;
    cand.clear();
    res.clear();
    visited[start] = tag;
    cand.push(startScore, start);
    if (accept(start)) res.push(startScore, start);
    let bound = res.size > 0 ? res.topKey : Infinity;
    const kernels = this.useCodes ? null : this.kernels;
    while (cand.size > 0) {
      const cs = cand.topKey, c = cand.topVal;
      if (cs > bound && res.size >= ef) break;
      cand.pop();
      const [links, off] = this.linksAt(c, level);
      const count = links[off]!;
      if (kernels !== null) {
        // the unvisited neighbours scored in one WebAssembly call, then offered in the same order
        const gIds = this.gIds, gOut = this.gOut;
        let m = 0;
        for (let i = 1; i <= count; i++) {
          const n = links[off + i]!;
          if (visited[n] === tag) continue;
          visited[n] = tag;
          gIds[m++] = n;
        }
        if (m === 0) continue;
        this.distCount += m;
        const metric = this.metric, d = this.dim;
        kernels.score_gather(this.qOff, this.wasmBase, d * 4, this.gIdsOff, m, d, this.gOutOff, metric === "l2" ? 0 : 1);
        for (let j = 0; j < m; j++) {
          const n = gIds[j]!;
          let s = gOut[j]!;
          if (metric === "dot") s = -s;
          else if (metric === "cosine") {
            const nn = this.source.norm(n);
            s = nn === 0 ? 1 : 1 - s / nn;
          }
          if (res.size < ef || s < bound) {
            cand.push(s, n);
            if (accept(n)) {
              res.push(s, n);
              if (res.size > ef) res.pop();
            }
            bound = res.size > 0 ? res.topKey : Infinity;
          }
        }
        continue;
      }
      for (let i = 1; i <= count; i++) {
        const n = links[off + i]!;
        if (visited[n] === tag) continue;
        visited[n] = tag;
        const s = this.score(n);
        if (res.size < ef || s < bound) {
          cand.push(s, n);
          if (accept(n)) {
            res.push(s, n);
            if (res.size > ef) res.pop();
          }
          bound = res.size > 0 ? res.topKey : Infinity;
        }
      }
    }
  }

  // ---- construction ------------------------------------------------------------------------

  private randomLevel(): number {
    const u = (this.rng.next() + 1) / 4294967297;
    return Math.min(64, Math.floor(-Math.log(u) * this.mult));
  }

  add(row: number): void {
    this.ensureCapacity(row + 1);
    if (this.levels[row]! >= 0) return; // already in the graph
    this.unpack0();
    const level = this.randomLevel();
    this.levels[row] = level;
    this.links0[row * this.stride0] = 0;
    if (level > 0) {
      this.upper[row] = new Int32Array(level * (1 + this.m));
      this.upperDists[row] = new Float32Array(level * (1 + this.m));
    }
    this.encode(row);
    if (this.entry < 0) {
      this.entry = row;
      this.maxLevel = level;
      return;
    }
    const data = this.source.store.data();
    this.setQuery(data, row * this.dim);
    this.useCodes = false;
    let [cur, curScore] = this.greedy(this.entry, this.score(this.entry), this.maxLevel, level);
    const live = this.source.liveMask();
    const accept = (n: number) => live[n] === 1 && n !== row;
    const ids: number[] = [];
    const scores: number[] = [];
    for (let l = Math.min(level, this.maxLevel); l >= 0; l--) {
      this.searchLevel(cur, curScore, this.efConstruction, l, accept);
      drainAscending(this.res, ids, scores);
      if (ids.length === 0) continue;
      cur = ids[0]!;
      curScore = scores[0]!;
      const chosen = this.selectNeighbours(ids, scores, this.m);
      const [links, dists, off] = this.listAt(row, l);
      links[off] = chosen.length;
      for (let i = 0; i < chosen.length; i++) {
        links[off + 1 + i] = ids[chosen[i]!]!;
        dists[off + 1 + i] = scores[chosen[i]!]!;
      }
      for (const ci of chosen) this.link(ids[ci]!, row, scores[ci]!, l);
    }
    if (level > this.maxLevel) {
      this.entry = row;
      this.maxLevel = level;
    }
  }

  /** The paper's heuristic over candidates in ascending order: indices into ids. */
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

  /** Add `to` to node's list at level; a full list keeps its closest. */
  private link(node: number, to: number, score: number, level: number): void {
    const [links, dists, off, max] = this.listAt(node, level);
    const count = links[off]!;
    for (let i = 1; i <= count; i++) if (links[off + i] === to) return;
    // link distances are not saved with the index: after a reopen they are recomputed on first need
    for (let i = 1; i <= count; i++) if (Number.isNaN(dists[off + i]!)) dists[off + i] = this.nodeScore(node, links[off + i]!);
    if (count < max) {
      links[off + 1 + count] = to;
      dists[off + 1 + count] = score;
      links[off] = count + 1;
      return;
    }
    // replace the farthest if the new one is closer
    let worst = 1, worstScore = dists[off + 1]!;
    for (let i = 2; i <= count; i++) {
      if (dists[off + i]! > worstScore) {
        worstScore = dists[off + i]!;
        worst = i;
      }
    }
    if (score < worstScore) {
      links[off + worst] = to;
      dists[off + worst] = score;
    }
  }

  /** A node stopped being live: its neighbours drop it and take its closest live neighbours instead. */
  remove(row: number): void {
    if (row >= this.capacity || this.levels[row]! < 0) return;
    this.bindData();
    const live = this.source.liveMask();
    for (let l = 0; l <= this.levels[row]!; l++) {
      const [links, off] = this.linksAt(row, l);
      const count = links[off]!;
      const mine = Array.from(links.subarray(off + 1, off + 1 + count)).filter((n) => live[n] === 1);
      for (const n of mine) {
        if (this.levels[n]! < l) continue;
        const [nl, nd, noff] = this.listAt(n, l);
        let c = nl[noff]!;
        for (let i = 1; i <= c; i++) {
          if (nl[noff + i] === row) {
            nl[noff + i] = nl[noff + c]!;
            nd[noff + i] = nd[noff + c]!;
            nl[noff] = --c;
            break;
          }
        }
        for (const r of mine) if (r !== n) this.link(n, r, this.nodeScore(n, r), l);
      }
    }
    if (row === this.entry) this.replaceEntry(row);
  }

  private replaceEntry(dead: number): void {
    const live = this.source.liveMask();
    let best = -1, bestLevel = -1;
    const n = Math.min(this.capacity, this.source.store.length);
    for (let i = 0; i < n; i++) {
      if (i !== dead && live[i] === 1 && this.levels[i]! > bestLevel) {
        best = i;
        bestLevel = this.levels[i]!;
        if (bestLevel === this.maxLevel) break;
      }
    }
    this.entry = best;
    this.maxLevel = bestLevel;
  }

  // ---- codes -------------------------------------------------------------------------------

  private encode(row: number): void {
    if (this.quantization === "none") return;
    if (!this.quant) {
      if (this.source.store.length >= TRAIN_ROWS) this.trainQuantizer();
      return;
    }
    this.quant.ensureCapacity(this.capacity);
    this.quant.encode(this.geometry(row), 0, row);
  }

  /** Train codes on a sample of the live rows, then encode every node. */
  private trainQuantizer(): void {
    const n = this.source.store.length;
    const live = this.source.liveMask();
    const rows: number[] = [];
    const step = Math.max(1, Math.floor(n / TRAIN_SAMPLE));
    for (let r = 0; r < n && rows.length < TRAIN_SAMPLE; r += step) if (live[r] === 1) rows.push(r);
    const sample = new Float32Array(rows.length * this.dim);
    rows.forEach((r, i) => sample.set(this.geometry(r), i * this.dim));
    this.quant =
      this.quantization === "scalar"
        ? ScalarQuantizer.train(this.dim, this.metric, sample, rows.length)
        : BinaryQuantizer.train(this.dim, this.metric, sample, rows.length, this.seed);
    this.quant.ensureCapacity(Math.max(this.capacity, n));
    for (let r = 0; r < Math.min(n, this.capacity); r++) if (this.levels[r]! >= 0) this.quant.encode(this.geometry(r), 0, r);
  }

  // ---- search ------------------------------------------------------------------------------

  searchRows(query: Float32Array, k: number, options: IndexSearchOptions = {}): IndexSearchResult {
    const filter = options.filter;
    const live = this.source.liveMask();
    if (filter && estimateSelectivity(this.source, filter) < HNSW_SELECTIVE_FILTER) return this.exactFiltered(query, k, filter, "exact-filtered");
    if (this.entry < 0) return this.exactFiltered(query, k, filter, filter ? "exact-filtered" : "exact");
    this.distCount = 0;
    const ef = Math.max(options.ef ?? this.efSearch, k);
    this.setQuery(query, 0);
    this.useCodes = this.quant !== null;
    if (this.useCodes) this.quant!.setQuery(this.qv);
    const oversample = options.rerankFactor ?? defaultOversample(this.quantization, this.metric);
    const listSize = this.useCodes ? Math.max(ef, k * oversample) : ef;
    const [start, startScore] = this.greedy(this.entry, this.score(this.entry), this.maxLevel, 0);
    const accept = filter ? (n: number) => live[n] === 1 && filter(n) : (n: number) => live[n] === 1;
    this.searchLevel(start, startScore, listSize, 0, accept);
    const ids: number[] = [];
    const scores: number[] = [];
    drainAscending(this.res, ids, scores);
    const traversed = this.distCount;
    let rows: number[], finalScores: number[];
    if (this.useCodes) {
      // rerank on full vectors: the only reads of the vector store
      const fin = this.final;
      fin.reset(k);
      this.reranker.rerank(this.source, query, normAt(query, 0, this.dim), ids, fin);
      rows = [];
      finalScores = [];
      fin.drain(rows, finalScores);
    } else if (this.kernels !== null) {
      // float32 traversal scores: the best k (and a few more, for near ties) rescored as the TypeScript kernels score them
      const order = ids.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]! || ids[a]! - ids[b]!);
      const exact = order.slice(0, k + 2).map((i) => [this.exactScore(ids[i]!), ids[i]!] as const);
      exact.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      rows = exact.slice(0, k).map((e) => e[1]);
      finalScores = exact.slice(0, k).map((e) => e[0]);
    } else {
      // exact traversal: the scores are the exact ones (cosine on the unit query is the same value);
      // order ties by row, as exact search does
      const order = ids.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]! || ids[a]! - ids[b]!);
      rows = order.slice(0, k).map((i) => ids[i]!);
      finalScores = order.slice(0, k).map((i) => scores[i]!);
    }
    // never silently fewer than k: if the graph walk found fewer, scan exactly
    if (rows.length < k) {
      const exact = this.exactFiltered(query, k, filter, filter ? "exact-filtered" : "exact");
      if (exact.rows.length > rows.length) return exact;
    }
    const route: SearchRoute = filter ? "hnsw-filtered" : "hnsw";
    return {
      rows,
      distances: finalScores.map((s) => scoreToDistance(this.metric, s)),
      route,
      stats: { ef: listSize, visited: traversed, reranked: this.useCodes ? ids.length : 0 },
    };
  }

  /** Exact scan (of the filter's matches): the oracle, reused for selective filters and as the fallback. */
  private exactFiltered(query: Float32Array, k: number, filter: RowFilter | undefined, route: SearchRoute): IndexSearchResult {
    return { ...this.exact.searchRows(query, k, { filter }), route };
  }

  // ---- maintenance -------------------------------------------------------------------------

  rebuild(onProgress?: Progress, options: RebuildOptions = {}): void {
    const threads = Math.max(1, Math.floor(options.threads ?? 1));
    if (threads > 1 && this.liveRows() > 1 && this.rebuildParallel(threads, onProgress, options.abort)) return;
    this.links0 = new Int32Array(0);
    this.packed0 = null;
    this.links0View = false;
    this.dists0 = new Float32Array(0);
    this.upper = [];
    this.upperDists = [];
    this.levels = new Int8Array(0);
    this.visited = new Uint32Array(0);
    this.capacity = 0;
    this.entry = -1;
    this.maxLevel = -1;
    this.quant = null;
    this.rng = new XorShift32(this.seed * 2654435761 + 7);
    const n = this.source.store.length;
    const live = this.source.liveMask();
    this.ensureCapacity(n);
    if (this.quantization !== "none" && n >= TRAIN_ROWS) this.trainQuantizer();
    for (let r = 0; r < n; r++) {
      if (live[r] === 1) this.add(r);
      if (onProgress && (r & 255) === 255) onProgress(r + 1, n);
    }
    onProgress?.(n, n);
  }

  private liveRows(): number {
    const live = this.source.liveMask(), n = this.source.store.length;
    let c = 0;
    for (let r = 0; r < n; r++) if (live[r] === 1) c++;
    return c;
  }

  /**
   * rebuild() on `threads` threads (this one and threads − 1 Bun Workers) over
   * a shared memory (hnsw_parallel.ts), then adopt the graph. False, having
   * changed nothing, where shared memory cannot be had (the caller builds on
   * one thread); throws CANCELLED when `abort` was set.
   */
  private rebuildParallel(threads: number, onProgress: Progress | undefined, abort: Int32Array | undefined): boolean {
    const n = this.source.store.length, d = this.dim;
    const live = this.source.liveMask();
    // the levels a single-thread rebuild draws, in row order, from the same generator
    const rng = new XorShift32(this.seed * 2654435761 + 7);
    const levels = new Int8Array(n).fill(-1);
    let first = -1;
    const saved = this.rng;
    this.rng = rng;
    for (let r = 0; r < n; r++) {
      if (live[r] !== 1) continue;
      levels[r] = this.randomLevel();
      if (first < 0) first = r;
    }
    this.rng = saved;
    const g = allocateSharedGraph({ n, d, m: this.m, efConstruction: this.efConstruction, metric: this.metric, threads, levels, first });
    if (g === null) return false;
    const buf = g.memory.buffer;
    new Float32Array(buf, g.vectors, n * d).set(this.source.store.data().subarray(0, n * d));
    const norms = new Float32Array(buf, g.norms, n);
    for (let r = 0; r < n; r++) norms[r] = this.source.norm(r);
    new Uint8Array(buf, g.live, n).set(live.subarray(0, n));
    const G = new Int32Array(buf, g.globals, GLOBALS);
    const stopped = () => abort !== undefined && Atomics.load(abort, 0) === 1;
    const workers: Worker[] = [];
    try {
      for (let t = 1; t < threads; t++) {
        const w = new Worker(new URL("./hnsw_parallel_worker.ts", import.meta.url).href);
        w.postMessage({ graph: g, thread: t, abort });
        workers.push(w);
      }
      let reported = 0;
      new SharedGraphBuilder(g, 0).run(stopped, () => {
        const done = Atomics.load(G, G_DONE);
        if (onProgress && (done - reported >= n / 200 || done === n)) {
          reported = done;
          onProgress(Math.min(done, n), n);
        }
      });
      // every helper that took a row has said so first (G_STARTED): wait for those to finish
      for (;;) {
        const finished = Atomics.load(G, G_FINISHED);
        if (finished >= Atomics.load(G, G_STARTED)) break;
        Atomics.wait(G, G_FINISHED, finished, 50);
      }
    } finally {
      for (const w of workers) w.terminate();
    }
    if (stopped()) throw new VqliteError("CANCELLED", "the index build was cancelled; the index is unchanged");
    if (Atomics.load(G, G_FAILED) !== 0 || Atomics.load(G, G_DONE) < n) throw new Error("a thread of the parallel HNSW build failed");
    // adopt the graph: the state rebuild() would leave, built by several threads
    this.links0 = new Int32Array(0);
    this.packed0 = null;
    this.links0View = false;
    this.dists0 = new Float32Array(0);
    this.levels = new Int8Array(0);
    this.visited = new Uint32Array(0);
    this.capacity = 0;
    this.quant = null;
    this.ensureCapacity(n);
    const stride = this.stride0;
    this.links0.set(new Int32Array(buf, g.links0, n * stride));
    this.dists0.set(new Float32Array(buf, g.dists0, n * stride));
    this.levels.set(levels);
    this.upper = [];
    this.upperDists = [];
    const upperAt = new Int32Array(buf, g.upperAt, n);
    const us = 1 + this.m;
    for (let r = 0; r < n; r++) {
      if (levels[r]! <= 0) continue;
      const at = upperAt[r]!, len = levels[r]! * us;
      this.upper[r] = new Int32Array(buf, g.upper + at * 4, len).slice();
      this.upperDists[r] = new Float32Array(buf, g.upperDists + at * 4, len).slice();
    }
    this.entry = G[G_ENTRY]!;
    this.maxLevel = G[G_MAX_LEVEL]!;
    this.rng = rng;
    this.connectOrphans();
    if (this.quantization !== "none" && n >= TRAIN_ROWS) this.trainQuantizer();
    onProgress?.(n, n);
    return true;
  }

  /**
   * Link every live node that level 0 cannot reach from the entry point (a
   * node whose in-links were all replaced by closer ones; threads inserting
   * side by side leave more of them than one thread does) into the list of
   * its nearest neighbour with room, or else in place of that neighbour's
   * farthest link when the node it names keeps another in-link. Returns the
   * nodes still unreachable (0 unless every list around them is full of
   * sole in-links).
   */
  private connectOrphans(): number {
    const n = Math.min(this.capacity, this.source.store.length), stride = this.stride0, l0 = this.links0, d0 = this.dists0;
    const live = this.source.liveMask();
    const indeg = new Int32Array(n);
    for (let v = 0; v < n; v++) for (let i = 1; i <= l0[v * stride]!; i++) indeg[l0[v * stride + i]!]!++;
    const seen = new Uint8Array(n);
    let left = 0;
    for (let round = 0; round < 4; round++) {
      seen.fill(0);
      const stack = [this.entry];
      seen[this.entry] = 1;
      while (stack.length > 0) {
        const c = stack.pop()!;
        for (let i = 1; i <= l0[c * stride]!; i++) {
          const t = l0[c * stride + i]!;
          if (seen[t] === 0) {
            seen[t] = 1;
            stack.push(t);
          }
        }
      }
      left = 0;
      for (let u = 0; u < n; u++) {
        if (live[u] !== 1 || seen[u] === 1 || this.levels[u]! < 0) continue;
        left++;
        // u's own neighbours, nearest first (their stored distances)
        const cnt = l0[u * stride]!;
        // reachable ones first, and none that links to u already
        const has = (v: number) => {
          for (let k = 1; k <= l0[v * stride]!; k++) if (l0[v * stride + k] === u) return true;
          return false;
        };
        const order = Array.from({ length: cnt }, (_, i) => i + 1)
          .filter((i) => !has(l0[u * stride + i]!))
          .sort((a, b) => seen[l0[u * stride + b]!]! - seen[l0[u * stride + a]!]! || d0[u * stride + a]! - d0[u * stride + b]!);
        let linked = false;
        for (const i of order) {
          const v = l0[u * stride + i]!, off = v * stride, c = l0[off]!;
          if (c < this.maxM0) {
            l0[off + 1 + c] = u;
            d0[off + 1 + c] = d0[u * stride + i]!;
            l0[off] = c + 1;
            linked = true;
            break;
          }
        }
        for (let j = 0; !linked && j < order.length; j++) {
          const i = order[j]!, v = l0[u * stride + i]!, off = v * stride;
          let worst = -1, worstScore = -Infinity;
          for (let k = 1; k <= l0[off]!; k++) {
            if (indeg[l0[off + k]!]! > 1 && d0[off + k]! > worstScore) {
              worstScore = d0[off + k]!;
              worst = k;
            }
          }
          if (worst > 0) {
            indeg[l0[off + worst]!]!--;
            l0[off + worst] = u;
            d0[off + worst] = d0[u * stride + i]!;
            linked = true;
          }
        }
        if (linked) indeg[u]!++;
      }
      if (left === 0) break;
    }
    return left;
  }

  remap(oldToNew: Int32Array): void {
    this.unpack0();
    let newCount = 0;
    for (let i = 0; i < oldToNew.length; i++) if (oldToNew[i]! >= 0) newCount = Math.max(newCount, oldToNew[i]! + 1);
    const stride = this.stride0;
    const links0 = new Int32Array(Math.max(64, newCount) * stride);
    const dists0 = new Float32Array(Math.max(64, newCount) * stride);
    const levels = new Int8Array(Math.max(64, newCount)).fill(-1);
    const upper: (Int32Array | null)[] = [];
    const upperDists: (Float32Array | null)[] = [];
    const mapList = (src: Int32Array, srcD: Float32Array, off: number, dst: Int32Array, dstD: Float32Array, dOff: number) => {
      const count = src[off]!;
      let c = 0;
      for (let i = 1; i <= count; i++) {
        const to = oldToNew[src[off + i]!]!;
        if (to === undefined || to < 0) continue;
        dst[dOff + 1 + c] = to;
        dstD[dOff + 1 + c] = srcD[off + i]!;
        c++;
      }
      dst[dOff] = c;
    };
    for (let old = 0; old < oldToNew.length && old < this.capacity; old++) {
      const nw = oldToNew[old]!;
      if (nw < 0 || this.levels[old]! < 0) continue;
      levels[nw] = this.levels[old]!;
      mapList(this.links0, this.dists0, old * stride, links0, dists0, nw * stride);
      const lv = this.levels[old]!;
      if (lv > 0) {
        const us = 1 + this.m;
        const u = new Int32Array(lv * us), ud = new Float32Array(lv * us);
        const od = this.upperDists[old] ?? new Float32Array(lv * us).fill(NaN);
        for (let l = 0; l < lv; l++) mapList(this.upper[old]!, od, l * us, u, ud, l * us);
        upper[nw] = u;
        upperDists[nw] = ud;
      }
      if (this.quant) this.quant.move(old, nw); // nw ≤ old: moving upwards in order is safe in place
    }
    this.links0 = links0;
    this.dists0 = dists0;
    this.levels = levels;
    this.upper = upper;
    this.upperDists = upperDists;
    this.capacity = levels.length;
    this.visited = new Uint32Array(this.capacity);
    this.quant?.ensureCapacity(this.capacity);
    const e = this.entry >= 0 ? (oldToNew[this.entry] ?? -1) : -1;
    if (e >= 0) this.entry = e;
    else this.replaceEntry(-1);
  }

  heapBytes(): number {
    // a view on the mapped snapshot is file-backed, not heap
    let bytes = (this.links0View ? 0 : this.links0.byteLength) + (this.packed0?.byteLength ?? 0) + this.dists0.byteLength + this.levels.byteLength + this.visited.byteLength;
    for (const u of this.upper) if (u) bytes += u.byteLength + 64;
    for (const u of this.upperDists) if (u) bytes += u.byteLength + 64;
    bytes += this.upper.length * 8 * 2;
    bytes += this.cand.keys.byteLength + this.cand.vals.byteLength + this.res.keys.byteLength + this.res.vals.byteLength;
    return bytes + (this.quant?.heapBytes() ?? 0);
  }

  // ---- persistence -------------------------------------------------------------------------

  serialize(w: ByteWriter): void {
    const n = Math.min(this.capacity, this.source.store.length);
    w.u32(2); // section version (2: level 0 aligned in the file, so that a reopen can map it)
    w.u32(this.dim).u32(this.m).u32(this.efConstruction).u32(this.efSearch).f64(this.seed).string(this.quantization);
    w.f64(this.entry).f64(this.maxLevel).f64(n);
    w.u8array(new Uint8Array(this.levels.buffer, 0, n));
    // the file keeps the fixed-stride layout whatever the one in memory
    let l0 = this.links0;
    if (this.packed0 !== null || l0.length < n * this.stride0) {
      l0 = new Int32Array(n * this.stride0);
      for (let i = 0; i < n; i++) {
        const [links, o] = this.linksAt(i, 0);
        if (this.levels[i]! >= 0) l0.set(links.subarray(o, o + 1 + links[o]!), i * this.stride0);
      }
    }
    w.u32arrayAligned(new Uint32Array(l0.buffer, l0.byteOffset, n * this.stride0));
    for (let i = 0; i < n; i++) if (this.levels[i]! > 0) w.u32array(new Uint32Array(this.upper[i]!.buffer));
    // the level generator's state, so inserts after a reopen draw what they would have
    w.f64(this.rng.state);
    if (this.quant) {
      w.u8(this.quant.kind === "scalar" ? 1 : 2);
      this.quant.serialize(w, n);
    } else w.u8(0);
  }

  static deserialize(r: ByteReader, source: RowSource, quantization: QuantizationKind): HnswIndex {
    const version = r.u32();
    if (version !== 1 && version !== 2) throw new RangeError("unsupported HNSW section version");
    const dim = r.u32();
    if (dim !== source.store.dimension) throw new RangeError("HNSW dimension does not match the vectors");
    const m = r.u32(), efConstruction = r.u32(), efSearch = r.u32(), seed = r.f64();
    const savedQuant = r.string() as QuantizationKind;
    const ix = new HnswIndex(source, { m, efConstruction, efSearch, seed, quantization });
    ix.entry = r.f64();
    ix.maxLevel = r.f64();
    const n = r.f64();
    if (!Number.isSafeInteger(n) || n < 0 || n > source.store.length) throw new RangeError("HNSW graph has more nodes than the vectors");
    // a corrupt level or entry would send searches round a loop of 2^50 levels or off the graph
    if (!Number.isInteger(ix.maxLevel) || ix.maxLevel < -1 || ix.maxLevel > 127 || !Number.isInteger(ix.entry) || ix.entry < -1) {
      throw new RangeError("HNSW entry point or top level out of range");
    }
    // sized as ensureCapacity would, without its fixed-stride level 0: that is the saved one (viewed or packed below)
    const cap = Math.max(n, 64);
    const levels = new Int8Array(r.u8array().buffer);
    let links0: Int32Array, view = false;
    if (version === 1) links0 = new Int32Array(r.u32array().buffer);
    else {
      const a = r.u32arrayAligned();
      links0 = new Int32Array(a.array.buffer, a.array.byteOffset, a.array.length);
      view = a.view;
    }
    if (levels.length !== n || links0.length !== n * ix.stride0) throw new RangeError("HNSW arrays have the wrong length");
    ix.levels = new Int8Array(cap).fill(-1);
    ix.levels.set(levels);
    ix.visited = new Uint32Array(cap);
    ix.capacity = cap;
    // link distances are unknown until an insert needs them (dists0 stays empty)
    for (let i = 0; i < n; i++) {
      if (levels[i]! > 0) {
        ix.upper[i] = new Int32Array(r.u32array().buffer);
        if (ix.upper[i]!.length !== levels[i]! * (1 + m)) throw new RangeError("HNSW upper links have the wrong length");
      }
    }
    // every link names a node that exists at the link's level (a search follows it there)
    const checkList = (list: Int32Array, off: number, max: number, level: number) => {
      const count = list[off]!;
      if (count < 0 || count > max) throw new RangeError("HNSW link count out of range");
      for (let j = 1; j <= count; j++) {
        const to = list[off + j]!;
        if (to < 0 || to >= n || levels[to]! < level) throw new RangeError("HNSW link out of range");
      }
    };
    for (let i = 0; i < n; i++) {
      if (levels[i]! < 0) continue;
      checkList(links0, i * ix.stride0, ix.maxM0, 0);
      for (let l = 0; l < levels[i]!; l++) checkList(ix.upper[i]!, l * (1 + m), m, l + 1);
    }
    if (ix.entry >= n || (n > 0 && ix.entry >= 0 && levels[ix.entry]! < 0)) throw new RangeError("HNSW entry point out of range");
    // read-mostly from here: a view on the file's pages, or else half the bytes, until the first change
    if (view) {
      ix.links0 = links0;
      ix.links0View = true;
    } else ix.pack0(links0, n);
    if ((ix.entry < 0) !== (ix.maxLevel < 0) || (ix.entry >= 0 && levels[ix.entry] !== ix.maxLevel)) throw new RangeError("HNSW entry point is not on the top level");
    // a deleted node may sit above the top level: deleting the entry point lowers it to the best live node
    for (let i = 0; i < n; i++) if (levels[i]! > ix.maxLevel && source.isLive(i)) throw new RangeError("HNSW node above the top level");
    ix.rng.state = r.f64() >>> 0;
    const qTag = r.u8();
    if (qTag !== 0 && savedQuant === quantization) {
      ix.quant = qTag === 1 ? ScalarQuantizer.deserialize(r, dim, source.metric, n) : BinaryQuantizer.deserialize(r, dim, source.metric, n);
      ix.quant.ensureCapacity(ix.capacity);
    } else if (qTag !== 0) {
      // codes of another kind than the config asks for: skip them and train anew
      if (qTag === 1) ScalarQuantizer.deserialize(r, dim, source.metric, n);
      else BinaryQuantizer.deserialize(r, dim, source.metric, n);
      if (quantization !== "none" && source.store.length >= TRAIN_ROWS) ix.trainQuantizer();
    } else if (quantization !== "none" && source.store.length >= TRAIN_ROWS) {
      ix.trainQuantizer();
    }
    return ix;
  }

  /** How level 0 is held: a view on the mapped snapshot, packed, or an owned fixed-stride array. For tests and checks. */
  level0Layout(): "mapped" | "packed" | "owned" {
    return this.links0View ? "mapped" : this.packed0 !== null ? "packed" : "owned";
  }

  /** A node's links at a level (a copy; empty when it is not a node there). For checks and tests. */
  neighbours(node: number, level = 0): number[] {
    if (node < 0 || node >= this.capacity || this.levels[node]! < level) return [];
    const [links, off] = this.linksAt(node, level);
    return Array.from(links.subarray(off + 1, off + 1 + links[off]!));
  }

  /** Every live row is a node; every link names a node of the graph; the entry point is a node. */
  verify(): string[] {
    const problems: string[] = [];
    const n = this.source.store.length;
    const live = this.source.liveMask();
    let missing = 0;
    let badLinks = 0;
    for (let row = 0; row < n; row++) {
      if (live[row] === 1 && (row >= this.capacity || this.levels[row]! < 0)) missing++;
    }
    for (let node = 0; node < Math.min(this.capacity, n); node++) {
      const level = this.levels[node]!;
      for (let l = 0; l <= level; l++) {
        const [links, off] = this.linksAt(node, l);
        const count = links[off]!;
        if (count < 0 || count > (l === 0 ? this.maxM0 : this.m)) {
          badLinks++;
          continue;
        }
        for (let i = 1; i <= count; i++) {
          const to = links[off + i]!;
          if (to < 0 || to >= n || to >= this.capacity || this.levels[to]! < l) badLinks++;
        }
      }
    }
    if (missing > 0) problems.push(`hnsw index: ${missing} live rows are not in the graph`);
    if (badLinks > 0) problems.push(`hnsw index: ${badLinks} links name rows that are not nodes at that level`);
    const anyNode = this.stats().nodes > 0;
    if (anyNode && (this.entry < 0 || this.entry >= this.capacity || this.levels[this.entry]! < 0)) problems.push("hnsw index: entry point is not a node");
    return problems;
  }

  /** Nodes in the graph and the largest level (for tests and DESCRIBE). */
  stats(): { nodes: number; maxLevel: number; entry: number; quantized: boolean } {
    let nodes = 0;
    for (let i = 0; i < this.capacity; i++) if (this.levels[i]! >= 0) nodes++;
    return { nodes, maxLevel: this.maxLevel, entry: this.entry, quantized: this.quant !== null };
  }
}
