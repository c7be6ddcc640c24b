/**
 * Row metadata of an mmap collection in row files (src/storage/row_files.ts).
 *
 * Rows [0, C) are committed: read from the mapped files (or, until the next
 * checkpoint after a compaction or a conversion, from the table they were
 * copied from). Rows [C, n), written since the last checkpoint, live in RAM
 * (they are in the WAL), as do payload or sparse changes to committed rows
 * (`pending`). A checkpoint (`flush`) appends them to the files past the
 * committed ends and syncs; the snapshot written next records the new ends,
 * and the manifest switch commits them. Ids of rows the hash file does not
 * cover yet are kept in `tail`, a map of live ids in RAM.
 *
 * RAM per committed row: nothing here (the live bitmap and norms are the
 * table's); opening reads the snapshot's bitmap, norms and the ids of at most
 * `hashSlack` rows past the hash table.
 */
import { ByteReader, ByteWriter, utf8Length } from "../storage/binary";
import { RowFiles, type Compression, type RowFilesState, type RowRecord } from "../storage/row_files";
import type { LiveRows } from "./live_rows";
import { deepFreeze, DISK_FORMAT_ALIGNED, type PayloadBytes, type RowMeta } from "./row_meta";
import type { Payload, SparseVector } from "./validate";

/** Committed rows [0, rows) as a DiskMeta reads them. */
interface CommittedRows {
  readonly rows: number;
  /** Rows [0, hashRows) are found by findRow; rows past it through the tail map. */
  readonly hashRows: number;
  idAt(row: number): string;
  payloadAt(row: number): string | null;
  /** The payload parsed, not yet frozen (null for none). */
  payloadValueAt(row: number): Payload;
  /** Start fetching the records of the rows in `rows` below `end`. */
  prefetch(rows: readonly number[], end: number): void;
  sparseAt(row: number): SparseVector | null;
  findRow(id: string, accept: (row: number) => boolean): number | undefined;
}

/** Rows of another backend under new numbers (a compaction or a conversion, until the next checkpoint). */
class RemappedRows implements CommittedRows {
  private readonly newToOld: Int32Array | null;

  constructor(
    private readonly from: RowMeta,
    private readonly oldToNew: Int32Array | null,
    readonly rows: number,
  ) {
    if (oldToNew === null) {
      this.newToOld = null;
    } else {
      this.newToOld = new Int32Array(rows);
      for (let old = 0; old < oldToNew.length; old++) if (oldToNew[old]! >= 0) this.newToOld[oldToNew[old]!] = old;
    }
  }

  get hashRows(): number {
    return this.rows;
  }

  private old(row: number): number {
    return this.newToOld === null ? row : this.newToOld[row]!;
  }

  idAt(row: number): string {
    return this.from.idOf(this.old(row));
  }

  payloadAt(row: number): string | null {
    return this.from.payloadText(this.old(row));
  }

  payloadValueAt(row: number): Payload {
    return this.from.payloadOf(this.old(row));
  }

  prefetch(): void {
    // rows of another backend, read one by one until the next checkpoint writes them
  }

  sparseAt(row: number): SparseVector | null {
    return this.from.sparseOf(this.old(row));
  }

  /** Close the files of the backend the rows came from (they were all copied). */
  release(): void {
    if (this.from instanceof DiskMeta) this.from.close();
  }

  findRow(id: string, accept: (row: number) => boolean): number | undefined {
    const map = this.oldToNew;
    if (map === null) return this.from.findRow(id, accept);
    const old = this.from.findRow(id, (o) => o < map.length && map[o]! >= 0 && accept(map[o]!));
    return old === undefined ? undefined : map[old];
  }
}

let fileSequence = 0;
const ID_OVERHEAD = 56;
const PAYLOAD_OVERHEAD = 64;
/** The snapshot's row file section: version 1, uncompressed heap (unchanged since before compression); 2, zstd blocks. */
const FORMAT_VERSION: Record<Compression, number> = { none: 1, zstd: 2 };

/** Rows past the hash table before a checkpoint rebuilds it (their ids are read on open). */
export function hashSlack(hashRows: number): number {
  return Math.max(4096, Math.min(16384, hashRows >>> 4));
}

