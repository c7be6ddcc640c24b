/**
 * The database: a directory (or nothing, in memory) holding collections,
 * a write-ahead log, snapshots and vector files.
 *
 * Directory layout:
 *   LOCK                 pid of the process that has it open for writing
 *   MANIFEST             checkpoint generation, LSN, and the collections' files
 *   wal.log              write-ahead log since the last checkpoint (header salt: the generation)
 *   name.LSN.vec         a collection's vector file, created by the log record LSN
 *   name.LSN.gGEN.vec    a vector file written by vacuum or ALTER … SET STORAGE at LSN,
 *                        first referenced by the manifest of checkpoint GEN
 *   name.GEN.snap        a collection's ids, payloads, tombstones and index at checkpoint GEN
 *   name.TAG.rows/.ridx/.hidx  an mmap collection's row files (ids, payloads, sparse vectors)
 *   readers/             one file per read-only handle: the files it pins
 * New files use the lower-cased collection name (names match case-insensitively,
 * so two live collections never share a file name on a case-insensitive file system).
 *
 * Read-only handles follow the writer as described in storage/readers.ts.
 * The query executor imports this module's Database as a type only; this
 * module imports the executor to run VQL (no runtime cycle).
 */
import * as path from "node:path";
import type { LoadSession } from "./collection/bulk_load";
import { checkCollection, type CollectionCheck } from "./collection/check";
import { Collection, type CollectionHost, type VacuumResult } from "./collection/collection";
import { resolveConfig, validateName, type CollectionConfig, type CollectionOptions, type CompressionKind, type StorageKind } from "./collection/config";
import { decodeLogEntry, encodeLogFramed, type LogEntry, type Mutation } from "./collection/mutation";
import { assertNever, errors, VqliteError } from "./errors";
import { executeScript, executeStatement, type Row, type StatementResult } from "./query/executor";
import { parse } from "./query/parser";
import type { Params } from "./query/values";
import { ByteReader, ByteWriter, crc32 } from "./storage/binary";
import { checkFiles } from "./storage/check_files";
import { ensureDirectory, fileExists, listDirectory, readFileBytes, removeFile, syncDirectory } from "./storage/files";
import { DirectoryLock } from "./storage/lock";
import { notADatabase, pinnedFiles, ReaderRegistration, WalFollower } from "./storage/readers";
import { readManifestFile, readSnapshotFile, writeManifestFile, writeSnapshotFile, writeSnapshotStream } from "./storage/snapshot";
import { MmapVectorStore, VectorFile } from "./storage/vector_file";
import { MemoryVectorStore, type VectorStore } from "./storage/vector_store";
import { parseWal, RECORD_HEADER_BYTES, WAL_HEADER_BYTES, WriteAheadLog, type Durability } from "./storage/wal";
import { WriteGate } from "./storage/write_gate";
import type { Progress } from "./ann/types";

export type { Durability };

export interface OpenOptions {
  /**
   * "full" (default): every write is fdatasync'ed before it returns; survives
   * power loss. "normal": the log is synced at checkpoints only; survives a
   * process crash (the OS has the data) but a power loss can lose the writes
   * since the last checkpoint. Faster for many small writes.
   */
  readonly durability?: Durability;
  /** Checkpoint automatically when the log grows past this many bytes (default 64 MiB). */
  readonly checkpointBytes?: number;
  /**
   * Open an existing database for reading only: no lock is taken, so it works
   * beside a writer (in this or another process) and beside other readers.
   * Every statement and collection call first catches up with the writer's
   * commits (refresh()). Writes fail with READ_ONLY.
   */
  readonly readonly?: boolean;
}

export interface BackupResult {
  readonly collections: number;
  readonly items: number;
  /** Bytes of vectors and snapshots written. */
  readonly bytes: number;
  /** The commit the copy is as of. */
  readonly lsn: number;
}

/** What db.check() found: `ok` when there are no problems. */
export interface CheckReport {
  readonly ok: boolean;
  readonly problems: string[];
  readonly collections: CollectionCheck[];
  /** Files re-read and verified (manifest, snapshots, vector files, log); 0 in memory. */
  readonly filesChecked: number;
  readonly walRecords: number;
  /** Why the database refuses writes until reopened, or null. */
  readonly writeBlocked: string | null;
}

export interface CreateCollectionOptions extends CollectionOptions {
  /** Return the existing collection instead of failing when the name is taken. */
  readonly ifNotExists?: boolean;
}

interface Entry {
  collection: Collection;
  /** Vector file (on-disk databases): the store's own file for mmap, the persistence file for memory. */
  file: VectorFile | null;
  /** The snapshot file that holds this collection as of `version`; null until its first checkpoint. */
  saved: { version: number; snapshot: string } | null;
}

interface ManifestCollection {
  name: string;
  config: CollectionConfig;
  vectors: string;
  snapshot: string;
  /** Row files (mmap storage): ids, payloads, sparse vectors and the id hash table. */
  rows?: string[];
}

/** Files a database holds besides MANIFEST, the log and LOCK (temporary copies included). */
const DATA_FILE = /\.(vec|snap|rows|ridx|hidx)(\.tmp)?$/;

interface Manifest {
  format: "vqlite";
  version: 1;
  generation: number;
  checkpointLsn: number;
  collections: ManifestCollection[];
}

const MANIFEST = "MANIFEST";
const WAL_FILE = "wal.log";
const DEFAULT_CHECKPOINT_BYTES = 64 * 1024 * 1024;

