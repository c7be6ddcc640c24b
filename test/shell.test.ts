import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { ShellSession } from "../repl/session";
import { tempDir } from "./helpers";

setDefaultTimeout(60_000);

const MAIN = path.resolve(import.meta.dir, "../repl/main.ts");

function session(db = ":memory:", mode: "table" | "json" | "csv" = "table") {
  const out: string[] = [];
  const err: string[] = [];
  const s = new ShellSession({ db, mode, out: (t) => out.push(t), err: (t) => err.push(t) });
  return { s, out, err };
}

describe("the shell session (driven through feed)", () => {
  test("a statement runs when a ';' outside strings and comments ends it", () => {
    const { s, out } = session(":memory:", "json");
    expect(s.prompt).toBe("vqlite> ");
    s.feed("CREATE COLLECTION d (DIMENSION 2,");
    expect(s.prompt).toBe("   ...> ");
    s.feed("  METRIC L2)");
    expect(out).toEqual([]);
    s.feed("; INSERT INTO d VALUES ('a;b', [1, 2], {\"t\": 'x -- not a comment'});");
    expect(s.prompt).toBe("vqlite> ");
    expect(out.map((l) => JSON.parse(l).statement)).toEqual(["CREATE COLLECTION", "INSERT"]);
    s.feed("SELECT id FROM d WHERE t = 'x -- not a comment'; -- trailing comment");
    expect(JSON.parse(out[2]!).rows).toEqual([{ id: "a;b" }]);
    s.feed("SELECT 'still open;");
    expect(s.prompt).toBe("   ...> ");
    s.interrupt(); // Ctrl-C abandons it
    expect(s.prompt).toBe("vqlite> ");
    expect(s.pending).toBe("");
    s.close();
  });

  test("an error never ends the session, and says where", () => {
    const { s, out, err } = session();
    s.feed("CREATE COLLECTION d (DIMENSION 2);");
    s.feed("SEARCH d NEAR [1, 2]");
    s.feed("  LIMT 3;");
    expect(err[0]).toBe('Error: <input>:2:3: near "LIMT": expected WHERE or LIMIT [SYNTAX_ERROR]');
    s.feed("SEARCH nope NEAR [1] LIMIT 1;");
    expect(err[1]).toBe("Error: <input>:1:8: no such collection: nope [UNKNOWN_COLLECTION]");
    s.feed("SHOW COLLECTIONS;");
    expect(out.at(-1)).toContain("│ d    │ 2         │ cosine │ memory  │ flat  │ 0     │");
    expect(s.exitRequested).toBe(false);
    s.close();
  });

  test("meta-commands", () => {
    const dir = tempDir();
    const file = path.join(dir, "script.vql");
    fs.writeFileSync(file, "CREATE COLLECTION r (DIMENSION 1);\nINSERT INTO r VALUES ('x', [1]);\nSELECT nonsense;\n");
    const { s, out, err } = session();
    s.feed(".help");
    expect(out.at(-1)).toContain(".schema NAME");
    s.feed(".read " + file);
    expect(out).toContain("created r");
    expect(err.at(-1)).toStartWith(`Error: ${file}:3:8: near "nonsense"`);
    s.feed(".collections");
    expect(out.at(-1)).toContain("│ r    │");
    s.feed(".check");
    expect(out.at(-1)).toContain("│ r          │ 1     │ 1    │ flat  │ ok     │");
    s.feed(".check r");
    expect(out.at(-1)).toContain("│ ok     │");
    s.feed(".schema r");
    expect(out.at(-1)).toContain("│ r    │ 1         │ cosine │ false     │ memory  │ flat  │ none         │ none        │ 1     │");
    s.feed(".mode csv");
    s.feed("SELECT id, vector FROM r;");
    expect(out.at(-1)).toBe("id,vector\nx,[1]");
    s.feed(".mode json");
    s.feed(".timer on");
    s.feed("SELECT id FROM r;");
    expect(JSON.parse(out.at(-1)!)).toMatchObject({ statement: "SELECT", rows: [{ id: "x" }] });
    s.feed(".mode table");
    s.feed("SELECT id FROM r;");
    expect(out.at(-1)).toMatch(/Run Time: \d+\.\d{3} ms$/);
    s.feed(".mode yaml");
    expect(err.at(-1)).toContain("usage: .mode table|json|csv");
    s.feed(".bogus");
    expect(err.at(-1)).toContain("unknown command .bogus");
    s.feed(".timer off");
    s.feed(".open " + path.join(dir, "other.db"));
    s.feed("SHOW COLLECTIONS;");
    expect(out.at(-1)).toBe("(no rows)");
    expect(fs.existsSync(path.join(dir, "other.db"))).toBe(false); // created on the first write
    s.feed("CREATE COLLECTION o (DIMENSION 1);");
    expect(fs.existsSync(path.join(dir, "other.db", "MANIFEST"))).toBe(true);
    s.feed(".quit");
    expect(s.exitRequested).toBe(true);
    s.close();
  });

  test("reads do not create the database directory; the first write does", () => {
    const dir = tempDir();
    const db = path.join(dir, "lazy.db");
    const { s, out } = session(db);
    s.feed("SHOW COLLECTIONS;");
    expect(out.at(-1)).toBe("(no rows)");
    expect(fs.existsSync(db)).toBe(false);
    s.feed("CREATE COLLECTION d (DIMENSION 2);");
    expect(fs.existsSync(path.join(db, "MANIFEST"))).toBe(true);
    s.close();
  });

  test("tab completion: keywords, collection names, payload fields, meta-commands", () => {
    const { s } = session();
    s.feed("CREATE COLLECTION movies (DIMENSION 2);");
    s.feed("INSERT INTO movies VALUES ('m', [1, 2], {\"title\": \"x\", \"year\": 1999});");
    expect(s.complete("SEA")).toEqual([["SEARCH"], "SEA"]);
    expect(s.complete("sel")).toEqual([["select"], "sel"]);
    expect(s.complete("SEARCH mo")).toEqual([["movies"], "mo"]);
    expect(s.complete("SEARCH movies NEAR [1, 2] WHERE ye")).toEqual([["year"], "ye"]);
    expect(s.complete("SELECT * FROM movies WHERE ti")[0]).toEqual(["title"]);
    expect(s.complete(".sc")).toEqual([[".schema"], ".sc"]);
    s.close();
  });
});

