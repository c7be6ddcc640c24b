import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open, VqliteError } from "../src/index";
import { tempDir } from "./helpers";

setDefaultTimeout(60_000);

const ROOT = path.resolve(import.meta.dir, "..");

function blocks(markdown: string, lang: string): string[] {
  const out: string[] = [];
  const re = new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g");
  for (const m of markdown.matchAll(re)) out.push(m[1]!);
  return out;
}

describe("every VQL example in docs/VQL.md runs, in order, in one database", () => {
  const doc = fs.readFileSync(path.join(ROOT, "docs", "VQL.md"), "utf8");
  const examples = blocks(doc, "vql");
  const db = open();
  const cwd = process.cwd();
  const dir = tempDir();
  beforeAll(() => process.chdir(dir)); // COPY's relative paths land in a scratch directory
  afterAll(() => {
    process.chdir(cwd);
    db.close();
  });

  test("the reference has examples", () => expect(examples.length).toBeGreaterThan(15));

  examples.forEach((text, i) => {
    const expectError = /^-- expect error: ([A-Z_]+)/.exec(text)?.[1];
    test(`example ${i + 1}: ${text.split("\n").find((l) => !l.startsWith("--"))?.slice(0, 60)}`, () => {
      if (expectError) {
        let err: unknown;
        try {
          db.exec(text);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(VqliteError);
        expect((err as VqliteError).code).toBe(expectError as VqliteError["code"]);
        expect((err as VqliteError).line).toBeGreaterThan(0);
      } else {
        const results = db.exec(text);
        expect(results.length).toBeGreaterThan(0);
        for (const r of results) expect(r.statement).toBeString();
      }
    });
  });

  test("the documented results hold", () => {
    // after the examples: a was updated, c deleted, d upserted, the copies match
    expect(db.query("SELECT id FROM docs").map((r) => r.id).sort()).toEqual(["a", "b", "d"]);
    expect(db.query("SELECT id FROM docs_csv").map((r) => r.id).sort()).toEqual(["a", "b", "d"]);
    expect(db.query("SELECT payload FROM docs_copy WHERE id = 'a'")).toEqual([{ payload: { title: "x2", year: 2022 } }]);
    expect(db.listCollections()).not.toContain("points");
  });
});

describe("the README's and the reference's TypeScript examples run", () => {
  for (const [file, lang] of [["README.md", "ts"], [path.join("docs", "VQL.md"), "ts"]] as const) {
    const code = blocks(fs.readFileSync(path.join(ROOT, file), "utf8"), lang);
    code.forEach((src, i) => {
      test(`${file} example ${i + 1}`, () => {
        // inside the project so `import "vqlite"` resolves to this package; paths into a scratch dir
        const dir = tempDir();
        const script = path.join(ROOT, "test", `.example-${path.basename(file)}-${i}.ts`);
        const body = src.replace(/"\.\/(my\.db|vectors\.vec)"/g, (_m, f) => JSON.stringify(path.join(dir, f)));
        const rows = `declare const rows: number[][]; declare const query: number[];\n`;
        const prelude = body.includes("ClusteredIndex.build(rows")
          ? `const rows = Array.from({ length: 300 }, (_, i) => [Math.sin(i), Math.cos(i), i % 7]); const query = [0.5, 0.5, 1];\n`
          : "";
        fs.writeFileSync(script, prelude + body.replace(rows, ""));
        try {
          const run = Bun.spawnSync([process.execPath, script], { cwd: dir, stderr: "pipe", stdout: "pipe" });
          expect(run.stderr.toString()).toBe("");
          expect(run.exitCode).toBe(0);
        } finally {
          fs.rmSync(script, { force: true });
        }
      });
    });
  }
});

describe("the quick-start query file runs through the real vqlite command", () => {
  test("npm start -- -f docs/quickstart.vql", () => {
    const dir = tempDir();
    const run = Bun.spawnSync([process.execPath, path.join(ROOT, "repl", "main.ts"), path.join(dir, "notes.db"), "-f", path.join(ROOT, "docs", "quickstart.vql"), "--json"], {
      cwd: dir,
      stderr: "pipe",
    });
    expect(run.stderr.toString()).toBe("");
    expect(run.exitCode).toBe(0);
    const lines = run.stdout.toString().trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.statement)).toEqual(["CREATE COLLECTION", "UPSERT", "SEARCH", "SEARCH", "SEARCH", "SELECT", "DESCRIBE"]);
    expect(lines[2].rows.map((r: { id: string }) => r.id)).toEqual(["groceries", "recipe"]);
    expect(lines[3].rows.map((r: { id: string }) => r.id)).toEqual(["recipe", "meeting"]);
    expect(lines[4].rows[0].id).toBe("meeting");
    expect(lines[5].rows).toEqual([{ id: "report", payload: { title: "Quarterly report", tags: ["work"], year: 2023 } }]);
  });
});
