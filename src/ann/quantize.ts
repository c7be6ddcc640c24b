/**
 * Vector codes for traversal in RAM:
 *
 * - scalar: one byte per dimension, x ≈ min + c·scale with min and scale trained
 *   per dimension (4× smaller than float32). The inner product with a query is
 *   folded into one multiply-add per dimension: ⟨q, x̂⟩ = Σ qᵢ·minᵢ + Σ (qᵢ·scaleᵢ)·cᵢ.
 * - binary: one bit per dimension, the sign of the centred, rotated vector
 *   (32× smaller), plus its norm; distances are estimated from the Hamming
 *   distance as for the clustered index's codes.
 *
 * Estimates only rank candidates; the final ones are reranked on full vectors.
 */
import { grow } from "./typed_arrays";
import { ByteReader, ByteWriter } from "../storage/binary";
import { encodeSigns, hamming, wordsFor } from "./binary_code";
import { dotAt, type Metric } from "./distance";
import { HadamardRotation } from "./rotation";
import { HeapArray, wasmKernels, WasmScratch, type WasmKernels } from "./wasm";


export interface Quantizer {
  readonly kind: "scalar" | "binary";
  /** Bytes of code per vector. */
  readonly codeBytes: number;
  /** Encode the vector at data[off..] (already in index geometry) as node `node`'s code. */
  encode(data: Float32Array, off: number, node: number): void;
  /** Prepare for estimates against query q (index geometry). */
  setQuery(q: Float32Array): void;
  /** Estimated score (lower is closer) of node for the prepared query. */
  estimate(node: number): number;
  ensureCapacity(nodes: number): void;
  /** Copy the code of old node `from` to new node `to` (vacuum's renumbering). */
  move(from: number, to: number): void;
  heapBytes(): number;
  serialize(w: ByteWriter, nodes: number): void;
}

export class ScalarQuantizer implements Quantizer {
  readonly kind = "scalar" as const;
  private readonly codeStore = HeapArray.uint8();
  /** One byte per dimension, kept in the WebAssembly heap for the kernels: assigning copies in; the view lasts until the heap's next allocation. */
  get codes(): Uint8Array {
    return this.codeStore.get();
  }
  set codes(values: Uint8Array) {
    this.codeStore.set(values);
  }
  // bound by setQuery when the codes are in the WebAssembly heap: the weights as float32 there
  private kernels: WasmKernels | null = null;
  private codesOff = -1;
  private wOff = 0;
  private scratch: WasmScratch | null = null;
  /** Σ x̂ᵢ² per node, for l2 from inner products. */
  sqnorm: Float32Array;
  private readonly w: Float64Array;
  private qConst = 0;
  private qSq = 0;

  constructor(
    readonly dim: number,
    readonly metric: Metric,
    readonly min: Float32Array,
    readonly scale: Float32Array,
    capacity = 16,
  ) {
    this.codes = new Uint8Array(capacity * dim);
    this.sqnorm = new Float32Array(capacity);
    this.w = new Float64Array(dim);
  }

  /** Per-dimension min and max over the rows given (training). */
  static train(dim: number, metric: Metric, rows: Float32Array, count: number): ScalarQuantizer {
    const min = new Float32Array(dim).fill(Infinity);
    const max = new Float32Array(dim).fill(-Infinity);
    for (let r = 0; r < count; r++) {
      for (let j = 0; j < dim; j++) {
        const x = rows[r * dim + j]!;
        if (x < min[j]!) min[j] = x;
        if (x > max[j]!) max[j] = x;
      }
    }
    const scale = new Float32Array(dim);
    for (let j = 0; j < dim; j++) {
      if (!Number.isFinite(min[j]!)) {
        min[j] = 0;
        max[j] = 0;
      }
      scale[j] = max[j]! > min[j]! ? (max[j]! - min[j]!) / 255 : 1;
    }
    return new ScalarQuantizer(dim, metric, min, scale);
  }

  get codeBytes(): number {
    return this.dim;
  }

  ensureCapacity(nodes: number): void {
    this.codes = grow(this.codes, nodes * this.dim, (n) => new Uint8Array(n));
    this.sqnorm = grow(this.sqnorm, nodes, (n) => new Float32Array(n));
  }

  encode(data: Float32Array, off: number, node: number): void {
    const d = this.dim, min = this.min, scale = this.scale, codes = this.codes;
    let s = 0;
    for (let j = 0; j < d; j++) {
      let c = Math.round((data[off + j]! - min[j]!) / scale[j]!);
      c = c < 0 ? 0 : c > 255 ? 255 : c; // values outside the trained range clamp
      codes[node * d + j] = c;
      const x = min[j]! + c * scale[j]!;
      s += x * x;
    }
    this.sqnorm[node] = s;
  }

  move(from: number, to: number): void {
    this.codes.copyWithin(to * this.dim, from * this.dim, (from + 1) * this.dim);
    this.sqnorm[to] = this.sqnorm[from]!;
  }

