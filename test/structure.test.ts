import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { ClusteredTree } from "../src/ann/clustered";
import { describeIndex, INDEX_OPTIONS, validateIndexConfig } from "../src/ann/config";
import { RowTable } from "../src/collection/row_table";
import { ClusteredIndex } from "../src/clustered_index";
import { open, VqliteError } from "../src/index";
import { ByteReader, ByteWriter } from "../src/storage/binary";
import { MemoryVectorStore } from "../src/storage/vector_store";
import { expectCode, randomVectors, row, tempDir } from "./helpers";

const SRC = path.join(import.meta.dir, "../src");

/** Every relative import of every .ts file under src/, as [file, imported file], both relative to src/. */
function imports(): [string, string][] {
  const out: [string, string][] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(".ts")) {
        const text = fs.readFileSync(p, "utf8");
        for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gms)) {
          const target = m[2]!;
          if (!target.startsWith(".")) {
            out.push([path.relative(SRC, p), target]);
            continue;
          }
          const typeOnly = m[1] !== undefined;
          out.push([path.relative(SRC, p), (typeOnly ? "type:" : "") + path.relative(SRC, path.resolve(path.dirname(p), target)).replace(/\.ts$/, "")]);
        }
      }
    }
  };
  walk(SRC);
  return out;
}

