/**
 * Bulk loads: COPY … FROM (importFrom) and insertManyAsync / upsertManyAsync.
 * The input arrives in chunks and is staged into the collection as it
 * comes, bypassing the write-ahead log; one checkpoint commits all of it.
 *
 * How it stays all-or-nothing in bounded memory (the database's side is
 * Database.beginLoad in src/db.ts):
 *   1. Before the load the database checkpoints, so the snapshot on disk is
 *      exactly the collection's state and the log holds nothing for it.
 *   2. Each chunk is validated whole (id, vector, payload, sparse; ids against
 *      the collection, the earlier chunks and the chunk itself), then its rows
 *      are appended as usual: an mmap collection's vectors are written to the
 *      vector file past its committed end (one pwrite per chunk), the index
 *      gets them, and every `spillRows` rows the row metadata (ids, payloads,
 *      sparse vectors) is appended to the row files past their committed ends
 *      (`LoadSession.spill`), so RAM holds at most that many rows' metadata.
 *      Nothing of this is committed: the manifest still names the old snapshot.
 *   3. Commit is one checkpoint: the new snapshot records the new ends, and
 *      the manifest switch makes the whole load visible at once, to this
 *      handle's readers in other processes too (they never see staged rows:
 *      those are in no log record and no manifest).
 *   4. Any error (a bad record, an I/O fault, a full disk, the input's own
 *      failure) puts the collection back as of its last snapshot; the staged
 *      bytes past the committed ends are ignored and overwritten later. A
 *      crash (kill -9) at any point reopens the old manifest: nothing of the
 *      load appears, everything acknowledged before it is kept.
 * While a load runs, every other call on the collection fails with BUSY
 * (between the chunks of an async load, other code can run).
 */
import { errors, VqliteError } from "../errors";
import { MmapVectorStore } from "../storage/vector_file";
import type { Collection, Item } from "./collection";
import type { Mutation } from "./mutation";

/** The database's side of a load. */
export interface LoadSession {
  /** Throws when the load cannot go on (the database was closed, the collection dropped). */
  check(): void;
  /** Append the staged row metadata to the row files past their committed ends (bounds RAM; commits nothing). */
  spill(): void;
  /** Commit everything staged in one step; on failure the collection is as before the load and the error is thrown. */
  commit(): void;
  /** Put the collection back as it was before the load (`changed` false: nothing was staged, nothing to undo). */
  abort(changed: boolean): void;
}

export interface LoadOptions {
  readonly mode: "insert" | "upsert";
  /** Upsert mode: an id that appears twice in the input is an error (insert mode: always). */
  readonly rejectRepeats?: boolean;
  /** What the input is called in errors about repeated ids ("the file", "the input"). */
  readonly input?: string;
}

/** Rows per chunk of an async load (also the default batch of the file readers, about). */
export const DEFAULT_CHUNK_ROWS = 16384;

/** Staged rows whose metadata may wait in RAM before it goes to the row files. VQLITE_SPILL_ROWS overrides it (tests). */
function spillRows(): number {
  const v = Number(process.env.VQLITE_SPILL_ROWS);
  // 32k: a spill of 128k rows briefly took +55 MB RssAnon (the rows' records and ids in RAM)
  return Number.isSafeInteger(v) && v > 0 ? v : 32768;
}

/** Bytes of vectors staged between two full garbage collections, at least. */
const COLLECT_BYTES = 4 << 20;

/** An error about the item at input position `i` (0-based), keeping the cause's code. */
export function atItem<T>(i: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof VqliteError) {
      const wrapped = new VqliteError(e.code, `item ${i}: ${e.message}`, { cause: e });
      wrapped.item = i;
      throw wrapped;
    }
    throw e;
  }
}

export class BulkLoad {
  /** Rows from here on are staged by this load. */
  private readonly firstRow: number;
  private readonly spillEvery = spillRows();
  private sinceSpill = 0;
  private sinceCollect = 0;
  private staged = 0;
  private state: "open" | "committed" | "aborted" = "open";
  /** Whether the collection was changed at all (an input that fails before its first chunk changes nothing). */
  private touched = false;

  constructor(
    private readonly c: Collection,
    private readonly session: LoadSession,
    private readonly options: LoadOptions,
  ) {
    this.firstRow = c.rowCount;
    const store = c.store;
    if (store instanceof MmapVectorStore) {
      // the index reads rows back with pread, not through the mapping (see readThrough)
      store.readThrough = true;
      this.mapped = store;
    }
    try {
      c.cacheIdHashes(true);
    } catch (e) {
      this.abort(); // reading the row index failed: nothing staged, the load ends here
      throw e;
    }
  }