export class Database implements CollectionHost, Disposable {
  private entries = new Map<string, Entry>();
  private wal: WriteAheadLog | null = null;
  private lock: DirectoryLock | null = null;
  private lsn = 0;
  /** LSN the manifest on disk covers. */
  private checkpointLsn = 0;
  private generation = 0;
  private replaying = false;
  private checkpointDue = false;
  private isClosed = false;
  readonly durability: Durability;
  /** Opened with { readonly: true }. */
  readonly readOnly: boolean;
  private registration: ReaderRegistration | null = null;
  private follower: WalFollower | null = null;
  /** The log header salt and offset this reader has read up to (undefined: not looked yet). */
  private followSalt: number | null | undefined = undefined;
  private followOffset = 0;
  /** > 0 while a statement runs: it sees one state, no refresh in between. */
  private viewDepth = 0;
  /** A read-only handle whose state may be partly applied: reload everything at the next look. */
  private needReload = false;
  private readonly checkpointBytes: number;
  /** What recovery found on open: records replayed and torn-tail bytes dropped. */
  readonly recovery = { replayedRecords: 0, discardedBytes: 0 };
  /** Closed after a failed sync or WAL append, or a recovery that could not write: see write_gate.ts. */
  private readonly gate = new WriteGate();
  /** Opening without writing anything (recovery could not write): every store in RAM, no WAL handle. */
  private readOnlyRecovery = false;
  /**
   * Collections with a bulk load under way (collection/bulk_load.ts): the manifest entry of
   * their last commit (null in memory), which checkpoints keep writing until the load commits,
   * and, if the rollback itself failed, why the collection cannot be used until reopened.
   */
  private readonly loads = new Map<string, { committed: ManifestCollection | null; broken: VqliteError | null }>();

  /** Use open(). */
  constructor(
    /** Database directory, or null for an in-memory database. */
    readonly path: string | null,
    options: OpenOptions = {},
  ) {
    const durability = options.durability ?? "full";
    if (durability !== "full" && durability !== "normal") throw errors.invalidArgument(`durability must be full or normal, got ${JSON.stringify(durability)}`);
    this.durability = durability;
    const cb = options.checkpointBytes ?? DEFAULT_CHECKPOINT_BYTES;
    if (!Number.isFinite(cb) || cb < 1) throw errors.invalidArgument("checkpointBytes must be a positive number");
    this.checkpointBytes = cb;
    this.readOnly = options.readonly === true;
    if (this.readOnly && path === null) throw errors.invalidArgument("an in-memory database cannot be opened read-only");
    if (path !== null) {
      if (this.readOnly) this.openReadOnly(path);
      else this.openDirectory(path);
    }
  }

