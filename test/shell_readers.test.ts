import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { ShellSession } from "../repl/session";
import { open } from "../src/index";
import { tempDir } from "./helpers";

setDefaultTimeout(60_000);

const MAIN = path.resolve(import.meta.dir, "../repl/main.ts");

async function shell(...args: string[]) {
  const p = Bun.spawn([process.execPath, MAIN, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

describe("the shell beside a writer", () => {
  test("a database held by a writer opens read-only with a one-line notice; writes fail with READ_ONLY", async () => {
    const dir = tempDir();
    using w = open(dir);
    w.createCollection("pts", { dimension: 2 }).insert("a", [1, 2], { n: 1 });
    const read = await shell(dir, "--json", "-c", "SEARCH PTS NEAR [1, 2] LIMIT 1;");
    expect(read.code).toBe(0);
    expect(read.stderr.trim().split("\n")).toHaveLength(1);
    expect(read.stderr).toContain(`open for writing by process ${process.pid}; opened read-only`);
    expect(JSON.parse(read.stdout).rows.map((r: { id: string }) => r.id)).toEqual(["a"]);
    const write = await shell(dir, "--json", "-c", "INSERT INTO pts VALUES ('b', [0, 1], NULL);");
    expect(write.code).toBe(1);
    expect(JSON.parse(write.stdout.trim().split("\n").at(-1)!).error.code).toBe("READ_ONLY");
    expect(w.collection("pts").count()).toBe(1);
  });

  test("--readonly works with no writer, and refuses writes", async () => {
    const dir = tempDir();
    {
      using w = open(dir);
      w.createCollection("pts", { dimension: 2, storage: "mmap" }).insert("a", [1, 2]);
    }
    const read = await shell(dir, "--readonly", "--csv", "-c", "SELECT id FROM pts;");
    expect(read.code).toBe(0);
    expect(read.stderr).toBe("");
    expect(read.stdout).toContain("a");
    const write = await shell(dir, "--readonly", "-c", "DROP COLLECTION pts;");
    expect(write.code).toBe(1);
    expect(write.stderr).toContain("[READ_ONLY]");
    using again = open(dir);
    expect(again.listCollections()).toEqual(["pts"]);
  });

  test(".open --readonly follows a writer; .backup writes a copy that opens on its own", () => {
    const dir = tempDir();
    using w = open(dir);
    const c = w.createCollection("pts", { dimension: 2 });
    c.insert("a", [1, 2]);
    const out: string[] = [];
    const err: string[] = [];
    const s = new ShellSession({ db: ":memory:", mode: "json", out: (t) => out.push(t), err: (t) => err.push(t) });
    s.feed(`.open --readonly ${dir}`);
    s.feed("SELECT id FROM pts;");
    c.insert("b", [2, 1]);
    s.feed("SELECT id FROM pts;");
    expect(out.map((l) => JSON.parse(l).rows.map((r: { id: string }) => r.id).sort())).toEqual([["a"], ["a", "b"]]);
    s.feed("DELETE FROM pts WHERE id = 'a';");
    expect(JSON.parse(out.at(-1)!).error.code).toBe("READ_ONLY");
    const target = path.join(tempDir(), "copy");
    s.feed(`.backup ${target}`);
    expect(out.at(-1)).toBe(`backed up 1 collection (2 items) to ${target}`);
    s.feed(`.backup ${target}`);
    expect(JSON.parse(out.at(-1)!).error.code).toBe("INVALID_ARGUMENT");
    s.close();
    using copy = open(target);
    expect([...copy.collection("pts").keys()].sort()).toEqual(["a", "b"]);
    expect(err).toEqual([]);
    expect(fs.existsSync(path.join(target, "MANIFEST"))).toBe(true);
  });
});
