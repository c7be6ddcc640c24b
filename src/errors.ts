/**
 * The error catalog. Every failure that vqlite reports on purpose is a
 * VqliteError with a stable `code`; anything else escaping the library is a bug.
 */
export type ErrorCode =
  | "DIMENSION_MISMATCH"
  | "NON_FINITE_VALUE"
  | "INVALID_VECTOR"
  | "UNKNOWN_COLLECTION"
  | "COLLECTION_EXISTS"
  | "DUPLICATE_ID"
  | "UNKNOWN_ID"
  | "INVALID_ID"
  | "INVALID_NAME"
  | "INVALID_PAYLOAD"
  | "INVALID_ARGUMENT"
  | "INVALID_CONFIG"
  | "CORRUPT_FILE"
  | "DATABASE_LOCKED"
  | "DATABASE_CLOSED"
  | "READ_ONLY"
  | "IO_ERROR"
  | "DISK_FULL"
  | "SYNTAX_ERROR"
  | "UNKNOWN_PARAMETER"
  | "TYPE_ERROR"
  | "CANCELLED"
  | "INDEX_EXISTS"
  | "UNKNOWN_INDEX"
  | "BUSY";

export interface ErrorPosition {
  readonly line: number;
  readonly column: number;
  readonly file?: string;
}

/**
 * Where an error's source position is, it is in the fields `line`, `column`
 * (1-based) and `file`, never in the message: the shell and `--json` build
 * `FILE:LINE:COLUMN` from the fields. `withPosition` is the one place that
 * sets them.
 */
export class VqliteError extends Error {
  readonly code: ErrorCode;
  line?: number;
  column?: number;
  file?: string;
  /** For a batch write: the position of the item the error is about (the cause holds its own error). */
  item?: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "VqliteError";
    this.code = code;
  }

  /** Attach a source position; an error keeps the first line/column (and file) it was given. */
  withPosition(position: ErrorPosition): this {
    if (this.line === undefined) {
      this.line = position.line;
      this.column = position.column;
    }
    if (position.file !== undefined && this.file === undefined) this.file = position.file;
    return this;
  }

  toJSON(): { code: ErrorCode; message: string; line?: number; column?: number; file?: string } {
    return { code: this.code, message: this.message, line: this.line, column: this.column, file: this.file };
  }
}

/** The default branch of an exhaustive switch: a new kind that is not handled is a compile error. */
export function assertNever(x: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(x)}`);
}

export const errors = {
  dimensionMismatch: (expected: number, got: number) =>
    new VqliteError("DIMENSION_MISMATCH", `vector has dimension ${got}, collection expects ${expected}`),
  nonFinite: (index: number, value: number) =>
    new VqliteError("NON_FINITE_VALUE", `vector value at position ${index} is ${value}; values must be finite float32 numbers`),
  invalidVector: (why: string) => new VqliteError("INVALID_VECTOR", why),
  unknownCollection: (name: string) => new VqliteError("UNKNOWN_COLLECTION", `no such collection: ${name}`),
  collectionExists: (name: string) => new VqliteError("COLLECTION_EXISTS", `collection already exists: ${name}`),
  duplicateId: (id: string) => new VqliteError("DUPLICATE_ID", `id already exists: ${JSON.stringify(id)}`),
  unknownId: (id: string) => new VqliteError("UNKNOWN_ID", `no item with id ${JSON.stringify(id)}`),
  invalidId: (why: string) => new VqliteError("INVALID_ID", why),
  invalidName: (name: string) =>
    new VqliteError(
      "INVALID_NAME",
      `invalid collection name ${JSON.stringify(name)}: names match [A-Za-z_][A-Za-z0-9_]{0,63}`,
    ),
  indexExists: (collection: string, field: string) =>
    new VqliteError("INDEX_EXISTS", `${collection} already has a payload index on ${field}`),
  unknownIndex: (collection: string, field: string) =>
    new VqliteError("UNKNOWN_INDEX", `${collection} has no payload index on ${field}`),
  invalidPayload: (why: string) => new VqliteError("INVALID_PAYLOAD", why),
  invalidArgument: (why: string) => new VqliteError("INVALID_ARGUMENT", why),
  invalidConfig: (why: string) => new VqliteError("INVALID_CONFIG", why),
  corrupt: (file: string, why: string) => new VqliteError("CORRUPT_FILE", `corrupt file ${file}: ${why}`),
  locked: (path: string, pid: number) =>
    new VqliteError("DATABASE_LOCKED", `database is locked: ${path} is open for writing by process ${pid}`),
  closed: () => new VqliteError("DATABASE_CLOSED", "database is closed"),
  busy: (name: string, what = "it") =>
    new VqliteError("BUSY", `collection ${name} is being loaded (COPY FROM or insertManyAsync): ${what} waits until the load commits or fails`),
  readOnly: (what: string) => new VqliteError("READ_ONLY", `database is open read-only: ${what} is not allowed`),
  /**
   * A failed file operation: DISK_FULL for ENOSPC/EDQUOT, IO_ERROR otherwise.
   * The message names what was being done (and to which file) and the call that failed.
   */
  io: (what: string, cause: unknown) => {
    const c = cause as { code?: string; message?: string; syscall?: string } | undefined;
    const detail = c?.code ? `${c.code}${c.syscall ? ` in ${c.syscall}` : ""}` : (c?.message ?? String(cause));
    if (c?.code === "ENOSPC" || c?.code === "EDQUOT") {
      return new VqliteError("DISK_FULL", `disk full while ${what}: ${detail}`, { cause });
    }
    return new VqliteError("IO_ERROR", `I/O error while ${what}: ${detail}`, { cause });
  },
  /** Writes refused after a failed sync or log append (the write gate is closed). */
  writesRefused: (why: string, cause?: unknown) => {
    const c = cause as VqliteError | undefined;
    const code = c?.code === "DISK_FULL" ? "DISK_FULL" : "IO_ERROR";
    return new VqliteError(code, `database refuses writes until it is reopened: ${why}`, { cause });
  },
};

/** Wrap a filesystem call so that failures surface as IO_ERROR with context. */
export function io<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    rethrowIo(e, what);
  }
}

/**
 * io()'s handling of a failure, for a hot path's own catch (a bulk load's per-row
 * reads): no closure per call, and the label is made only when something failed.
 */
export function rethrowIo(e: unknown, what: string): never {
  if (e instanceof VqliteError) throw e;
  throw errors.io(what, e);
}
