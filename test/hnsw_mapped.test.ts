/**
 * A reopened HNSW graph keeps level 0 as a view on the mapped snapshot
 * (file-backed pages, not fresh memory) when its section allows it (version 2,
 * 4-aligned, mapped), and a packed copy otherwise; the first change works on
 * an owned copy and leaves the file and the mapping as they were.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open, type Collection } from "../src/index";
import { HnswIndex } from "../src/ann/hnsw";
import { ByteReader, ByteWriter, crc32 } from "../src/storage/binary";
import { expectCode, fashionSmall, killChild, row, tempDir, type Dataset } from "./helpers";

setDefaultTimeout(120_000);

const D = 784;
let ds: Dataset;
beforeAll(() => {
  ds = fashionSmall();
});

type Internals = { links0: Int32Array };
const level0Of = (c: Collection) => (c.index as unknown as Internals).links0;
const snapshotOf = (dir: string) => path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith(".snap"))!);
const allLinks = (ix: HnswIndex, n: number) => Array.from({ length: n }, (_, i) => ix.neighbours(i, 0));

/** 2,000 Fashion-MNIST rows under binary codes, with payloads that take the snapshot past 1 MB, so that it is mapped. */
function makeDb(dir: string, n = 2000): { links: number[][]; answers: string[][] } {
  using db = open(dir);
  const c = db.createCollection("h", { dimension: D, metric: "l2", index: { type: "hnsw", m: 16, efConstruction: 40 }, quantization: "binary" });
  c.insertMany(Array.from({ length: n }, (_, i) => ({ id: String(i), vector: row(ds.base, i, D), payload: { text: `${i} `.repeat(200) } })));
  return { links: allLinks(c.index as HnswIndex, n), answers: queries().map((q) => c.search(q, { k: 10 }).map((h) => h.id)) };
}
const queries = () => Array.from({ length: 30 }, (_, i) => row(ds.queries, i, D));

