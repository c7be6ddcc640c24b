/**
 * Clustered index: a hierarchical k-means tree whose leaves keep 1-bit codes
 * of their points in RAM. Search walks the tree best-first to the `probes`
 * nearest leaves (nearestLeaves), ranks the leaves' points by a distance
 * estimated from the codes (with the WebAssembly kernels: residual_code and
 * code_estimates, one call each per leaf, over codes, residual norms and
 * rotated centroids kept in the WebAssembly heap), and reranks the best
 * k × rerankFactor candidates on full vectors (from RAM or an mmap file).
 *
 * Codes: residual to the leaf centroid, rotated (randomized Hadamard), sign
 * bits, plus the residual's norm. The estimate of ‖q − x‖² is
 *   ‖q−c‖² + ‖r‖² − 2‖q−c‖‖r‖·cos(π·h/P)
 * with h the Hamming distance between the codes of q−c and r = x−c (P bits).
 * For cosine the geometry is that of unit vectors; for dot, leaves are chosen
 * by inner product with the centroid and −⟨q,x⟩ ≈ −⟨q,c⟩ − ‖q‖‖r‖cos(πh/P).
 *
 * This is the algorithm only: it reads rows through a RowSource and does no
 * file I/O. A collection's "clustered" index is one of these; the standalone
 * `ClusteredIndex` (src/clustered_index.ts) wraps one over its own vectors.
 */
import { errors, VqliteError } from "../errors";
import { ByteReader, ByteWriter, crc32 } from "../storage/binary";
import { encodeSigns, hamming, residualCode, wordsFor } from "./binary_code";
import { resolveIndexOptions, resolveInteger, SEARCH_OPTIONS, type ResolvedIndexOptions } from "./config";
import { dotAt, l2sqAt, normAt, scoreAt, scoreToDistance, type Metric } from "./distance";
import { Reranker } from "./rerank";
import { HeapArray, wasmKernels, WasmScratch, type WasmKernels } from "./wasm";
import { FlatIndex } from "./flat";
import { MinHeap } from "./heap";
import { nearestCentroid, trainCentroids } from "./kmeans";
import { samplePositions } from "./random";
import { HadamardRotation } from "./rotation";
import { estimateSelectivity } from "./selectivity";
import { TopK } from "./topk";
import type { IndexSearchOptions, IndexSearchResult, Progress, RowFilter, RowSource, SearchRoute, VectorIndex } from "./types";

export interface ClusteredOptions {
  readonly branchingFactor?: number;
  readonly maxLeafSize?: number;
  readonly metric?: Metric;
  readonly maxIterations?: number;
  readonly seed?: number;
  /** Bits per code (default: one per dimension); saved with the index. For experiments. */
  readonly codeBits?: number;
  /** Hadamard rotation rounds before the sign bits: 0 (none), 1 (default) or 2; saved with the index. For experiments. */
  readonly rotationRounds?: number;
}

export interface ClusteredSearchOptions {
  /** Leaves visited (default 8). */
  readonly probes?: number;
  /** Candidates reranked on full vectors = k × rerankFactor (default 5). */
  readonly rerankFactor?: number;
}

interface ResolvedOptions extends ResolvedIndexOptions<"clustered"> {
  metric: Metric;
  codeBits: number;
  rotationRounds: 0 | 1 | 2;
}

/** A filter keeping less than this share of the items is served by an exact scan of the matches. */
export const SELECTIVE_FILTER = 0.05;
/** Inner nodes a search's walk expands per leaf probed (see nearestLeaves). */
const ROUTE_EXPANSIONS_PER_PROBE = 1;
/**
 * A full leaf grows by this factor. Leaves split at twice maxLeafSize, so a
 * leaf grows a few times at most; doubling left on average a third of the
 * codes' room unused (a 2 GB COPY into mmap + clustered: 159 MB of the
 * WebAssembly heap in use for 78 MB of codes and norms).
 */
const LEAF_GROWTH = 1.25;
/** Training points per centroid (faiss warns below 39 and caps at 256; ml-kmeans' cost is linear in it). */
const TRAIN_PER_CENTROID = 64;
/** What every leaf of a reopened tree shares about the snapshot it came from (one object per tree). */
interface SavedTree {
  /** The snapshot's bytes. */
  readonly buf: Uint8Array;
  /** Code words per row. */
  readonly words: number;
  /** The snapshot's name, for errors. */
  readonly source: string;
  readonly rotation: HadamardRotation;
  /** Rows in the vector store when the snapshot was read: a leaf row at or past it is corruption. */
  readonly storeRows: number;
}

/**
 * A reopened leaf's arrays as the snapshot holds them (little-endian bytes,
 * uncopied: pages of the mapped snapshot file), until its first use.
 */
interface SavedLeaf {
  readonly tree: SavedTree;
  /** Where the leaf's rows, codes and residual norms start in the snapshot's bytes. */
  readonly rowsAt: number;
  readonly codesAt: number;
  readonly rnormsAt: number;
  /**
   * The CRC32 the three must have (section version 3 on, where the snapshot's own
   * checksum leaves them out: checked on first use), or null (older sections,
   * covered by the snapshot's checksum when it was opened).
   */
  readonly crc: number | null;
}

