import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open, type Database } from "../src/index";
import { expectCode, tempDir } from "./helpers";

setDefaultTimeout(60_000);

const dump = (db: Database) =>
  Object.fromEntries(db.listCollections().map((n) => [n, { config: db.collection(n).config, items: [...db.collection(n)].map((it) => [it.id, [...it.vector], it.payload, it.sparse]) }]));

describe("backup", () => {
  test("a writer's backup is a normal database equal to the state at the call, with every kind of collection", () => {
    const dir = tempDir();
    using db = open(dir, { checkpointBytes: 4096 });
    const a = db.createCollection("Mem", { dimension: 4, index: { type: "hnsw", m: 8, efConstruction: 32 } });
    const b = db.createCollection("mapped", { dimension: 4, storage: "mmap", index: { type: "clustered", maxLeafSize: 8 } });
    for (let i = 0; i < 80; i++) {
      a.upsert(`a${i % 50}`, [i, 1, 2, 3], { i });
      b.insert(`b${i}`, [1, i, 2, 3], i % 3 === 0 ? null : { i });
    }
    b.deleteMany(["b1", "b2"]);
    a.update("a3", { sparse: { indices: [1, 5], values: [0.5, 2] } });
    const target = path.join(tempDir(), "copy");
    const before = dump(db);
    const r = db.backup(target);
    expect(r).toMatchObject({ collections: 2, items: 50 + 78 });
    a.insert("later", [0, 0, 0, 1]); // writes go on after it; the copy does not see them
    using copy = open(target);
    expect(dump(copy)).toEqual(before);
    expect(copy.collection("mem").search([3, 1, 2, 3], { k: 3 })).toEqual(db.collection("mem").search([3, 1, 2, 3], { k: 3 }).filter((h) => h.id !== "later"));
    copy.collection("mapped").insert("new", [1, 1, 1, 1]); // and it is writable on its own
  });

  test("VQL BACKUP TO, parameters, an in-memory database, and refused targets", () => {
    using db = open();
    db.exec("CREATE COLLECTION pts (DIMENSION 2); INSERT INTO pts VALUES ('a', [1, 2], {\"k\": 1})");
    const target = path.join(tempDir(), "nested", "copy");
    const [res] = db.exec("BACKUP TO $dir", { dir: target });
    expect(res).toMatchObject({ statement: "BACKUP", count: 1 });
    using copy = open(target, { readonly: true });
    expect(copy.collection("PTS").get("a")!.payload).toEqual({ k: 1 });
    expectCode(() => db.exec(`BACKUP TO '${target}'`), "INVALID_ARGUMENT"); // not empty
    const full = tempDir();
    fs.writeFileSync(path.join(full, "x"), "");
    expectCode(() => db.backup(full), "INVALID_ARGUMENT");
    expect(fs.readdirSync(full)).toEqual(["x"]);
    const dir = tempDir();
    using disk = open(dir);
    expectCode(() => disk.backup(dir), "INVALID_ARGUMENT");
  });
});