  setQuery(q: Float32Array): void {
    let c = 0;
    for (let j = 0; j < this.dim; j++) {
      c += q[j]! * this.min[j]!;
      this.w[j] = q[j]! * this.scale[j]!;
    }
    this.qConst = c;
    this.qSq = dotAt(q, 0, q, 0, this.dim);
    const kernels = wasmKernels();
    this.kernels = kernels !== null && this.codeStore.offset() >= 0 ? kernels : null;
    if (this.kernels !== null) {
      const scratch = (this.scratch ??= new WasmScratch());
      this.wOff = scratch.ensure(this.dim * 4);
      this.codesOff = this.codeStore.offset();
      scratch.f32(this.wOff, this.dim).set(this.w); // float32 weights: estimates only rank, the rerank is exact
    }
  }

  estimate(node: number): number {
    const d = this.dim;
    let ip: number;
    if (this.kernels !== null) ip = this.qConst + this.kernels.dot_u8(this.wOff, this.codesOff + node * d, d);
    else {
      const w = this.w, codes = this.codes;
      const base = node * d;
      let s0 = 0, s1 = 0;
      let j = 0;
      for (; j + 1 < d; j += 2) {
        s0 += w[j]! * codes[base + j]!;
        s1 += w[j + 1]! * codes[base + j + 1]!;
      }
      if (j < d) s0 += w[j]! * codes[base + j]!;
      ip = this.qConst + s0 + s1;
    }
    // cosine runs on unit vectors, where ‖q − x‖² = 2 − 2⟨q, x⟩ ranks like 1 − ⟨q, x⟩
    return this.metric === "dot" ? -ip : this.qSq - 2 * ip + this.sqnorm[node]!;
  }

  heapBytes(): number {
    return this.codes.byteLength + this.sqnorm.byteLength + this.min.byteLength + this.scale.byteLength + this.w.byteLength;
  }

  serialize(w: ByteWriter, nodes: number): void {
    w.f32array(this.min).f32array(this.scale);
    w.u8array(this.codes.subarray(0, nodes * this.dim));
    w.f32array(this.sqnorm.subarray(0, nodes));
  }

  static deserialize(r: ByteReader, dim: number, metric: Metric, nodes: number): ScalarQuantizer {
    const min = r.f32array(), scale = r.f32array();
    if (min.length !== dim || scale.length !== dim) throw new RangeError("scalar quantizer has the wrong dimension");
    // made empty, then given the saved arrays: the codes copied once, from the snapshot's bytes straight into the heap
    const q = new ScalarQuantizer(dim, metric, min, scale, 0);
    const codes = r.bytes(), sq = r.f32array();
    if (codes.length !== nodes * dim || sq.length !== nodes) throw new RangeError("scalar codes have the wrong length");
    q.codeStore.setBytes(codes);
    q.sqnorm = sq;
    q.ensureCapacity(16);
    return q;
  }
}

export class BinaryQuantizer implements Quantizer {
  readonly kind = "binary" as const;
  private readonly codeStore = HeapArray.int32();
  /** 1-bit codes, kept in the WebAssembly heap for the kernels: assigning copies in; the view lasts until the heap's next allocation. */
  get codes(): Int32Array {
    return this.codeStore.get();
  }
  set codes(values: Int32Array) {
    this.codeStore.set(values);
  }
  // bound by setQuery when the codes are in the WebAssembly heap
  private kernels: WasmKernels | null = null;
  private codesOff = -1;
  private qOff = 0;
  private scratch: WasmScratch | null = null;
  norms: Float32Array;
  /** ⟨μ, x − μ⟩ per node: the part of ⟨q, x⟩ that does not depend on q − μ (dot only). */
  bias: Float32Array;
  private readonly rotation: HadamardRotation;
  private readonly words: number;
  private readonly bits: number;
  private readonly tmp: Float32Array;
  private readonly rot: Float32Array;
  private readonly qcode: Int32Array;
  private readonly cosTab: Float64Array;
  private qNorm = 0;
  private qDot = 0;

  constructor(
    readonly dim: number,
    readonly metric: Metric,
    readonly mean: Float32Array,
    readonly seed: number,
    capacity = 16,
  ) {
    this.rotation = new HadamardRotation(dim, seed);
    this.bits = dim;
    this.words = wordsFor(dim);
    this.codes = new Int32Array(capacity * this.words);
    this.norms = new Float32Array(capacity);
    this.bias = new Float32Array(capacity);
    this.tmp = new Float32Array(dim);
    this.rot = new Float32Array(this.rotation.padded);
    this.qcode = new Int32Array(this.words);
    this.cosTab = new Float64Array(this.bits + 1);
    for (let h = 0; h <= this.bits; h++) this.cosTab[h] = Math.cos((Math.PI * h) / this.bits);
  }