class TreeNode {
  children: TreeNode[] | null = null;
  // leaf data (children === null)
  private rowArray: Int32Array = new Int32Array(0);
  /**
   * Set on a reopened leaf until its first use: opening a collection copies no
   * per-row bytes, and the leaves a workload never visits stay in the page cache
   * (file-backed memory the kernel can drop) instead of in the WebAssembly heap.
   */
  private saved: SavedLeaf | null = null;
  get rows(): Int32Array {
    if (this.saved !== null) this.load();
    return this.rowArray;
  }
  set rows(values: Int32Array) {
    if (this.saved !== null) this.load();
    this.rowArray = values;
  }
  private codeStoreMade: HeapArray<Int32Array> | null = null;
  /** Made on first use: a reopened leaf has none until it is loaded (thousands of leaves at open). */
  private get codeStore(): HeapArray<Int32Array> {
    return (this.codeStoreMade ??= HeapArray.int32());
  }
  /** The leaf's 1-bit codes, kept in the WebAssembly heap for the leaf scan: assigning copies in; the view lasts until the heap's next allocation. */
  get codes(): Int32Array {
    if (this.saved !== null) this.load();
    return this.codeStore.get();
  }
  set codes(values: Int32Array) {
    if (this.saved !== null) this.load();
    this.codeStore.set(values);
  }
  /** Byte offset of the codes in the WebAssembly heap, or -1. */
  codesOffset(): number {
    if (this.saved !== null) this.load();
    return this.codeStore.offset();
  }
  /** Inner nodes: the children's centroids, one after another, in the WebAssembly heap, for routing (made on first use, remade when the tree's shape changed). */
  private childrenStore: HeapArray<Float32Array> | null = null;
  private childrenShape = -1;
  /** Byte offset of the children's centroids in the WebAssembly heap (or -1), as of tree shape `shape`. */
  childrenOffset(shape: number, d: number): number {
    if (this.childrenStore === null || this.childrenShape !== shape) {
      const children = this.children!;
      const m = new Float32Array(children.length * d);
      for (let i = 0; i < children.length; i++) m.set(children[i]!.centroid, i * d);
      (this.childrenStore ??= HeapArray.float32()).set(m);
      this.childrenShape = shape;
    }
    return this.childrenStore.offset();
  }
  private rnormStoreMade: HeapArray<Float32Array> | null = null;
  /** Made on first use: a reopened leaf has none until it is loaded (thousands of leaves at open). */
  private get rnormStore(): HeapArray<Float32Array> {
    return (this.rnormStoreMade ??= HeapArray.float32());
  }
  /** Norms of the leaf's residuals, in the WebAssembly heap beside the codes (same rules as `codes`). */
  get rnorms(): Float32Array {
    if (this.saved !== null) this.load();
    return this.rnormStore.get();
  }
  set rnorms(values: Float32Array) {
    if (this.saved !== null) this.load();
    this.rnormStore.set(values);
  }
  rnormsOffset(): number {
    if (this.saved !== null) this.load();
    return this.rnormStore.offset();
  }
  /** A reopened leaf: its arrays stay in the snapshot's bytes until first used (see `saved`). */
  keepSaved(saved: SavedLeaf): void {
    this.saved = saved;
  }
  /** Whether the leaf's arrays are still only in the snapshot's bytes. */
  get unloaded(): boolean {
    return this.saved !== null;
  }
  /** The saved bytes of an unloaded leaf (rows, codes, residual norms), for writing them out again unchanged. */
  savedBytes(): { rows: Uint8Array; codes: Uint8Array; rnorms: Uint8Array; crc: number | null } | null {
    const s = this.saved;
    if (s === null) return null;
    const n = this.size, buf = s.tree.buf;
    return { rows: buf.subarray(s.rowsAt, s.rowsAt + n * 4), codes: buf.subarray(s.codesAt, s.codesAt + n * s.tree.words * 4), rnorms: buf.subarray(s.rnormsAt, s.rnormsAt + n * 4), crc: s.crc };
  }
  /** Copy an unloaded leaf's arrays out of the snapshot: rows to a JS array, codes and norms into the WebAssembly heap, and rotate its centroid. */
  private load(): void {
    const { tree, crc } = this.saved!;
    const n = this.size;
    const b = this.savedBytes()!;
    if (crc !== null && crcOf([b.rows, b.codes, b.rnorms]) !== crc) throw errors.corrupt(tree.source, "clustered index leaf checksum mismatch");
    const rows = new Int32Array(n);
    new Uint8Array(rows.buffer).set(b.rows);
    for (let i = 0; i < rows.length; i++) {
      if (rows[i]! < 0 || rows[i]! >= tree.storeRows) throw errors.corrupt(tree.source, `a clustered index leaf names row ${rows[i]} of ${tree.storeRows}`);
    }
    this.codeStore.setBytes(b.codes);
    this.rnormStore.setBytes(b.rnorms);
    const rotated = new Float32Array(tree.rotation.padded);
    tree.rotation.apply(this.centroid, 0, rotated);
    this.rotatedStore.set(rotated);
    this.rowArray = rows;
    this.saved = null;
  }
  size = 0;
  /**
   * Room for `capacity` points, keeping the first `size`: the codes and residual
   * norms grow where they are in the WebAssembly heap (no JS copies to collect).
   */
  grow(capacity: number, words: number): void {
    const rows = new Int32Array(capacity);
    rows.set(this.rows.subarray(0, this.size));
    this.rows = rows;
    this.codeStore.resize(capacity * words);
    this.rnormStore.resize(capacity);
  }
  /** Free this node's WebAssembly regions now (it is being replaced; see HeapArray.free). */
  release(): void {
    this.saved = null;
    this.codeStoreMade?.free();
    this.rnormStoreMade?.free();
    this.rotatedStoreMade?.free();
    this.childrenStore?.free();
  }
  private rotatedStoreMade: HeapArray<Float32Array> | null = null;
  /** Made on first use: a reopened leaf has none until it is loaded (thousands of leaves at open). */
  private get rotatedStore(): HeapArray<Float32Array> {
    return (this.rotatedStoreMade ??= HeapArray.float32());
  }
  /** Rotated centroid (P values), leaves only (empty for inner nodes); in the WebAssembly heap like `codes`. */
  get rotated(): Float32Array {
    if (this.saved !== null) this.load();
    return this.rotatedStore.get();
  }
  set rotated(values: Float32Array) {
    if (this.saved !== null) this.load();
    this.rotatedStore.set(values);
  }
  rotatedOffset(): number {
    if (this.saved !== null) this.load();
    return this.rotatedStore.offset();
  }
  /** Size at which this leaf splits next. */
  splitAt = 0;
  /** Largest distance from the centroid to a point below this node (bounds inner products). */
  radius = 0;

