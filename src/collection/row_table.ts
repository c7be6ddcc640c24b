/**
 * A collection's per-row state in one table: the vector store, the live
 * bitmap and norms (LiveRows, what indexes read), and per row its string id,
 * payload (JSON text until first used, then the parsed, frozen object) and
 * sparse vector, with the id → row map. Rows are appended, killed, and
 * renumbered by compaction; nothing else changes a row.
 *
 * This is the seam for a disk-backed table: the collection reads and writes
 * rows only through these methods.
 */
import type { Metric } from "../ann/distance";
import type { ByteReader, ByteWriter } from "../storage/binary";
import type { VectorStore } from "../storage/vector_store";
import { LiveRows } from "./live_rows";
import type { Payload, SparseVector } from "./validate";

/** Rough heap cost of an id: JS string header + map entry. */
const ID_OVERHEAD = 56;
const PAYLOAD_OVERHEAD = 64;

function deepFreeze<T>(v: T): T {
  if (v && typeof v === "object") {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

export class RowTable extends LiveRows {
  private ids: (string | null)[] = [];
  private readonly rowOfId = new Map<string, number>();
  /** Parsed payloads; a string is a payload's JSON text not parsed yet (parsed on first use). */
  private payloads: (Payload | string)[] = [];
  private payloadSizes: number[] = [];
  private sparse: (SparseVector | null)[] = [];
  private metaBytes = 0;

  constructor(store: VectorStore, metric: Metric) {
    super(store, metric);
  }

  // ---- reads -------------------------------------------------------------------------------

  rowOf(id: string): number | undefined {
    return this.rowOfId.get(id);
  }

  has(id: string): boolean {
    return this.rowOfId.has(id);
  }

  idOf(row: number): string {
    return this.ids[row]!;
  }

  payloadOf(row: number): Payload {
    const p = this.payloads[row];
    if (typeof p === "string") {
      const parsed = deepFreeze(JSON.parse(p) as Payload);
      this.payloads[row] = parsed;
      return parsed;
    }
    return p ?? null;
  }

  /** A payload's JSON text (null for none), without parsing it if it was never parsed. */
  payloadText(row: number): string | null {
    const p = this.payloads[row];
    return p === null || p === undefined ? null : typeof p === "string" ? p : JSON.stringify(p);
  }

  sparseOf(row: number): SparseVector | null {
    return this.sparse[row] ?? null;
  }

  /** ids, payloads, sparse vectors, bitmaps and norms: heap bytes, estimated. */
  metadataBytes(): number {
    return this.metaBytes + this.ids.length * 8 * 4 + this.heapBytes() + this.rowOfId.size * 16;
  }

  // ---- writes ------------------------------------------------------------------------------

  /** Append a live row; returns its row number. The id must not be live already. */
  append(id: string, vector: Float32Array, payload: string | null, sparse: SparseVector | null): number {
    const row = this.appendVector(vector);
    this.ids[row] = id;
    this.payloads[row] = null;
    this.payloadSizes[row] = 0;
    this.sparse[row] = null;
    this.setMeta(row, payload, sparse);
    this.rowOfId.set(id, row);
    this.metaBytes += ID_OVERHEAD + id.length * 2;
    return row;
  }

  /** Replace a row's payload and sparse vector. */
  setMeta(row: number, payload: string | null, sparse: SparseVector | null): void {
    this.metaBytes -= this.payloadSizes[row] ?? 0;
    const old = this.sparse[row];
    if (old) this.metaBytes -= old.indices.byteLength + old.values.byteLength;
    this.payloads[row] = payload === null ? null : deepFreeze(JSON.parse(payload) as Payload);
    const size = payload === null ? 0 : PAYLOAD_OVERHEAD + payload.length * 2;
    this.payloadSizes[row] = size;
    this.metaBytes += size;
    this.sparse[row] = sparse;
    if (sparse) this.metaBytes += sparse.indices.byteLength + sparse.values.byteLength;
  }

  /** Make a row dead and forget its id and metadata; returns whether it was live. */
  kill(row: number): boolean {
    if (!this.markDead(row)) return false;
    const id = this.ids[row]!;
    this.rowOfId.delete(id);
    this.metaBytes -= (this.payloadSizes[row] ?? 0) + ID_OVERHEAD + id.length * 2;
    const sp = this.sparse[row];
    if (sp) this.metaBytes -= sp.indices.byteLength + sp.values.byteLength;
    this.ids[row] = null;
    this.payloads[row] = null;
    this.payloadSizes[row] = 0;
    this.sparse[row] = null;
    return true;
  }

  protected override renumber(oldToNew: Int32Array, rows: number): void {
    const ids: (string | null)[] = new Array(rows);
    const payloads: (Payload | string)[] = new Array(rows);
    const sizes: number[] = new Array(rows);
    const sparse: (SparseVector | null)[] = new Array(rows);
    for (let row = 0; row < oldToNew.length; row++) {
      const nr = oldToNew[row]!;
      if (nr < 0) continue;
      ids[nr] = this.ids[row]!;
      payloads[nr] = this.payloads[row] ?? null;
      sizes[nr] = this.payloadSizes[row] ?? 0;
      sparse[nr] = this.sparse[row] ?? null;
      this.rowOfId.set(this.ids[row]!, nr);
    }
    this.ids = ids;
    this.payloads = payloads;
    this.payloadSizes = sizes;
    this.sparse = sparse;
  }

  // ---- snapshot ----------------------------------------------------------------------------

  /**
   * Row count, live bitmap, norms, then the live rows' ids and payload texts
   * each as one string with per-row lengths (one decode on open instead of
   * one per row), then the rows with sparse vectors.
   */
  write(w: ByteWriter): void {
    const n = this.store.length;
    const live = this.liveCount;
    const saved = this.savedArrays();
    w.f64(n).f64(live);
    w.u8array(saved.live);
    w.f32array(saved.norms);
    const idLens = new Uint32Array(live);
    const payloadLens = new Int32Array(live);
    const ids: string[] = [];
    const texts: string[] = [];
    const sparseRows: number[] = [];
    let i = 0;
    for (const row of this.liveRowNumbers()) {
      const id = this.ids[row]!;
      ids.push(id);
      idLens[i] = id.length;
      const text = this.payloadText(row);
      payloadLens[i] = text === null ? -1 : text.length;
      if (text !== null) texts.push(text);
      if (this.sparse[row]) sparseRows.push(row);
      i++;
    }
    w.u32array(idLens).string(ids.join(""));
    w.u32array(new Uint32Array(payloadLens.buffer)).string(texts.join(""));
    w.u32(sparseRows.length);
    for (const row of sparseRows) w.f64(row).u32array(this.sparse[row]!.indices).f32array(this.sparse[row]!.values);
  }

  /** Restore the rows already present in the store from `write`'s output. Payloads stay JSON text until used. */
  read(r: ByteReader): void {
    const n = r.f64();
    const liveCount = r.f64();
    if (n !== this.store.length) throw new RangeError(`snapshot has ${n} rows, vector file ${this.store.length}`);
    this.restore(r.u8array(), r.f32array());
    if (this.liveCount !== liveCount) throw new RangeError("live row count does not match");
    const idLens = r.u32array();
    const allIds = r.string();
    const payloadLens = new Int32Array(r.u32array().buffer);
    const allTexts = r.string();
    if (idLens.length !== liveCount || payloadLens.length !== liveCount) throw new RangeError("live row count does not match");
    this.ids = new Array(n).fill(null);
    this.payloads = new Array(n).fill(null);
    this.payloadSizes = new Array(n).fill(0);
    this.sparse = new Array(n).fill(null);
    this.rowOfId.clear();
    this.metaBytes = 0;
    let i = 0, idPos = 0, textPos = 0;
    for (const row of this.liveRowNumbers()) {
      const id = allIds.slice(idPos, (idPos += idLens[i]!));
      this.ids[row] = id;
      this.rowOfId.set(id, row);
      const len = payloadLens[i]!;
      if (len >= 0) {
        this.payloads[row] = allTexts.slice(textPos, (textPos += len));
        this.payloadSizes[row] = PAYLOAD_OVERHEAD + len * 2;
      }
      this.metaBytes += ID_OVERHEAD + id.length * 2 + this.payloadSizes[row]!;
      i++;
    }
    if (i !== liveCount || idPos !== allIds.length || textPos !== allTexts.length) throw new RangeError("ids or payloads do not match the live rows");
    const sparseCount = r.u32();
    for (let j = 0; j < sparseCount; j++) {
      const row = r.f64();
      if (!(row >= 0 && row < n) || !this.isLive(row)) throw new RangeError("sparse vector for a row that is not live");
      const sp = { indices: r.u32array(), values: r.f32array() };
      this.sparse[row] = sp;
      this.metaBytes += sp.indices.byteLength + sp.values.byteLength;
    }
  }
}