export class DiskMeta implements RowMeta {
  readonly kind = "disk" as const;
  private src: CommittedRows | null = null;
  private ovIds: (string | null)[] = [];
  private ovPayloads: (string | null)[] = [];
  private ovSparse: (SparseVector | null)[] = [];
  private ovBytes = 0;
  private readonly tail = new Map<string, number>();
  private readonly pending = new Map<number, { payload: string | null; sparse: SparseVector | null }>();

  constructor(private readonly table: LiveRows) {}

  /** Committed rows. */
  private get committed(): number {
    return this.src?.rows ?? 0;
  }

  private get hashRows(): number {
    return this.src?.hashRows ?? 0;
  }

  /** The rows of `from` at their new numbers, held by reference until the next checkpoint writes new files. */
  static renumbered(table: LiveRows, from: RowMeta, oldToNew: Int32Array, rows: number): DiskMeta {
    const m = new DiskMeta(table);
    m.src = new RemappedRows(from, oldToNew, rows);
    return m;
  }

  /** An mmap collection read from an in-RAM snapshot (older databases): written to row files at the next checkpoint. */
  static converted(table: LiveRows, from: RowMeta, rows: number): DiskMeta {
    const m = new DiskMeta(table);
    m.src = new RemappedRows(from, null, rows);
    return m;
  }

  // ---- RowMeta -----------------------------------------------------------------------------

  findRow(id: string, accept: (row: number) => boolean): number | undefined {
    const r = this.tail.get(id);
    if (r !== undefined && accept(r)) return r;
    return this.src?.findRow(id, accept);
  }

  idOf(row: number): string {
    const c = this.committed;
    return row >= c ? this.ovIds[row - c]! : this.src!.idAt(row);
  }

  payloadText(row: number): string | null {
    const c = this.committed;
    if (row >= c) return this.ovPayloads[row - c] ?? null;
    const p = this.pending.get(row);
    return p ? p.payload : this.src!.payloadAt(row);
  }

  payloadOf(row: number): Payload {
    if (row < this.committed && !this.pending.has(row)) {
      // straight from the row file's bytes: no payload text is made (row_files.ts)
      return deepFreeze(this.src!.payloadValueAt(row));
    }
    const text = this.payloadText(row);
    return text === null ? null : deepFreeze(JSON.parse(text) as Payload);
  }

  sparseOf(row: number): SparseVector | null {
    const c = this.committed;
    if (row >= c) return this.ovSparse[row - c] ?? null;
    const p = this.pending.get(row);
    return p ? p.sparse : this.src!.sparseAt(row);
  }

  append(row: number, id: string, payload: string | null, sparse: SparseVector | null): void {
    const i = row - this.committed;
    this.ovIds[i] = id;
    this.ovPayloads[i] = payload;
    this.ovSparse[i] = sparse;
    this.ovBytes += ID_OVERHEAD + id.length * 2 + (payload === null ? 0 : PAYLOAD_OVERHEAD + payload.length * 2) + sparseBytes(sparse);
    this.tail.set(id, row);
  }

  setMeta(row: number, payload: string | null, sparse: SparseVector | null): void {
    const c = this.committed;
    if (row >= c) {
      const i = row - c;
      this.ovBytes += textBytes(payload) - textBytes(this.ovPayloads[i] ?? null) + sparseBytes(sparse) - sparseBytes(this.ovSparse[i] ?? null);
      this.ovPayloads[i] = payload;
      this.ovSparse[i] = sparse;
    } else {
      const old = this.pending.get(row);
      if (old) this.ovBytes -= textBytes(old.payload) + sparseBytes(old.sparse);
      this.pending.set(row, { payload, sparse });
      this.ovBytes += textBytes(payload) + sparseBytes(sparse);
    }
  }

  kill(row: number): void {
    const id = this.idOf(row);
    if (this.tail.get(id) === row) this.tail.delete(id);
    const c = this.committed;
    if (row >= c) {
      const i = row - c;
      this.ovBytes -= ID_OVERHEAD + id.length * 2 + textBytes(this.ovPayloads[i] ?? null) + sparseBytes(this.ovSparse[i] ?? null);
      // the id stays: row numbers past C stay dense
      this.ovPayloads[i] = null;
      this.ovSparse[i] = null;
    } else {
      const old = this.pending.get(row);
      if (old) this.ovBytes -= textBytes(old.payload) + sparseBytes(old.sparse);
      this.pending.delete(row);
    }
  }