  constructor(public centroid: Float32Array) {}

  get isLeaf(): boolean {
    return this.children === null;
  }
}

export class ClusteredTree implements VectorIndex {
  readonly type = "clustered" as const;
  readonly options: ResolvedOptions;
  readonly dimension: number;
  private root: TreeNode;
  private rotation: HadamardRotation;
  private readonly words: number;
  /** Bits per code: the first codeBits rotated coordinates. */
  private readonly codeBits: number;
  private readonly cosTab: Float64Array;
  /** cosTab in the WebAssembly heap, for the code_estimates kernel. */
  private readonly cosStore = HeapArray.float64();
  private splits = 0;
  private readonly exact: FlatIndex;
  // scratch, reused by every search and insert
  private readonly qg: Float32Array;
  private readonly qr: Float32Array;
  private readonly uq: Float32Array;
  private readonly qcode: Int32Array;
  private readonly tmp: Float32Array;
  private readonly heap = new TopK(100);
  private readonly final = new TopK(10);
  /** Best-first walk over tree nodes: node numbers in `walkNodes` keyed by route score. */
  private readonly walk = new MinHeap(64);
  private readonly walkNodes: TreeNode[] = [];
  /** The walk's leaves so far: the best `probes` of them by route score (positions in routeLeaves). */
  private readonly routeBest = new TopK(8);
  private readonly routeLeaves: TreeNode[] = [];
  private readonly routePicked: number[] = [];
  private readonly routeScores: number[] = [];
  private readonly reranker = new Reranker();
  private wasmScratch: WasmScratch | null = null;
  // set by probe() around nearestLeaves: route with the wasm kernels against heap copies of the centroids
  private routeKernels: WasmKernels | null = null;
  private routeScratch: WasmScratch | null = null;
  private routeQOff = 0;
  /** Bumped whenever nodes' children or centroids change (rebuild, split): inner nodes' centroid matrices go stale. */
  private shape = 0;

  constructor(
    private source: RowSource,
    options: ClusteredOptions = {},
  ) {
    this.dimension = source.store.dimension;
    this.options = resolveOptions(options, source.metric, this.dimension);
    this.rotation = new HadamardRotation(this.dimension, this.options.seed, this.options.rotationRounds);
    const p = this.rotation.padded;
    // by default 1 bit per dimension: the first `dimension` rotated coordinates (of P ≥ dimension)
    this.codeBits = this.options.codeBits;
    this.words = wordsFor(this.codeBits);
    const bits = this.codeBits;
    this.cosTab = new Float64Array(bits + 1);
    for (let h = 0; h <= bits; h++) this.cosTab[h] = Math.cos((Math.PI * h) / bits);
    this.cosStore.set(this.cosTab);
    this.qg = new Float32Array(this.dimension);
    this.tmp = new Float32Array(this.dimension);
    this.qr = new Float32Array(p);
    this.uq = new Float32Array(p);
    this.qcode = new Int32Array(this.words);
    this.exact = new FlatIndex(source);
    this.root = this.newLeaf(new Float32Array(this.dimension), new Int32Array(0));
  }

  // ---- building ----------------------------------------------------------------------------

  /** (Re)build the whole tree from the live rows of the source. */
  rebuild(onProgress?: Progress): void {
    const n = this.source.store.length;
    const rows: number[] = [];
    for (let r = 0; r < n; r++) if (this.source.isLive(r)) rows.push(r);
    this.splits = 0;
    this.progress = onProgress ? { report: onProgress, done: 0, total: rows.length } : null;
    try {
      const old = this.root;
      this.root = this.buildNode(Int32Array.from(rows), 0);
      for (const n of this.nodes(old)) n.release();
      this.shape++;
    } finally {
      this.progress = null;
    }
    this.leafCountCache = -1;
  }

  /** Set while rebuilding with a progress callback: points encoded into leaves so far. */
  private progress: { report: Progress; done: number; total: number } | null = null;

  /** Copy row `row` in the index geometry (unit length for cosine) into out. */
  private load(row: number, out: Float32Array): void {
    const d = this.dimension;
    this.source.store.readRow(row, out);
    if (this.options.metric === "cosine") {
      const nrm = this.source.norm(row);
      const inv = nrm > 0 ? 1 / nrm : 0;
      for (let i = 0; i < d; i++) out[i] = out[i]! * inv;
    }
  }

  private mean(rows: Int32Array): Float32Array {
    const d = this.dimension;
    const acc = new Float64Array(d);
    const tmp = this.tmp;
    for (let i = 0; i < rows.length; i++) {
      this.load(rows[i]!, tmp);
      for (let j = 0; j < d; j++) acc[j]! += tmp[j]!;
    }
    const out = new Float32Array(d);
    if (rows.length > 0) for (let j = 0; j < d; j++) out[j] = acc[j]! / rows.length;
    return out;
  }

