/**
 * The shell's logic, free of terminals: a session is fed lines (or whole
 * scripts) and writes output through callbacks. repl/main.ts wires it to a
 * terminal, to files and to standard input; tests drive it directly.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { open, type Database, type StatementResult, VqliteError } from "../src/index";
import type { Statement } from "../src/query/ast";
import { executeStatement } from "../src/query/executor";
import { isComplete, splitStatements, type Chunk } from "../src/query/complete";
import { parse } from "../src/query/parser";
import { KEYWORDS } from "../src/query/tokens";
import { renderResult, type OutputMode } from "./format";

export interface SessionOptions {
  /** Database directory, or ":memory:". The directory is created on the first write. */
  readonly db: string;
  readonly mode?: OutputMode;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Draw progress for long work (only on a terminal, never in JSON mode). */
  readonly progress?: (label: string, done: number, total: number) => void;
  /** Open the database read-only (it must exist). */
  readonly readonly?: boolean;
}

const READ_ONLY = new Set(["showCollections", "describe", "select", "search", "backup", "copyTo"]);

export const HELP = `Statements end with ';'. Meta-commands:
  .help                 this text
  .collections          list collections
  .schema NAME          describe a collection
  .check [NAME]         verify checksums, counts, id maps and index coverage (CHECK)
  .timer on|off         print the time each statement took
  .mode table|json|csv  output format
  .read FILE            run the statements in FILE
  .open [--readonly] DB open another database (a directory, or :memory:)
  .backup DIR           write a consistent copy of the database into DIR (new or empty)
  .quit                 leave (Ctrl-D too); Ctrl-C abandons the current input
See docs/VQL.md for the language.`;

export class ShellSession {
  mode: OutputMode;
  timer = false;
  private buffer = "";
  private dbPath: string;
  private readOnly: boolean;
  private database: Database | null = null;
  private scratch: Database | null = null;
  exitRequested = false;
  /** Errors seen so far (the exit code of a non-interactive run). */
  errorCount = 0;
  /** Set while an interactive BUILD INDEX runs in a worker: Ctrl-C aborts it. */
  private build: AbortController | null = null;

  constructor(private readonly options: SessionOptions) {
    this.mode = options.mode ?? "table";
    this.dbPath = options.db;
    this.readOnly = options.readonly === true;
  }

  get prompt(): string {
    return this.buffer === "" ? "vqlite> " : "   ...> ";
  }

  get pending(): string {
    return this.buffer;
  }

  /** The database, opened (and created) on first need. */
  private db(forWrite: boolean): Database {
    if (this.database) return this.database;
    if (this.readOnly) {
      this.database = open(this.dbPath, { readonly: true });
      return this.database;
    }
    if (this.dbPath === ":memory:" || forWrite || fs.existsSync(this.dbPath)) {
      try {
        this.database = open(this.dbPath);
      } catch (e) {
        if (!(e instanceof VqliteError) || e.code !== "DATABASE_LOCKED") throw e;
        // another process writes it: read beside it instead of failing
        this.database = open(this.dbPath, { readonly: true });
        this.options.err(`note: ${e.message.replace(/^database is locked: /, "")}; opened read-only`);
      }
      this.scratch?.close();
      this.scratch = null;
      return this.database;
    }
    // reads before the first write see an empty database without creating the directory
    this.scratch ??= open();
    return this.scratch;
  }

  /** Whether an interactive BUILD INDEX is running. */
  get building(): boolean {
    return this.build !== null;
  }

  /** Ctrl-C: cancel a running BUILD INDEX (the index stays as it was), else abandon the statement being typed. */
  interrupt(): void {
    if (this.build) this.build.abort();
    else this.buffer = "";
  }

  /** One line of interactive input. Runs the buffered statements once they are complete. */
  feed(line: string): void {
    const text = this.take(line);
    if (text !== null) this.runText(text, undefined, true);
  }

  /**
   * Like feed(), for a terminal: BUILD INDEX runs in a worker thread, so the
   * shell stays live while it builds; progress shows, and Ctrl-C
   * (interrupt()) cancels it harmlessly.
   */
  async feedInteractive(line: string): Promise<void> {
    const text = this.take(line);
    if (text === null) return;
    for (const chunk of splitStatements(text).chunks) await this.runChunkAsync(chunk);
  }

