/**
 * The WebAssembly kernels against their TypeScript twins (the oracle), the
 * WebAssembly heap that in-memory stores keep their rows in, and the
 * TypeScript fallback when the kernels are off.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { encodeSigns, hamming, residualCode, wordsFor } from "../src/ann/binary_code";
import { dotAt, l2sqAt, METRICS, type Metric } from "../src/ann/distance";
import { FlatIndex } from "../src/ann/flat";
import type { RowSource } from "../src/ann/types";
import { HeapArray, setWasmKernelsEnabled, sharedKernels, wasmKernels, wasmKernelsLoaded, WasmScratch } from "../src/ann/wasm";
import { open } from "../src/index";
import { MemoryVectorStore } from "../src/storage/vector_store";
import { setWasmHeapEnabled, WasmHeap, wasmHeap, wasmHeapEnabled, WasmRegion } from "../src/storage/wasm_heap";
import { randomVectors, rng } from "./helpers";
import { assemble, render } from "../scripts/build-wasm";
import { KERNELS_WASM_BASE64, KERNELS_WASM_BYTES } from "../src/ann/wasm/kernels_wasm";

// index builds and a child process: seconds on a loaded 2-core machine
setDefaultTimeout(60_000);

const DIMS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100, 768, 784, 785];

afterEach(() => {
  setWasmKernelsEnabled(true);
  setWasmHeapEnabled(true);
});

test("the committed module is kernels.wat assembled (what `bun scripts/build-wasm.ts --check` checks)", async () => {
  const bytes = await assemble();
  expect(Buffer.from(KERNELS_WASM_BASE64, "base64").equals(Buffer.from(bytes))).toBe(true);
  expect(KERNELS_WASM_BYTES).toBe(bytes.length);
  expect(render(bytes)).toBe(await Bun.file(new URL("../src/ann/wasm/kernels_wasm.ts", import.meta.url)).text());
  expect(bytes.length).toBeLessThan(4096); // kept small
});

test("the WebAssembly kernels load on this engine (Bun has SIMD128)", () => {
  expect(wasmKernelsLoaded).toBe(true);
  expect(wasmKernels()).not.toBeNull();
  expect(wasmHeapEnabled()).toBe(true);
});

/** Relative error of a float32-summed kernel against the float64-summed oracle, scaled by Σ|terms|. */
function close(actual: number, expected: number, magnitude: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(2e-6 * magnitude + 1e-30);
}

describe("float kernels match the TypeScript ones", () => {
  const k = wasmKernels()!;
  const scratch = new WasmScratch();

  test("l2sq and dot, every odd and even dimension, at unaligned offsets", () => {
    for (const d of DIMS) {
      for (const shift of [0, 1, 3]) {
        const off = scratch.ensure((2 * d + 8) * 4);
        const a = randomVectors(1, d, d * 10 + shift), b = randomVectors(1, d, d * 10 + shift + 5);
        const pa = off + shift * 4, pb = off + (d + 4 + shift) * 4;
        scratch.f32(pa, d).set(a);
        scratch.f32(pb, d).set(b);
        let absDot = 0;
        for (let i = 0; i < d; i++) absDot += Math.abs(a[i]! * b[i]!);
        const l2 = l2sqAt(a, 0, b, 0, d);
        close(k.l2sq(pa, pb, d), l2, l2);
        close(k.dot(pa, pb, d), dotAt(a, 0, b, 0, d), absDot);
        // a vector against itself: exactly 0
        expect(k.l2sq(pa, pa, d)).toBe(0);
      }
    }
  });

  test("empty inputs: zero dimensions and zero rows", () => {
    const off = scratch.ensure(64);
    expect(k.l2sq(off, off + 16, 0)).toBe(0);
    expect(k.dot(off, off + 16, 0)).toBe(0);
    const out = scratch.f32(off + 32, 1);
    out[0] = 42;
    k.l2sq_batch(off, off, 4, 0, 4, off + 32);
    k.dot_batch(off, off, 4, 0, 4, off + 32);
    expect(scratch.f32(off + 32, 1)[0]).toBe(42); // nothing written
  });

  test("batch forms: one query against n rows at a stride, one and many rows", () => {
    for (const d of [1, 3, 7, 17, 784, 785]) {
      for (const n of [1, 2, 9]) {
        for (const stride of [d, d + 3]) {
          const q = randomVectors(1, d, d + n);
          const rows = randomVectors(n, stride, d * n + stride);
          const off = scratch.ensure((d + n * stride + n) * 4);
          const rowsOff = off + d * 4, outOff = rowsOff + n * stride * 4;
          scratch.f32(off, d).set(q);
          scratch.f32(rowsOff, n * stride).set(rows);
          k.l2sq_batch(off, rowsOff, stride, n, d, outOff);
          const l2 = Array.from(scratch.f32(outOff, n));
          k.dot_batch(off, rowsOff, stride, n, d, outOff);
          const dot = Array.from(scratch.f32(outOff, n));
          for (let i = 0; i < n; i++) {
            const e = l2sqAt(q, 0, rows, i * stride, d);
            close(l2[i]!, e, e);
            let mag = 0;
            for (let j = 0; j < d; j++) mag += Math.abs(q[j]! * rows[i * stride + j]!);
            close(dot[i]!, dotAt(q, 0, rows, i * stride, d), mag);
          }
        }
      }
    }
  });
});

