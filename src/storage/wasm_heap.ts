/**
 * One WebAssembly memory for the process, and a small allocator of regions in
 * it: the rows of in-memory vector stores (and index scratch) live here so that
 * the WebAssembly kernels in src/ann/wasm.ts scan them in place, without the
 * ~400 ns per 784-float row that copying from a JS typed array would cost.
 *
 * Facts this design respects:
 * - Growing a WebAssembly memory detaches its old ArrayBuffer, so every view
 *   over it goes empty. Views are therefore made from `buffer()` at the start
 *   of an operation and never kept across an allocation. `generation` tells
 *   holders when to remake theirs.
 * - WebAssembly memory never shrinks; freed regions are reused (first fit,
 *   neighbours coalesced), and a region whose owner is garbage-collected
 *   without an explicit free is freed by a FinalizationRegistry.
 * - wasm32 addresses at most 4 GiB: an allocation that cannot be had throws
 *   a RangeError and the caller keeps its data in an ordinary typed array.
 *
 * `VQLITE_WASM=0` in the environment (or setWasmHeapEnabled(false)) keeps new
 * stores out of it, in plain typed arrays.
 */

const PAGE = 65536;
const ALIGN = 64; // a cache line: rows and scratch never share one with a neighbour
const MAX_PAGES = 65536;

function envEnabled(): boolean {
  const v = typeof process !== "undefined" ? process.env.VQLITE_WASM : undefined;
  return v === undefined || !["0", "false", "off", "no"].includes(v.toLowerCase());
}

function createMemory(): WebAssembly.Memory | null {
  try {
    return typeof WebAssembly === "object" ? new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES }) : null;
  } catch {
    return null;
  }
}

export class WasmHeap {
  /** Free blocks, sorted by offset, never adjacent (coalesced). */
  private free: { off: number; size: number }[] = [];
  private used = new Map<number, number>();
  private usedBytes = 0;
  private buf: ArrayBuffer;
  generation = 0;

  constructor(readonly memory: WebAssembly.Memory) {
    this.buf = memory.buffer;
    // offset 0 is never handed out, so 0 can mean "nothing"
    this.free.push({ off: ALIGN, size: memory.buffer.byteLength - ALIGN });
  }

  /** The memory's current buffer (replaced, and the old one detached, whenever the memory grows). */
  buffer(): ArrayBuffer {
    return this.memory.buffer;
  }

  /** Bytes handed out and not yet freed. */
  allocatedBytes(): number {
    return this.usedBytes;
  }

