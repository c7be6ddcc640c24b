/**
 * A collection's per-row state in one table: the vector store, the live
 * bitmap and norms (LiveRows, what indexes read), and per row its string id,
 * payload (JSON text until first used, then the parsed, frozen object) and
 * sparse vector, with the id → row map. Rows are appended, killed, and
 * renumbered by compaction; nothing else changes a row.
 *
 * This is the seam for a disk-backed table: the collection reads and writes
 * rows only through these methods. Ids, payloads and sparse vectors live in a
 * RowMeta: in RAM (MemoryMeta, memory storage) or in files (DiskMeta, mmap
 * storage); the table switches backend when compaction moves it to the other
 * storage kind.
 */
import type { Metric } from "../ann/distance";
import { errors } from "../errors";
import { utf8Length, type ByteReader, type ByteWriter } from "../storage/binary";
import type { VectorStore } from "../storage/vector_store";
import { DiskMeta } from "./disk_meta";
import { LiveRows } from "./live_rows";
import { deepFreeze, DISK_FORMAT, DISK_FORMAT_ALIGNED, type PayloadBytes, type RowMeta } from "./row_meta";
import type { Payload, SparseVector } from "./validate";

/** Rough heap cost of an id: JS string header + map entry. */
const ID_OVERHEAD = 56;
const PAYLOAD_OVERHEAD = 64;


/** Ids, payloads and sparse vectors in RAM, with the id → row map of the live rows. */
export class MemoryMeta implements RowMeta {
  readonly kind = "memory" as const;
  ids: (string | null)[] = [];
  readonly rowOfId = new Map<string, number>();
  /** Parsed payloads; a string is a payload's JSON text not parsed yet (parsed on first use). */
  payloads: (Payload | string)[] = [];
  payloadSizes: number[] = [];
  sparse: (SparseVector | null)[] = [];
  metaBytes = 0;

  findRow(id: string, accept: (row: number) => boolean): number | undefined {
    const row = this.rowOfId.get(id);
    return row !== undefined && accept(row) ? row : undefined;
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

  payloadBytes(live: (row: number) => boolean, rows: number): PayloadBytes {
    let raw = 0;
    for (let row = 0; row < rows; row++) {
      if (!live(row)) continue;
      const text = this.payloadText(row);
      if (text !== null) raw += utf8Length(text);
    }
    return { raw, stored: raw };
  }

  payloadText(row: number): string | null {
    const p = this.payloads[row];
    return p === null || p === undefined ? null : typeof p === "string" ? p : JSON.stringify(p);
  }

  sparseOf(row: number): SparseVector | null {
    return this.sparse[row] ?? null;
  }

  prefetch(): void {
    // ids and payloads are JS values already
  }

  heapBytes(): number {
    return this.metaBytes + this.ids.length * 8 * 4 + this.rowOfId.size * 16;
  }

  append(row: number, id: string, payload: string | null, sparse: SparseVector | null): void {
    this.ids[row] = id;
    this.payloads[row] = null;
    this.payloadSizes[row] = 0;
    this.sparse[row] = null;
    this.setMeta(row, payload, sparse);
    this.rowOfId.set(id, row);
    this.metaBytes += ID_OVERHEAD + id.length * 2;
  }

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

  kill(row: number): void {
    const id = this.ids[row]!;
    this.rowOfId.delete(id);
    this.metaBytes -= (this.payloadSizes[row] ?? 0) + ID_OVERHEAD + id.length * 2;
    const sp = this.sparse[row];
    if (sp) this.metaBytes -= sp.indices.byteLength + sp.values.byteLength;
    this.ids[row] = null;
    this.payloads[row] = null;
    this.payloadSizes[row] = 0;
    this.sparse[row] = null;
  }

  /** A copy of `from`'s live rows at their new numbers (parsed payloads move over as they are). */
  static renumbered(from: RowMeta, oldToNew: Int32Array, rows: number): MemoryMeta {
    const m = new MemoryMeta();
    m.ids = new Array(rows);
    m.payloads = new Array(rows);
    m.payloadSizes = new Array(rows);
    m.sparse = new Array(rows);
    for (let row = 0; row < oldToNew.length; row++) {
      const nr = oldToNew[row]!;
      if (nr < 0) continue;
      const id = from.idOf(row);
      m.ids[nr] = id;
      if (from instanceof MemoryMeta) {
        m.payloads[nr] = from.payloads[row] ?? null;
        m.payloadSizes[nr] = from.payloadSizes[row] ?? 0;
      } else {
        const text = from.payloadText(row);
        m.payloads[nr] = text;
        m.payloadSizes[nr] = text === null ? 0 : PAYLOAD_OVERHEAD + text.length * 2;
      }
      const sp = from.sparseOf(row);
      m.sparse[nr] = sp;
      m.rowOfId.set(id, nr);
      m.metaBytes += ID_OVERHEAD + id.length * 2 + m.payloadSizes[nr]! + (sp ? sp.indices.byteLength + sp.values.byteLength : 0);
    }
    return m;
  }
}

export class RowTable extends LiveRows {
  /** Where ids, payloads and sparse vectors live: RAM for memory storage, files for mmap storage. */
  meta: RowMeta;

