#!/usr/bin/env bun
/**
 * vqlite [DB] [--readonly] [-c TEXT]... [-f FILE]... [--json | --table | --csv] [--continue]
 *
 * DB is a database directory (default ./vqlite.db, created on first write) or
 * :memory:. With -c/-f, or with statements piped on standard input, runs them
 * and exits (non-zero on error); otherwise, on a terminal, an interactive shell.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { EXPORT_USAGE, runExport } from "./export";
import type { OutputMode } from "./format";
import { readText, ShellSession } from "./session";

const USAGE = `usage: vqlite [DB] [--readonly] [-c TEXT]... [-f FILE]... [--json | --table | --csv] [--continue]
  DB          database directory (default ./vqlite.db, created on first write) or :memory:
  --readonly  open DB read-only, beside a writer (a DB held by a writer opens read-only anyway)
  -c TEXT     run TEXT (repeatable)
  -f FILE     run the statements in FILE (repeatable)
  --json      one JSON object per statement per line
  --table     tables (default)
  --csv       CSV rows
  --continue  keep going after an error (the exit code still reports it)
${EXPORT_USAGE.replace("usage: ", "   or: ")}`;

interface Args {
  db: string;
  scripts: { text?: string; file?: string }[];
  mode: OutputMode;
  keepGoing: boolean;
  readonly: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { db: "./vqlite.db", scripts: [], mode: "table", keepGoing: false, readonly: false };
  let dbSet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v!;
    };
    if (a === "-c") args.scripts.push({ text: value() });
    else if (a === "-f") args.scripts.push({ file: value() });
    else if (a === "--json") args.mode = "json";
    else if (a === "--table") args.mode = "table";
    else if (a === "--csv") args.mode = "csv";
    else if (a === "--continue") args.keepGoing = true;
    else if (a === "--readonly") args.readonly = true;
    else if (a === "-h" || a === "--help") {
      console.log(USAGE);
      process.exit(0);
    } else if (a.startsWith("-") && a !== "-") fail(`unknown option ${a}`);
    else if (!dbSet) {
      args.db = a;
      dbSet = true;
    } else fail(`unexpected argument ${a}`);
  }
  return args;
}

function fail(message: string): never {
  process.stderr.write(`vqlite: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function progressBar(label: string, done: number, total: number): void {
  const width = 30;
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(frac * width);
  process.stderr.write(`\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${Math.round(frac * 100)}%`);
  if (frac >= 1) process.stderr.write("\r\x1b[K");
}

async function runInteractive(session: ShellSession): Promise<void> {
  const historyFile = path.join(os.homedir(), ".vqlite_history");
  let history: string[] = [];
  try {
    history = fs.readFileSync(historyFile, "utf8").split("\n").filter(Boolean).reverse().slice(0, 1000);
  } catch {
    // no history yet
  }
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    history,
    historySize: 1000,
    completer: (line: string) => session.complete(line),
  });
  console.log(`vqlite shell on ${session["options"].db} — statements end with ';', .help for help, Ctrl-D to leave`);
  rl.setPrompt(session.prompt);
  rl.prompt();
  // Lines are handled one at a time: a BUILD INDEX runs in a worker and the
  // terminal stays live (Ctrl-C cancels it); lines typed meanwhile wait their turn.
  let queue = Promise.resolve();
  rl.on("line", (line) => {
    if (line.trim() !== "") {
      try {
        fs.appendFileSync(historyFile, `${line}\n`);
      } catch {
        // history is a convenience: a read-only home must not break the shell
      }
    }
    queue = queue.then(async () => {
      if (session.exitRequested) return;
      await session.feedInteractive(line);
      if (session.exitRequested) {
        rl.close();
        return;
      }
      rl.setPrompt(session.prompt);
      rl.prompt();
    });
  });
  rl.on("SIGINT", () => {
    if (session.building) {
      // Ctrl-C during BUILD INDEX cancels the build; the index stays as it was
      process.stderr.write("\r\x1b[K");
      session.interrupt();
      return;
    }
    // Ctrl-C abandons the current input (ours and readline's own line), never the session
    session.interrupt();
    const state = rl as unknown as { line: string; cursor: number };
    state.line = "";
    state.cursor = 0;
    process.stdout.write("^C\n");
    rl.setPrompt(session.prompt);
    rl.prompt();
  });
  await new Promise<void>((resolve) => rl.on("close", resolve));
  process.stdout.write("\n");
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const interactive = args.scripts.length === 0 && process.stdin.isTTY === true;
  const session = new ShellSession({
    db: args.db,
    readonly: args.readonly,
    mode: args.mode,
    out: (t) => process.stdout.write(`${t}\n`),
    err: (t) => process.stderr.write(`${t}\n`),
    // a progress bar only on a terminal, never in JSON mode or when piped
    progress: process.stderr.isTTY && args.mode !== "json" ? progressBar : undefined,
  });
  try {
    if (interactive) {
      await runInteractive(session);
      return 0;
    }
    if (args.scripts.length === 0) {
      const text = await new Response(Bun.stdin.stream()).text();
      session.runScript(text, "<stdin>", args.keepGoing);
    } else {
      for (const s of args.scripts) {
        let ok: boolean;
        if (s.file !== undefined) {
          let text: string;
          try {
            text = readText(s.file);
          } catch (e) {
            process.stderr.write(`Error: ${(e as Error).message}\n`);
            session.errorCount++;
            if (!args.keepGoing) break;
            continue;
          }
          ok = session.runScript(text, s.file, args.keepGoing);
        } else {
          ok = session.runScript(s.text!, "<command>", args.keepGoing);
        }
        if (!ok && !args.keepGoing) break;
      }
    }
    return session.errorCount > 0 ? 1 : 0;
  } finally {
    session.close();
  }
}

const argv = process.argv.slice(2);
process.exitCode =
  argv[0] === "export" ? runExport(argv.slice(1), (t) => process.stdout.write(`${t}\n`), (t) => process.stderr.write(`${t}\n`)) : await main();