const LAYER: [RegExp, number][] = [
  [/^errors$/, 0],
  [/^storage\//, 1],
  [/^ann\//, 2],
  [/^collection\//, 3],
  [/^(db|clustered_index)$/, 4],
  [/^query\//, 4],
  [/^index$/, 5],
];

function layerOf(file: string): number {
  const f = file.replace(/^type:/, "").replace(/\.ts$/, "");
  for (const [re, n] of LAYER) if (re.test(f)) return n;
  throw new Error(`no layer for ${file}`);
}

describe("the layers call only downward", () => {
  const all = imports();

  test("no file imports from a layer above its own (db ↔ executor is type-only one way)", () => {
    const upward = all.filter(([from, to]) => !to.startsWith("node:") && !/^[a-z@]/.test(to.replace(/^type:/, "")) && layerOf(to) > layerOf(from));
    expect(upward).toEqual([]);
    // query/executor needs the Database type; db.ts runs the executor: the executor's side is a type-only import
    const executorToDb = all.filter(([from, to]) => from === "query/executor.ts" && to.replace(/^type:/, "") === "db");
    expect(executorToDb.length).toBeGreaterThan(0);
    for (const [, to] of executorToDb) expect(to.startsWith("type:")).toBe(true);
  });

  test("the ANN indexes never import collections, the query language or the database", () => {
    const bad = all.filter(([from, to]) => from.startsWith("ann/") && /^(type:)?(collection\/|query\/|db$)/.test(to));
    expect(bad).toEqual([]);
  });

  test("only the storage layer's seam imports node:fs", () => {
    const fsUsers = all.filter(([, to]) => to === "node:fs").map(([from]) => from);
    expect(fsUsers).toEqual(["storage/fs.ts"]);
  });
});

describe("index configuration has one home", () => {
  test("defaults and bounds come from the spec, for collections and for the indexes themselves", () => {
    const m = INDEX_OPTIONS.hnsw.m;
    const e = expectCode(() => open().createCollection("c", { dimension: 2, index: { type: "hnsw", m: m.min - 1 } }), "INVALID_CONFIG");
    expect(e.message).toBe(`m must be an integer from ${m.min} to ${m.max}, got ${m.min - 1}`);
    expectCode(() => validateIndexConfig({ type: "clustered", branchingFactor: INDEX_OPTIONS.clustered.branchingFactor.max + 1 }), "INVALID_CONFIG");
    expectCode(() => validateIndexConfig({ type: "hnsw", efsearch: 10 }), "INVALID_CONFIG"); // a misspelt option is not ignored
    expectCode(() => validateIndexConfig("ivf"), "INVALID_CONFIG");
    expect(validateIndexConfig("hnsw")).toEqual({ type: "hnsw" });
    expect(describeIndex({ type: "hnsw", m: 8 })).toBe("hnsw(m 8, ef_construction 200, ef_search 64)");
    expect(describeIndex({ type: "clustered" })).toBe("clustered(branching 10, leaf_size 1000, iterations 20)");
    expect(describeIndex({ type: "flat" })).toBe("flat");
  });

  test("DESCRIBE prints the effective options", () => {
    const db = open();
    db.exec("CREATE COLLECTION c (DIMENSION 2) INDEX HNSW (M 8);");
    const rows = db.query("DESCRIBE c");
    expect(JSON.stringify(rows)).toContain("hnsw(m 8, ef_construction 200, ef_search 64)");
  });
});

describe("errors carry their position as fields, messages stay plain", () => {
  test("a type error inside a statement", () => {
    const db = open();
    db.exec("CREATE COLLECTION c (DIMENSION 2);");
    try {
      db.exec("SHOW COLLECTIONS;\nINSERT INTO c VALUES ('a', [1, 2, 3], NULL);");
      throw new Error("no error");
    } catch (e) {
      expect(e).toBeInstanceOf(VqliteError);
      const err = e as VqliteError;
      expect(err.code).toBe("DIMENSION_MISMATCH");
      expect(err.message).toBe("vector has dimension 3, collection expects 2");
      expect([err.line, err.column]).toEqual([2, 28]);
    }
  });
});

describe("the clustered index's code options are saved with it", () => {
  const dim = 24;
  const data = randomVectors(600, dim, 5);

  test("a non-default code width and rotation survive a reopen; bad values are INVALID_CONFIG", () => {
    const dir = tempDir();
    const ix = ClusteredIndex.build({ data, dimension: dim }, { seed: 3, maxLeafSize: 50, codeBits: 16, rotationRounds: 0 });
    const before = Array.from({ length: 20 }, (_, i) => ix.search(row(data, i, dim), 5, { probes: 2 }));
    const file = path.join(dir, "x.vec");
    ix.useMmapStorage(file);
    const again = ClusteredIndex.open(file);
    expect(Array.from({ length: 20 }, (_, i) => again.search(row(data, i, dim), 5, { probes: 2 }))).toEqual(before);
    const w1 = new ByteWriter(), w2 = new ByteWriter();
    again.tree.serialize(w1);
    ClusteredIndex.build({ data, dimension: dim }, { seed: 3, maxLeafSize: 50 }).tree.serialize(w2);
    expect(Bun.hash(w1.finish())).not.toBe(Bun.hash(w2.finish()));
    expectCode(() => ClusteredIndex.build({ data, dimension: dim }, { codeBits: 33 }), "INVALID_CONFIG"); // wider than the rotation (32)
    expectCode(() => ClusteredIndex.build({ data, dimension: dim }, { rotationRounds: 3 }), "INVALID_CONFIG");
  });

  test("a version-1 section (before the code options were saved) still loads, as one round and a bit per dimension", () => {
    const ix = ClusteredIndex.build({ data, dimension: dim }, { seed: 9, maxLeafSize: 50 });
    const w = new ByteWriter();
    ix.tree.serialize(w);
    const v3 = w.finish();
    // rewrite it as version 1: no code options, each leaf's arrays inline and length-prefixed, no CRCs
    const r = new ByteReader(v3, "v3");
    const v1 = new ByteWriter();
    expect(r.u32()).toBe(4);
    v1.u32(1).u32(r.u32()).u32(r.u32()).u32(r.u32()).u32(r.u32()).f64(r.f64()).string(r.string()).u32(r.u32());
    r.u8();
    const words = Math.ceil(r.u32() / 32);
    type N = { centroid: Float32Array; radius: number; size?: number; splitAt?: number; children?: N[]; arrays?: Uint32Array[] };
    const leaves: N[] = [];
    const parse = (): N => {
      const n: N = { centroid: r.f32array(), radius: r.f64() };
      if (r.u8() === 1) {
        n.size = r.u32();
        n.splitAt = r.f64();
        r.u32(); // the leaf's CRC32
        leaves.push(n);
      } else n.children = Array.from({ length: r.u32() }, parse);
      return n;
    };
    const root = parse();
    for (const leaf of leaves) {
      const s = leaf.size!;
      const take = (k: number) => new Uint32Array(r.raw(k * 4).slice().buffer);
      leaf.arrays = [take(s), take(s * words), take(s)];
    }
    expect(r.remaining).toBe(0);
    const write = (n: N) => {
      v1.f32array(n.centroid).f64(n.radius);
      if (n.children === undefined) {
        v1.u8(1).u32(n.size!).f64(n.splitAt!);
        for (const a of n.arrays!) v1.u32array(a);
      } else {
        v1.u8(0).u32(n.children.length);
        n.children.forEach(write);
      }
    };
    write(root);
    const source = new RowTable(new MemoryVectorStore(dim), "l2");
    for (let i = 0; i < 600; i++) source.append(`r${i}`, row(data, i, dim).slice(), null, null);
    const old = ClusteredTree.deserialize(new ByteReader(v1.finish(), "v1"), source);
    const w2 = new ByteWriter();
    old.serialize(w2);
    expect(Bun.hash(w2.finish())).toBe(Bun.hash(v3));
  });
});

describe("RowTable", () => {
  test("append, kill, metadata, compaction and a snapshot round trip keep ids, payloads, sparse vectors and liveness together", () => {
    const t = new RowTable(new MemoryVectorStore(2), "l2");
    const a = t.append("a", new Float32Array([3, 4]), '{"x":1}', null);
    const b = t.append("b", new Float32Array([1, 0]), null, { indices: new Uint32Array([2]), values: new Float32Array([0.5]) });
    const c = t.append("c", new Float32Array([0, 2]), '{"y":"é"}', null);
    expect([a, b, c]).toEqual([0, 1, 2]);
    expect(t.norm(a)).toBe(5);
    expect(t.kill(b)).toBe(true);
    expect(t.kill(b)).toBe(false);
    expect(t.has("b")).toBe(false);
    expect(t.liveCount).toBe(2);
    t.setMeta(c, '{"y":"ü"}', null);
    const oldToNew = t.compactInto(new MemoryVectorStore(2));
    expect(Array.from(oldToNew)).toEqual([0, -1, 1]);
    expect(t.rowOf("c")).toBe(1);
    expect(t.payloadOf(1)).toEqual({ y: "ü" });
    expect(Array.from(t.store.get(1))).toEqual([0, 2]);
    expect(t.norm(1)).toBe(2);
    const w = new ByteWriter();
    t.write(w);
    const copy = new RowTable(MemoryVectorStore.from(2, t.store.data().slice(0, 4)), "l2");
    copy.read(new ByteReader(w.finish(), "rows"));
    expect([...copy.liveRowNumbers()].map((r) => [copy.idOf(r), copy.payloadOf(r), copy.norm(r)])).toEqual([
      ["a", { x: 1 }, 5],
      ["c", { y: "ü" }, 2],
    ]);
  });
});