  /** Add a line to the buffer; returns the statements to run once they are complete (meta-commands run here). */
  private take(line: string): string | null {
    if (this.buffer === "" && line.trim().startsWith(".")) {
      this.meta(line.trim());
      return null;
    }
    this.buffer += (this.buffer === "" ? "" : "\n") + line;
    if (this.buffer.trim() === "") {
      this.buffer = "";
      return null;
    }
    if (!isComplete(this.buffer)) return null;
    const text = this.buffer;
    this.buffer = "";
    return text;
  }

  /**
   * Run a whole script (from -c, -f or standard input). Returns false if a
   * statement failed; with `keepGoing` the rest still runs.
   */
  runScript(text: string, file?: string, keepGoing = false): boolean {
    return this.runText(text, file, keepGoing);
  }

  private runText(text: string, file: string | undefined, keepGoing: boolean): boolean {
    const { chunks } = splitStatements(text);
    let ok = true;
    for (const chunk of chunks) {
      if (!this.runChunk(chunk, file)) {
        ok = false;
        if (!keepGoing) break;
      }
    }
    return ok;
  }

  private runChunk(chunk: Chunk, file: string | undefined): boolean {
    try {
      for (const stmt of parse(chunk.text)) this.runStatement(stmt);
      return true;
    } catch (e) {
      this.reportError(e, chunk, file);
      return false;
    }
  }

  private async runChunkAsync(chunk: Chunk): Promise<boolean> {
    try {
      for (const stmt of parse(chunk.text)) {
        if (stmt.kind === "buildIndex") await this.buildIndexInBackground(stmt);
        else this.runStatement(stmt);
      }
      return true;
    } catch (e) {
      this.reportError(e, chunk, undefined);
      return false;
    }
  }

  private get progress(): SessionOptions["progress"] {
    return this.mode === "json" ? undefined : this.options.progress;
  }

  private runStatement(stmt: Statement): void {
    this.print(executeStatement(this.db(!READ_ONLY.has(stmt.kind)), stmt, { onProgress: this.progress }));
  }

  private async buildIndexInBackground(stmt: Extract<Statement, { kind: "buildIndex" }>): Promise<void> {
    const t0 = performance.now();
    const db = this.db(true);
    let c;
    try {
      c = db.collection(stmt.collection.name);
    } catch (e) {
      throw e instanceof VqliteError ? e.withPosition(stmt.collection.pos) : e;
    }
    const progress = this.progress;
    this.build = new AbortController();
    try {
      await c.rebuildIndexAsync({ signal: this.build.signal, onProgress: progress && ((d, t) => progress("BUILD INDEX", d, t)) });
    } catch (e) {
      throw e instanceof VqliteError ? e.withPosition(stmt.pos) : e;
    } finally {
      this.build = null;
    }
    progress?.("BUILD INDEX", 1, 1);
    const ms = +(performance.now() - t0).toFixed(3);
    this.print({ statement: "BUILD INDEX", message: `rebuilt the ${c.config.index.type} index of ${c.name}`, count: c.count(), ms });
  }

  private print(result: StatementResult): void {
    const text = renderResult(result, this.mode, this.timer);
    if (text !== "") this.options.out(text);
  }

  private reportError(e: unknown, chunk: Chunk | undefined, file: string | undefined): void {
    this.errorCount++;
    const err = e instanceof VqliteError ? e : new VqliteError("IO_ERROR", `internal error: ${(e as Error)?.message ?? String(e)}`);
    let line = err.line, column = err.column;
    let message = err.message;
    if (chunk && line !== undefined && column !== undefined) {
      // positions inside the chunk → positions in the whole input
      const absLine = chunk.line + line - 1;
      const absCol = line === 1 ? chunk.column + column - 1 : column;
      line = absLine;
      column = absCol;
    }
    if (this.mode === "json") {
      this.options.out(JSON.stringify({ error: { code: err.code, message, line, column, ...(file ? { file } : {}) } }));
      return;
    }
    const where = line !== undefined ? `${file ?? "<input>"}:${line}:${column}: ` : file ? `${file}: ` : "";
    this.options.err(`Error: ${where}${message} [${err.code}]`);
  }