  /** The mean of the rows given is the centre codes are taken around. */
  static train(dim: number, metric: Metric, rows: Float32Array, count: number, seed: number): BinaryQuantizer {
    const acc = new Float64Array(dim);
    for (let r = 0; r < count; r++) for (let j = 0; j < dim; j++) acc[j]! += rows[r * dim + j]!;
    const mean = new Float32Array(dim);
    if (count > 0) for (let j = 0; j < dim; j++) mean[j] = acc[j]! / count;
    return new BinaryQuantizer(dim, metric, mean, seed);
  }

  get codeBytes(): number {
    return this.words * 4;
  }

  ensureCapacity(nodes: number): void {
    this.codes = grow(this.codes, nodes * this.words, (n) => new Int32Array(n));
    this.norms = grow(this.norms, nodes, (n) => new Float32Array(n));
    this.bias = grow(this.bias, nodes, (n) => new Float32Array(n));
  }

  private centre(data: Float32Array, off: number): number {
    const t = this.tmp, m = this.mean;
    let s = 0;
    for (let j = 0; j < this.dim; j++) {
      const v = data[off + j]! - m[j]!;
      t[j] = v;
      s += v * v;
    }
    this.rotation.apply(t, 0, this.rot);
    return Math.sqrt(s);
  }

  encode(data: Float32Array, off: number, node: number): void {
    this.norms[node] = this.centre(data, off);
    this.bias[node] = dotAt(this.mean, 0, this.tmp, 0, this.dim);
    encodeSigns(this.rot, this.bits, this.codes, node * this.words);
  }

  move(from: number, to: number): void {
    this.codes.copyWithin(to * this.words, from * this.words, (from + 1) * this.words);
    this.norms[to] = this.norms[from]!;
    this.bias[to] = this.bias[from]!;
  }

  setQuery(q: Float32Array): void {
    this.qNorm = this.centre(q, 0);
    encodeSigns(this.rot, this.bits, this.qcode, 0);
    this.qDot = dotAt(q, 0, this.mean, 0, this.dim);
    const kernels = wasmKernels();
    this.codesOff = kernels === null ? -1 : this.codeStore.offset();
    this.kernels = this.codesOff >= 0 ? kernels : null;
    if (this.kernels !== null) {
      const scratch = (this.scratch ??= new WasmScratch());
      this.qOff = scratch.ensure(this.words * 4);
      this.codesOff = this.codeStore.offset(); // unchanged by the allocation: offsets survive growth
      scratch.i32(this.qOff, this.words).set(this.qcode);
    }
  }

  estimate(node: number): number {
    const h =
      this.kernels !== null
        ? this.kernels.hamming(this.qOff, this.codesOff + node * this.words * 4, this.words)
        : hamming(this.qcode, 0, this.codes, node * this.words, this.words);
    const r = this.norms[node]!;
    const cos = this.cosTab[h]!;
    // ‖q−x‖² = ‖q−μ‖² + ‖x−μ‖² − 2⟨q−μ, x−μ⟩ ; ⟨q, x⟩ = ⟨q, μ⟩ + ⟨q, x−μ⟩ ≈ ⟨q, μ⟩ + ⟨q−μ, x−μ⟩ + ⟨μ, x−μ⟩ (last term dropped)
    const ip = this.qNorm * r * cos;
    return this.metric === "dot" ? -(this.qDot + ip) : this.qNorm * this.qNorm + r * r - 2 * ip;
  }

  heapBytes(): number {
    return this.codes.byteLength + this.norms.byteLength + this.bias.byteLength + this.mean.byteLength + this.tmp.byteLength + this.rot.byteLength + this.cosTab.byteLength;
  }

  serialize(w: ByteWriter, nodes: number): void {
    w.f32array(this.mean).f64(this.seed);
    w.u32array(new Uint32Array(this.codes.buffer, this.codes.byteOffset, nodes * this.words));
    w.f32array(this.norms.subarray(0, nodes));
    w.f32array(this.bias.subarray(0, nodes));
  }

  static deserialize(r: ByteReader, dim: number, metric: Metric, nodes: number): BinaryQuantizer {
    const mean = r.f32array();
    const seed = r.f64();
    if (mean.length !== dim) throw new RangeError("binary quantizer has the wrong dimension");
    // made empty, then given the saved arrays: the codes copied once, from the snapshot's bytes straight into the heap
    const q = new BinaryQuantizer(dim, metric, mean, seed, 0);
    const codes = r.u32bytes(), norms = r.f32array(), bias = r.f32array();
    if (codes.length !== nodes * q.words * 4 || norms.length !== nodes || bias.length !== nodes) throw new RangeError("binary codes have the wrong length");
    q.codeStore.setBytes(codes);
    q.norms = norms;
    q.bias = bias;
    q.ensureCapacity(16);
    return q;
  }
}
