/**
 * Runs VQL statements against a database. Each statement is one atomic
 * write (or a read); a failing statement changes nothing. Errors carry the
 * line and column of the part of the statement they are about.
 */
import * as path from "node:path";
import type { Collection, Item, SearchReport } from "../collection/collection";
import { describeIndex } from "../ann/config";
import type { Payload } from "../collection/validate";
import type { Database } from "../db";
import { assertNever, errors, VqliteError } from "../errors";
import type { FilterNode, InsertRow, NameRef, Statement } from "./ast";
import { runCopy } from "./copy";
import { exactIds, filterPredicate } from "./filter";
import { parse } from "./parser";
import { at, evaluate, evaluateInteger, evaluateString, typeError, type Params } from "./values";

export type Row = Record<string, unknown>;

export interface StatementResult {
  /** The statement's name: "SEARCH", "INSERT", "CREATE COLLECTION", … */
  readonly statement: string;
  readonly rows?: Row[];
  /** Items written, deleted or matched (writes). */
  readonly count?: number;
  readonly message?: string;
  /** How a SEARCH was answered, and the work it did. */
  readonly route?: string;
  readonly stats?: Record<string, number>;
  readonly ms: number;
}

export interface ExecOptions {
  readonly params?: Params;
  /** Long work (COPY, BUILD INDEX, VACUUM) reports progress here. */
  readonly onProgress?: (label: string, done: number, total: number) => void;
}

const NAMES: Record<Statement["kind"], string> = {
  createCollection: "CREATE COLLECTION",
  dropCollection: "DROP COLLECTION",
  showCollections: "SHOW COLLECTIONS",
  describe: "DESCRIBE",
  insert: "INSERT",
  update: "UPDATE",
  delete: "DELETE",
  select: "SELECT",
  search: "SEARCH",
  alterStorage: "ALTER COLLECTION",
  alterCompression: "ALTER COLLECTION",
  buildIndex: "BUILD INDEX",
  createIndex: "CREATE INDEX",
  dropIndex: "DROP INDEX",
  copyFrom: "COPY",
  copyTo: "COPY",
  checkpoint: "CHECKPOINT",
  check: "CHECK",
  vacuum: "VACUUM",
  backup: "BACKUP",
};

export function statementName(s: Statement): string {
  if (s.kind === "insert") return s.mode === "insert" ? "INSERT" : "UPSERT";
  if (s.kind === "search" && s.explain) return "EXPLAIN";
  return NAMES[s.kind];
}

function collectionOf(db: Database, ref: NameRef): Collection {
  return at(ref, () => db.collection(ref.name));
}

function ids(c: Collection, where: FilterNode | undefined, params: Params): string[] {
  if (!where) return [...c.keys()];
  const exact = exactIds(where, params);
  if (exact) return exact.filter((id) => c.has(id));
  return c.idsWhere(filterPredicate(where, params));
}

/** Statements that change the database: refused up front through a read-only handle. */
const WRITES: ReadonlySet<Statement["kind"]> = new Set<Statement["kind"]>([
  "createCollection",
  "dropCollection",
  "insert",
  "update",
  "delete",
  "alterStorage",
  "alterCompression",
  "buildIndex",
  "createIndex",
  "dropIndex",
  "copyFrom",
  "checkpoint",
  "vacuum",
]);

export function executeStatement(db: Database, stmt: Statement, options: ExecOptions = {}): StatementResult {
  // every error a statement raises carries a position: its own, or the statement's start
  return at(stmt, () => {
    if (db.readOnly && WRITES.has(stmt.kind)) throw errors.readOnly(statementName(stmt));
    // a read-only handle catches up once, so the whole statement sees one state
    return db.withView(() => runStatement(db, stmt, options));
  });
}