  private meta(line: string): void {
    const [cmd, ...args] = line.split(/\s+/);
    const arg = args.join(" ");
    try {
      switch (cmd) {
        case ".help":
          this.options.out(HELP);
          break;
        case ".quit":
        case ".exit":
          this.exitRequested = true;
          break;
        case ".collections":
          this.runText("SHOW COLLECTIONS;", undefined, true);
          break;
        case ".schema":
          if (!arg) this.runText("SHOW COLLECTIONS;", undefined, true);
          else this.runText(`DESCRIBE ${arg};`, undefined, true);
          break;
        case ".check":
          this.runText(arg ? `CHECK ${arg};` : "CHECK;", undefined, true);
          break;
        case ".timer":
          if (arg !== "on" && arg !== "off") throw new VqliteError("INVALID_ARGUMENT", "usage: .timer on|off");
          this.timer = arg === "on";
          break;
        case ".mode":
          if (arg !== "table" && arg !== "json" && arg !== "csv") throw new VqliteError("INVALID_ARGUMENT", "usage: .mode table|json|csv");
          this.mode = arg;
          break;
        case ".read": {
          if (!arg) throw new VqliteError("INVALID_ARGUMENT", "usage: .read FILE");
          const text = readText(arg);
          this.runScript(text, arg, false);
          break;
        }
        case ".open": {
          const readonly = args[0] === "--readonly";
          const target = (readonly ? args.slice(1) : args).join(" ");
          if (!target) throw new VqliteError("INVALID_ARGUMENT", "usage: .open [--readonly] DB");
          this.close();
          this.dbPath = target;
          this.readOnly = readonly;
          this.db(false);
          break;
        }
        case ".backup": {
          if (!arg) throw new VqliteError("INVALID_ARGUMENT", "usage: .backup DIR");
          const r = this.db(false).backup(path.resolve(arg));
          this.options.out(`backed up ${r.collections} collection${r.collections === 1 ? "" : "s"} (${r.items} items) to ${arg}`);
          break;
        }
        default:
          throw new VqliteError("INVALID_ARGUMENT", `unknown command ${cmd}: try .help`);
      }
    } catch (e) {
      this.reportError(e, undefined, undefined);
    }
  }

  /** Tab completion: keywords, collection names and payload fields matching the word being typed. */
  complete(line: string): [string[], string] {
    const word = /[A-Za-z_][A-Za-z0-9_]*$/.exec(line)?.[0] ?? "";
    if (line.trimStart().startsWith(".") && !line.includes(" ")) {
      const metas = [".help", ".collections", ".schema", ".check", ".timer", ".mode", ".read", ".open", ".backup", ".quit"];
      return [metas.filter((m) => m.startsWith(line.trim())), line.trim()];
    }
    if (word === "") return [[], word];
    const lower = word === word.toLowerCase();
    const out = new Set<string>();
    for (const k of KEYWORDS) if (k.toLowerCase().startsWith(word.toLowerCase())) out.add(lower ? k.toLowerCase() : k);
    const db = this.database;
    if (db && !db.closed) {
      for (const name of db.listCollections()) {
        if (name.startsWith(word)) out.add(name);
        let seen = 0;
        for (const item of db.collection(name)) {
          if (item.payload) for (const key of Object.keys(item.payload)) if (key.startsWith(word)) out.add(key);
          if (++seen >= 50) break; // a sample of payloads is enough to learn the field names
        }
      }
    }
    return [[...out].sort(), word];
  }

  close(): void {
    try {
      this.database?.close();
    } catch (e) {
      this.reportError(e, undefined, undefined);
    }
    this.scratch?.close();
    this.database = null;
    this.scratch = null;
  }
}

export function readText(file: string): string {
  try {
    return fs.readFileSync(path.resolve(file), "utf8");
  } catch (e) {
    throw new VqliteError("IO_ERROR", `cannot read ${file}: ${(e as { code?: string }).code ?? (e as Error).message}`);
  }
}