describe("HNSW level 0 on the mapped snapshot", () => {
  test("a reopened graph from a mapped snapshot is a view on the file's bytes: same links, same answers, not counted as heap", () => {
    const dir = tempDir();
    const { links, answers } = makeDb(dir);
    const file = snapshotOf(dir);
    expect(fs.statSync(file).size).toBeGreaterThan(1 << 20); // the premise: large enough to be mapped
    using db = open(dir);
    const c = db.collection("h");
    const ix = c.index as HnswIndex;
    expect(ix.level0Layout()).toBe("mapped");
    const view = level0Of(c);
    expect(view.length).toBe(2000 * 33);
    // the view's bytes are the file's, at the same offset (4-aligned)
    expect(view.byteOffset % 4).toBe(0);
    const bytes = new Uint8Array(fs.readFileSync(file));
    expect(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)).toEqual(bytes.subarray(view.byteOffset, view.byteOffset + view.byteLength));
    expect(allLinks(ix, 2000)).toEqual(links);
    expect(queries().map((q) => c.search(q, { k: 10 }).map((h) => h.id))).toEqual(answers);
    expect(ix.verify()).toEqual([]);
    // the mapped level 0 is not heap: the same section read into memory holds it packed, Σ(1 + degree) ints and an offset per node
    const w = new ByteWriter();
    ix.serialize(w);
    const read = HnswIndex.deserialize(new ByteReader(w.finish(), "h"), c.rowSource, "binary");
    expect(read.level0Layout()).toBe("packed");
    expect(read.heapBytes() - ix.heapBytes()).toBe(4 * (2000 + links.reduce((s, l) => s + 1 + l.length, 0)));
    // a backup taken from the mapped graph carries the same graph, and leaves it mapped
    const copy = tempDir();
    db.backup(copy);
    expect(ix.level0Layout()).toBe("mapped");
    {
      using b = open(copy);
      expect(allLinks(b.collection("h").index as HnswIndex, 2000)).toEqual(links);
    }
    // a read-only handle (a reader) maps it as well
    using r = open(dir, { readonly: true });
    expect((r.collection("h").index as HnswIndex).level0Layout()).toBe("mapped");
    expect(queries().map((q) => r.collection("h").search(q, { k: 10 }).map((h) => h.id))).toEqual(answers);
  });

  test("a change after a reopen works on an owned copy: the snapshot file and the mapping stay byte for byte; the next checkpoint maps the changed graph", () => {
    const dir = tempDir();
    const { links } = makeDb(dir);
    const file = snapshotOf(dir);
    const fileBefore = new Uint8Array(fs.readFileSync(file));
    let changed: number[][];
    {
      using db = open(dir);
      const c = db.collection("h");
      const ix = c.index as HnswIndex;
      const view = level0Of(c);
      const viewBefore = view.slice();
      c.insert("new", row(ds.base, 1999, D).map((x) => x + 1));
      c.delete("5");
      expect(ix.level0Layout()).toBe("owned");
      expect(level0Of(c)).not.toBe(view);
      expect(ix.verify()).toEqual([]);
      changed = allLinks(ix, 2001);
      // the changes reached existing nodes' lists (so a write in place would have shown)…
      expect(changed.slice(0, 2000)).not.toEqual(links);
      for (const n of links[5]!) expect(ix.neighbours(n, 0)).not.toContain(5);
      expect(c.search(row(ds.base, 1999, D).map((x) => x + 1), { k: 1 })[0]!.id).toBe("new");
      // …yet the mapping and the file are as they were
      expect(view).toEqual(viewBefore);
      expect(new Uint8Array(fs.readFileSync(file))).toEqual(fileBefore);
    }
    using db = open(dir);
    const ix = db.collection("h").index as HnswIndex;
    expect(ix.level0Layout()).toBe("mapped");
    expect(allLinks(ix, 2001)).toEqual(changed);
    expect(ix.verify()).toEqual([]);
  });

  test("a section that cannot be viewed is copied and packed: read rather than mapped, or unaligned in the bytes; all three answer alike", () => {
    using db = open();
    const c = db.createCollection("h", { dimension: D, metric: "l2", index: { type: "hnsw", m: 8, efConstruction: 32 }, quantization: "binary" });
    c.insertMany(Array.from({ length: 600 }, (_, i) => ({ id: String(i), vector: row(ds.base, i, D) })));
    const w = new ByteWriter();
    c.index.serialize(w);
    const section = w.finish();
    const at = (shift: number, mapped: boolean) => {
      const buf = new Uint8Array(section.length + 8);
      buf.set(section, shift);
      return HnswIndex.deserialize(new ByteReader(buf, "h", shift, shift + section.length, mapped), c.rowSource, "binary");
    };
    const viewed = at(0, true), unaligned = at(1, true), read = at(0, false);
    expect(viewed.level0Layout()).toBe("mapped");
    expect(unaligned.level0Layout()).toBe("packed");
    expect(read.level0Layout()).toBe("packed");
    const links = allLinks(c.index as HnswIndex, 600);
    for (const ix of [viewed, unaligned, read]) {
      expect(allLinks(ix, 600)).toEqual(links);
      for (const q of queries().slice(0, 10)) expect(ix.searchRows(q, 10).rows).toEqual((c.index as HnswIndex).searchRows(q, 10).rows);
    }
  });

  test("a corrupt aligned section is rejected: a link out of range or a bad count in the view, bad padding; in a file, CORRUPT_FILE naming it", () => {
    using db = open();
    const c = db.createCollection("h", { dimension: 4, metric: "l2", index: { type: "hnsw", m: 4 } });
    c.insertMany(Array.from({ length: 100 }, (_, i) => ({ id: String(i), vector: [i, i % 7, i % 3, 1] })));
    const w = new ByteWriter();
    c.index.serialize(w);
    const good = w.finish().slice();
    const view = level0Of({ index: HnswIndex.deserialize(new ByteReader(good, "h", 0, good.length, true), c.rowSource, "none") } as unknown as Collection);
    const o = view.byteOffset; // where level 0 starts in `good`: node 0's count, then its links
    for (const [at, value, message] of [
      [o + 4, 100, "HNSW link out of range"],
      [o + 4, -1, "HNSW link out of range"],
      [o, 9, "HNSW link count out of range"],
    ] as const) {
      const bad = good.slice();
      new DataView(bad.buffer).setInt32(at, value, true);
      expect(() => HnswIndex.deserialize(new ByteReader(bad, "h", 0, bad.length, true), c.rowSource, "none")).toThrow(message);
    }
    // before the values: their count, the pad byte p, p zero bytes
    const dv = new DataView(good.buffer);
    const pads = [0, 1, 2, 3].filter((p) => dv.getUint32(o - 5 - p, true) === view.length && good[o - 1 - p] === p);
    expect(pads.length).toBe(1);
    const padAt = o - 1 - pads[0]!;
    const bad = good.slice();
    bad[padAt] = 7;
    expect(() => HnswIndex.deserialize(new ByteReader(bad, "h", 0, bad.length, true), c.rowSource, "none")).toThrow("bad padding");

    // in a mapped snapshot on disk, checksum recomputed: CORRUPT_FILE naming the snapshot
    const dir = tempDir();
    makeDb(dir, 1600);
    let off: number;
    {
      using d2 = open(dir);
      off = level0Of(d2.collection("h")).byteOffset;
    }
    const file = snapshotOf(dir);
    const b = new Uint8Array(fs.readFileSync(file));
    new DataView(b.buffer).setInt32(off + 4, 1 << 30, true);
    new DataView(b.buffer).setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)), true);
    fs.writeFileSync(file, b);
    const err = expectCode(() => open(dir).close(), "CORRUPT_FILE");
    expect(err.message).toContain(path.basename(file));
    expect(err.message).toContain("HNSW link out of range");
  });

  test("a version 1 section (written before alignment, at dfd135b) opens packed, answers as it did, takes changes and is saved as version 2", () => {
    const fixture = path.join(import.meta.dir, "fixtures", "v1_hnsw_db");
    const expected = JSON.parse(fs.readFileSync(`${fixture}.json`, "utf8")) as { rows: number; neighbours: number[][]; queries: number[][]; answers: string[][] };
    const dir = tempDir();
    fs.cpSync(fixture, dir, { recursive: true });
    let after: number[][];
    {
      using db = open(dir);
      const c = db.collection("g");
      const ix = c.index as HnswIndex;
      expect(ix.level0Layout()).toBe("packed");
      expect(allLinks(ix, expected.rows)).toEqual(expected.neighbours);
      expect(expected.queries.map((q) => c.search(q, { k: 5 }).map((h) => h.id))).toEqual(expected.answers);
      c.insert("added", [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
      expect(ix.verify()).toEqual([]);
      after = allLinks(ix, expected.rows + 1);
      db.checkpoint();
    }
    const snap = new Uint8Array(fs.readFileSync(snapshotOf(dir)));
    using db = open(dir);
    const c = db.collection("g");
    expect(allLinks(c.index as HnswIndex, expected.rows + 1)).toEqual(after);
    expect(c.search([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], { k: 1 })[0]!.id).toBe("added");
    // the rewritten section is version 2: the index section's tag (2) is followed by the section version
    const w = new ByteWriter();
    c.index.serialize(w);
    expect(new DataView(w.finish().buffer).getUint32(0, true)).toBe(2);
    expect(snap.length).toBeGreaterThan(0);
  });
});

