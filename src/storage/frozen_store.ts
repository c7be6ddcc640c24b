/**
 * A read-only vector store over rows that already exist: a vector file mapped
 * in another thread (an index build in a worker reads the collection's file
 * without copying it), or rows handed over in a buffer. Appends are refused.
 */
import { errors } from "../errors";
import { vfs } from "./fs";
import { decodeHeader, HEADER_BYTES } from "./vector_file";
import type { VectorStore } from "./vector_store";

export class FrozenVectorStore implements VectorStore {
  constructor(
    readonly kind: "memory" | "mmap",
    readonly dimension: number,
    readonly length: number,
    private readonly rows: Float32Array,
  ) {
    if (rows.length < length * dimension) throw new RangeError(`${length} rows of ${dimension} need ${length * dimension} values, got ${rows.length}`);
  }

  /** The first `length` rows of the vector file at `path`, mapped shared (no copy). */
  static mapFile(path: string, dimension: number, length: number): FrozenVectorStore {
    const bytes = vfs.mmap(path);
    const header = decodeHeader(path, bytes.subarray(0, 36));
    if (header.dimension !== dimension) throw errors.corrupt(path, `dimension ${header.dimension} in file, ${dimension} expected`);
    if (bytes.byteLength < HEADER_BYTES + length * dimension * 4) throw errors.corrupt(path, `file holds fewer than ${length} rows`);
    return new FrozenVectorStore("mmap", dimension, length, new Float32Array(bytes.buffer, bytes.byteOffset + HEADER_BYTES, length * dimension));
  }

  data(): Float32Array {
    return this.rows;
  }

  get(row: number): Float32Array {
    const d = this.dimension;
    return this.rows.subarray(row * d, row * d + d);
  }

  reserve(_extra: number): void {
    throw errors.invalidArgument("this vector store is read-only");
  }

  append(_vector: Float32Array): number {
    throw errors.invalidArgument("this vector store is read-only");
  }

  /** Not in the WebAssembly heap: the TypeScript kernels read these rows. */
  wasmOffset(): number {
    return -1;
  }

  heapBytes(): number {
    return this.kind === "memory" ? this.length * this.dimension * 4 : 0;
  }

  mappedBytes(): number {
    return this.kind === "mmap" ? this.length * this.dimension * 4 : 0;
  }
}