  payloadBytes(live: (row: number) => boolean, rows: number): PayloadBytes {
    let raw = 0, stored = 0, fromFiles = false;
    const c = this.committed;
    const files = this.src instanceof RowFiles ? this.src : null;
    for (let row = 0; row < rows; row++) {
      if (!live(row)) continue;
      if (files !== null && row < c && !this.pending.has(row)) {
        const n = files.payloadBytesAt(row);
        raw += n;
        stored += files.payloadStoredAt(row);
        if (n > 0) fromFiles = true;
      } else {
        const text = this.payloadText(row);
        const n = text === null ? 0 : utf8Length(text);
        raw += n;
        stored += n;
      }
    }
    // the heap's zstd dictionary serves the payloads read from it
    if (fromFiles) stored += files!.dictionaryBytes;
    return { raw, stored: Math.round(stored) };
  }

  prefetch(rows: readonly number[]): void {
    this.src?.prefetch(rows, this.committed);
  }

  heapBytes(): number {
    return Math.max(0, this.ovBytes) + this.ovIds.length * 24 + this.tail.size * 80 + this.pending.size * 64;
  }

  // ---- checkpoint --------------------------------------------------------------------------

  /** Whether there is anything a checkpoint must write to the row files. */
  get dirty(): boolean {
    return !(this.src instanceof RowFiles) || this.committed !== this.table.rowCount || this.pending.size > 0;
  }

  private recordOf(row: number): RowRecord | null {
    if (!this.table.isLive(row)) return null;
    return { id: this.idOf(row), payload: this.payloadText(row), sparse: this.sparseOf(row) };
  }

  /**
   * Write everything since the last checkpoint to the row files, synced:
   * appended past the committed ends, or, after a compaction, a conversion or
   * many replaced records, as new files named NAME.TAG.*. Nothing is
   * committed until the snapshot that `write` produces is in the manifest; on
   * failure the in-RAM state is unchanged. `spill`: a bulk load's spill
   * (bulk_load.ts), which rewrites the hash table less often.
   */
  flush(dir: string, base: string, checkpointTag: string, compression: Compression = "none", spill = false): void {
    if (!this.dirty && (this.src as RowFiles).state.compression === compression) return;
    // unique in this process even when a failed checkpoint is retried under the same tag
    const tag = `${checkpointTag}-${++fileSequence}`;
    const n = this.table.rowCount;
    const live = (row: number) => this.table.isLive(row);
    // a heap of another compression is rewritten whole (ALTER … SET COMPRESSION)
    const files = this.src instanceof RowFiles && this.src.dir === dir && this.src.state.compression === compression ? this.src : null;
    // a zstd heap written without a dictionary (too little payload text then) is written anew once the rows doubled
    const undictionaried = files !== null && compression === "zstd" && !files.hasDictionary && n > 2 * Math.max(512, files.rows);
    if (files !== null && !undictionaried && files.state.overrides.size + this.pending.size <= Math.max(1024, files.rows >>> 3)) {
      const saved = files.snapshotState();
      let rehashed = false;
      try {
        files.appendRows(this.committed, n, (row) => this.recordOf(row));
        const replaced = new Map<number, RowRecord>();
        for (const row of this.pending.keys()) if (live(row)) replaced.set(row, this.recordOf(row)!);
        if (replaced.size > 0) files.appendReplacements(replaced);
        files.syncData();
        files.remap();
        // a bulk load's spill rewrites the whole hash table only as the rows grow by a sixteenth,
        // not at every spill: its ids wait in `tail` meanwhile (at most 1/16 of the rows)
        const slack = spill ? Math.max(hashSlack(files.hashRows), files.hashRows >>> 4) : hashSlack(files.hashRows);
        if (n - files.hashRows > slack) {
          files.writeHash(`${base}.${tag}.hidx`, n, live);
          rehashed = true;
        }
      } catch (e) {
        files.restore(saved);
        throw e;
      }
      if (rehashed) this.tail.clear();
    } else {
      const next = RowFiles.write(dir, base, tag, n, (row) => this.recordOf(row), live, compression);
      if (this.src instanceof RowFiles) this.src.close();
      else if (this.src instanceof RemappedRows) this.src.release();
      this.src = next;
      this.tail.clear();
    }
    this.ovIds = [];
    this.ovPayloads = [];
    this.ovSparse = [];
    this.ovBytes = 0;
    this.pending.clear();
  }