  constructor(store: VectorStore, metric: Metric) {
    super(store, metric);
    this.meta = store.kind === "mmap" ? new DiskMeta(this) : new MemoryMeta();
  }

  // ---- reads -------------------------------------------------------------------------------

  rowOf(id: string): number | undefined {
    return this.meta.findRow(id, (row) => this.isLive(row));
  }

  has(id: string): boolean {
    return this.rowOf(id) !== undefined;
  }

  idOf(row: number): string {
    return this.meta.idOf(row);
  }

  payloadOf(row: number): Payload {
    try {
      return this.meta.payloadOf(row);
    } catch (e) {
      // payload text that is not JSON can only come from a damaged file
      if (e instanceof SyntaxError) throw errors.corrupt("a snapshot or row file", `the payload of ${JSON.stringify(this.idOf(row))} is not valid JSON`);
      throw e;
    }
  }

  /** A payload's JSON text (null for none), without parsing it if it was never parsed. */
  payloadText(row: number): string | null {
    return this.meta.payloadText(row);
  }

  sparseOf(row: number): SparseVector | null {
    return this.meta.sparseOf(row);
  }

  /** The live rows' payload bytes, raw and as stored (row_meta.ts PayloadBytes). */
  payloadBytes(): PayloadBytes {
    return this.meta.payloadBytes((row) => this.isLive(row), this.rowCount);
  }

  /** ids, payloads, sparse vectors, bitmaps and norms: heap bytes, estimated. */
  metadataBytes(): number {
    return this.meta.heapBytes() + this.heapBytes();
  }

  // ---- writes ------------------------------------------------------------------------------

  /** Append a live row; returns its row number. The id must not be live already. */
  append(id: string, vector: Float32Array, payload: string | null, sparse: SparseVector | null): number {
    const row = this.appendVector(vector);
    this.meta.append(row, id, payload, sparse);
    return row;
  }

  /** Replace a row's payload and sparse vector. */
  setMeta(row: number, payload: string | null, sparse: SparseVector | null): void {
    this.meta.setMeta(row, payload, sparse);
  }

  /** Make a row dead and forget its id and metadata; returns whether it was live. */
  kill(row: number): boolean {
    if (!this.markDead(row)) return false;
    this.meta.kill(row);
    return true;
  }

  protected override renumber(oldToNew: Int32Array, rows: number): void {
    const old = this.meta;
    this.meta = this.store.kind === "mmap" ? DiskMeta.renumbered(this, old, oldToNew, rows) : MemoryMeta.renumbered(old, oldToNew, rows);
    if (old instanceof DiskMeta && this.meta instanceof MemoryMeta) old.close(); // every row was copied to RAM
  }

  // ---- snapshot ----------------------------------------------------------------------------

  /**
   * Row count, live bitmap, norms, then the live rows' ids and payload texts
   * each as one string with per-row lengths (one decode on open instead of
   * one per row), then the rows with sparse vectors.
   */
  write(w: ByteWriter): void {
    if (this.meta instanceof DiskMeta) this.meta.write(w);
    else this.writeInline(w);
  }