const CHILD = path.join(import.meta.dir, "fixtures", "hnsw_mapped_child.ts");

/** The lines a child prints, one at a time. */
function lines(stream: ReadableStream<Uint8Array>): () => Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  return async () => {
    while (!buf.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`child closed its output after: ${buf}`);
      buf += decoder.decode(value);
    }
    const at = buf.indexOf("\n");
    const line = buf.slice(0, at);
    buf = buf.slice(at + 1);
    return line;
  };
}

describe("processes over a mapped graph", () => {
  const stateOf = (c: Collection) => `${c.count()} ${Array.from({ length: 10 }, (_, i) => c.search(row(ds.queries, i, D), { k: 5 }).map((h) => h.id).join(",")).join(";")}`;

  test("a reader process maps level 0 too, follows the writer's changes on its own copy, and maps the new snapshot after a vacuum", async () => {
    const dir = tempDir();
    makeDb(dir);
    const proc = Bun.spawn([process.execPath, CHILD, "reader", dir], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    try {
      const next = lines(proc.stdout);
      const first = await next();
      using db = open(dir);
      const c = db.collection("h");
      expect((c.index as HnswIndex).level0Layout()).toBe("mapped");
      expect(first).toBe(`READY STATE mapped ${stateOf(c)}`);
      c.insertMany(Array.from({ length: 20 }, (_, i) => ({ id: `q${i}`, vector: row(ds.queries, i, D) })));
      c.delete("3");
      const ask = async () => {
        proc.stdin.write("\n");
        proc.stdin.flush();
        return next();
      };
      expect(await ask()).toBe(`STATE owned ${stateOf(c)}`);
      c.vacuum(); // new files: the reader reloads the collection from the new snapshot
      expect(await ask()).toBe(`STATE mapped ${stateOf(c)}`);
    } finally {
      proc.stdin.end();
      await proc.exited;
    }
  });

  test("a writer killed with kill -9 while changing a reopened mapped graph: every acknowledged insert is there after recovery, the snapshot untouched", async () => {
    const dir = tempDir();
    makeDb(dir);
    const file = snapshotOf(dir);
    const before = new Uint8Array(fs.readFileSync(file));
    const out = await killChild([process.execPath, CHILD, "writer", dir], 800);
    expect(out).toContain("LAYOUT mapped\n");
    const acked = [...out.matchAll(/ACK (w\d+)/g)].map((m) => m[1]!);
    expect(acked.length).toBeGreaterThan(0);
    expect(snapshotOf(dir)).toBe(file);
    expect(new Uint8Array(fs.readFileSync(file))).toEqual(before);
    using db = open(dir);
    const c = db.collection("h");
    for (const id of acked) expect(c.get(id)).not.toBeNull();
    expect(db.check().problems).toEqual([]);
    expect((c.index as HnswIndex).verify()).toEqual([]);
    expect(c.search(row(ds.queries, 0, D), { k: 1 })[0]!.distance).toBe(0); // w0 is that query
  });
});

describe("aligned arrays in the binary encoding", () => {
  test("u32arrayAligned pads to a multiple of 4 from the writer's start, and reads back from any position", () => {
    for (let lead = 0; lead < 8; lead++) {
      const w = new ByteWriter(4);
      for (let i = 0; i < lead; i++) w.u8(i);
      const values = Uint32Array.from({ length: 9 }, (_, i) => i * 1000003);
      w.u32arrayAligned(values).u8(0xee);
      const bytes = w.finish();
      const r = new ByteReader(bytes, "t", lead, bytes.length, true);
      const { array, view } = r.u32arrayAligned();
      expect(view).toBe(true);
      expect(array.byteOffset % 4).toBe(0);
      expect(Array.from(array)).toEqual(Array.from(values));
      expect(r.u8()).toBe(0xee);
      // the same bytes not mapped, or shifted off alignment: a copy with the same values
      const shifted = new Uint8Array(bytes.length + 1);
      shifted.set(bytes, 1);
      for (const r2 of [new ByteReader(bytes, "t", lead), new ByteReader(shifted, "t", lead + 1, shifted.length, true)]) {
        const got = r2.u32arrayAligned();
        expect(got.view).toBe(false);
        expect(Array.from(got.array)).toEqual(Array.from(values));
      }
    }
  });
});
