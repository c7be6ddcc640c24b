import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open } from "../src/index";
import { readManifestFile, writeManifestFile } from "../src/storage/snapshot";
import { expectCode, tempDir } from "./helpers";

setDefaultTimeout(60_000);

describe("collection names match case-insensitively and keep their case", () => {
  test("lookups ignore case; SHOW and DESCRIBE keep the created case; Docs beside docs is COLLECTION_EXISTS", () => {
    using db = open();
    db.exec("CREATE COLLECTION Pts (DIMENSION 2, METRIC L2)");
    db.exec("INSERT INTO pts VALUES ('a', [1, 2], NULL)");
    expect(db.query("SEARCH PTS NEAR [1, 2] LIMIT 1").map((r) => r.id)).toEqual(["a"]);
    expect(db.collection("pTs").name).toBe("Pts");
    expect(db.hasCollection("PTS")).toBe(true);
    expect(db.listCollections()).toEqual(["Pts"]);
    expect(db.query("SHOW COLLECTIONS").map((r) => r.name)).toEqual(["Pts"]);
    expectCode(() => db.createCollection("pts", { dimension: 2 }), "COLLECTION_EXISTS");
    expectCode(() => db.exec("CREATE COLLECTION PTS (DIMENSION 2)"), "COLLECTION_EXISTS");
    expect(db.createCollection("PTS", { dimension: 2, ifNotExists: true }).name).toBe("Pts");
    db.exec("DROP COLLECTION pts");
    expect(db.listCollections()).toEqual([]);
  });

  test("files never collide on a case-insensitive file system, and names survive reopen", () => {
    const dir = tempDir();
    {
      using db = open(dir);
      db.createCollection("Docs", { dimension: 2, storage: "mmap" }).insert("a", [1, 2]);
      db.checkpoint();
      db.dropCollection("DOCS");
      db.createCollection("docs", { dimension: 2 }).insert("b", [2, 1]);
      db.createCollection("Other", { dimension: 2 }).insert("c", [0, 1]);
      db.collection("other").vacuum();
    }
    const files = fs.readdirSync(dir).filter((f) => /\.(vec|snap)$/.test(f));
    expect(new Set(files.map((f) => f.toLowerCase())).size).toBe(files.length);
    for (const f of files) expect(f).toBe(f.toLowerCase());
    using db = open(dir);
    expect(db.listCollections()).toEqual(["Other", "docs"]);
    expect([...db.collection("DOCS").keys()]).toEqual(["b"]);
  });

  test("an older database holding names that differ only in case keeps opening; exact names reach each", () => {
    const dir = tempDir();
    {
      using db = open(dir);
      db.createCollection("Docs", { dimension: 2 }).insert("a", [1, 2]);
      db.createCollection("zz", { dimension: 2 }).insert("b", [2, 1]);
    }
    // rename zz to docs in the manifest, as a database made before names matched case-insensitively could hold
    const manifestPath = path.join(dir, "MANIFEST");
    const m = readManifestFile(manifestPath) as { collections: { name: string }[] };
    m.collections.find((c) => c.name === "zz")!.name = "docs";
    writeManifestFile(manifestPath, m);
    using db = open(dir);
    expect(db.listCollections()).toEqual(["Docs", "docs"]);
    expect([...db.collection("Docs").keys()]).toEqual(["a"]);
    expect([...db.collection("docs").keys()]).toEqual(["b"]);
    expectCode(() => db.collection("DOCS"), "UNKNOWN_COLLECTION"); // ambiguous: only an exact name will do
  });
});