  /**
   * The in-RAM snapshot format, whatever the backend: row count, live bitmap,
   * norms, the live rows' ids and payload texts each as one string with
   * per-row lengths, then the rows with sparse vectors. Self-contained (no
   * row files), so a backup can carry it; an mmap collection read from it
   * writes row files at its next checkpoint.
   */
  writeInline(w: ByteWriter): void {
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
      const id = this.idOf(row);
      ids.push(id);
      idLens[i] = id.length;
      const text = this.payloadText(row);
      payloadLens[i] = text === null ? -1 : text.length;
      if (text !== null) texts.push(text);
      if (this.sparseOf(row)) sparseRows.push(row);
      i++;
    }
    w.u32array(idLens).string(ids.join(""));
    w.u32array(new Uint32Array(payloadLens.buffer)).string(texts.join(""));
    w.u32(sparseRows.length);
    for (const row of sparseRows) w.f64(row).u32array(this.sparseOf(row)!.indices).f32array(this.sparseOf(row)!.values);
  }


  /**
   * Restore the rows already present in the store from `write`'s output.
   * Payloads stay JSON text until used. `dir` holds the row files of an mmap
   * collection; an mmap collection saved in the in-RAM format (older
   * databases) is converted to row files at its next checkpoint.
   */
  read(r: ByteReader, dir: string | null = null): void {
    const n = r.f64();
    const liveCount = r.f64();
    if (liveCount === DISK_FORMAT || liveCount === DISK_FORMAT_ALIGNED) {
      if (!(this.meta instanceof DiskMeta) || dir === null) throw new RangeError("row files need mmap storage in a database directory");
      if (n !== this.store.length) throw new RangeError(`snapshot has ${n} rows, vector file ${this.store.length}`);
      this.meta.read(r, dir, liveCount === DISK_FORMAT_ALIGNED);
      return;
    }
    const mm = new MemoryMeta();
    if (n !== this.store.length) throw new RangeError(`snapshot has ${n} rows, vector file ${this.store.length}`);
    this.restoreBytes(r.bytes(), r.f32bytes());
    if (this.liveCount !== liveCount) throw new RangeError("live row count does not match");
    const idLens = r.u32array();
    const allIds = r.string();
    const payloadLens = new Int32Array(r.u32array().buffer);
    const allTexts = r.string();
    if (idLens.length !== liveCount || payloadLens.length !== liveCount) throw new RangeError("live row count does not match");
    mm.ids = new Array(n).fill(null);
    mm.payloads = new Array(n).fill(null);
    mm.payloadSizes = new Array(n).fill(0);
    mm.sparse = new Array(n).fill(null);
    let i = 0, idPos = 0, textPos = 0;
    for (const row of this.liveRowNumbers()) {
      const id = allIds.slice(idPos, (idPos += idLens[i]!));
      mm.ids[row] = id;
      mm.rowOfId.set(id, row);
      const len = payloadLens[i]!;
      if (len >= 0) {
        mm.payloads[row] = allTexts.slice(textPos, (textPos += len));
        mm.payloadSizes[row] = PAYLOAD_OVERHEAD + len * 2;
      }
      mm.metaBytes += ID_OVERHEAD + id.length * 2 + mm.payloadSizes[row]!;
      i++;
    }
    if (i !== liveCount || idPos !== allIds.length || textPos !== allTexts.length) throw new RangeError("ids or payloads do not match the live rows");
    const sparseCount = r.u32();
    for (let j = 0; j < sparseCount; j++) {
      const row = r.f64();
      if (!(row >= 0 && row < n) || !this.isLive(row)) throw new RangeError("sparse vector for a row that is not live");
      const sp = { indices: r.u32array(), values: r.f32array() };
      mm.sparse[row] = sp;
      mm.metaBytes += sp.indices.byteLength + sp.values.byteLength;
    }
    // mmap storage: the rows stay in RAM until the next checkpoint writes them to row files
    this.meta = this.meta instanceof DiskMeta ? DiskMeta.converted(this, mm, n) : mm;
  }
}