function run(args: string[], input?: string, cwd = tempDir()) {
  const p = Bun.spawnSync([process.execPath, MAIN, ...args], { cwd, stdin: input === undefined ? "ignore" : Buffer.from(input), stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

describe("the vqlite command", () => {
  test("piped statements: the first error stops the run with a non-zero exit; --continue goes on", () => {
    const script = "CREATE COLLECTION d (DIMENSION 2);\nINSERT INTO d VALUES ('a', [1]);\nINSERT INTO d VALUES ('b', [1, 2]);\nSELECT id FROM d;\n";
    const stop = run([":memory:", "--json"], script);
    expect(stop.code).toBe(1);
    const lines = stop.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual({ error: { code: "DIMENSION_MISMATCH", message: "vector has dimension 1, collection expects 2", line: 2, column: 28, file: "<stdin>" } });
    expect(stop.err).toBe(""); // no progress bars or noise when piped
    const go = run([":memory:", "--json", "--continue"], script);
    expect(go.code).toBe(1);
    const all = go.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(all.map((l) => l.statement ?? "error")).toEqual(["CREATE COLLECTION", "error", "INSERT", "SELECT"]);
    expect(all[3].rows).toEqual([{ id: "b" }]);
  });

  test("-c and -f in order, --csv, exit code 0, default database ./vqlite.db", () => {
    const cwd = tempDir();
    fs.writeFileSync(path.join(cwd, "q.vql"), "SELECT id, payload FROM d;");
    const r = run(["-c", "CREATE COLLECTION d (DIMENSION 2); INSERT INTO d VALUES ('a', [1, 2], {\"n\": 1})", "-f", "q.vql", "--csv"], undefined, cwd);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toBe('id,payload\na,"{""n"":1}"\n');
    expect(fs.existsSync(path.join(cwd, "vqlite.db", "MANIFEST"))).toBe(true);
    const missing = run(["-f", "nope.vql"], undefined, cwd);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("cannot read nope.vql: ENOENT");
    const bad = run(["--frobnicate"], undefined, cwd);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("unknown option --frobnicate");
  });
});

describe("the interactive shell in a real terminal (tmux)", () => {
  test("prompt, continuation, output, completion, Ctrl-C, an error, history, Ctrl-D", async () => {
    const dir = tempDir();
    const sock = `vqlite-test-${process.pid}`;
    const tmux = (...a: string[]) => Bun.spawnSync(["tmux", "-L", sock, ...a], { stdout: "pipe", stderr: "pipe" });
    const screen = () => tmux("capture-pane", "-p", "-t", "t").stdout.toString();
    const waitFor = async (needle: string | RegExp, ms = 15000) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const s = screen();
        if (typeof needle === "string" ? s.includes(needle) : needle.test(s)) return s;
        await Bun.sleep(50);
      }
      throw new Error(`timed out waiting for ${needle}; screen:\n${screen()}`);
    };
    // tmux takes an argument's trailing ';' as its own command separator: escape it
    const type = (text: string, ...keys: string[]) => {
      tmux("send-keys", "-t", "t", "-l", text.replace(/;$/, "\\;"));
      if (keys.length) tmux("send-keys", "-t", "t", ...keys);
    };
    const cmd = `cd ${dir} && HOME=${dir} ${process.execPath} ${MAIN} shell.db; echo EXITED:$?; sleep 30`;
    expect(tmux("new-session", "-d", "-s", "t", "-x", "160", "-y", "50", cmd).exitCode).toBe(0);
    try {
      await waitFor("vqlite>"); // capture-pane trims the prompt's trailing space
      type("CREATE COLLECTION movies (DIMENSION 2,", "Enter");
      await waitFor("   ...>");
      type("METRIC L2);", "Enter");
      await waitFor("created movies");
      type(`INSERT INTO movies VALUES ('m1', [1, 2], {"title": "Alien"});`, "Enter");
      await waitFor("INSERT 1");
      // Tab completes a keyword and a collection name
      type("SEARCH mov", "Tab");
      await waitFor("SEARCH movies");
      type(" NEAR [1, 2] LIMIT 1;", "Enter");
      await waitFor(/│ m1 +│ 0 +│ \{"title":"Alien"\} │/);
      // Ctrl-C abandons the current input, the session goes on
      type("SELECT oops", "C-c");
      await waitFor("^C");
      type("SEARCH movies NEAR [1] LIMIT 1;", "Enter");
      await waitFor("vector has dimension 1, collection expects 2 [DIMENSION_MISMATCH]");
      tmux("send-keys", "-t", "t", "C-d");
      await waitFor("EXITED:0");
      const history = fs.readFileSync(path.join(dir, ".vqlite_history"), "utf8");
      expect(history).toContain("METRIC L2);");
      expect(fs.existsSync(path.join(dir, "shell.db", "MANIFEST"))).toBe(true);
    } finally {
      tmux("kill-server");
    }
  });
});
