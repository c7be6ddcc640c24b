/**
 * Input validation for items: ids, vectors, payloads, sparse vectors.
 * Everything here runs before a write touches the log or memory.
 */
import { SEARCH_OPTIONS } from "../ann/config";
import { errors } from "../errors";
import { utf8Length } from "../storage/binary";

export const MAX_ID_BYTES = 1024;
/** Largest k a search may ask for. */
export const MAX_K = 1_000_000;
/** Largest payload, as UTF-8 JSON text. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Deepest payload nesting (objects and arrays). */
export const MAX_PAYLOAD_DEPTH = 64;
/** Most entries in a sparse vector. */
export const MAX_SPARSE_ENTRIES = 1 << 20;

function jsonDepth(json: string): number {
  let depth = 0, max = 0, inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) max = Math.max(max, ++depth);
    else if (c === 125 || c === 93) depth--;
  }
  return max;
}

export type VectorInput = Float32Array | Float64Array | readonly number[];
export type Payload = Record<string, unknown> | null;

export interface SparseVector {
  readonly indices: Uint32Array;
  readonly values: Float32Array;
}

export interface SparseInput {
  readonly indices: ArrayLike<number>;
  readonly values: ArrayLike<number>;
}

export function validateId(id: unknown): string {
  if (typeof id !== "string") throw errors.invalidId(`id must be a string, got ${id === null ? "null" : typeof id}`);
  if (id.length === 0) throw errors.invalidId("id must not be empty");
  if (id.length > MAX_ID_BYTES || utf8Length(id) > MAX_ID_BYTES) throw errors.invalidId(`id is longer than ${MAX_ID_BYTES} bytes`);
  return id;
}

/** Copy into a fresh Float32Array, checking dimension and finiteness (after float32 rounding). */
export function validateVector(v: unknown, dimension: number, normalize: boolean): Float32Array {
  return validateVectorInto(v, dimension, normalize, null);
}

/** validateVector writing into `out` (a view of `dimension` floats, e.g. a bulk load's chunk buffer) when given. */
export function validateVectorInto(v: unknown, dimension: number, normalize: boolean, into: Float32Array | null): Float32Array {
  if (!(v instanceof Float32Array || v instanceof Float64Array || Array.isArray(v))) {
    throw errors.invalidVector("vector must be an array of numbers or a Float32Array");
  }
  const src = v as ArrayLike<unknown>;
  if (src.length !== dimension) throw errors.dimensionMismatch(dimension, src.length);
  const out = into ?? new Float32Array(dimension);
  if (Array.isArray(v)) {
    for (let i = 0; i < dimension; i++) {
      const x = src[i];
      if (typeof x !== "number") throw errors.invalidVector(`vector value at position ${i} is not a number`);
      out[i] = x;
    }
  } else {
    out.set(v as Float32Array | Float64Array);
  }
  // x − x is 0 for a finite x and NaN for NaN and ±Infinity: one test per value
  let s = 0;
  for (let i = 0; i < dimension; i++) s += out[i]! - out[i]!;
  if (s !== 0) {
    for (let i = 0; i < dimension; i++) if (!Number.isFinite(out[i]!)) throw errors.nonFinite(i, (src as ArrayLike<number>)[i]!);
  }
  if (normalize) {
    let s = 0;
    for (let i = 0; i < dimension; i++) s += out[i]! * out[i]!;
    if (s === 0) throw errors.invalidVector("cannot normalize a zero vector");
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < dimension; i++) out[i] = out[i]! * inv;
  }
  return out;
}

/**
 * Vectors of one batch carved from a few large Float32Arrays instead of one
 * allocation each: a batch of 10,000 768-d vectors is three slabs, not 10,000
 * arrays. A vector handed out stays valid as long as anything holds it.
 */
export class VectorSlab {
  private slab = new Float32Array(0);
  private used = 0;

  constructor(private readonly dimension: number) {}

  take(): Float32Array {
    const d = this.dimension;
    if (this.used + d > this.slab.length) {
      this.slab = new Float32Array(Math.max(d, Math.min(1 << 20, d * 1024)));
      this.used = 0;
    }
    const out = this.slab.subarray(this.used, this.used + d);
    this.used += d;
    return out;
  }
}

/** Returns the payload as canonical JSON text (null for none), detached from the caller's object. */
export function validatePayload(p: unknown): string | null {
  if (p === undefined || p === null) return null;
  if (typeof p !== "object" || Array.isArray(p)) throw errors.invalidPayload("payload must be a JSON object or null");
  let json: string;
  try {
    json = JSON.stringify(p);
  } catch (e) {
    throw errors.invalidPayload(`payload is not serialisable as JSON: ${(e as Error).message}`);
  }
  if (json === undefined) throw errors.invalidPayload("payload is not serialisable as JSON");
  if (json.length > MAX_PAYLOAD_BYTES || utf8Length(json) > MAX_PAYLOAD_BYTES) {
    throw errors.invalidPayload(`payload is ${utf8Length(json)} bytes of JSON, the limit is ${MAX_PAYLOAD_BYTES}`);
  }
  if (jsonDepth(json) > MAX_PAYLOAD_DEPTH) throw errors.invalidPayload(`payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels`);
  return json;
}

export function validateSparse(s: unknown): SparseVector | null {
  if (s === undefined || s === null) return null;
  const input = s as SparseInput;
  if (typeof input !== "object" || input.indices === undefined || input.values === undefined) {
    throw errors.invalidVector("sparse vector must be { indices, values }");
  }
  const n = input.indices.length;
  if (!(n <= MAX_SPARSE_ENTRIES)) throw errors.invalidVector(`sparse vector has ${n} entries, the limit is ${MAX_SPARSE_ENTRIES}`);
  if (input.values.length !== n) throw errors.invalidVector("sparse vector indices and values differ in length");
  const indices = new Uint32Array(n);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const ix = input.indices[i]!;
    if (!Number.isInteger(ix) || ix < 0 || ix > 0xffffffff) throw errors.invalidVector(`sparse index ${ix} is not a non-negative 32-bit integer`);
    if (i > 0 && ix <= indices[i - 1]!) throw errors.invalidVector("sparse indices must be strictly increasing");
    indices[i] = ix;
    values[i] = input.values[i]!;
    if (!Number.isFinite(values[i]!)) throw errors.nonFinite(i, input.values[i]!);
  }
  return { indices, values };
}

/** A search's k and index knobs (probes, rerankFactor, ef), each a whole number within its bounds. */
export function validateSearchNumbers(k: unknown, knobs: { readonly probes?: unknown; readonly rerankFactor?: unknown; readonly ef?: unknown }): void {
  if (typeof k !== "number" || !Number.isInteger(k) || k < 1 || k > MAX_K) throw errors.invalidArgument(`k must be an integer from 1 to ${MAX_K}, got ${k}`);
  for (const name of ["probes", "rerankFactor", "ef"] as const) {
    const v = knobs[name];
    const { min, max } = SEARCH_OPTIONS[name];
    if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)) {
      throw errors.invalidArgument(`${name} must be an integer from ${min} to ${max}, got ${v}`);
    }
  }
}
