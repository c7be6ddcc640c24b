/**
 * The WebAssembly SIMD kernels (src/ann/wasm/kernels.wat), instantiated
 * synchronously at import over the process's WebAssembly heap
 * (storage/wasm_heap.ts), where in-memory stores keep their rows.
 *
 * wasmKernels() is null, and callers run the TypeScript kernels of
 * distance.ts and binary_code.ts (the oracle the WebAssembly ones are tested
 * against), when WebAssembly or SIMD128 is missing, when VQLITE_WASM=0, or
 * while setWasmKernelsEnabled(false) is in force (tests of that path).
 *
 * Kernel arguments are byte offsets into the heap and element counts.
 */
import { wasmHeap, wasmHeapEnabled, WasmRegion } from "../storage/wasm_heap";
import { KERNELS_WASM_BASE64 } from "./wasm/kernels_wasm";

export interface WasmKernels {
  /** Σ (a[i] − b[i])² over d floats. */
  l2sq(a: number, b: number, d: number): number;
  /** Σ a[i]·b[i] over d floats. */
  dot(a: number, b: number, d: number): number;
  /** Σ w[i]·c[i] over d float32 weights and d uint8 codes. */
  dot_u8(w: number, c: number, d: number): number;
  /** out[j] = l2sq (dot = 0) or dot (dot = 1) of q and the row at base + ids[j]·rowBytes, for j < n (int32 ids, float32 out). */
  score_gather(q: number, base: number, rowBytes: number, ids: number, n: number, d: number, out: number, dot: number): void;
  /** out[i] = l2sq(q, rows + i·stride floats, d) for i < n (float32 out). */
  l2sq_batch(q: number, rows: number, stride: number, n: number, d: number, out: number): void;
  /** out[i] = dot(q, rows + i·stride floats, d) for i < n (float32 out). */
  dot_batch(q: number, rows: number, stride: number, n: number, d: number, out: number): void;
  /** Hamming distance of two 1-bit codes of `words` 32-bit words. */
  hamming(a: number, b: number, words: number): number;
  /** out[i] = hamming(q, codes + i·words words, words) for i < n (int32 out). */
  hamming_batch(q: number, codes: number, words: number, n: number, out: number): void;
  /** residualCode (binary_code.ts) over p floats at q and c: sign bits of the first `bits` to `code`, returns Σ u² (float64). */
  residual_code(q: number, c: number, p: number, bits: number, code: number): number;
  /**
   * out[i] (float64) = the clustered distance estimate of code i of n (1-bit codes of `words` words at `codes`)
   * against the code at q, with r = rnorms[i] (float32) and cos = cosTab[h] (float64 table at `cos`):
   * base + r·(r − 2·un·cos), or base − un·r·cos when dot = 1.
   */
  code_estimates(q: number, codes: number, words: number, n: number, rnorms: number, cos: number, base: number, un: number, dot: number, out: number): void;
}

function envEnabled(): boolean {
  const v = typeof process !== "undefined" ? process.env.VQLITE_WASM : undefined;
  return v === undefined || !["0", "false", "off", "no"].includes(v.toLowerCase());
}

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function load(): WasmKernels | null {
  if (wasmHeap === null) return null;
  try {
    const bytes = decodeBase64(KERNELS_WASM_BASE64);
    // an engine without SIMD128 rejects the module here
    if (!WebAssembly.validate(bytes)) return null;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: wasmHeap.memory } });
    return instance.exports as unknown as WasmKernels;
  } catch {
    return null;
  }
}

const loaded: WasmKernels | null = envEnabled() ? load() : null;

/**
 * The same kernels over a shared WebAssembly memory (created with
 * `shared: true`, maximum 65536 pages), for threads that work on one
 * structure at once (hnsw_parallel.ts); null where the engine has no shared
 * memory or SIMD, or VQLITE_WASM=0. The module is kernels.wasm with its
 * memory import marked shared: the limits flag byte after the import's name
 * goes from 0x01 (has a maximum) to 0x03 (shared, has a maximum).
 */
