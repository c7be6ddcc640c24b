/**
 * The shell's logic, free of terminals: a session is fed lines (or whole
 * scripts) and writes output through callbacks. repl/main.ts wires it to a
 * terminal, to files and to standard input; tests drive it directly.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { open, type Database, type StatementResult, VqliteError } from "../src/index";
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
}

const READ_ONLY = new Set(["showCollections", "describe", "select", "search"]);

export const HELP = `Statements end with ';'. Meta-commands:
  .help                 this text
  .collections          list collections
  .schema NAME          describe a collection
  .check [NAME]         verify checksums, counts, id maps and index coverage (CHECK)
  .timer on|off         print the time each statement took
  .mode table|json|csv  output format
  .read FILE            run the statements in FILE
  .open DB              open another database (a directory, or :memory:)
  .quit                 leave (Ctrl-D too); Ctrl-C abandons the current input
See docs/VQL.md for the language.`;

export class ShellSession {
  mode: OutputMode;
  timer = false;
  private buffer = "";
  private dbPath: string;
  private database: Database | null = null;
  private scratch: Database | null = null;
  exitRequested = false;
  /** Errors seen so far (the exit code of a non-interactive run). */
  errorCount = 0;

  constructor(private readonly options: SessionOptions) {
    this.mode = options.mode ?? "table";
    this.dbPath = options.db;
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
    if (this.dbPath === ":memory:" || forWrite || fs.existsSync(this.dbPath)) {
      this.database = open(this.dbPath);
      this.scratch?.close();
      this.scratch = null;
      return this.database;
    }
    // reads before the first write see an empty database without creating the directory
    this.scratch ??= open();
    return this.scratch;
  }

  /** Ctrl-C: abandon the statement being typed. */
  interrupt(): void {
    this.buffer = "";
  }

  /** One line of interactive input. Runs the buffered statements once they are complete. */
  feed(line: string): void {
    if (this.buffer === "" && line.trim().startsWith(".")) {
      this.meta(line.trim());
      return;
    }
    this.buffer += (this.buffer === "" ? "" : "\n") + line;
    if (this.buffer.trim() === "") {
      this.buffer = "";
      return;
    }
    if (!isComplete(this.buffer)) return;
    const text = this.buffer;
    this.buffer = "";
    this.runText(text, undefined, true);
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
      const statements = parse(chunk.text);
      for (const stmt of statements) {
        const db = this.db(!READ_ONLY.has(stmt.kind));
        const result = executeStatement(db, stmt, { onProgress: this.mode === "json" ? undefined : this.options.progress });
        this.print(result);
      }
      return true;
    } catch (e) {
      this.reportError(e, chunk, file);
      return false;
    }
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
      message = message.replace(/ at line \d+, column \d+$/, "");
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
        case ".open":
          if (!arg) throw new VqliteError("INVALID_ARGUMENT", "usage: .open DB");
          this.close();
          this.dbPath = arg;
          this.db(false);
          break;
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
      const metas = [".help", ".collections", ".schema", ".check", ".timer", ".mode", ".read", ".open", ".quit"];
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