function runStatement(db: Database, stmt: Statement, options: ExecOptions): StatementResult {
  const params = options.params ?? {};
  const progress = options.onProgress;
  const t0 = performance.now();
  const done = (r: Omit<StatementResult, "ms" | "statement">): StatementResult => ({
    statement: statementName(stmt),
    ...r,
    ms: +(performance.now() - t0).toFixed(3),
  });
  switch (stmt.kind) {
    case "createCollection": {
      const existed = db.hasCollection(stmt.collection.name);
      at(stmt.collection, () =>
        db.createCollection(stmt.collection.name, {
          dimension: stmt.dimension,
          metric: stmt.metric,
          normalize: stmt.normalize,
          storage: stmt.storage,
          index: stmt.index,
          quantization: stmt.quantization,
          compression: stmt.compression,
          ifNotExists: stmt.ifNotExists,
        }),
      );
      return done({ count: 0, message: existed ? `collection ${stmt.collection.name} already exists` : `created ${stmt.collection.name}` });
    }
    case "dropCollection": {
      const dropped = at(stmt.collection, () => db.dropCollection(stmt.collection.name, { ifExists: stmt.ifExists }));
      return done({ message: dropped ? `dropped ${stmt.collection.name}` : `no collection ${stmt.collection.name}` });
    }
    case "showCollections": {
      const rows = db.listCollections().map((name) => {
        const c = db.collection(name);
        return { name, dimension: c.dimension, metric: c.metric, storage: c.config.storage, index: c.config.index.type, count: c.count() };
      });
      return done({ rows });
    }
    case "describe": {
      const c = collectionOf(db, stmt.collection);
      const m = c.memoryUsage();
      const payload = c.payloadBytes();
      return done({
        rows: [
          {
            name: c.name,
            dimension: c.dimension,
            metric: c.metric,
            normalize: c.config.normalize,
            storage: c.config.storage,
            index: describeIndex(c.config.index),
            quantization: c.config.quantization,
            compression: c.config.compression,
            count: c.count(),
            heapBytes: m.heapBytes,
            indexBytes: m.indexBytes,
            payloadIndexes: c.payloadIndexes().map((p) => `${p.field} (${p.heapBytes} bytes)`).join(", ") || null,
            payloadIndexBytes: m.payloadIndexBytes,
            mappedBytes: m.vectorMappedBytes,
            payloadBytesRaw: payload.raw,
            payloadBytesStored: payload.stored,
          },
        ],
      });
    }
    case "insert": {
      const c = collectionOf(db, stmt.collection);
      const items: Item[] = stmt.rows.map((r) => {
        const id = at(r.id, () => evaluate(r.id, params));
        const vector = at(r.vector, () => evaluate(r.vector, params));
        const payload = at(r.payload, () => evaluate(r.payload, params));
        return { id: id as string, vector: vector as number[], payload: payload as Payload, _row: r } as Item;
      });
      // validate each row at its own position, then write all rows as one group
      const n = atRows(stmt.rows, () => (stmt.mode === "insert" ? c.insertMany(items) : c.upsertMany(items)));
      return done({ count: n });
    }
    case "update": {
      const c = collectionOf(db, stmt.collection);
      const changes: { payload?: Payload; vector?: number[] } = {};
      if (stmt.payload) changes.payload = at(stmt.payload, () => evaluate(stmt.payload!, params)) as Payload;
      if (stmt.vector) changes.vector = at(stmt.vector, () => evaluate(stmt.vector!, params)) as number[];
      const targets = ids(c, stmt.where, params);
      const n = targets.length === 0 ? 0 : at(stmt.payload ?? stmt.vector ?? stmt, () => c.updateMany(targets, changes));
      return done({ count: n });
    }
    case "delete": {
      const c = collectionOf(db, stmt.collection);
      return done({ count: c.deleteMany(ids(c, stmt.where, params)) });
    }
    case "select": {
      const c = collectionOf(db, stmt.collection);
      const limit = stmt.limit ? evaluateInteger(stmt.limit, params, "LIMIT", 0, Number.MAX_SAFE_INTEGER) : Infinity;
      const matching = stmt.where ? c.matchingRows(filterPredicate(stmt.where, params), limit) : null;
      const rows: Row[] = [];
      for (const rowNo of matching ?? c.liveRows()) {
        if (rows.length >= limit) break;
        const id = c.idOfRow(rowNo);
        const payload = c.payloadOf(rowNo);
        const row: Row = {};
        for (const col of stmt.columns) {
          if (col === "id") row.id = id;
          else if (col === "payload") row.payload = payload;
          else row.vector = Array.from(c.store.get(rowNo));
        }
        rows.push(row);
      }
      return done({ rows });
    }
    case "search": {
      const c = collectionOf(db, stmt.collection);
      const k = evaluateInteger(stmt.limit, params, "LIMIT");
      const type = c.config.index.type;
      const o = stmt.options;
      if ((o.probes || o.rerank) && type !== "clustered") {
        throw typeError(`PROBES and RERANK apply to a clustered index; ${c.name} uses the ${type} index`, (o.probes ?? o.rerank)!);
      }
      if (o.ef && type !== "hnsw") throw typeError(`EF applies to an HNSW index; ${c.name} uses the ${type} index`, o.ef);
      const searchOptions = {
        k,
        where: stmt.where ? filterPredicate(stmt.where, params) : undefined,
        probes: o.probes ? evaluateInteger(o.probes, params, "PROBES") : undefined,
        rerankFactor: o.rerank ? evaluateInteger(o.rerank, params, "RERANK") : undefined,
        ef: o.ef ? evaluateInteger(o.ef, params, "EF") : undefined,
        exact: o.exact,
      };
      let report: SearchReport;
      if (stmt.near.kind === "id") {
        const id = evaluateString(stmt.near.value, params, "NEAR ID");
        const item = at(stmt.near.value, () => {
          const got = c.get(id);
          if (!got) throw errors.unknownId(id);
          return got;
        });
        report = c.searchWithReport(item.vector, searchOptions);
      } else {
        const v = at(stmt.near.value, () => evaluate(stmt.near.value, params));
        report = at(stmt.near.value, () => c.searchWithReport(v as number[], searchOptions));
      }
      if (stmt.explain) {
        return done({
          rows: [
            {
              route: report.route,
              index: describeIndex(c.config.index),
              payloadIndexes: report.payloadIndexes.length === 0 ? null : report.payloadIndexes.join(", "),
              candidates: report.candidates,
              candidatesExact: report.candidates === null ? null : report.candidatesExact,
              k,
              results: report.hits.length,
              ...report.stats,
            },
          ],
          route: report.route,
          stats: report.stats,
        });
      }
      return done({ rows: report.hits.map((h) => ({ id: h.id, distance: h.distance, payload: h.payload })), route: report.route });
    }
    case "alterStorage": {
      const c = collectionOf(db, stmt.collection);
      if (c.config.storage === stmt.storage) return done({ message: `${c.name} already uses ${stmt.storage} storage` });
      const r = at(stmt.collection, () => c.setStorage(stmt.storage, progress && ((d, t) => progress("ALTER", d, t))));
      progress?.("ALTER", 1, 1);
      return done({ message: `${c.name} now uses ${stmt.storage} storage`, count: c.count(), rows: [{ ...r }] });
    }
    case "alterCompression": {
      const c = collectionOf(db, stmt.collection);
      if (c.config.compression === stmt.compression) return done({ message: `${c.name} already uses compression ${stmt.compression}` });
      const r = at(stmt.collection, () => c.setCompression(stmt.compression, progress && ((d, t) => progress("ALTER", d, t))));
      progress?.("ALTER", 1, 1);
      return done({ message: `${c.name} now uses compression ${stmt.compression}`, count: c.count(), rows: [{ ...r }] });
    }
    case "buildIndex": {
      const c = collectionOf(db, stmt.collection);
      c.rebuildIndex(progress && ((d, t) => progress("BUILD INDEX", d, t)));
      progress?.("BUILD INDEX", 1, 1);
      return done({ message: `rebuilt the ${c.config.index.type} index of ${c.name}`, count: c.count() });
    }
    case "createIndex": {
      const c = collectionOf(db, stmt.collection);
      const created = at(stmt.field, () => c.createPayloadIndex(stmt.field.segments, { ifNotExists: stmt.ifNotExists }));
      const name = stmt.field.segments.join(".");
      return done({ message: created ? `created the payload index on ${c.name} (${name})` : `${c.name} already has a payload index on ${name}`, count: c.count() });
    }
    case "dropIndex": {
      const c = collectionOf(db, stmt.collection);
      const dropped = at(stmt.field, () => c.dropPayloadIndex(stmt.field.segments, { ifExists: stmt.ifExists }));
      const name = stmt.field.segments.join(".");
      return done({ message: dropped ? `dropped the payload index on ${c.name} (${name})` : `${c.name} has no payload index on ${name}` });
    }
    case "copyFrom":
    case "copyTo": {
      const c = collectionOf(db, stmt.collection);
      const r = runCopy(c, stmt, params, progress && ((d, t) => progress("COPY", d, t)));
      progress?.("COPY", 1, 1);
      return done(r);
    }
    case "checkpoint":
      db.checkpoint();
      return done({ message: "checkpoint done" });
    case "backup": {
      const dir = path.resolve(evaluateString(stmt.dir, params, "BACKUP's directory"));
      const r = at(stmt.dir, () => db.backup(dir));
      return done({
        rows: [{ directory: dir, collections: r.collections, items: r.items, bytes: r.bytes }],
        count: r.items,
        message: `backed up ${r.collections} collection${r.collections === 1 ? "" : "s"} (${r.items} items) to ${dir}`,
      });
    }
    case "check": {
      // the collection's stored name (names match case-insensitively)
      const only = stmt.collection ? collectionOf(db, stmt.collection).name : undefined;
      const report = db.check();
      const collections = report.collections.filter((c) => only === undefined || c.name === only);
      const own = new Set(report.collections.flatMap((c) => c.problems));
      // problems with the files concern the whole database: reported whichever collection is checked
      const fileProblems = report.problems.filter((p) => !own.has(p));
      const rows: Row[] = collections.map((c) => ({
        collection: c.name,
        items: c.items,
        rows: c.rows,
        index: c.index,
        status: c.problems.length === 0 ? "ok" : c.problems.join("; "),
      }));
      const dbStatus = [...fileProblems, ...(report.writeBlocked ? [report.writeBlocked] : [])];
      if (dbStatus.length > 0) rows.push({ collection: null, items: null, rows: null, index: null, status: dbStatus.join("; ") });
      const problems = collections.reduce((n, c) => n + c.problems.length, fileProblems.length);
      const message = problems === 0 ? `ok: ${collections.length} collections, ${report.filesChecked} files checked` : `${problems} problems`;
      return done({ rows, count: problems, message });
    }
    case "vacuum": {
      const c = collectionOf(db, stmt.collection);
      const r = c.vacuum(progress && ((d, t) => progress("VACUUM", d, t)));
      progress?.("VACUUM", 1, 1);
      return done({ rows: [{ removedRows: r.removedRows, reclaimedBytes: r.reclaimedBytes }], count: r.removedRows });
    }
    default:
      return assertNever(stmt);
  }
}

/**
 * Errors about one item of a multi-row INSERT (the collection says which, in
 * `item`) point at the part of that row they are about: its vector, payload or id.
 */
function atRows<T>(rows: readonly InsertRow[], fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof VqliteError && e.line === undefined) {
      const row = rows[e.item ?? 0];
      if (row) {
        const msg = e.item !== undefined && e.cause instanceof VqliteError ? e.cause.message : e.message;
        const part = ["DIMENSION_MISMATCH", "NON_FINITE_VALUE", "INVALID_VECTOR"].includes(e.code)
          ? row.vector
          : e.code === "INVALID_PAYLOAD"
            ? row.payload
            : e.code === "INVALID_ID" || e.code === "DUPLICATE_ID"
              ? row.id
              : row;
        throw new VqliteError(e.code, msg, { cause: e }).withPosition(part.pos);
      }
    }
    throw e;
  }
}

/** Parse and run every statement in `text`; stops at (and throws) the first error. */
export function executeScript(db: Database, text: string, options: ExecOptions = {}): StatementResult[] {
  const statements = parse(text);
  return statements.map((s) => executeStatement(db, s, options));
}