  /** The mmap store whose reads go through pread during the load. */
  private mapped: MmapVectorStore | null = null;

  /** Items staged so far. */
  get count(): number {
    return this.staged;
  }

  /** Stage a chunk; `first` is the input position of items[0] (for errors). A failure aborts the load. */
  add(items: readonly Item[], first: number): void {
    if (this.state !== "open") throw errors.invalidArgument(`this load was already ${this.state}`);
    try {
      this.session.check();
      const d = this.c.dimension;
      const muts: Mutation[] = new Array(items.length);
      const vectors = new Float32Array(items.length * d); // every vector of the chunk, validated in place
      const seen = new Set<string>();
      for (let i = 0; i < items.length; i++) muts[i] = atItem(first + i, () => this.plan(items[i]!, seen, vectors.subarray(i * d, (i + 1) * d)));
      this.touched = true;
      this.c.stage(muts, vectors);
      this.collectGarbage(vectors.byteLength);
      this.staged += muts.length;
      this.sinceSpill += muts.length;
      if (this.sinceSpill >= this.spillEvery) {
        this.session.spill();
        this.sinceSpill = 0;
        // a spill remaps the row files (and may write a new hash table): collect now, so the
        // old mappings and their touched pages go before the new ones are touched again
        this.collectGarbage(Number.POSITIVE_INFINITY);
      }
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /**
   * A load makes garbage at the rate it reads (the input's batches, the chunk
   * buffer, per-row objects) that the engine collects lazily: 200 MB of .fvecs
   * into an mmap collection peaked at +340 MB RssAnon without help. A full
   * collection costs in proportion to the live heap, so for memory storage it
   * runs after staging max(4 MiB, half the collection's metadata) of vectors:
   * cheap next to the I/O, and the garbage between two collections stays a
   * fraction of what is live. For mmap storage (a small heap) it runs every
   * 4 MiB: at 1M rows into mmap + clustered, every 8 MiB peaked at +238 MB
   * RssAnon and every 4 MiB at +146 MB, in the same time. An mmap
   * collection's file is mapped afresh first, so that pages touched through
   * the old mapping leave this process with it (the index's own reads go
   * through pread during a load: MmapVectorStore.readThrough).
   */
  private collectGarbage(bytes: number): void {
    this.sinceCollect += bytes;
    const store = this.c.store;
    const mapped = store instanceof MmapVectorStore;
    // mmap: the pages the index touched go only with the old mapping, so collect every
    // COLLECT_BYTES; memory storage: in proportion to the live heap
    if (this.sinceCollect < (mapped ? COLLECT_BYTES : Math.max(COLLECT_BYTES, this.c.metadataBytes() / 2))) return;
    this.sinceCollect = 0;
    // the index reads the new rows back through the mapping (an insert finds its leaf, a leaf
    // splits): a fresh mapping lets the collection drop the pages touched so far (RssFile)
    if (mapped) store.remap();
    Bun.gc(true);
  }

  private plan(item: Item, seen: Set<string>, into: Float32Array): Mutation {
    const m = this.c.planItem(this.options.mode, item, into);
    const id = m.id;
    const row = this.c.rowOfId(id);
    const repeated = seen.has(id) || (row !== undefined && row >= this.firstRow);
    if (repeated && (this.options.mode === "insert" || this.options.rejectRepeats)) {
      throw new VqliteError("DUPLICATE_ID", `id ${JSON.stringify(id)} appears twice in ${this.options.input ?? "the input"}`);
    }
    if (this.options.mode === "insert" && row !== undefined) throw errors.duplicateId(id);
    seen.add(id);
    return m;
  }

  /** Commit; returns the items staged. On failure nothing of the load remains. */
  commit(): number {
    if (this.state !== "open") throw errors.invalidArgument(`this load was already ${this.state}`);
    this.state = "committed";
    try {
      this.collectGarbage(Number.POSITIVE_INFINITY); // the commit's checkpoint allocates (a hash table rewrite): start clean
      this.session.commit();
    } finally {
      if (this.mapped) this.mapped.readThrough = false;
      this.c.cacheIdHashes(false);
    }
    return this.staged;
  }

  /** Drop everything staged (no-op once committed or aborted). */
  abort(): void {
    if (this.state !== "open") return;
    this.state = "aborted";
    if (this.mapped) this.mapped.readThrough = false;
    this.c.cacheIdHashes(false);
    this.session.abort(this.touched);
  }
}