export function sharedKernels(memory: WebAssembly.Memory): WasmKernels | null {
  if (!envEnabled() || loaded === null) return null;
  try {
    const bytes = decodeBase64(KERNELS_WASM_BASE64);
    const name = [6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2]; // "memory", then import kind 2 (a memory)
    let at = -1;
    for (let i = 0; i + name.length < bytes.length && at < 0; i++) if (name.every((c, j) => bytes[i + j] === c)) at = i + name.length;
    if (at < 0 || bytes[at] !== 1) return null;
    bytes[at] = 3;
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as unknown as WasmKernels;
  } catch {
    return null;
  }
}
let enabled = loaded !== null;

/** Whether the WebAssembly kernels loaded (the engine has WebAssembly with SIMD128, and VQLITE_WASM is not 0). */
export const wasmKernelsLoaded: boolean = loaded !== null;

/** The WebAssembly kernels, or null when the TypeScript ones must run. */
export function wasmKernels(): WasmKernels | null {
  return enabled ? loaded : null;
}

/** Force the TypeScript kernels (false) or allow the WebAssembly ones again (true); returns the previous setting. */
export function setWasmKernelsEnabled(on: boolean): boolean {
  const was = enabled;
  enabled = on && loaded !== null;
  return was;
}

/**
 * A reusable region of the WebAssembly heap for per-query inputs and outputs
 * (a query copied in, a block of scores out). ensure() may grow the memory,
 * which detaches every view of it: call it before making views.
 */
export class WasmScratch {
  private region: WasmRegion | null = null;

  /** Byte offset of at least `bytes` bytes (contents unspecified after a regrowth). */
  ensure(bytes: number): number {
    if (this.region === null || this.region.bytes < bytes) {
      this.region?.free();
      this.region = null;
      this.region = WasmRegion.alloc(Math.max(bytes, 1024));
    }
    return this.region.offset;
  }

  f32(byteOffset: number, length: number): Float32Array {
    return new Float32Array(this.region!.heap.buffer(), byteOffset, length);
  }

  i32(byteOffset: number, length: number): Int32Array {
    return new Int32Array(this.region!.heap.buffer(), byteOffset, length);
  }

  private f64View: Float64Array | null = null;
  private f64Generation = -1;
  private f32View: Float32Array | null = null;
  private f32Generation = -1;

  /** A float32 view of the whole heap (index = byte offset / 4), remade only after the memory grew. */
  f32All(): Float32Array {
    const heap = this.region!.heap;
    if (this.f32View === null || this.f32Generation !== heap.generation) {
      this.f32View = new Float32Array(heap.buffer());
      this.f32Generation = heap.generation;
    }
    return this.f32View;
  }

  /** A float64 view of the whole heap (index = byte offset / 8), remade only after the memory grew: no allocation per call. */
  f64All(): Float64Array {
    const heap = this.region!.heap;
    if (this.f64View === null || this.f64Generation !== heap.generation) {
      this.f64View = new Float64Array(heap.buffer());
      this.f64Generation = heap.generation;
    }
    return this.f64View;
  }

  free(): void {
    this.region?.free();
    this.region = null;
  }
}

const makeInt32 = (b: ArrayBuffer, o: number, n: number) => new Int32Array(b, o, n);
const makeUint8 = (b: ArrayBuffer, o: number, n: number) => new Uint8Array(b, o, n);
const makeFloat32 = (b: ArrayBuffer, o: number, n: number) => new Float32Array(b, o, n);
const makeFloat64 = (b: ArrayBuffer, o: number, n: number) => new Float64Array(b, o, n);
const EMPTY_INT32 = new Int32Array(0);
const EMPTY_UINT8 = new Uint8Array(0);
const EMPTY_FLOAT32 = new Float32Array(0);
const EMPTY_FLOAT64 = new Float64Array(0);

/**
 * A typed array kept in the WebAssembly heap when it can be (plain otherwise),
 * for index structures the kernels scan (codes). set() copies in (assigning
 * the current view again does nothing); get() is a view of the current
 * memory, valid until the next allocation in the heap, so fetch it per use
 * rather than keeping it.
 */
export class HeapArray<T extends Int32Array | Uint8Array | Float32Array | Float64Array> {
  private region: WasmRegion | null = null;
  /** The values when they are not in the heap. */
  private plain: T;
  private length = 0;
  private view: T;
  private generation = -1;