  private radiusOf(rows: Int32Array, centroid: Float32Array): number {
    let r2 = 0;
    const tmp = this.tmp, d = this.dimension;
    for (let i = 0; i < rows.length; i++) {
      this.load(rows[i]!, tmp);
      const x = l2sqAt(tmp, 0, centroid, 0, d);
      if (x > r2) r2 = x;
    }
    return Math.sqrt(r2);
  }

  private buildNode(rows: Int32Array, depth: number): TreeNode {
    const centroid = this.mean(rows);
    const { maxLeafSize, branchingFactor, maxIterations, seed } = this.options;
    if (rows.length <= maxLeafSize) return this.newLeaf(centroid, rows);
    const d = this.dimension;
    const splitSeed = (seed * 31 + this.splits++ * 7919 + depth) >>> 0;
    // training sample in index geometry
    const picked = samplePositions(rows.length, TRAIN_PER_CENTROID * branchingFactor, splitSeed);
    const sample = new Float32Array(picked.length * d);
    for (let i = 0; i < picked.length; i++) this.load(rows[picked[i]!]!, sample.subarray(i * d, i * d + d));
    const centroids = trainCentroids(sample, d, { k: branchingFactor, maxIterations, seed: splitSeed });
    const k = centroids.length / d;
    const assign = new Int32Array(rows.length);
    const counts = new Int32Array(k);
    const tmp = this.tmp;
    for (let i = 0; i < rows.length; i++) {
      this.load(rows[i]!, tmp);
      const c = nearestCentroid(centroids, k, d, tmp, 0);
      assign[i] = c;
      counts[c]!++;
    }
    let nonEmpty = 0;
    for (let c = 0; c < k; c++) if (counts[c]! > 0) nonEmpty++;
    if (nonEmpty <= 1) {
      // All points in one cluster (duplicates): an oversized leaf that does not try to split again soon.
      const leaf = this.newLeaf(centroid, rows);
      leaf.splitAt = rows.length * 2;
      return leaf;
    }
    const buckets: Int32Array[] = [];
    const fill = new Int32Array(k);
    for (let c = 0; c < k; c++) buckets.push(new Int32Array(counts[c]!));
    for (let i = 0; i < rows.length; i++) buckets[assign[i]!]![fill[assign[i]!]!++] = rows[i]!;
    const node = new TreeNode(centroid);
    node.children = buckets.filter((b) => b.length > 0).map((b) => this.buildNode(b, depth + 1));
    node.radius = this.radiusOf(rows, centroid);
    return node;
  }

  private newLeaf(centroid: Float32Array, rows: Int32Array): TreeNode {
    const leaf = new TreeNode(centroid);
    const rotated = new Float32Array(this.rotation.padded);
    this.rotation.apply(centroid, 0, rotated);
    leaf.rotated = rotated;
    const n = rows.length;
    leaf.rows = Int32Array.from(rows);
    leaf.codes = new Int32Array(Math.max(1, n) * this.words);
    leaf.rnorms = new Float32Array(Math.max(1, n));
    leaf.size = 0;
    let r2 = 0;
    for (let i = 0; i < n; i++) {
      this.encodeInto(leaf, i, rows[i]!);
      r2 = Math.max(r2, leaf.rnorms[i]! * leaf.rnorms[i]!);
    }
    leaf.radius = Math.sqrt(r2);
    leaf.size = n;
    if (this.progress) {
      this.progress.done += n;
      this.progress.report(this.progress.done, this.progress.total);
    }
    leaf.splitAt = 2 * this.options.maxLeafSize;
    return leaf;
  }

  /** Write the code of `row` (residual to the leaf centroid) at position i of the leaf. */
  private encodeInto(leaf: TreeNode, i: number, row: number): void {
    const d = this.dimension, tmp = this.tmp, c = leaf.centroid;
    this.load(row, tmp);
    for (let j = 0; j < d; j++) tmp[j] = tmp[j]! - c[j]!;
    this.rotation.apply(tmp, 0, this.uq);
    encodeSigns(this.uq, this.codeBits, leaf.codes, i * this.words);
    leaf.rnorms[i] = normAt(tmp, 0, d);
    leaf.rows[i] = row;
  }

  // ---- VectorIndex: incremental changes ----------------------------------------------------

  add(row: number): void {
    this.load(row, this.qg);
    const d = this.dimension;
    let node = this.root;
    for (;;) {
      const dist = Math.sqrt(l2sqAt(this.qg, 0, node.centroid, 0, d));
      if (dist > node.radius) node.radius = dist;
      if (!node.children) break;
      // an insert goes to the nearest child by L2, whatever the metric (the partition is an L2 one)
      let best = node.children[0]!;
      let bestScore = Infinity;
      for (const ch of node.children) {
        const s = l2sqAt(this.qg, 0, ch.centroid, 0, d);
        if (s < bestScore) {
          bestScore = s;
          best = ch;
        }
      }
      node = best;
    }
    const leaf = node;
    if (leaf.size === leaf.rows.length) leaf.grow(Math.max(8, Math.ceil(leaf.rows.length * LEAF_GROWTH)), this.words);
    this.encodeInto(leaf, leaf.size, row);
    leaf.size++;
    if (leaf.size > leaf.splitAt) this.split(leaf);
  }

