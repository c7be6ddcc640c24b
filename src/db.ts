/**
 * The database: a directory (or nothing, in memory) holding collections,
 * a write-ahead log, snapshots and vector files.
 *
 * Directory layout:
 *   LOCK                 pid of the process that has it open
 *   MANIFEST             checkpoint generation, LSN, and the collections' files
 *   wal.log              write-ahead log since the last checkpoint
 *   NAME.LSN.vec         a collection's vector file (LSN of its creation or vacuum)
 *   NAME.GEN.snap        a collection's ids, payloads, tombstones at checkpoint GEN
 */
import * as path from "node:path";
import { checkCollection, type CollectionCheck } from "./collection/check";
import { Collection, type CollectionHost, type VacuumResult } from "./collection/collection";
import { resolveConfig, validateName, type CollectionConfig, type CollectionOptions, type StorageKind } from "./collection/config";
import { decodeLogEntry, encodeLogEntry, type LogEntry, type Mutation } from "./collection/mutation";
import { errors, VqliteError } from "./errors";
import { executeScript, executeStatement, type Row, type StatementResult } from "./query/executor";
import { parse } from "./query/parser";
import type { Params } from "./query/values";
import { ByteWriter } from "./storage/binary";
import { checkFiles } from "./storage/check_files";
import { ensureDirectory, fileExists, listDirectory, readFileBytes, removeFile } from "./storage/files";
import { DirectoryLock } from "./storage/lock";
import { readManifestFile, readSnapshotFile, writeManifestFile, writeSnapshotFile } from "./storage/snapshot";
import { MmapVectorStore, VectorFile } from "./storage/vector_file";
import { MemoryVectorStore, type VectorStore } from "./storage/vector_store";
import { parseWal, WriteAheadLog, type Durability } from "./storage/wal";
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
}

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
  private readonly checkpointBytes: number;
  /** What recovery found on open: records replayed and torn-tail bytes dropped. */
  readonly recovery = { replayedRecords: 0, discardedBytes: 0 };
  /** Closed after a failed sync or WAL append, or a recovery that could not write: see write_gate.ts. */
  private readonly gate = new WriteGate();
  /** Opening without writing anything (recovery could not write): every store in RAM, no WAL handle. */
  private readOnlyRecovery = false;

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
    if (path !== null) this.openDirectory(path);
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
    validateName(name);
    const existing = this.entries.get(name);
    if (existing) {
      if (options?.ifNotExists) return existing.collection;
      throw errors.collectionExists(name);
    }
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

  collection(name: string): Collection {
    this.assertOpen();
    const e = this.entries.get(name);
    if (!e) throw errors.unknownCollection(name);
    return e.collection;
  }

  hasCollection(name: string): boolean {
    this.assertOpen();
    return this.entries.has(name);
  }

  listCollections(): string[] {
    this.assertOpen();
    return [...this.entries.keys()].sort();
  }

  /** Drop a collection; returns false if it did not exist (and `ifExists` was given). */
  dropCollection(name: string, options: { ifExists?: boolean } = {}): boolean {
    this.assertOpen();
    if (!this.entries.has(name)) {
      if (options.ifExists) return false;
      throw errors.unknownCollection(name);
    }
    this.log({ kind: "drop", name });
    this.removeEntry(name);
    this.afterCommit();
    return true;
  }

  // ---- CollectionHost ----------------------------------------------------------------------

  assertUsable(c: Collection): void {
    this.assertOpen();
    if (this.entries.get(c.name)?.collection !== c) throw errors.unknownCollection(c.name);
  }

  journal(c: Collection, mutations: readonly Mutation[]): void {
    if (this.replaying) return;
    this.log({ kind: "batch", collection: c.name, mutations });
  }

  committed(_c: Collection): void {
    this.afterCommit();
  }

  vacuum(c: Collection, storage: StorageKind = c.config.storage, onProgress?: Progress): VacuumResult {
    const entry = this.entries.get(c.name)!;
    this.gate.assertWritable();
    if (this.path === null) {
      if (storage === "mmap") throw errors.invalidConfig("mmap storage needs a database on disk: open(path) instead of open()");
      return c.compactInto(new MemoryVectorStore(c.dimension, Math.max(16, c.count())), onProgress);
    }
    const file = this.noteSyncFailure(`compacting ${c.name}`, () =>
      VectorFile.create(this.file(`${c.name}.${this.lsn}.g${this.generation + 1}.vec`), c.dimension, Math.max(1, c.count())),
    );
    let result: VacuumResult;
    try {
      const target: VectorStore = storage === "mmap" ? new MmapVectorStore(file, 0) : new MemoryVectorStore(c.dimension, Math.max(16, c.count()));
      result = c.compactInto(target, onProgress);
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

  // ---- durability --------------------------------------------------------------------------

  /**
   * Write the state of every collection changed since its last snapshot to a
   * new snapshot file and sync its vector file (unchanged ones keep theirs),
   * switch the manifest atomically, then empty the log. Nothing to do when
   * nothing changed since the last checkpoint.
   */
  checkpoint(): void {
    this.assertOpen();
    if (this.path === null || this.wal === null) return;
    const clean = (e: Entry) => e.saved !== null && e.saved.version === e.collection.version;
    if (this.lsn === this.checkpointLsn && [...this.entries.values()].every(clean)) return;
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
      if (clean(entry)) {
        collections.push({ name, config: c.config, vectors: path.basename(file.path), snapshot: entry.saved!.snapshot });
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
      const w = new ByteWriter(1024);
      c.writeSnapshot(w);
      const snapshot = `${name}.${gen}.snap`;
      writeSnapshotFile(this.file(snapshot), w.finish());
      entry.saved = { version: c.version, snapshot };
      collections.push({ name, config: c.config, vectors: path.basename(file.path), snapshot });
    }
    const manifest: Manifest = { format: "vqlite", version: 1, generation: gen, checkpointLsn: this.lsn, collections };
    writeManifestFile(this.file(MANIFEST), manifest);
    this.generation = gen;
    this.checkpointLsn = this.lsn;
    wal.reset();
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
    const collections = [...this.entries.values()].map((e) => checkCollection(e.collection));
    const problems = collections.flatMap((c) => c.problems);
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
    return executeScript(this, text, { params });
  }

  /** Run exactly one statement and return its rows (empty for writes). */
  query(text: string, params: Params = {}): Row[] {
    this.assertOpen();
    const statements = parse(text);
    if (statements.length !== 1) throw errors.invalidArgument(`query() runs exactly one statement, got ${statements.length}: use exec() for scripts`);
    return executeStatement(this, statements[0]!, { params }).rows ?? [];
  }

  close(): void {
    if (this.isClosed) return;
    let failure: unknown;
    // With the gate closed nothing more is written: recovery rebuilds from what is on disk.
    const writable = this.gate.blocked === null;
    try {
      if (this.path !== null && writable) this.checkpoint();
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
    for (const e of this.entries.values()) e.file?.close();
    this.lock?.release();
    this.isClosed = true;
    if (failure) throw failure;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---- internals ---------------------------------------------------------------------------

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
    const payload = encodeLogEntry(entry);
    try {
      this.wal.append(lsn, payload);
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
    if (this.path === null || this.readOnlyRecovery) {
      return { collection: new Collection(name, config, new MemoryVectorStore(config.dimension), this), file: null, saved: null };
    }
    const vecPath = this.file(`${name}.${lsn}.vec`);
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
  }

  private openDirectory(dir: string): void {
    ensureDirectory(dir);
    const manifestPath = this.file(MANIFEST);
    const hasManifest = fileExists(manifestPath);
    if (!hasManifest) {
      const foreign = listDirectory(dir).filter((f) => f !== "LOCK" && f !== WAL_FILE && f !== `${MANIFEST}.tmp` && !/\.(vec|snap)(\.tmp)?$/.test(f));
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
    for (const en of this.entries.values()) en.file?.close();
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
      const { wal, recovery } = WriteAheadLog.open(this.file(WAL_FILE), this.durability);
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
    }
  }

  private replay(entry: LogEntry, lsn: number): void {
    switch (entry.kind) {
      case "create":
        if (this.entries.has(entry.name)) this.removeEntry(entry.name);
        this.entries.set(entry.name, this.makeEntry(entry.name, entry.config, lsn));
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
      default: {
        const never: never = entry;
        throw new Error(`unhandled log entry ${JSON.stringify(never)}`);
      }
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
      for (const f of [c.vectors, c.snapshot]) {
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
      const store: VectorStore =
        config.storage === "mmap" && !this.readOnlyRecovery
          ? new MmapVectorStore(file, rows)
          : MemoryVectorStore.from(config.dimension, file.readRows(0, rows));
      if (config.storage === "memory") file.syncedCount = rows;
      const c = new Collection(mc.name, config, store, this);
      const entry: Entry = { collection: c, file, saved: null };
      this.entries.set(mc.name, entry);
      try {
        c.readSnapshot(reader);
        entry.saved = { version: c.version, snapshot: mc.snapshot };
      } catch (e) {
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
    }
    // Files of live collections created since the checkpoint are still in use.
    for (const e of this.entries.values()) if (e.file) keep.add(path.basename(e.file.path));
    for (const f of listDirectory(this.path!)) {
      if (keep.has(f)) continue;
      if (/\.(vec|snap)(\.tmp)?$/.test(f) || f === `${MANIFEST}.tmp`) removeFile(this.file(f));
    }
  }
}

/**
 * Open a database. `open()` or `open(":memory:")` is in memory; `open(dir)`
 * opens (creating if missing) a database directory and recovers it.
 */
export function open(path?: string, options: OpenOptions = {}): Database {
  if (path === undefined || path === ":memory:") return new Database(null, options);
  if (typeof path !== "string" || path.length === 0) throw errors.invalidArgument("database path must be a non-empty string");
  return new Database(path, options);
}