  /**
   * `empty`: an empty array of the kind, shared by every HeapArray of it (a
   * reopened clustered index makes three per leaf: thousands at open).
   */
  private constructor(
    private readonly make: (buffer: ArrayBuffer, offset: number, length: number) => T,
    private readonly empty: T,
  ) {
    this.plain = empty;
    this.view = empty;
  }

  static int32(): HeapArray<Int32Array> {
    return new HeapArray(makeInt32, EMPTY_INT32);
  }

  static uint8(): HeapArray<Uint8Array> {
    return new HeapArray(makeUint8, EMPTY_UINT8);
  }

  static float32(): HeapArray<Float32Array> {
    return new HeapArray(makeFloat32, EMPTY_FLOAT32);
  }

  static float64(): HeapArray<Float64Array> {
    return new HeapArray(makeFloat64, EMPTY_FLOAT64);
  }

  get(): T {
    const r = this.region;
    if (r === null) return this.plain;
    if (this.generation !== r.heap.generation) {
      this.view = this.make(r.heap.buffer(), r.offset, this.length);
      this.generation = r.heap.generation;
    }
    return this.view;
  }

  set(values: T): void {
    if (this.region === null ? values === this.plain : values === this.view && this.generation === this.region.heap.generation) return; // already these
    this.store(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), values);
  }

  /**
   * Take the values from their little-endian bytes (a snapshot's, uncopied, and
   * perhaps not aligned): copied once, straight into the heap when it holds them.
   */
  setBytes(bytes: Uint8Array): void {
    if (bytes.length % this.plain.BYTES_PER_ELEMENT !== 0) throw new RangeError("byte length is not a whole number of values");
    this.store(bytes, null);
  }

  /** Put `bytes` in a heap region, or keep them plain: `owned` as it is (set), else a copy. */
  private store(bytes: Uint8Array, owned: T | null): void {
    const n = bytes.length / this.plain.BYTES_PER_ELEMENT;
    // bytes inside the heap itself could move when it grows: take them out first
    if (wasmHeap !== null && bytes.buffer === wasmHeap.buffer()) {
      bytes = bytes.slice();
      owned = this.make(bytes.buffer as ArrayBuffer, 0, n);
    }
    this.region?.free();
    this.region = null;
    this.length = n;
    if (wasmHeapEnabled() && n > 0) {
      try {
        const region = WasmRegion.alloc(bytes.length, false); // every byte is written just below
        new Uint8Array(region.heap.buffer(), region.offset, bytes.length).set(bytes);
        this.region = region;
        this.generation = -1;
        this.plain = this.empty;
        return;
      } catch (e) {
        if (!(e instanceof RangeError)) throw e; // the heap cannot hold them: they stay plain
      }
    }
    this.plain = owned ?? this.make(bytes.slice().buffer as ArrayBuffer, 0, n);
  }

  /**
   * Give the heap region back now (the array is empty after): for an owner that
   * drops its values during a synchronous run, where the finalizer that would
   * otherwise free them cannot run until the event loop turns.
   */
  free(): void {
    this.region?.free();
    this.region = null;
    this.length = 0;
    this.plain = this.empty;
    this.view = this.empty;
  }

  /**
   * Make room for `length` values, keeping the first ones (new ones are zero):
   * in the heap by growing the region (in place when the space after it is free),
   * so growing makes no JS garbage; a plain array is copied into a longer one.
   */
  resize(length: number): void {
    if (length <= this.length) return;
    const bytes = length * this.plain.BYTES_PER_ELEMENT;
    if (this.region !== null) {
      const old = this.length * this.plain.BYTES_PER_ELEMENT;
      this.region.resize(bytes);
      // the region's block may have had room past the old length, holding whatever was there before
      new Uint8Array(this.region.heap.buffer(), this.region.offset + old, bytes - old).fill(0);
      this.generation = -1;
    } else {
      const grown = this.make(new ArrayBuffer(bytes), 0, length);
      grown.set(this.plain as never);
      this.plain = grown;
    }
    this.length = length;
  }

  /** Byte offset of the values in the WebAssembly heap, or -1 when they are in a plain array. */
  offset(): number {
    return this.region === null ? -1 : this.region.offset;
  }
}