describe("Hamming kernels match the TypeScript one exactly", () => {
  const k = wasmKernels()!;
  const scratch = new WasmScratch();

  test("hamming and hamming_batch over 1-bit codes of every word count", () => {
    const r = rng(7);
    for (const bits of [1, 31, 32, 33, 64, 65, 96, 128, 784, 785, 1024]) {
      const words = wordsFor(bits);
      for (const n of [0, 1, 2, 13]) {
        const codes = new Int32Array((n + 1) * words);
        const v = new Float32Array(bits);
        for (let i = 0; i <= n; i++) {
          for (let j = 0; j < bits; j++) v[j] = r() - 0.5;
          encodeSigns(v, bits, codes, i * words);
        }
        if (n > 1) codes.fill(-1, 2 * words, 3 * words); // all bits set, sign bit included
        const off = scratch.ensure((codes.length + n) * 4);
        scratch.i32(off, codes.length).set(codes);
        const outOff = off + codes.length * 4;
        k.hamming_batch(off, off + words * 4, words, n, outOff);
        const out = Array.from(scratch.i32(outOff, n));
        for (let i = 0; i < n; i++) {
          const e = hamming(codes, 0, codes, (i + 1) * words, words);
          expect(out[i]).toBe(e);
          expect(k.hamming(off, off + (i + 1) * words * 4, words)).toBe(e);
        }
      }
    }
    const off = scratch.ensure(16);
    expect(k.hamming(off, off, 0)).toBe(0);
  });
});

