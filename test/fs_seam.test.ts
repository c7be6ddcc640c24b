import { afterEach, describe, expect, test } from "bun:test";
import * as path from "node:path";
import { open } from "../src/index";
import { setFaultHook, type FsOp } from "../src/storage/fs";
import { expectCode, tempDir } from "./helpers";

afterEach(() => setFaultHook(null));

describe("the file-system seam", () => {
  test("every database file operation passes through it", () => {
    const dir = tempDir();
    const seen = new Set<FsOp>();
    const files = new Set<string>();
    setFaultHook((op, file) => {
      seen.add(op);
      files.add(path.basename(file));
    });
    const db = open(dir);
    const c = db.createCollection("c", { dimension: 2, storage: "mmap" });
    c.insert("a", [1, 2]);
    db.checkpoint();
    db.close();
    setFaultHook(null);
    for (const op of ["open", "write", "fdatasync", "fsync", "ftruncate", "rename", "mmap", "syncDir", "readdir"] as FsOp[]) {
      expect(seen.has(op)).toBe(true);
    }
    expect(files.has("wal.log")).toBe(true);
    expect(files.has("MANIFEST")).toBe(true);
  });

  test("a failed WAL sync is an IO_ERROR naming the file, and the write is not applied", () => {
    const dir = tempDir();
    const db = open(dir);
    const c = db.createCollection("c", { dimension: 2 });
    c.insert("a", [1, 2]);
    setFaultHook((op, file) => {
      if (op === "fdatasync" && file.endsWith("wal.log")) throw Object.assign(new Error("EIO: i/o error"), { code: "EIO" });
    });
    const e = expectCode(() => c.insert("b", [3, 4]), "IO_ERROR");
    expect(e.message).toContain("wal.log");
    setFaultHook(null);
    expect(c.count()).toBe(1);
    expect(c.get("b")).toBeNull();
    db.close();
    const again = open(dir);
    expect(again.collection("c").count()).toBe(1);
    again.close();
  });
});