  /** Turn an overfull leaf into a subtree, in place. */
  private split(leaf: TreeNode): void {
    const live: number[] = [];
    for (let i = 0; i < leaf.size; i++) if (this.source.isLive(leaf.rows[i]!)) live.push(leaf.rows[i]!);
    const sub = this.buildNode(Int32Array.from(live), 1);
    leaf.release();
    Object.assign(leaf, sub);
    this.leafCountCache = -1;
    this.shape++;
  }

  remove(_row: number): void {
    // Deletes leave the leaves: search skips rows that are not live; vacuum's remap drops them.
  }

  /** Row numbers changed (vacuum): map every leaf's rows, dropping removed ones (-1). */
  remap(oldToNew: Int32Array): void {
    const w = this.words;
    for (const leaf of this.leaves()) {
      let out = 0;
      for (let i = 0; i < leaf.size; i++) {
        const nr = oldToNew[leaf.rows[i]!]!;
        if (nr < 0) continue;
        leaf.rows[out] = nr;
        leaf.rnorms[out] = leaf.rnorms[i]!;
        leaf.codes.copyWithin(out * w, i * w, i * w + w);
        out++;
      }
      leaf.size = out;
    }
  }

  /** Every live row is in exactly one leaf; every leaf row is a row of the store. */
  verify(): string[] {
    const n = this.source.store.length;
    const seen = new Uint8Array(n);
    let outOfRange = 0;
    let twice = 0;
    const problems: string[] = [];
    for (const leaf of this.leaves()) {
      let rows: Int32Array;
      try {
        rows = leaf.rows; // a reopened leaf is loaded, and its checksum checked, here
      } catch (e) {
        if (!(e instanceof VqliteError)) throw e;
        problems.push(`clustered index: ${e.message}`); // listed, not thrown: the rest is still checked
        continue;
      }
      for (let i = 0; i < leaf.size; i++) {
        const row = rows[i]!;
        if (row < 0 || row >= n) outOfRange++;
        else if (seen[row]!++ > 0 && this.source.isLive(row)) twice++;
      }
    }
    let missing = 0;
    for (let row = 0; row < n; row++) if (this.source.isLive(row) && seen[row] === 0) missing++;
    if (missing > 0) problems.push(`clustered index: ${missing} live rows are in no leaf`);
    if (twice > 0) problems.push(`clustered index: ${twice} live rows are in more than one leaf`);
    if (outOfRange > 0) problems.push(`clustered index: ${outOfRange} leaf entries name rows past the end`);
    return problems;
  }

  /** Every node of the subtree at `node`, inner ones included. */
  private *nodes(node: TreeNode): Generator<TreeNode> {
    yield node;
    if (node.children !== null) for (const ch of node.children) yield* this.nodes(ch);
  }

  private *leaves(node: TreeNode = this.root): Generator<TreeNode> {
    if (node.children === null) yield node;
    else for (const ch of node.children) yield* this.leaves(ch);
  }

  private leafCountCache = -1;

  leafCount(): number {
    if (this.leafCountCache < 0) {
      let n = 0;
      for (const _ of this.leaves()) n++;
      this.leafCountCache = n;
    }
    return this.leafCountCache;
  }

  // ---- search ------------------------------------------------------------------------------

  searchRows(query: Float32Array, k: number, options: IndexSearchOptions = {}): IndexSearchResult {
    const filter = options.filter;
    if (this.root.children === null) {
      // Not trained yet (a single small leaf): exact search is cheaper and exact.
      const r = this.exact.searchRows(query, k, { filter });
      return { ...r, route: filter ? "exact-filtered" : "exact" };
    }
    if (filter && estimateSelectivity(this.source, filter) < SELECTIVE_FILTER) {
      return this.exact.searchRows(query, k, { filter });
    }
    const leaves = this.leafCount();
    let probes = Math.min(options.probes ?? SEARCH_OPTIONS.probes.default, leaves);
    const rerank = Math.max(k, k * (options.rerankFactor ?? SEARCH_OPTIONS.rerankFactor.default));
    let route: SearchRoute = "clustered";
    for (;;) {
      const res = this.probe(query, k, probes, rerank, filter);
      // Never silently fewer than k: widen until k candidates are found or every leaf was probed.
      if (res.rows.length >= k || probes >= leaves) return { ...res, route };
      probes = Math.min(leaves, probes * 2);
      route = "clustered-widened";
    }
  }