describe("clustered leaf-scan kernels match their TypeScript twins exactly", () => {
  const k = wasmKernels()!;
  const scratch = new WasmScratch();

  test("residual_code: the same sign bits and the same float64 sum as residualCode, every width and bit count", () => {
    const r = rng(11);
    for (const p of [0, 1, 2, 3, 4, 5, 7, 8, 31, 32, 33, 64, 100, 784, 1024]) {
      for (const bits of [...new Set([1, 3, 31, 32, 33, Math.max(1, p - 1), Math.max(1, p)])].filter((b) => b <= Math.max(1, p))) {
        const words = wordsFor(bits);
        const q = new Float32Array(p), c = new Float32Array(p);
        for (let i = 0; i < p; i++) {
          q[i] = r() - 0.5;
          // some equal coordinates (a zero difference), and a −0 − (+0) one, whose sign bit is set
          c[i] = i % 7 === 3 ? q[i]! : r() - 0.5;
        }
        if (p > 5) {
          q[5] = -0;
          c[5] = 0;
        }
        const want = new Int32Array(words + 1).fill(-1);
        const sum = residualCode(q, c, p, bits, want, 1);
        expect(want[0]).toBe(-1); // nothing written before outOff
        const off = scratch.ensure((2 * p + words) * 4 + 64);
        const qOff = off, cOff = off + p * 4, codeOff = cOff + p * 4;
        scratch.f32(qOff, p).set(q);
        scratch.f32(cOff, p).set(c);
        scratch.i32(codeOff, words).fill(-1); // stale bits must be cleared
        const got = k.residual_code(qOff, cOff, p, bits, codeOff);
        expect(got).toBe(sum);
        expect(Array.from(scratch.i32(codeOff, words))).toEqual(Array.from(want.subarray(1)));
        // the bits are encodeSigns of the float32 differences
        const u = new Float32Array(Math.max(p, bits));
        for (let i = 0; i < p; i++) u[i] = q[i]! - c[i]!;
        const signs = new Int32Array(words);
        if (p >= bits) {
          encodeSigns(u, bits, signs, 0);
          expect(Array.from(want.subarray(1))).toEqual(Array.from(signs));
        }
        let s = 0;
        for (let i = 0; i < p; i++) s += u[i]! * u[i]!;
        expect(Math.abs(sum - s)).toBeLessThanOrEqual(1e-12 * (s + 1));
      }
    }
  });

  test("code_estimates: per-point estimates as scanLeaf computes them, l2 and dot forms, zero and many points", () => {
    const r = rng(12);
    for (const bits of [1, 31, 32, 33, 64, 65, 784]) {
      const words = wordsFor(bits);
      const cos = new Float64Array(bits + 1);
      for (let h = 0; h <= bits; h++) cos[h] = Math.cos((Math.PI * h) / bits);
      for (const n of [0, 1, 2, 17]) {
        const codes = new Int32Array((n + 1) * words);
        const v = new Float32Array(bits);
        for (let i = 0; i <= n; i++) {
          for (let j = 0; j < bits; j++) v[j] = r() - 0.5;
          encodeSigns(v, bits, codes, i * words);
        }
        const rn = new Float32Array(n);
        for (let i = 0; i < n; i++) rn[i] = r() * 3;
        const base = r() * 10, un = r() * 2;
        const off = scratch.ensure(codes.length * 4 + n * 4 + cos.length * 8 + n * 8 + 64);
        const cosOff = off, codesOff = cosOff + cos.length * 8 + 8 - ((cos.length * 8) % 8), rnOff = codesOff + codes.length * 4;
        const outOff = rnOff + n * 4 + ((8 - ((rnOff + n * 4) % 8)) % 8);
        new Float64Array(scratch.f32(0, 0).buffer, cosOff, cos.length).set(cos);
        scratch.i32(codesOff, codes.length).set(codes);
        scratch.f32(rnOff, n).set(rn);
        for (const dot of [0, 1]) {
          k.code_estimates(codesOff, codesOff + words * 4, words, n, rnOff, cosOff, base, un, dot, outOff);
          const out = new Float64Array(scratch.f32(0, 0).buffer, outOff, n);
          for (let i = 0; i < n; i++) {
            const h = hamming(codes, 0, codes, (i + 1) * words, words);
            const rr = rn[i]!;
            const want = dot ? base - un * rr * cos[h]! : base + rr * (rr - 2 * un * cos[h]!);
            expect(out[i]).toBe(want);
          }
        }
      }
    }
  });
});