  /** Keep the committed rows' id hashes in RAM while `on` (a bulk load's many lookups: RowFiles.cacheHashes). */
  cacheHashes(on: boolean): void {
    if (this.src instanceof RowFiles) this.src.cacheHashes(on);
  }

  /** Names of the row files in use (empty before the first checkpoint). */
  fileNames(): string[] {
    return this.src instanceof RowFiles ? this.src.fileNames() : [];
  }

  close(): void {
    if (this.src instanceof RowFiles) this.src.close();
  }

  /** Snapshot of a flushed table: row count, format mark, bitmap, norms, then the files' committed state. */
  write(w: ByteWriter): void {
    if (this.dirty) throw new Error("row files must be flushed before a snapshot");
    const st = (this.src as RowFiles).snapshotState();
    const saved = this.table.savedArrays();
    w.f64(this.table.rowCount).f64(DISK_FORMAT_ALIGNED).f64(this.table.liveCount);
    w.u8array(saved.live).f32arrayAligned(saved.norms);
    w.u32(FORMAT_VERSION[st.compression]).string(st.rowsFile).string(st.ridxFile).string(st.hidxFile);
    w.f64(st.rows).f64(st.heapEnd).f64(st.hashRows);
    w.u32(st.overrides.size);
    for (const [row, ref] of st.overrides) w.f64(row).f64(ref.offset).f64(ref.length);
  }

  /**
   * Read `write`'s output after the row count and format mark (`aligned`: the
   * mark was DISK_FORMAT_ALIGNED: the norms were written f32arrayAligned). The live bitmap
   * and the norms are used in place when they can be (see LiveRows.restoreBytes).
   */
  read(r: ByteReader, dir: string, aligned = false): void {
    const liveCount = r.f64();
    const live = r.bytes();
    this.table.restoreBytes(live, aligned ? r.alignedBytes() : r.f32bytes(), liveCount);
    if (this.table.liveCount !== liveCount) throw new RangeError("live row count does not match");
    const version = r.u32();
    const compression: Compression | undefined = version === FORMAT_VERSION.none ? "none" : version === FORMAT_VERSION.zstd ? "zstd" : undefined;
    if (compression === undefined) throw new RangeError("unsupported row file format");
    const names = [r.string(), r.string(), r.string()];
    for (const f of names) if (!/^[^/\\.][^/\\]*$/.test(f)) throw new RangeError(`bad row file name ${f}`);
    const st: RowFilesState = {
      rowsFile: names[0]!,
      ridxFile: names[1]!,
      hidxFile: names[2]!,
      rows: r.f64(),
      heapEnd: r.f64(),
      hashRows: r.f64(),
      overrides: new Map(),
      compression,
    };
    const n = this.table.rowCount;
    if (st.rows !== n || !(st.hashRows >= 0 && st.hashRows <= n) || !Number.isSafeInteger(st.heapEnd)) throw new RangeError("row file state out of range");
    const count = r.u32();
    for (let i = 0; i < count; i++) {
      const row = r.f64(), offset = r.f64(), length = r.f64();
      if (!(row >= 0 && row < n) || !(offset > 0 && offset + length <= st.heapEnd)) throw new RangeError("replaced record out of range");
      st.overrides.set(row, { offset, length });
    }
    const files = RowFiles.open(dir, st);
    this.close();
    this.src = files;
    this.tail.clear();
    try {
      for (let row = st.hashRows; row < n; row++) if (this.table.isLive(row)) this.tail.set(files.idAt(row), row);
    } catch (e) {
      files.close();
      this.src = null;
      throw e;
    }
  }
}

function textBytes(t: string | null): number {
  return t === null ? 0 : PAYLOAD_OVERHEAD + t.length * 2;
}

function sparseBytes(s: SparseVector | null): number {
  return s ? s.indices.byteLength + s.values.byteLength : 0;
}