  get inMemory(): boolean {
    return this.path === null;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Why this database refuses writes until it is reopened (a failed sync or WAL append, a full disk at recovery), or null. */
  get writeBlocked(): VqliteError | null {
    return this.gate.blocked;
  }

  // ---- catalog -----------------------------------------------------------------------------

  createCollection(name: string, options: CreateCollectionOptions): Collection {
    this.assertOpen();
    this.view();
    validateName(name);
    const taken = this.lookup(name);
    if (taken !== undefined) {
      if (options?.ifNotExists) return this.entries.get(taken)!.collection;
      throw errors.collectionExists(taken);
    }
    if (this.readOnly) throw errors.readOnly("CREATE COLLECTION");
    this.gate.assertWritable();
    const config = resolveConfig(options);
    if (config.storage === "mmap" && this.path === null) {
      throw errors.invalidConfig("mmap storage needs a database on disk: open(path) instead of open()");
    }
    const lsn = this.lsn + 1;
    const entry = this.noteSyncFailure(`creating ${name}`, () => this.makeEntry(name, config, lsn));
    try {
      this.log({ kind: "create", name, config });
    } catch (e) {
      entry.file?.close();
      if (entry.file) removeFile(entry.file.path);
      throw e;
    }
    this.entries.set(name, entry);
    this.afterCommit();
    return entry.collection;
  }

  /** A collection by name; names match case-insensitively (`PTS` finds `pts`). */
  collection(name: string): Collection {
    this.assertOpen();
    this.view();
    const key = this.lookup(name);
    if (key === undefined) throw errors.unknownCollection(name);
    return this.entries.get(key)!.collection;
  }

  hasCollection(name: string): boolean {
    this.assertOpen();
    this.view();
    return this.lookup(name) !== undefined;
  }

  /** Collection names as they were created, sorted. */
  listCollections(): string[] {
    this.assertOpen();
    this.view();
    return [...this.entries.keys()].sort();
  }

  /** Drop a collection; returns false if it did not exist (and `ifExists` was given). */
  dropCollection(name: string, options: { ifExists?: boolean } = {}): boolean {
    this.assertOpen();
    this.view();
    if (this.readOnly) throw errors.readOnly("DROP COLLECTION");
    const key = this.lookup(name);
    if (key === undefined) {
      if (options.ifExists) return false;
      throw errors.unknownCollection(name);
    }
    name = key;
    if (this.loads.has(name)) throw errors.busy(name, "DROP COLLECTION");
    this.log({ kind: "drop", name });
    this.removeEntry(name);
    this.afterCommit();
    return true;
  }

  // ---- CollectionHost ----------------------------------------------------------------------

  assertUsable(c: Collection): void {
    this.assertOpen();
    this.view();
    if (this.entries.get(c.name)?.collection !== c) throw errors.unknownCollection(c.name);
    const load = this.loads.get(c.name);
    if (load) throw load.broken ?? errors.busy(c.name);
  }

  assertWritable(c: Collection): void {
    if (this.readOnly) throw errors.readOnly(`writing to ${c.name}`);
  }

  journal(c: Collection, mutations: readonly Mutation[]): void {
    if (this.readOnly) throw errors.readOnly(`writing to ${c.name}`);
    if (this.replaying) return;
    const store = c.store;
    if (!(store instanceof MmapVectorStore)) {
      this.log({ kind: "batch", collection: c.name, mutations });
      return;
    }
    // Rows reach the mapped file before their record reaches the log: a reader
    // that sees the record finds the rows (storage/readers.ts, rule 1).
    const vectors: Float32Array[] = [];
    for (const m of mutations) {
      if (m.kind === "put") vectors.push(m.vector);
      else if (m.kind === "update" && m.vector) vectors.push(m.vector);
    }
    store.writeAhead(vectors);
    try {
      this.log({ kind: "batch", collection: c.name, mutations });
    } catch (e) {
      store.cancelAhead();
      throw e;
    }
  }

  committed(_c: Collection): void {
    this.afterCommit();
  }

  vacuum(c: Collection, storage: StorageKind = c.config.storage, onProgress?: Progress, compression: CompressionKind = c.config.compression): VacuumResult {
    if (this.readOnly) throw errors.readOnly(storage === c.config.storage && compression === c.config.compression ? "VACUUM" : "ALTER COLLECTION");
    const entry = this.entries.get(c.name)!;
    this.gate.assertWritable();
    if (this.path === null) {
      if (storage === "mmap") throw errors.invalidConfig("mmap storage needs a database on disk: open(path) instead of open()");
      return c.compactInto(new MemoryVectorStore(c.dimension, Math.max(16, c.count())), onProgress, compression);
    }
    const file = this.noteSyncFailure(`compacting ${c.name}`, () =>
      VectorFile.create(this.file(`${c.name.toLowerCase()}.${this.lsn}.g${this.generation + 1}.vec`), c.dimension, Math.max(1, c.count())),
    );
    let result: VacuumResult;
    try {
      const target: VectorStore = storage === "mmap" ? new MmapVectorStore(file, 0) : new MemoryVectorStore(c.dimension, Math.max(16, c.count()));
      result = c.compactInto(target, onProgress, compression);
    } catch (e) {
      file.close();
      try {
        removeFile(file.path);
      } catch {
        // a file no manifest names is removed at the next open
      }
      throw this.gate.noteFailure(e, `compacting ${c.name}`);
    }
    const old = entry.file;
    entry.file = file;
    try {
      this.checkpoint();
    } catch (e) {
      // The collection already moved to the new file, which the log cannot replay: stop here.
      this.gate.close(`the checkpoint after compacting ${c.name} failed`, e);
      throw e;
    }
    old?.close();
    return result;
  }

  /**
   * A bulk load into `c` (collection/bulk_load.ts): checkpoint first, so the
   * snapshot is exactly the collection's state; then rows are staged past the
   * committed ends outside the log; commit is one checkpoint, abort reloads
   * the collection from its snapshot (in memory: from a copy taken here).
   */
  beginLoad(c: Collection): LoadSession {
    if (this.readOnly) throw errors.readOnly(`loading into ${c.name}`);
    this.gate.assertWritable();
    const name = c.name;
    const entry = this.entries.get(name)!;
    this.checkpoint();
    let restore: () => void;
    let committed: ManifestCollection | null = null;
    if (this.path === null) {
      const w = new ByteWriter(1024);
      c.writeSnapshot(w);
      const body = w.finish();
      const rows = c.rowCount, d = c.dimension;
      restore = () => c.reload(c.config, MemoryVectorStore.from(d, c.store.data().subarray(0, rows * d)), new ByteReader(body, "the state before the load"));
    } else {
      if (entry.saved === null || entry.saved.version !== c.version || entry.file === null) throw new Error(`internal error: ${name} is not checkpointed before its load`);
      const m: ManifestCollection = { name, config: c.config, vectors: path.basename(entry.file.path), snapshot: entry.saved.snapshot, rows: c.rowFiles() };
      committed = m;
      restore = () => this.restoreCommitted(entry, m);
    }
    this.loads.set(name, { committed, broken: null });
    const current = () => !this.isClosed && this.entries.get(name) === entry && this.loads.has(name);
    const rollback = () => {
      try {
        restore();
        this.loads.delete(name);
      } catch (e) {
        // the files still hold the last commit; reopening restores it
        this.gate.close(`restoring ${name} after a failed load failed`, e);
        const detail = e instanceof Error ? e.message : String(e);
        this.loads.set(name, { committed, broken: errors.writesRefused(`${name} could not be restored after a failed load (${detail}); reopen the database`, e) });
      }
    };
    return {
      check: () => {
        this.assertOpen();
        if (!current()) throw errors.unknownCollection(name);
      },
      spill: () => {
        if (this.path === null) return;
        const before = c.rowFiles();
        this.noteSyncFailure(`loading ${name}`, () => c.flushRows(this.path!, `g${this.generation + 1}`, true));
        // a hash table a spill replaced is in no manifest and no reader's pin: it goes now, not at the commit
        const keep = new Set([...c.rowFiles(), ...(committed?.rows ?? [])]);
        for (const f of before) {
          if (keep.has(f)) continue;
          try {
            removeFile(this.file(f));
          } catch {
            // a file no manifest names is removed at the next checkpoint or open
          }
        }
      },
      commit: () => {
        if (!current()) throw this.isClosed ? errors.closed() : errors.unknownCollection(name);
        this.loads.delete(name);
        if (this.path === null) return;
        const generation = this.generation, lsn = this.lsn;
        // One more step of the history: a reader caught up with the last checkpoint must
        // reload this collection's new snapshot instead of keeping its state (storage/readers.ts).
        this.lsn++;
        try {
          this.checkpoint();
        } catch (e) {
          if (this.generation !== generation) return; // the manifest switched: the load is committed
          this.lsn = lsn;
          this.loads.set(name, { committed, broken: null });
          rollback();
          throw e;
        }
      },
      abort: (changed) => {
        if (!current()) {
          if (this.entries.get(name) === entry && !this.isClosed) return; // restored, or broken: stays so
          this.loads.delete(name);
          return;
        }
        if (changed) rollback();
        else this.loads.delete(name);
      },
    };
  }

  /** Put a collection back to its committed snapshot (a bulk load that failed). */
  private restoreCommitted(entry: Entry, m: ManifestCollection): void {
    const c = entry.collection;
    const { reader, rows } = this.readSnapshot(m);
    const file = entry.file!;
    if (rows > file.capacity) throw errors.corrupt(file.path, `snapshot expects ${rows} rows, the file holds ${file.capacity}`);
    const store: VectorStore = c.config.storage === "mmap" ? new MmapVectorStore(file, rows) : MemoryVectorStore.from(c.dimension, file.readRows(0, rows));
    if (c.config.storage === "memory") file.syncedCount = rows;
    c.closeFiles();
    c.reload(c.config, store, reader, this.path);
    entry.saved = { version: c.version, snapshot: m.snapshot };
  }

  // ---- durability --------------------------------------------------------------------------

  /**
   * Write the state of every collection changed since its last snapshot to a
   * new snapshot file and sync its vector file (unchanged ones keep theirs),
   * switch the manifest atomically, then empty the log. Nothing to do when
   * nothing changed since the last checkpoint.
   */
  checkpoint(): void {
    this.assertOpen();
    if (this.readOnly) throw errors.readOnly("CHECKPOINT");
    if (this.path === null || this.wal === null) return;
    const clean = (e: Entry) => e.saved !== null && e.saved.version === e.collection.version;
    const settled = (e: Entry) => clean(e) || this.loads.has(e.collection.name);
    if (this.lsn === this.checkpointLsn && [...this.entries.values()].every(settled)) return;
    this.gate.assertWritable();
    try {
      this.writeCheckpoint(clean);
    } catch (e) {
      throw this.gate.noteFailure(e, "checkpointing");
    }
  }

  private writeCheckpoint(clean: (e: Entry) => boolean): void {
    const wal = this.wal!;
    wal.sync();
    const gen = this.generation + 1;
    const collections: ManifestCollection[] = [];
    for (const [name, entry] of this.entries) {
      const c = entry.collection;
      const file = entry.file!;
      const load = this.loads.get(name);
      if (load?.committed) {
        collections.push(load.committed); // a load under way: its collection stays as last committed
        continue;
      }
      if (clean(entry)) {
        collections.push({ name, config: c.config, vectors: path.basename(file.path), snapshot: entry.saved!.snapshot, rows: c.rowFiles() });
        continue;
      }
      if (c.store instanceof MmapVectorStore) {
        c.store.sync();
      } else {
        const start = file.syncedCount;
        const d = c.dimension;
        const capacity = file.capacity;
        try {
          file.writeRows(start, c.store.data().subarray(start * d, c.rowCount * d));
          file.sync(c.rowCount);
        } catch (e) {
          try {
            file.shrinkTo(capacity); // a full disk: give back what the failed growth took
          } catch {
            // the next open accepts a file grown by whole rows
          }
          throw e;
        }
      }
      c.flushRows(this.path!, `g${gen}`);
      const snapshot = `${name.toLowerCase()}.${gen}.snap`;
      writeSnapshotStream(this.file(snapshot), (w) => c.writeSnapshot(w));
      entry.saved = { version: c.version, snapshot };
      collections.push({ name, config: c.config, vectors: path.basename(file.path), snapshot, rows: c.rowFiles() });
    }
    const manifest: Manifest = { format: "vqlite", version: 1, generation: gen, checkpointLsn: this.lsn, collections };
    writeManifestFile(this.file(MANIFEST), manifest);
    this.generation = gen;
    this.checkpointLsn = this.lsn;
    wal.reset(gen);
    this.checkpointDue = false;
    this.removeUnreferenced(manifest);
  }

  // ---- consistency -------------------------------------------------------------------------

  /**
   * Verify the database without changing it: every collection's counts, id map,
   * vectors, norms, payloads and index coverage in memory, and on disk the
   * checksums of the manifest, the snapshots, the vector file headers and the log.
   */
  check(): CheckReport {
    this.assertOpen();
    for (const [name, load] of this.loads) if (load.broken === null) throw errors.busy(name, "CHECK");
    const broken = [...this.loads.values()].map((l) => l.broken!.message);
    const collections = [...this.entries.values()].filter((e) => !this.loads.has(e.collection.name)).map((e) => checkCollection(e.collection));
    const problems = [...broken, ...collections.flatMap((c) => c.problems)];
    let filesChecked = 0;
    let walRecords = 0;
    if (this.path !== null) {
      let snapshots: string[] = [];
      try {
        const m = this.validateManifest(readManifestFile(this.file(MANIFEST)));
        snapshots = m.collections.map((c) => this.file(c.snapshot));
      } catch (e) {
        problems.push((e as Error).message);
      }
      const vectors = [...this.entries.values()]
        .filter((e) => e.file !== null)
        .map((e) => ({ path: e.file!.path, dimension: e.collection.dimension, rows: e.collection.store.kind === "mmap" ? e.collection.rowCount : 0 }));
      const files = checkFiles({ manifest: this.file(MANIFEST), wal: this.file(WAL_FILE), snapshots, vectors });
      problems.push(...files.problems);
      filesChecked = files.filesChecked;
      walRecords = files.walRecords;
    }
    return { ok: problems.length === 0, problems, collections, filesChecked, walRecords, writeBlocked: this.gate.blocked?.message ?? null };
  }

  // ---- VQL ---------------------------------------------------------------------------------

  /**
   * Run every VQL statement in `text`, returning one result per statement.
   * `$name` parameters are bound from `params` (a Float32Array query needs no formatting).
   * Stops at the first error, which is thrown with its line and column; the
   * statements before it stay applied, the failing one changes nothing.
   */
  exec(text: string, params: Params = {}): StatementResult[] {
    this.assertOpen();
    this.view();
    return executeScript(this, text, { params });
  }

  /** Run exactly one statement and return its rows (empty for writes). */
  query(text: string, params: Params = {}): Row[] {
    this.assertOpen();
    const statements = parse(text);
    if (statements.length !== 1) throw errors.invalidArgument(`query() runs exactly one statement, got ${statements.length}: use exec() for scripts`);
    this.view();
    return executeStatement(this, statements[0]!, { params }).rows ?? [];
  }

  close(): void {
    if (this.isClosed) return;
    let failure: unknown;
    // With the gate closed nothing more is written: recovery rebuilds from what is on disk.
    const writable = this.gate.blocked === null;
    try {
      if (this.path !== null && !this.readOnly && writable) this.checkpoint();
    } catch (e) {
      // The log still holds every acknowledged write; recovery replays it. A checkpoint that
      // did not fit on the disk loses nothing, so it is not an error of close(); anything else is.
      if (!(e instanceof VqliteError && e.code === "DISK_FULL" && this.gate.blocked === null)) failure = e;
    }
    try {
      this.wal?.close(this.gate.blocked === null);
    } catch (e) {
      failure ??= e;
    }
    for (const e of this.entries.values()) {
      e.file?.close();
      e.collection.closeFiles();
    }
    this.follower?.close();
    this.registration?.release();
    this.lock?.release();
    this.isClosed = true;
    if (failure) throw failure;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---- readers -----------------------------------------------------------------------------

  /**
   * Read-only handles: catch up with the writer's commits now. Statements and
   * collection calls do this themselves (a cheap check when nothing changed);
   * scripts call it to decide when. No-op on a writing handle.
   */
  refresh(): void {
    this.assertOpen();
    if (this.follower !== null) this.catchUp();
  }

  /** Run `fn` against one state: a read-only handle refreshes once, before it, not during it. */
  withView<T>(fn: () => T): T {
    this.assertOpen();
    this.view();
    this.viewDepth++;
    try {
      return fn();
    } finally {
      this.viewDepth--;
    }
  }

  // ---- backup ------------------------------------------------------------------------------

  /**
   * Write a consistent copy of the database, as of the last commit, into `dir`
   * (missing or empty): a snapshot and a compact vector file per collection and
   * a manifest, each read back and checked against its checksum. The copy is a
   * normal database. From a read-only handle it does not hold up the writer at all.
   */
  backup(dir: string): BackupResult {
    this.assertOpen();
    if (typeof dir !== "string" || dir.length === 0) throw errors.invalidArgument("backup needs a directory path");
    for (const name of this.loads.keys()) throw errors.busy(name, "BACKUP");
    return this.withView(() => {
      if (this.path !== null && path.resolve(dir) === path.resolve(this.path)) throw errors.invalidArgument("cannot back up a database into itself");
      if (fileExists(dir) && listDirectory(dir).length > 0) throw errors.invalidArgument(`backup target ${dir} is not empty`);
      ensureDirectory(dir);
      const gen = 1;
      const collections: ManifestCollection[] = [];
      const written: { vectors: string; rows: number; dimension: number; sum: number; snapshot: string }[] = [];
      let items = 0, bytes = 0;
      for (const [name, entry] of this.entries) {
        const c = entry.collection;
        const d = c.dimension, rows = c.rowCount;
        const vectors = `${name.toLowerCase()}.0.vec`;
        const data = c.store.data().subarray(0, rows * d);
        const file = VectorFile.create(path.join(dir, vectors), d, Math.max(1, rows));
        try {
          file.writeRows(0, data);
          file.sync(rows);
        } finally {
          file.close();
        }
        const w = new ByteWriter(1024);
        c.writeSnapshot(w, true);
        const snapshot = `${name.toLowerCase()}.${gen}.snap`;
        const body = w.finish();
        writeSnapshotFile(path.join(dir, snapshot), body);
        written.push({ vectors, rows, dimension: d, sum: crc32(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)), snapshot });
        collections.push({ name, config: c.config, vectors, snapshot });
        items += c.count();
        bytes += data.byteLength + body.length;
      }
      writeManifestFile(path.join(dir, MANIFEST), { format: "vqlite", version: 1, generation: gen, checkpointLsn: this.lsn, collections } satisfies Manifest);
      // Verify: every file read back passes its own checksum, and the rows are the rows written.
      readManifestFile(path.join(dir, MANIFEST));
      for (const f of written) {
        readSnapshotFile(path.join(dir, f.snapshot));
        const vf = VectorFile.open(path.join(dir, f.vectors), f.dimension, false, true);
        try {
          const back = vf.readRows(0, f.rows);
          if (vf.syncedCount !== f.rows || crc32(new Uint8Array(back.buffer)) !== f.sum) throw errors.corrupt(vf.path, "backup copy does not match what was written");
        } finally {
          vf.close();
        }
      }
      syncDirectory(dir);
      return { collections: collections.length, items, bytes, lsn: this.lsn };
    });
  }

  // ---- internals ---------------------------------------------------------------------------

  /** The stored name a (case-insensitive) name refers to; an exact match wins (older databases may hold names differing only in case). */
  private lookup(name: string): string | undefined {
    if (this.entries.has(name)) return name;
    const lower = name.toLowerCase();
    let found: string | undefined;
    for (const k of this.entries.keys()) {
      if (k.toLowerCase() !== lower) continue;
      if (found !== undefined) return undefined; // ambiguous: only the exact name will do
      found = k;
    }
    return found;
  }

  private view(): void {
    if (this.follower !== null && this.viewDepth === 0 && !this.isClosed) this.catchUp();
  }

  /** Follow the writer: see storage/readers.ts for the protocol. */
  private catchUp(): void {
    const follower = this.follower!;
    for (let attempt = 0; attempt < 8; attempt++) {
      const { salt, size } = follower.look();
      if (!this.needReload && salt === this.followSalt && size === this.followOffset) return;
      if (salt === null) {
        // no log (yet), or a header being written: the manifest is all there is
        this.loadGeneration(this.needReload);
        this.needReload = false;
        this.followSalt = null;
        this.followOffset = size;
        return;
      }
      if (this.needReload || salt !== this.followSalt || size < this.followOffset) {
        // a checkpoint emptied the log (or this is the first look): newest manifest, then the log from its start
        this.loadGeneration(this.needReload || (salt === this.followSalt && size < this.followOffset));
        this.needReload = false;
        this.followSalt = salt;
        this.followOffset = WAL_HEADER_BYTES;
      }
      const r = follower.read(this.followOffset, size, this.lsn, salt);
      if (r.stale) continue; // a checkpoint emptied the log as it was read: look again
      this.replaying = true;
      try {
        for (const rec of r.records) {
          this.replay(this.decodeRecord(rec.payload, rec.lsn), rec.lsn);
          this.lsn = rec.lsn;
        }
      } catch (e) {
        this.needReload = true; // a record applied in part: start over from the manifest next time
        throw e;
      } finally {
        this.replaying = false;
      }
      this.followOffset = r.end;
      if (!r.gap) return;
      this.needReload = true; // records this handle never saw are gone from the log
    }
  }

  private decodeRecord(payload: Uint8Array, lsn: number): LogEntry {
    try {
      return decodeLogEntry(payload);
    } catch (e) {
      throw errors.corrupt(this.file(WAL_FILE), `record ${lsn} passed its checksum but cannot be decoded (${(e as Error).message})`);
    }
  }

  /** Files this handle uses now. */
  private usedFiles(): Set<string> {
    const used = new Set<string>();
    for (const e of this.entries.values()) {
      if (e.file) used.add(path.basename(e.file.path));
      if (e.saved) used.add(e.saved.snapshot);
      for (const f of e.collection.rowFiles()) used.add(f);
    }
    return used;
  }

  /**
   * Move a read-only handle to the newest manifest (pin, re-check, switch).
   * Collections whose files did not change are kept as they are; `force` reloads all.
   */
  private loadGeneration(force: boolean): void {
    const manifestPath = this.file(MANIFEST);
    for (let attempt = 0; ; attempt++) {
      const m = this.validateManifest(readManifestFile(manifestPath));
      if (!force && m.generation === this.generation) return;
      const files = new Set<string>();
      for (const mc of m.collections) {
        files.add(mc.vectors).add(mc.snapshot);
        for (const f of mc.rows ?? []) files.add(f);
      }
      this.registration!.pin(new Set([...files, ...this.usedFiles()]));
      const again = this.validateManifest(readManifestFile(manifestPath));
      if (again.generation !== m.generation) {
        if (attempt > 100) throw errors.io(`following ${this.path}`, new Error("the manifest keeps changing"));
        continue;
      }
      this.switchTo(m, force);
      this.registration!.pin(files);
      return;
    }
  }

  private switchTo(m: Manifest, force: boolean): void {
    // Phase 1: read and verify every changed snapshot and open its vectors (may fail: nothing changed yet).
    const loads: { mc: ManifestCollection; config: CollectionConfig; file: VectorFile; store: VectorStore; reader: ByteReader }[] = [];
    // Caught up with the checkpoint: a collection still on the same vector file already holds
    // exactly what its new snapshot holds (same rows, same row numbers), so it is kept as it is.
    const caughtUp = !force && this.lsn === m.checkpointLsn;
    const kept: { entry: Entry; snapshot: string }[] = [];
    try {
      for (const mc of m.collections) {
        const old = this.entries.get(mc.name);
        const sameFiles = old !== undefined && old.file !== null && path.basename(old.file.path) === mc.vectors;
        const unchanged = sameFiles && old.saved !== null && old.saved.snapshot === mc.snapshot && old.saved.version === old.collection.version;
        if (!force && (unchanged || (caughtUp && sameFiles))) {
          kept.push({ entry: old!, snapshot: mc.snapshot });
          continue;
        }
        const config = resolveConfig(mc.config);
        const { reader, rows } = this.readSnapshot(mc);
        const file = VectorFile.open(this.file(mc.vectors), config.dimension, false, true);
        loads.push({ mc, config, file, reader, store: null! });
        if (rows > file.capacity || rows > file.syncedCount) throw errors.corrupt(file.path, `snapshot expects ${rows} rows, the file holds ${file.syncedCount}`);
        loads[loads.length - 1]!.store =
          config.storage === "mmap" ? new MmapVectorStore(file, rows, true) : MemoryVectorStore.from(config.dimension, file.readRows(0, rows));
      }
    } catch (e) {
      for (const l of loads) l.file.close();
      throw e;
    }
    // Phase 2: switch.
    const names = new Set(m.collections.map((mc) => mc.name));
    for (const name of [...this.entries.keys()]) if (!names.has(name)) this.removeEntry(name);
    for (const { mc, config, file, store, reader } of loads) {
      const old = this.entries.get(mc.name);
      try {
        let c: Collection;
        if (old) {
          old.file?.close();
          c = old.collection;
          c.reload(config, store, reader, this.path);
        } else {
          c = new Collection(mc.name, config, store, this);
          c.readSnapshot(reader, this.path);
        }
        this.entries.set(mc.name, { collection: c, file, saved: { version: c.version, snapshot: mc.snapshot } });
      } catch (e) {
        this.needReload = true;
        if (e instanceof VqliteError) throw e;
        throw errors.corrupt(this.file(mc.snapshot), (e as Error).message);
      }
    }
    for (const { entry, snapshot } of kept) entry.saved = { version: entry.collection.version, snapshot };
    this.generation = m.generation;
    this.checkpointLsn = m.checkpointLsn;
    this.lsn = m.checkpointLsn;
  }

  private readSnapshot(mc: ManifestCollection): { reader: ByteReader; rows: number } {
    const reader = readSnapshotFile(this.file(mc.snapshot));
    try {
      return { reader, rows: new DataView(reader.buf.buffer, reader.buf.byteOffset).getFloat64(reader.pos, true) };
    } catch {
      throw errors.corrupt(this.file(mc.snapshot), "truncated");
    }
  }

  private openReadOnly(dir: string): void {
    if (!fileExists(this.file(MANIFEST))) throw notADatabase(dir);
    this.registration = ReaderRegistration.register(dir);
    this.follower = new WalFollower(this.file(WAL_FILE));
    this.generation = -1;
    try {
      this.catchUp();
    } catch (e) {
      for (const en of this.entries.values()) en.file?.close();
      this.entries.clear();
      this.follower.close();
      this.registration.release();
      this.isClosed = true;
      throw e;
    }
  }

  private file(name: string): string {
    return path.join(this.path!, name);
  }

  /** Run a write step; a failed sync in it closes the write gate. */
  private noteSyncFailure<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw this.gate.noteFailure(e, what);
    }
  }

  private assertOpen(): void {
    if (this.isClosed) throw errors.closed();
  }

  private log(entry: LogEntry): void {
    if (this.replaying) return;
    this.gate.assertWritable();
    if (this.wal === null) {
      this.lsn++;
      return;
    }
    const lsn = this.lsn + 1;
    const framed = encodeLogFramed(entry, RECORD_HEADER_BYTES);
    try {
      this.wal.appendFramed(lsn, framed);
    } catch (e) {
      if (e instanceof VqliteError && e.code === "INVALID_ARGUMENT") throw e; // too large: nothing was written
      // The log's tail is in doubt: never acknowledge a write after this one until reopened.
      this.gate.close(`appending to ${this.wal.path} failed`, e);
      throw e;
    }
    this.lsn = lsn;
    if (this.wal.byteSize >= this.checkpointBytes) this.checkpointDue = true;
  }

  private afterCommit(): void {
    if (!this.checkpointDue || this.replaying || this.gate.blocked !== null) return;
    try {
      this.checkpoint();
    } catch {
      // The write is acknowledged: it is in the log, which recovery replays. A failed
      // sync closed the gate; anything else (a full disk) is retried after the next write.
    }
  }

  private makeEntry(name: string, config: CollectionConfig, lsn: number): Entry {
    // A read-only handle keeps a collection created since its manifest in RAM
    // (the log holds every vector) until a checkpoint gives it files; so does
    // a recovery that cannot write.
    if (this.path === null || this.readOnly || this.readOnlyRecovery) {
      return { collection: new Collection(name, config, new MemoryVectorStore(config.dimension), this), file: null, saved: null };
    }
    const vecPath = this.file(`${name.toLowerCase()}.${lsn}.vec`);
    const file = (this.replaying && this.reusableVectorFile(vecPath, config.dimension)) || VectorFile.create(vecPath, config.dimension, 1024);
    try {
      const store = config.storage === "mmap" ? new MmapVectorStore(file, 0) : new MemoryVectorStore(config.dimension);
      return { collection: new Collection(name, config, store, this), file, saved: null };
    } catch (e) {
      file.close();
      removeFile(vecPath);
      throw e;
    }
  }

  /**
   * Recovery replays a create: the collection's vector file from before the
   * crash is reused, rows rewritten in place, so replay needs no new disk space
   * (a full disk must not stop a reopen). A file that is not a valid vector file
   * (a crash inside its creation) is replaced.
   */
  private reusableVectorFile(vecPath: string, dimension: number): VectorFile | null {
    if (!fileExists(vecPath)) return null;
    try {
      const file = VectorFile.open(vecPath, dimension, true);
      file.syncedCount = 0; // every row is replayed from the log
      return file;
    } catch (e) {
      if (!(e instanceof VqliteError) || e.code !== "CORRUPT_FILE") throw e;
      removeFile(vecPath);
      return null;
    }
  }

  private removeEntry(name: string): void {
    const e = this.entries.get(name);
    if (!e) return;
    this.entries.delete(name);
    e.file?.close(); // the file itself goes at the next checkpoint; mappings stay valid until collected
    e.collection.closeFiles();
  }

  private openDirectory(dir: string): void {
    ensureDirectory(dir);
    const manifestPath = this.file(MANIFEST);
    const hasManifest = fileExists(manifestPath);
    if (!hasManifest) {
      const foreign = listDirectory(dir).filter((f) => f !== "LOCK" && f !== "readers" && f !== WAL_FILE && f !== `${MANIFEST}.tmp` && !DATA_FILE.test(f));
      if (foreign.length > 0) {
        throw errors.corrupt(dir, `not a vqlite database (no MANIFEST, but it holds ${foreign.slice(0, 3).join(", ")})`);
      }
    }
    this.lock = DirectoryLock.acquire(dir);
    try {
      this.recover(hasManifest);
    } catch (e) {
      this.abandonRecovery();
      // Opening never needs to write to serve reads: when recovery could not write
      // (a full disk, read-only files), open again from the files and the log
      // without writing anything, and refuse writes until the database is reopened.
      const canReadOnly = e instanceof VqliteError && (e.code === "DISK_FULL" || e.code === "IO_ERROR");
      try {
        if (!canReadOnly) throw e;
        this.readOnlyRecovery = true;
        this.recover(hasManifest);
        this.gate.close("recovery could not write; the database is open for reads only", e);
      } catch (e2) {
        this.abandonRecovery();
        this.lock.release();
        this.isClosed = true;
        throw canReadOnly && !(e2 instanceof VqliteError && e2.code === "CORRUPT_FILE") ? e : e2;
      }
    }
  }

  private abandonRecovery(): void {
    try {
      this.wal?.close(false);
    } catch {
      // closing a descriptor can only fail if it is already gone
    }
    this.wal = null;
    for (const en of this.entries.values()) {
      en.file?.close();
      en.collection.closeFiles();
    }
    this.entries.clear();
    this.recovery.replayedRecords = 0;
    this.recovery.discardedBytes = 0;
  }

  /** Load the manifest's collections and replay the log (in read-only recovery: writing nothing). */
  private recover(hasManifest: boolean): void {
    const manifestPath = this.file(MANIFEST);
    const readOnly = this.readOnlyRecovery;
    let manifest: Manifest = { format: "vqlite", version: 1, generation: 0, checkpointLsn: 0, collections: [] };
    if (hasManifest) manifest = this.validateManifest(readManifestFile(manifestPath));
    else if (!readOnly) writeManifestFile(manifestPath, manifest);
    this.generation = manifest.generation;
    this.lsn = manifest.checkpointLsn;
    this.checkpointLsn = manifest.checkpointLsn;
    for (const mc of manifest.collections) this.loadCollection(mc);
    let records;
    if (readOnly) {
      const walPath = this.file(WAL_FILE);
      const bytes = fileExists(walPath) ? readFileBytes(walPath) : new Uint8Array(0);
      records = parseWal(walPath, bytes).records;
    } else {
      const { wal, recovery } = WriteAheadLog.open(this.file(WAL_FILE), this.durability, manifest.generation);
      this.wal = wal;
      this.recovery.discardedBytes = recovery.discardedBytes;
      records = recovery.records;
    }
    this.replaying = true;
    try {
      for (const rec of records) {
        if (rec.lsn <= manifest.checkpointLsn) continue;
        let entry: LogEntry;
        try {
          entry = decodeLogEntry(rec.payload);
        } catch (e) {
          throw errors.corrupt(this.file(WAL_FILE), `record ${rec.lsn} passed its checksum but cannot be decoded (${(e as Error).message})`);
        }
        try {
          this.replay(entry, rec.lsn);
        } catch (e) {
          if (e instanceof VqliteError) throw e;
          throw errors.corrupt(this.file(WAL_FILE), `record ${rec.lsn} cannot be applied (${(e as Error).message})`);
        }
        this.lsn = rec.lsn;
        this.recovery.replayedRecords++;
      }
    } finally {
      this.replaying = false;
    }
    // after replay, which reuses the vector files of collections created since the checkpoint
    if (!readOnly) this.removeUnreferenced(manifest);
    if (this.recovery.replayedRecords > 0 && !readOnly) {
      try {
        this.checkpoint();
      } catch {
        // Best effort: the log keeps every replayed write, so a checkpoint that cannot be
        // written (a full disk) leaves the database open and writable; a failed sync closed the gate.
      }
    } else if (!readOnly && this.wal !== null && this.wal.salt !== this.generation >>> 0) {
      // Killed between a checkpoint's manifest switch and its log reset: every record here is
      // covered by the manifest. Stamp the log now, before anything is appended to it, so that
      // readers still on the older generation move to the manifest's files first.
      this.wal.reset(this.generation);
    }
  }

  private replay(entry: LogEntry, lsn: number): void {
    switch (entry.kind) {
      case "create":
        if (this.entries.has(entry.name)) this.removeEntry(entry.name);
        // a log written before compression existed has no setting: "none"
        this.entries.set(entry.name, this.makeEntry(entry.name, { ...entry.config, compression: entry.config.compression ?? "none" }, lsn));
        break;
      case "drop":
        this.removeEntry(entry.name);
        break;
      case "batch": {
        const e = this.entries.get(entry.collection);
        if (!e) throw errors.corrupt(this.file(WAL_FILE), `record ${lsn} writes to unknown collection ${entry.collection}`);
        for (const m of entry.mutations) e.collection.apply(m);
        break;
      }
      default:
        assertNever(entry);
    }
  }

  private validateManifest(raw: unknown): Manifest {
    const where = this.file(MANIFEST);
    const m = raw as Manifest;
    if (!m || m.format !== "vqlite") throw errors.corrupt(where, "not a vqlite manifest");
    if (m.version !== 1) throw errors.corrupt(where, `unsupported database version ${String(m.version)}`);
    if (!Number.isSafeInteger(m.generation) || !Number.isSafeInteger(m.checkpointLsn) || !Array.isArray(m.collections)) {
      throw errors.corrupt(where, "fields out of range");
    }
    for (const c of m.collections) {
      try {
        validateName(c.name);
        resolveConfig(c.config);
      } catch (e) {
        throw errors.corrupt(where, `collection entry is invalid: ${(e as Error).message}`);
      }
      if (c.rows !== undefined && !Array.isArray(c.rows)) throw errors.corrupt(where, "rows is not a list of files");
      for (const f of [c.vectors, c.snapshot, ...(c.rows ?? [])]) {
        if (typeof f !== "string" || f.includes("/") || f.includes("\\") || f.startsWith(".")) throw errors.corrupt(where, `bad file name ${String(f)}`);
      }
    }
    return m;
  }

  private loadCollection(mc: ManifestCollection): void {
    const reader = readSnapshotFile(this.file(mc.snapshot));
    const config = resolveConfig(mc.config);
    let rows: number;
    try {
      rows = new DataView(reader.buf.buffer, reader.buf.byteOffset).getFloat64(reader.pos, true);
    } catch {
      throw errors.corrupt(this.file(mc.snapshot), "truncated");
    }
    const file = VectorFile.open(this.file(mc.vectors), config.dimension, true, this.readOnlyRecovery);
    try {
      if (!Number.isSafeInteger(rows) || rows < 0) throw errors.corrupt(this.file(mc.snapshot), `row count ${rows} is not a count`);
      if (rows > file.capacity || rows > file.syncedCount) {
        throw errors.corrupt(file.path, `snapshot expects ${rows} rows, the file holds ${file.syncedCount}`);
      }
      // A recovery that cannot write follows the file as a reader does: every logged row is
      // in it already (written ahead of its record), so replay writes nothing.
      const store: VectorStore =
        config.storage === "mmap"
          ? new MmapVectorStore(file, rows, this.readOnlyRecovery)
          : MemoryVectorStore.from(config.dimension, file.readRows(0, rows));
      if (config.storage === "memory") file.syncedCount = rows;
      const c = new Collection(mc.name, config, store, this);
      const entry: Entry = { collection: c, file, saved: null };
      this.entries.set(mc.name, entry);
      try {
        c.readSnapshot(reader, this.path);
        entry.saved = c.staleOnDisk ? null : { version: c.version, snapshot: mc.snapshot };
      } catch (e) {
        c.closeFiles();
        if (e instanceof VqliteError) throw e;
        throw errors.corrupt(this.file(mc.snapshot), (e as Error).message);
      }
    } catch (e) {
      file.close();
      this.entries.delete(mc.name);
      throw e;
    }
  }

  /** Delete files no manifest entry names (leftovers of drops, vacuums and crashes). */
  private removeUnreferenced(manifest: Manifest): void {
    const keep = new Set<string>([MANIFEST, WAL_FILE, "LOCK"]);
    for (const c of manifest.collections) {
      keep.add(c.vectors);
      keep.add(c.snapshot);
      for (const f of c.rows ?? []) keep.add(f);
    }
    // Files of live collections created since the checkpoint are still in use.
    for (const e of this.entries.values()) {
      if (e.file) keep.add(path.basename(e.file.path));
      for (const f of e.collection.rowFiles()) keep.add(f);
    }
    // Files that live read-only handles still use (storage/readers.ts, rule 3).
    for (const f of pinnedFiles(this.path!)) keep.add(f);
    for (const f of listDirectory(this.path!)) {
      if (keep.has(f)) continue;
      if (DATA_FILE.test(f) || f === `${MANIFEST}.tmp`) removeFile(this.file(f));
    }
  }
}

/**
 * Open a database. `open()` or `open(":memory:")` is in memory; `open(dir)`
 * opens (creating if missing) a database directory and recovers it;
 * `open(dir, { readonly: true })` reads an existing one beside its writer.
 */
export function open(path?: string, options: OpenOptions = {}): Database {
  if (path === undefined || path === ":memory:") return new Database(null, options);
  if (typeof path !== "string" || path.length === 0) throw errors.invalidArgument("database path must be a non-empty string");
  return new Database(path, options);
}