  /** Bytes the memory holds in all (it never shrinks). */
  reservedBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * A region of at least `bytes` bytes, ALIGN-aligned, zero-filled unless `zero`
   * is false (a caller that writes every byte itself). Throws RangeError when the
   * memory cannot grow.
   */
  alloc(bytes: number, zero = true): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let i = this.fit(size);
    if (i < 0) {
      this.grow(size);
      i = this.fit(size);
      if (i < 0) throw new RangeError(`WebAssembly heap: no room for ${bytes} bytes`);
    }
    const block = this.free[i]!;
    const off = block.off;
    if (block.size === size) this.free.splice(i, 1);
    else {
      block.off += size;
      block.size -= size;
    }
    this.used.set(off, size);
    this.usedBytes += size;
    // reused blocks hold old data; fresh pages are already zero
    if (zero) new Uint8Array(this.memory.buffer, off, size).fill(0);
    return off;
  }

  /**
   * Make a region at least `bytes` long, keeping its contents: in place when the
   * space after it is free (the memory grown first when the region is the last
   * one), so a store that doubles leaves no hole of its old size behind; moved
   * (alloc, copy, release) otherwise. Returns the region's offset.
   */
  realloc(off: number, bytes: number): number {
    const size = this.used.get(off);
    if (size === undefined) throw new Error(`WebAssembly heap: offset ${off} is not allocated`);
    const want = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    if (want <= size) return off;
    const extra = want - size, end = off + size;
    let i = this.free.findIndex((b) => b.off === end);
    const last = i >= 0 ? this.free[i]! : undefined;
    const atTail = end === this.memory.buffer.byteLength || (last !== undefined && last.off + last.size === this.memory.buffer.byteLength);
    if ((last?.size ?? 0) < extra && atTail) {
      try {
        this.grow(extra);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
      }
      i = this.free.findIndex((b) => b.off === end);
    }
    const next = i >= 0 ? this.free[i]! : undefined;
    if (next !== undefined && next.size >= extra) {
      if (next.size === extra) this.free.splice(i, 1);
      else {
        next.off += extra;
        next.size -= extra;
      }
      this.used.set(off, want);
      this.usedBytes += extra;
      new Uint8Array(this.memory.buffer, end, extra).fill(0);
      return off;
    }
    const moved = this.alloc(bytes);
    new Uint8Array(this.memory.buffer).copyWithin(moved, off, off + size);
    this.release(off);
    return moved;
  }

  /** Give a region back. Freeing an unknown offset is an error: it would be a double free. */
  release(off: number): void {
    const size = this.used.get(off);
    if (size === undefined) throw new Error(`WebAssembly heap: offset ${off} is not allocated`);
    this.used.delete(off);
    this.usedBytes -= size;
    this.insertFree(off, size);
  }

  private fit(size: number): number {
    const free = this.free;
    for (let i = 0; i < free.length; i++) if (free[i]!.size >= size) return i;
    return -1;
  }

  private insertFree(off: number, size: number): void {
    const free = this.free;
    let i = 0;
    while (i < free.length && free[i]!.off < off) i++;
    free.splice(i, 0, { off, size });
    // coalesce with the next, then with the previous
    if (i + 1 < free.length && off + size === free[i + 1]!.off) {
      free[i]!.size += free[i + 1]!.size;
      free.splice(i + 1, 1);
    }
    if (i > 0 && free[i - 1]!.off + free[i - 1]!.size === off) {
      free[i - 1]!.size += free[i]!.size;
      free.splice(i, 1);
    }
  }

  private grow(size: number): void {
    const end = this.memory.buffer.byteLength;
    const last = this.free[this.free.length - 1];
    const tail = last !== undefined && last.off + last.size === end ? last.size : 0;
    const neededPages = Math.ceil((size - tail) / PAGE);
    // grow by at least an eighth of what is there, so many small growths do not each detach every view
    const pages = Math.min(MAX_PAGES - end / PAGE, Math.max(neededPages, Math.ceil(end / PAGE / 8)));
    if (pages < neededPages) throw new RangeError(`WebAssembly heap: ${size} more bytes exceed the 4 GiB of a wasm32 memory`);
    try {
      this.memory.grow(pages);
    } catch (e) {
      if (pages === neededPages) throw new RangeError(`WebAssembly heap: cannot grow by ${size} bytes (${(e as Error).message})`);
      this.memory.grow(neededPages); // the generous growth failed: try the bare minimum
    }
    this.generation++;
    this.insertFree(end, this.memory.buffer.byteLength - end);
  }
}

const memory = createMemory();

/** The process's WebAssembly heap, or null when WebAssembly is missing. */
export const wasmHeap: WasmHeap | null = memory === null ? null : new WasmHeap(memory);

let enabled = envEnabled();

/** Whether new in-memory stores put their rows in the WebAssembly heap. */
export function wasmHeapEnabled(): boolean {
  return enabled && wasmHeap !== null;
}

/** Turn the WebAssembly heap on or off for stores created from now on (tests, VQLITE_WASM=0); returns the previous setting. */
export function setWasmHeapEnabled(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

const finalizer = new FinalizationRegistry<number>((off) => wasmHeap?.release(off));

/**
 * A region of the heap owned by a JS object: freed when `free()` is called or,
 * failing that, when the owner is garbage-collected.
 */
export class WasmRegion {
  private constructor(
    readonly heap: WasmHeap,
    public offset: number,
    public bytes: number,
  ) {}

  /** Allocate `bytes` bytes; throws RangeError when the heap cannot provide them. */
  static alloc(bytes: number, zero = true): WasmRegion {
    if (wasmHeap === null) throw new RangeError("WebAssembly is not available");
    const r = new WasmRegion(wasmHeap, wasmHeap.alloc(bytes, zero), bytes);
    finalizer.register(r, r.offset, r);
    return r;
  }

  /** Grow to at least `bytes`, keeping the contents; the offset may change (see WasmHeap.realloc). */
  resize(bytes: number): void {
    if (bytes <= this.bytes) return;
    const off = this.heap.realloc(this.offset, bytes);
    if (off !== this.offset) {
      finalizer.unregister(this);
      finalizer.register(this, off, this);
      this.offset = off;
    }
    this.bytes = bytes;
  }

  free(): void {
    finalizer.unregister(this);
    this.heap.release(this.offset);
  }

  f32(length = this.bytes >>> 2): Float32Array {
    return new Float32Array(this.heap.buffer(), this.offset, length);
  }

  i32(length = this.bytes >>> 2): Int32Array {
    return new Int32Array(this.heap.buffer(), this.offset, length);
  }
}