  private probe(query: Float32Array, k: number, probes: number, rerank: number, filter: RowFilter | undefined): IndexSearchResult {
    const d = this.dimension, p = this.rotation.padded, words = this.words;
    const metric = this.options.metric;
    const qg = this.qg, qr = this.qr, qcode = this.qcode, cosTab = this.cosTab;
    // query in index geometry, rotated once
    const qn0 = normAt(query, 0, d);
    const inv = metric === "cosine" && qn0 > 0 ? 1 / qn0 : 1;
    for (let i = 0; i < d; i++) qg[i] = query[i]! * inv;
    this.rotation.apply(qg, 0, qr);
    const qNorm = normAt(qg, 0, d);
    if (metric === "dot") {
      encodeSigns(qr, this.codeBits, qcode, 0);
    }

    // best-first walk to the nearest leaves
    const kernels = wasmKernels();
    this.routeKernels = kernels;
    if (kernels !== null) {
      const scratch = (this.routeScratch ??= new WasmScratch());
      this.routeQOff = scratch.ensure((d + this.options.branchingFactor) * 4);
      scratch.f32(this.routeQOff, d).set(qg);
    }
    const chosen = this.nearestLeaves(qg, qNorm, probes);
    this.routeKernels = null;
    const heap = this.heap;
    heap.reset(rerank);
    let worst = Infinity;
    const live = this.source.liveMask();
    let codesCompared = 0;
    const isDot = metric === "dot";
    // the WebAssembly leaf scan: every leaf array in the heap, and no filter (the filtered scan stays in TypeScript)
    let wasmScan = kernels !== null && filter === undefined && this.cosStore.offset() >= 0;
    let maxSize = 0;
    for (const leaf of chosen) {
      if (leaf.codesOffset() < 0 || leaf.rnormsOffset() < 0 || (!isDot && leaf.rotatedOffset() < 0)) wasmScan = false;
      if (leaf.size > maxSize) maxSize = leaf.size;
    }
    let qrOff = 0, qcodeOff = 0, estOff = 0;
    if (wasmScan) {
      // one scratch region per query: the rotated query, its code, and a leaf's estimates (allocated before any view)
      const scratch = (this.wasmScratch ??= new WasmScratch());
      const codeBytes = ((words + 1) >> 1) * 8;
      qrOff = scratch.ensure(p * 4 + codeBytes + maxSize * 8 + 8);
      qcodeOff = qrOff + p * 4;
      estOff = qcodeOff + codeBytes;
      scratch.f32(qrOff, p).set(qr);
      if (isDot) scratch.i32(qcodeOff, words).set(qcode);
    }
    for (const leaf of chosen) {
      let base: number, un: number;
      if (isDot) {
        base = -dotAt(qg, 0, leaf.centroid, 0, d);
        un = qNorm;
      } else if (wasmScan) {
        base = kernels!.residual_code(qrOff, leaf.rotatedOffset(), p, this.codeBits, qcodeOff);
        un = Math.sqrt(base);
      } else {
        base = residualCode(qr, leaf.rotated, p, this.codeBits, qcode, 0);
        un = Math.sqrt(base);
      }
      if (wasmScan) {
        kernels!.code_estimates(qcodeOff, leaf.codesOffset(), words, leaf.size, leaf.rnormsOffset(), this.cosStore.offset(), base, un, isDot ? 1 : 0, estOff);
        worst = pushEstimates(this.wasmScratch!.f64All(), estOff >> 3, leaf.rows, leaf.size, live, heap, worst);
        codesCompared += leaf.size;
      } else if (filter === undefined) {
        worst = scanLeaf(qcode, leaf.codes, words, leaf.rows, leaf.rnorms, leaf.size, live, cosTab, base, un, isDot, heap, worst);
        codesCompared += leaf.size;
      } else {
        const rows = leaf.rows, rn = leaf.rnorms, codes = leaf.codes;
        for (let i = 0; i < leaf.size; i++) {
          const row = rows[i]!;
          if (live[row] !== 1 || !filter(row)) continue;
          codesCompared++;
          const h = hamming(qcode, 0, codes, i * words, words);
          const r = rn[i]!;
          const est = isDot ? base - un * r * cosTab[h]! : base + r * (r - 2 * un * cosTab[h]!);
          if (est < worst) {
            heap.push(est, row);
            worst = heap.worst;
          }
        }
      }
    }
    const cand: number[] = [];
    const ests: number[] = [];
    heap.drain(cand, ests);
    // exact rerank on full vectors
    const fin = this.final;
    fin.reset(k);
    this.reranker.rerank(this.source, query, qn0, cand, fin);
    const rowsOut: number[] = [];
    const scores: number[] = [];
    fin.drain(rowsOut, scores);
    return {
      rows: rowsOut,
      distances: scores.map((s) => scoreToDistance(metric, s)),
      route: "clustered",
      stats: { leavesProbed: chosen.length, codesCompared, reranked: cand.length },
    };
  }

  /**
   * The `probes` leaves nearest the query by route score, best first. A
   * best-first walk over inner nodes (nearest first) that scores every child
   * it meets, leaves going to a top-`probes` list. It expands at least
   * ROUTE_EXPANSIONS_PER_PROBE × probes inner nodes, and beyond that goes on
   * while the nearest unexpanded one is nearer than the probes-th leaf found
   * (where a walk that stops at the first `probes` leaves popped would stop):
   * so it meets every leaf that walk meets, and more. That walk misses near
   * leaves whose parent's centroid is far (a wide cluster): at 60k
   * Fashion-MNIST rows it cost recall 0.986 → 0.955 at 12 probes.
   */
  private nearestLeaves(q: Float32Array, qNorm: number, probes: number): TreeNode[] {
    const heap = this.walk, nodes = this.walkNodes, best = this.routeBest;
    const d = this.dimension, isDot = this.options.metric === "dot";
    heap.clear();
    nodes.length = 0;
    best.reset(probes);
    const leafNodes = this.routeLeaves;
    leafNodes.length = 0;
    let budget = Math.max(1, ROUTE_EXPANSIONS_PER_PROBE * probes);
    nodes.push(this.root);
    heap.push(0, 0);
    while (heap.size > 0) {
      // past the budget, go on only while an inner node is nearer than the probes-th leaf (the plain best-first walk's rule)
      if (budget <= 0 && best.size >= probes && heap.topKey >= best.worst) break;
      const node = nodes[heap.topVal]!;
      heap.pop();
      budget--;
      const children = node.children!;
      // the children's scores in one kernel call (their centroids side by side in the heap), or in TypeScript
      const kernels = this.routeKernels;
      const off = kernels === null ? -1 : node.childrenOffset(this.shape, d);
      const outOff = this.routeQOff + d * 4;
      if (off >= 0) {
        if (isDot) kernels!.dot_batch(this.routeQOff, off, d, children.length, d, outOff);
        else kernels!.l2sq_batch(this.routeQOff, off, d, children.length, d, outOff);
      }
      const scores = off >= 0 ? this.routeScratch!.f32All() : null;
      for (let i = 0; i < children.length; i++) {
        const ch = children[i]!;
        // l2/cosine: distance to the centroid. dot: minus the upper bound ⟨q,c⟩ + ‖q‖·radius of ⟨q,x⟩ over the
        // node's points (Cauchy–Schwarz), so wide nodes are not passed over.
        const raw = scores !== null ? scores[(outOff >> 2) + i]! : isDot ? dotAt(q, 0, ch.centroid, 0, d) : l2sqAt(q, 0, ch.centroid, 0, d);
        const score = isDot ? -(raw + qNorm * ch.radius) : raw;
        if (ch.children === null) {
          if (score < best.worst) {
            best.push(score, leafNodes.length);
            leafNodes.push(ch);
          }
        } else {
          heap.push(score, nodes.length);
          nodes.push(ch);
        }
      }
    }
    nodes.length = 0;
    const picked = this.routePicked;
    picked.length = 0;
    this.routeScores.length = 0;
    best.drain(picked, this.routeScores);
    const out: TreeNode[] = [];
    for (const i of picked) out.push(leafNodes[i]!);
    leafNodes.length = 0;
    return out;
  }

