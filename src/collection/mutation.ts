/**
 * Mutations: the validated, fully-determined form of every write. The same
 * value is logged to the WAL and applied in memory, so replay after a crash
 * does exactly what the acknowledged write did.
 */
import { assertNever } from "../errors";
import { ByteReader, ByteWriter } from "../storage/binary";
import type { SparseVector } from "./validate";
import type { CollectionConfig } from "./config";

export type Mutation =
  | {
      readonly kind: "put";
      readonly mode: "insert" | "upsert";
      readonly id: string;
      readonly vector: Float32Array;
      readonly payload: string | null;
      readonly sparse: SparseVector | null;
    }
  | {
      readonly kind: "update";
      readonly id: string;
      readonly vector: Float32Array | null;
      /** undefined: keep the payload; null: clear it. */
      readonly payload: string | null | undefined;
      readonly sparse: SparseVector | null | undefined;
    }
  | { readonly kind: "delete"; readonly id: string }
  /** Create or drop the payload index on a field (its keys, as in a FieldPath). */
  | { readonly kind: "payloadIndex"; readonly action: "create" | "drop"; readonly field: readonly string[] };

/** A WAL record's content: catalog changes or a batch of mutations on one collection. */
export type LogEntry =
  | { readonly kind: "create"; readonly name: string; readonly config: CollectionConfig }
  | { readonly kind: "drop"; readonly name: string }
  | { readonly kind: "batch"; readonly collection: string; readonly mutations: readonly Mutation[] };

const enum Tag {
  Create = 1,
  Drop = 2,
  Batch = 3,
  Put = 10,
  Update = 11,
  Delete = 12,
  PayloadIndex = 13,
}

function writeSparse(w: ByteWriter, s: SparseVector | null): void {
  if (s === null) {
    w.u8(0);
    return;
  }
  w.u8(1).u32array(s.indices).f32array(s.values);
}

function readSparse(r: ByteReader): SparseVector | null {
  if (r.u8() === 0) return null;
  return { indices: r.u32array(), values: r.f32array() };
}

function writeOptionalText(w: ByteWriter, s: string | null | undefined): void {
  if (s === undefined) w.u8(2);
  else if (s === null) w.u8(0);
  else w.u8(1).string(s);
}

function readOptionalText(r: ByteReader): string | null | undefined {
  const t = r.u8();
  return t === 2 ? undefined : t === 0 ? null : r.string();
}

/** Scratch of encodeLogFramed: kept between batches so a large batch is encoded into warm memory. */
let scratch = ByteWriter.contiguous(1 << 16);
const SCRATCH_KEEP = 64 << 20;

/**
 * A log entry's bytes after `skip` free bytes (room for the WAL record header),
 * in a shared buffer: valid until the next call.
 */
export function encodeLogFramed(e: LogEntry, skip: number): Uint8Array {
  const w = scratch.capacity > SCRATCH_KEEP ? (scratch = ByteWriter.contiguous(1 << 16)) : scratch;
  return encodeInto(w.restart(skip), e);
}

function encodeInto(w: ByteWriter, e: LogEntry): Uint8Array {
  switch (e.kind) {
    case "create":
      w.u8(Tag.Create).string(e.name).string(JSON.stringify(e.config));
      break;
    case "drop":
      w.u8(Tag.Drop).string(e.name);
      break;
    case "batch":
      w.u8(Tag.Batch).string(e.collection).u32(e.mutations.length);
      for (const m of e.mutations) {
        switch (m.kind) {
          case "put":
            w.u8(Tag.Put).u8(m.mode === "insert" ? 0 : 1).string(m.id).f32array(m.vector);
            writeOptionalText(w, m.payload);
            writeSparse(w, m.sparse);
            break;
          case "update":
            w.u8(Tag.Update).string(m.id);
            if (m.vector) w.u8(1).f32array(m.vector);
            else w.u8(0);
            writeOptionalText(w, m.payload);
            if (m.sparse === undefined) w.u8(2);
            else {
              w.u8(3);
              writeSparse(w, m.sparse);
            }
            break;
          case "delete":
            w.u8(Tag.Delete).string(m.id);
            break;
          case "payloadIndex":
            w.u8(Tag.PayloadIndex).u8(m.action === "create" ? 1 : 0).string(JSON.stringify(m.field));
            break;
          default:
            assertNever(m);
        }
      }
      break;
    default:
      assertNever(e);
  }
  return w.finish();
}

export function decodeLogEntry(bytes: Uint8Array): LogEntry {
  const r = new ByteReader(bytes, "log record");
  const tag = r.u8();
  switch (tag) {
    case Tag.Create:
      return { kind: "create", name: r.string(), config: JSON.parse(r.string()) as CollectionConfig };
    case Tag.Drop:
      return { kind: "drop", name: r.string() };
    case Tag.Batch: {
      const collection = r.string();
      const n = r.u32();
      const mutations: Mutation[] = [];
      for (let i = 0; i < n; i++) {
        const t = r.u8();
        if (t === Tag.Put) {
          const mode = r.u8() === 0 ? "insert" : "upsert";
          const id = r.string();
          const vector = r.f32array();
          const payload = readOptionalText(r) ?? null;
          mutations.push({ kind: "put", mode, id, vector, payload, sparse: readSparse(r) });
        } else if (t === Tag.Update) {
          const id = r.string();
          const vector = r.u8() === 1 ? r.f32array() : null;
          const payload = readOptionalText(r);
          const sparse = r.u8() === 2 ? undefined : readSparse(r);
          mutations.push({ kind: "update", id, vector, payload, sparse });
        } else if (t === Tag.Delete) {
          mutations.push({ kind: "delete", id: r.string() });
        } else if (t === Tag.PayloadIndex) {
          const action = r.u8() === 1 ? "create" : "drop";
          const field = JSON.parse(r.string()) as unknown;
          if (!Array.isArray(field) || field.length === 0 || !field.every((s) => typeof s === "string" && s.length > 0)) {
            throw new RangeError("a payload index record names no field");
          }
          mutations.push({ kind: "payloadIndex", action, field: field as string[] });
        } else {
          throw new RangeError(`unknown mutation tag ${t}`);
        }
      }
      return { kind: "batch", collection, mutations };
    }
    default:
      throw new RangeError(`unknown log entry tag ${tag}`);
  }
}