test("the kernels over a shared memory (threaded builds) give the same results as over the process heap", () => {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
  expect(memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  const shared = sharedKernels(memory)!;
  expect(shared).not.toBeNull();
  const k = wasmKernels()!;
  const scratch = new WasmScratch();
  for (const d of [1, 7, 17, 784]) {
    const a = randomVectors(1, d, d + 1), b = randomVectors(1, d, d + 2);
    new Float32Array(memory.buffer, 0, d).set(a);
    new Float32Array(memory.buffer, 4096 * 4, d).set(b);
    const off = scratch.ensure(2 * d * 4);
    scratch.f32(off, d).set(a);
    scratch.f32(off + d * 4, d).set(b);
    expect(shared.l2sq(0, 4096 * 4, d)).toBe(k.l2sq(off, off + d * 4, d));
    expect(shared.dot(0, 4096 * 4, d)).toBe(k.dot(off, off + d * 4, d));
  }
  // a memory that is not shared does not fit the shared module's import
  expect(sharedKernels(new WebAssembly.Memory({ initial: 1, maximum: 65536 }))).toBeNull();
});

/** A RowSource over a store with every row live (a few deleted when asked). */
function sourceOf(store: MemoryVectorStore, metric: Metric, dead: number[] = []): RowSource {
  const live = new Uint8Array(store.length).fill(1);
  for (const r of dead) live[r] = 0;
  const norms = new Float32Array(store.length);
  for (let r = 0; r < store.length; r++) norms[r] = Math.sqrt(dotAt(store.data(), r * store.dimension, store.data(), r * store.dimension, store.dimension));
  return { store, metric, norm: (r) => norms[r]!, isLive: (r) => live[r] === 1, liveMask: () => live };
}

describe("exact search with the WebAssembly kernels matches the TypeScript path", () => {
  for (const metric of METRICS) {
    for (const d of [1, 3, 17, 785]) {
      test(`${metric}, dimension ${d}`, () => {
        const n = 2500; // more than two blocks of 1024 rows
        const data = randomVectors(n, d, d);
        if (metric === "cosine") data.fill(0, 5 * d, 6 * d); // a zero row: distance 1 by definition
        const store = MemoryVectorStore.from(d, data);
        expect(store.wasmOffset()).toBeGreaterThanOrEqual(0);
        const src = sourceOf(store, metric, [3, 1500]);
        const flat = new FlatIndex(src);
        for (let qi = 0; qi < 5; qi++) {
          const q = randomVectors(1, d, 1000 + qi);
          for (const filter of [undefined, (r: number) => r % 3 === 0]) {
            for (const k of [1, 10]) {
              setWasmKernelsEnabled(false);
              const ts = flat.searchRows(q, k, { filter });
              setWasmKernelsEnabled(true);
              const wasm = flat.searchRows(q, k, { filter });
              // float32 candidates rescored in float64: the same rows and distances, but where
              // exact ties outnumber the candidates kept (cosine in one dimension: every row is 0 or 2)
              if (metric === "cosine" && d === 1) expect({ ...wasm, rows: [] }).toEqual({ ...ts, rows: [] });
              else expect(wasm).toEqual(ts);
              expect(wasm.rows).not.toContain(3);
            }
          }
        }
      });
    }
  }

  test("a single-row store, and an empty one", () => {
    const store = MemoryVectorStore.from(3, new Float32Array([1, 2, 3]));
    const flat = new FlatIndex(sourceOf(store, "l2"));
    const hit = flat.searchRows(new Float32Array([1, 2, 4]), 5, {});
    expect(hit.rows).toEqual([0]);
    expect(hit.distances[0]).toBeCloseTo(1, 6);
    const empty = new FlatIndex(sourceOf(new MemoryVectorStore(3), "l2"));
    expect(empty.searchRows(new Float32Array([1, 2, 4]), 5, {}).rows).toEqual([]);
  });
});

describe("the WebAssembly heap", () => {
  test("allocates aligned zeroed regions, reuses and coalesces freed ones", () => {
    const heap = new WasmHeap(new WebAssembly.Memory({ initial: 1, maximum: 100 }));
    const a = heap.alloc(100), b = heap.alloc(1000), c = heap.alloc(10);
    for (const x of [a, b, c]) expect(x % 64).toBe(0);
    expect(a).toBeGreaterThan(0);
    expect(new Set([a, b, c]).size).toBe(3);
    new Uint8Array(heap.buffer(), b, 1000).fill(7);
    heap.release(b);
    const b2 = heap.alloc(1000);
    expect(b2).toBe(b); // first fit reuses the hole
    expect(new Uint8Array(heap.buffer(), b2, 1000).every((x) => x === 0)).toBe(true);
    heap.release(a);
    heap.release(b2);
    expect(heap.alloc(1100)).toBe(a); // a and b coalesced into one hole
    expect(() => heap.release(12345)).toThrow();
  });

  test("HeapArray.setBytes takes unaligned saved bytes into the heap, or into a plain array with the heap off", () => {
    const values = Float32Array.from({ length: 37 }, (_, i) => i * 0.5 - 3);
    const unaligned = new Uint8Array(values.byteLength + 1).subarray(1); // a snapshot's bytes need not be 4-aligned
    unaligned.set(new Uint8Array(values.buffer));
    const was = wasmHeapEnabled();
    try {
      for (const on of [true, false]) {
        setWasmHeapEnabled(on);
        const a = HeapArray.float32();
        a.setBytes(unaligned);
        expect([...a.get()]).toEqual([...values]);
        expect(a.offset() >= 0).toBe(on && wasmHeap !== null);
        // reused heap blocks hold old data: a region that setBytes skipped zeroing must still read back exactly
        const b = HeapArray.float32();
        b.set(new Float32Array(64).fill(9));
        b.setBytes(unaligned.subarray(0, 8));
        expect([...b.get()]).toEqual([...values.subarray(0, 2)]);
        expect(() => a.setBytes(unaligned.subarray(0, 7))).toThrow(RangeError);
      }
    } finally {
      setWasmHeapEnabled(was);
    }
  });

  test("grows the memory when full, detaching old views but keeping contents; refuses past its maximum", () => {
    const heap = new WasmHeap(new WebAssembly.Memory({ initial: 1, maximum: 4 }));
    const a = heap.alloc(1000);
    const view = new Uint8Array(heap.buffer(), a, 1000).fill(9);
    const gen = heap.generation;
    const big = heap.alloc(100_000);
    expect(heap.generation).toBeGreaterThan(gen);
    expect(view.length).toBe(0); // detached
    expect(new Uint8Array(heap.buffer(), a, 1000).every((x) => x === 9)).toBe(true);
    expect(big + 100_000).toBeLessThanOrEqual(heap.reservedBytes());
    expect(() => heap.alloc(1 << 20)).toThrow(RangeError);
  });

  test("realloc grows a region in place when the space after it is free, and moves it otherwise", () => {
    const heap = new WasmHeap(new WebAssembly.Memory({ initial: 1, maximum: 64 }));
    const a = heap.alloc(1000);
    new Uint8Array(heap.buffer(), a, 1000).fill(5);
    // the last region: grows in place, growing the memory as needed, like a doubling store
    let size = 1000;
    for (let i = 0; i < 10; i++) {
      size *= 2;
      expect(heap.realloc(a, size)).toBe(a);
    }
    expect(heap.reservedBytes()).toBeLessThan(size * 1.2); // no trail of freed old copies
    expect(new Uint8Array(heap.buffer(), a, 1000).every((x) => x === 5)).toBe(true);
    expect(new Uint8Array(heap.buffer(), a + 1000, size - 1000).every((x) => x === 0)).toBe(true);
    // a region with a neighbour after it moves, contents and all
    const b = heap.alloc(100);
    const c = heap.alloc(100);
    new Uint8Array(heap.buffer(), b, 100).fill(6);
    const b2 = heap.realloc(b, 5000);
    expect(b2).not.toBe(b);
    expect(new Uint8Array(heap.buffer(), b2, 100).every((x) => x === 6)).toBe(true);
    expect(heap.alloc(100)).toBe(b); // the old place is free again
    expect(c).toBeGreaterThan(b);
  });

  test("stores keep their rows through growths of the memory caused by other stores", () => {
    const d = 13;
    const data = randomVectors(3000, d, 5);
    const s1 = new MemoryVectorStore(d, 1), s2 = new MemoryVectorStore(d, 1);
    for (let i = 0; i < 3000; i++) {
      s1.append(data.subarray(i * d, (i + 1) * d));
      s2.append(s1.get(i)); // a row read from the heap, appended while the heap may grow
      if (i % 50 === 0) WasmRegion.alloc(d * 4 * 64); // other owners allocate too (freed when collected)
    }
    expect(s1.wasmOffset()).toBeGreaterThanOrEqual(0);
    expect(s2.wasmOffset()).toBeGreaterThanOrEqual(0);
    expect(Array.from(s1.data().subarray(0, 3000 * d))).toEqual(Array.from(data));
    expect(Array.from(s2.data().subarray(0, 3000 * d))).toEqual(Array.from(data));
  });

  test("with the heap off, stores use ordinary arrays and search the TypeScript way", () => {
    setWasmHeapEnabled(false);
    const store = MemoryVectorStore.from(5, randomVectors(50, 5, 9));
    expect(store.wasmOffset()).toBe(-1);
    expect(store.data().buffer).not.toBe(wasmHeap!.buffer());
    const flat = new FlatIndex(sourceOf(store, "l2"));
    const q = randomVectors(1, 5, 10);
    const hit = flat.searchRows(q, 3, {});
    let best = 0;
    for (let r = 1; r < 50; r++) if (l2sqAt(q, 0, store.data(), r * 5, 5) < l2sqAt(q, 0, store.data(), best * 5, 5)) best = r;
    expect(hit.rows[0]).toBe(best);
  });
});

describe("VQLITE_WASM=0", () => {
  test("a process started with it runs on the TypeScript kernels and plain arrays, with the same answers", () => {
    const script = `
      const { open } = await import(${JSON.stringify(new URL("../src/index.ts", import.meta.url).pathname)});
      const { wasmKernels, wasmKernelsLoaded } = await import(${JSON.stringify(new URL("../src/ann/wasm.ts", import.meta.url).pathname)});
      const db = open();
      const c = db.createCollection("v", { dimension: 3, metric: "l2" });
      c.insert("a", [0, 0, 1]); c.insert("b", [1, 1, 1]); c.insert("c", [5, 5, 5]);
      console.log(JSON.stringify({ loaded: wasmKernelsLoaded, kernels: wasmKernels() !== null, offset: c.store.wasmOffset(),
        hits: c.search([1, 1, 0.9], { k: 2 }).map((h) => h.id) }));
    `;
    const run = (env: string) => {
      const p = Bun.spawnSync([process.execPath, "-e", script], { env: { ...process.env, VQLITE_WASM: env } });
      expect(p.exitCode).toBe(0);
      return JSON.parse(p.stdout.toString());
    };
    const off = run("0");
    expect(off).toEqual({ loaded: false, kernels: false, offset: -1, hits: ["b", "a"] });
    const on = run("1");
    expect(on.loaded).toBe(true);
    expect(on.offset).toBeGreaterThanOrEqual(0);
    expect(on.hits).toEqual(off.hits);
  });
});

test("a collection's exact search agrees with and without the WebAssembly kernels", () => {
  using db = open();
  const c = db.createCollection("v", { dimension: 17, metric: "cosine" });
  const data = randomVectors(300, 17, 3);
  c.insertMany(Array.from({ length: 300 }, (_, i) => ({ id: `r${i}`, vector: data.subarray(i * 17, (i + 1) * 17) })));
  c.delete("r7");
  const q = randomVectors(1, 17, 4);
  const wasm = c.search(q, { k: 10 });
  setWasmKernelsEnabled(false);
  const ts = c.search(q, { k: 10 });
  expect(wasm.map((h) => h.id)).toEqual(ts.map((h) => h.id));
  wasm.forEach((h, i) => expect(h.distance).toBeCloseTo(ts[i]!.distance, 5));
});

describe("clustered search with the WebAssembly kernels (leaf codes in the heap) matches the TypeScript path", () => {
  for (const metric of METRICS) {
    test(metric, () => {
      using db = open();
      const d = 33;
      const c = db.createCollection("v", { dimension: d, metric, index: { type: "clustered", maxLeafSize: 100 } });
      const data = randomVectors(3000, d, 21);
      // in batches, so leaves fill, grow and split between searches
      for (let s = 0; s < 3000; s += 500) {
        c.insertMany(Array.from({ length: 500 }, (_, i) => ({ id: `r${s + i}`, vector: data.subarray((s + i) * d, (s + i + 1) * d) })));
      }
      for (let i = 0; i < 3000; i += 7) c.delete(`r${i}`);
      for (let qi = 0; qi < 10; qi++) {
        const q = randomVectors(1, d, 500 + qi);
        for (const opts of [{ k: 10, probes: 3, rerankFactor: 5 }, { k: 5, probes: 8, rerankFactor: 1 }, { k: 10, probes: 2, rerankFactor: 10, filter: (p: unknown) => p === null }]) {
          setWasmKernelsEnabled(false);
          const ts = c.searchWithReport(q, opts);
          setWasmKernelsEnabled(true);
          const wasm = c.searchWithReport(q, opts);
          expect(wasm.route).toBe("clustered");
          expect(wasm).toEqual(ts);
        }
      }
    });
  }
});

describe("HNSW with the WebAssembly kernels matches the TypeScript path", () => {
  for (const metric of METRICS) {
    for (const quantization of ["none", "scalar", "binary"] as const) {
      test(`${metric}, quantization ${quantization}`, () => {
        const d = 24, n = 1500;
        const data = randomVectors(n, d, 31);
        const build = (kernels: boolean) => {
          setWasmKernelsEnabled(kernels);
          const db = open();
          const c = db.createCollection("v", { dimension: d, metric, quantization, index: { type: "hnsw", m: 8, efConstruction: 64 } });
          c.insertMany(Array.from({ length: n }, (_, i) => ({ id: `r${i}`, vector: data.subarray(i * d, (i + 1) * d) })));
          for (let i = 0; i < n; i += 11) c.delete(`r${i}`); // removals relink neighbours with the kernels too
          setWasmKernelsEnabled(true);
          return { db, c };
        };
        const a = build(true), b = build(false);
        let agree = 0, total = 0;
        for (let qi = 0; qi < 20; qi++) {
          const q = randomVectors(1, d, 900 + qi);
          const exact = new Set(a.c.search(q, { k: 10, exact: true }).map((h) => h.id));
          // the same graph searched both ways: the same answer, distances exact (TypeScript) either way
          setWasmKernelsEnabled(false);
          const ts = a.c.searchWithReport(q, { k: 10, ef: 48 });
          setWasmKernelsEnabled(true);
          const wasm = a.c.searchWithReport(q, { k: 10, ef: 48 });
          expect(wasm.route).toBe("hnsw");
          if (quantization !== "none") expect(wasm.stats.reranked).toBeGreaterThan(0); // the walk ran on codes
          expect(wasm.hits).toEqual(ts.hits);
          // graphs built with either kernels find the exact neighbours equally well
          for (const h of b.c.search(q, { k: 10, ef: 48 })) if (exact.has(h.id)) agree++;
          for (const h of wasm.hits) if (exact.has(h.id)) agree--;
          total += 10;
        }
        expect(Math.abs(agree) / total).toBeLessThanOrEqual(0.02);
        a.db.close();
        b.db.close();
      });
    }
  }
});

test("dot_u8 (scalar codes) matches a float64 sum within float32 rounding, every dimension", () => {
  const k = wasmKernels()!;
  const scratch = new WasmScratch();
  const r = rng(3);
  for (const d of [0, 1, 3, 7, 15, 16, 17, 31, 33, 784, 785]) {
    const off = scratch.ensure(d * 5 + 64);
    const w = scratch.f32(off, d);
    const c = new Uint8Array(scratch.f32(off, 1).buffer, off + d * 4 + 1, d); // codes at an odd offset
    let e = 0, mag = 0;
    for (let i = 0; i < d; i++) {
      w[i] = (r() - 0.5) * 4;
      c[i] = i === 0 ? 255 : Math.floor(r() * 256);
      e += w[i]! * c[i]!;
      mag += Math.abs(w[i]! * c[i]!);
    }
    close(k.dot_u8(off, off + d * 4 + 1, d), e, mag);
  }
});