  // ---- memory ------------------------------------------------------------------------------

  /** Tree, codes and row maps on the heap. */
  heapBytes(): number {
    let bytes = 0;
    const visit = (n: TreeNode) => {
      bytes += 96 + n.centroid.byteLength;
      // an unloaded leaf holds no RAM of its own (its bytes are pages of the mapped snapshot)
      if (n.children !== null) n.children.forEach(visit);
      else if (!n.unloaded) bytes += n.rows.byteLength + n.codes.byteLength + n.rnorms.byteLength + n.rotated.byteLength;
    };
    visit(this.root);
    bytes += (this.qg.byteLength + this.qr.byteLength + this.uq.byteLength + this.tmp.byteLength) + this.cosTab.byteLength;
    return bytes;
  }

  // ---- persistence -------------------------------------------------------------------------

  serialize(w: ByteWriter): void {
    const o = this.options;
    // format version of the index section: 2 added the code options; 3 gave each leaf's arrays a CRC32
    // and left them out of the snapshot's checksum; 4 puts the whole tree first (the CRCs in it), then
    // every leaf's rows, codes and norms (opening reads the tree alone: contiguous pages, not one per leaf)
    w.u32(4);
    w.u32(this.dimension).u32(o.branchingFactor).u32(o.maxLeafSize).u32(o.maxIterations).f64(o.seed).string(o.metric).u32(this.splits);
    w.u8(o.rotationRounds).u32(o.codeBits);
    const leafParts = (n: TreeNode): Uint8Array[] => {
      const saved = n.savedBytes();
      // an unloaded leaf is written back from its saved bytes, without loading (or checking) it
      if (saved !== null) return [saved.rows, saved.codes, saved.rnorms];
      const rows = n.rows, codes = n.codes, rnorms = n.rnorms;
      return [
        new Uint8Array(rows.buffer, rows.byteOffset, n.size * 4),
        new Uint8Array(codes.buffer, codes.byteOffset, n.size * this.words * 4),
        new Uint8Array(rnorms.buffer, rnorms.byteOffset, n.size * 4),
      ];
    };
    const leaves: TreeNode[] = [];
    const visit = (n: TreeNode) => {
      w.f32array(n.centroid);
      w.f64(n.radius);
      if (n.children === null) {
        // an unloaded leaf keeps the CRC it came with: a new one would vouch for bytes nobody checked
        const crc = n.savedBytes()?.crc ?? crcOf(leafParts(n));
        w.u8(1).u32(n.size).f64(n.splitAt).u32(crc);
        leaves.push(n);
      } else {
        w.u8(0).u32(n.children.length);
        n.children.forEach(visit);
      }
    };
    visit(this.root);
    for (const leaf of leaves) w.unchecked(leafParts(leaf));
  }

  static deserialize(r: ByteReader, source: RowSource): ClusteredTree {
    const version = r.u32();
    if (version < 1 || version > 4) throw new RangeError(`unsupported clustered index version ${version}`);
    const dimension = r.u32();
    if (dimension !== source.store.dimension) throw new RangeError("index dimension does not match the vectors");
    const options: ClusteredOptions = {
      branchingFactor: r.u32(),
      maxLeafSize: r.u32(),
      maxIterations: r.u32(),
      seed: r.f64(),
      metric: r.string() as Metric,
    };
    const splits = r.u32();
    // version 1 always used one rotation round and a bit per dimension
    const codes = version >= 2 ? { rotationRounds: r.u8(), codeBits: r.u32() } : {};
    const index = new ClusteredTree(source, { ...options, ...codes });
    index.splits = splits;
    const words = index.words;
    const storeRows = source.store.length;
    // centroids are copied into shared blocks of 256 (one allocation per block, a view per node: at
    // 3M rows a fresh process spent half its 50 ms open allocating one array per centroid)
    let block = new Float32Array(0), blockBytes = new Uint8Array(0), used = 0;
    const readCentroid = (): Float32Array => {
      if (r.u32() !== dimension) throw new RangeError("centroid has the wrong dimension");
      const at = r.skip(dimension * 4);
      if (used + dimension > block.length) {
        block = new Float32Array(256 * dimension);
        blockBytes = new Uint8Array(block.buffer);
        used = 0;
      }
      blockBytes.set(r.buf.subarray(at, at + dimension * 4), used * 4);
      used += dimension;
      return block.subarray(used - dimension, used);
    };
    // what every leaf shares: one object for the tree, not one per leaf (thousands at open)
    const tree: SavedTree = { buf: r.buf, words, source: r.source, rotation: index.rotation, storeRows };
    /** A leaf's rows, codes and residual norms one after another from the reader's position (section versions 3 and 4). */
    const keepContiguous = (node: TreeNode, crc: number) => {
      const n = node.size;
      const at = r.skip(n * 4 * (2 + words));
      node.keepSaved({ tree, rowsAt: at, codesAt: at + n * 4, rnormsAt: at + n * 4 * (1 + words), crc });
    };
    // version 4: the leaves' arrays follow the whole tree, in the tree's order
    const laterLeaves: { node: TreeNode; crc: number }[] = [];
    const read = (): TreeNode => {
      const node = new TreeNode(readCentroid());
      node.radius = r.f64();
      if (r.u8() === 1) {
        node.size = r.u32();
        node.splitAt = r.f64();
        // rows, codes and residual norms stay in the snapshot's bytes until the leaf is first used
        const n = node.size;
        // offsets into the snapshot's bytes, not views: thousands of leaves, and no object made per array
        if (version >= 4) {
          laterLeaves.push({ node, crc: r.u32() });
        } else if (version === 3) {
          keepContiguous(node, r.u32()); // each leaf's CRC32 and arrays inline
        } else {
          if (r.u32() !== n) throw new RangeError("leaf arrays have the wrong length");
          const rowsAt = r.skip(n * 4);
          if (r.u32() !== n * words) throw new RangeError("leaf arrays have the wrong length");
          const codesAt = r.skip(n * words * 4);
          if (r.u32() !== n) throw new RangeError("leaf arrays have the wrong length");
          node.keepSaved({ tree, rowsAt, codesAt, rnormsAt: r.skip(n * 4), crc: null });
        }
      } else {
        const n = r.u32();
        node.children = [];
        for (let i = 0; i < n; i++) node.children.push(read());
      }
      return node;
    };
    index.root.release();
    index.root = read();
    for (const { node, crc } of laterLeaves) keepContiguous(node, crc);
    index.leafCountCache = -1;
    return index;
  }
}

/** The CRC32 of `parts` one after another. */
function crcOf(parts: readonly Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) sum = crc32(p, sum);
  return sum;
}

function resolveOptions(o: ClusteredOptions, sourceMetric: Metric, dimension: number): ResolvedOptions {
  const metric = o.metric ?? sourceMetric;
  let padded = 1; // the rotation's width: codes take the first codeBits of its coordinates
  while (padded < dimension) padded <<= 1;
  if (metric !== sourceMetric) throw errors.invalidConfig(`index metric ${metric} differs from the collection's ${sourceMetric}`);
  return {
    ...resolveIndexOptions("clustered", o),
    metric,
    codeBits: resolveInteger("codeBits", o.codeBits, { default: dimension, min: 1, max: padded }),
    rotationRounds: resolveInteger("rotationRounds", o.rotationRounds, { default: 1, min: 0, max: 2 }) as 0 | 1 | 2,
  };
}

/**
 * The hot loop: estimate the distance of every live point of a leaf from its
 * code and keep the best in `heap`. A small function of typed arrays only, so
 * the JIT compiles it tightly. Returns the heap's new admission threshold.
 */
function scanLeaf(
  qcode: Int32Array,
  codes: Int32Array,
  words: number,
  rows: Int32Array,
  rnorms: Float32Array,
  size: number,
  live: Uint8Array,
  cosTab: Float64Array,
  base: number,
  un: number,
  isDot: boolean,
  heap: TopK,
  worst: number,
): number {
  const twoUn = 2 * un;
  for (let i = 0, o = 0; i < size; i++, o += words) {
    const row = rows[i]!;
    if (live[row] !== 1) continue;
    // hamming() from binary_code.ts, inlined: this is the loop a clustered search spends its time in
    let h = 0;
    for (let w = 0; w < words; w++) {
      let x = qcode[w]! ^ codes[o + w]!;
      x = (x - ((x >>> 1) & 0x55555555)) | 0;
      x = ((x & 0x33333333) + ((x >>> 2) & 0x33333333)) | 0;
      x = (x + (x >>> 4)) & 0x0f0f0f0f;
      h = (h + (Math.imul(x, 0x01010101) >>> 24)) | 0;
    }
    const r = rnorms[i]!;
    const est = isDot ? base - un * r * cosTab[h]! : base + r * (r - twoUn * cosTab[h]!);
    if (est < worst) {
      heap.push(est, row);
      worst = heap.worst;
    }
  }
  return worst;
}

/**
 * The JavaScript half of the WebAssembly leaf scan: the estimates of a leaf's
 * points (float64, from code_estimates, at ests[at..at+size)) into `heap`,
 * skipping rows that are not live. Returns the heap's new admission threshold.
 */
function pushEstimates(ests: Float64Array, at: number, rows: Int32Array, size: number, live: Uint8Array, heap: TopK, worst: number): number {
  for (let i = 0; i < size; i++) {
    const est = ests[at + i]!;
    if (est < worst) {
      const row = rows[i]!;
      if (live[row] !== 1) continue;
      heap.push(est, row);
      worst = heap.worst;
    }
  }
  return worst;
}
