import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { MemoryVectorStore } from "../src/storage/vector_store";
import { HEADER_BYTES, MmapVectorStore, VectorFile } from "../src/storage/vector_file";
import { expectCode, randomVectors, row, tempDir } from "./helpers";

const DIM = 7;

describe("MemoryVectorStore", () => {
  test("appends, grows by doubling and returns zero-copy rows", () => {
    const s = new MemoryVectorStore(DIM, 1);
    const data = randomVectors(1000, DIM, 1);
    for (let i = 0; i < 1000; i++) expect(s.append(row(data, i, DIM))).toBe(i);
    expect(s.length).toBe(1000);
    expect(s.capacity).toBe(1024);
    for (const i of [0, 1, 511, 999]) expect([...s.get(i)]).toEqual([...row(data, i, DIM)]);
    const view = s.get(3);
    expect(view.buffer).toBe(s.data().buffer); // a view, not a copy
    expect(() => s.get(1000)).toThrow(RangeError);
  });
});

describe("MmapVectorStore", () => {
  test("round trip, many remaps while growing, reopen", () => {
    const dir = tempDir();
    const file = path.join(dir, "v.vec");
    const s = MmapVectorStore.create(file, DIM, 1);
    const data = randomVectors(5000, DIM, 2);
    const early = [] as Float32Array[];
    for (let i = 0; i < 5000; i++) {
      s.append(row(data, i, DIM));
      if (i % 1000 === 0) early.push(s.get(i));
    }
    // 1 -> 8192 rows is 13 doublings, each a remap
    expect(s.file.capacity).toBe(8192);
    expect(fs.statSync(file).size).toBe(HEADER_BYTES + 8192 * DIM * 4);
    for (let i = 0; i < 5000; i += 97) expect([...s.get(i)]).toEqual([...row(data, i, DIM)]);
    // views taken before later remaps still read the right data
    early.forEach((v, j) => expect([...v]).toEqual([...row(data, j * 1000, DIM)]));
    s.sync();
    s.close();
    const r = MmapVectorStore.open(file, DIM);
    expect(r.length).toBe(5000);
    for (let i = 0; i < 5000; i += 13) expect([...r.get(i)]).toEqual([...row(data, i, DIM)]);
    // rows live in a mapping, not the heap
    expect(r.heapBytes()).toBe(0);
    expect(r.mappedBytes()).toBe(5000 * DIM * 4);
    r.close();
  });

  test("unsynced rows are not counted on reopen; the header count is what was synced", () => {
    const dir = tempDir();
    const file = path.join(dir, "v.vec");
    const s = MmapVectorStore.create(file, DIM, 4);
    const data = randomVectors(10, DIM, 3);
    for (let i = 0; i < 3; i++) s.append(row(data, i, DIM));
    s.sync();
    for (let i = 3; i < 10; i++) s.append(row(data, i, DIM));
    s.close();
    expect(MmapVectorStore.open(file, DIM).length).toBe(3);
  });

  test("opening validates magic, version, checksum, dimension and size", () => {
    const dir = tempDir();
    const file = path.join(dir, "v.vec");
    const s = MmapVectorStore.create(file, DIM, 4);
    s.append(new Float32Array(DIM).fill(1));
    s.sync();
    s.close();
    const good = fs.readFileSync(file);

    expectCode(() => MmapVectorStore.open(file, DIM + 1), "CORRUPT_FILE");

    for (const offset of [0, 5, 8, 12, 16, 24, 32]) {
      const bad = Buffer.from(good);
      bad[offset] = bad[offset]! ^ 0x40;
      fs.writeFileSync(file, bad);
      const e = expectCode(() => MmapVectorStore.open(file, DIM), "CORRUPT_FILE");
      expect(e.message).toContain(file);
    }

    fs.writeFileSync(file, good.subarray(0, good.length - 4)); // size no longer matches
    expect(expectCode(() => MmapVectorStore.open(file, DIM), "CORRUPT_FILE").message).toContain("size");

    fs.writeFileSync(file, Buffer.concat([good, Buffer.alloc(DIM * 4)])); // grown by a row, header not updated
    expectCode(() => MmapVectorStore.open(file, DIM), "CORRUPT_FILE");
    // ... which only the database's recovery path may accept, repairing the header
    const repaired = VectorFile.open(file, DIM, true);
    expect(repaired.capacity).toBe(5);
    repaired.close();
    expect(MmapVectorStore.open(file, DIM).length).toBe(1);

    fs.writeFileSync(file, "");
    expectCode(() => MmapVectorStore.open(file, DIM), "CORRUPT_FILE");
    fs.writeFileSync(file, "this is a text file, not a vector file at all, no no no");
    expectCode(() => MmapVectorStore.open(file, DIM), "CORRUPT_FILE");
    expectCode(() => MmapVectorStore.open(path.join(dir, "missing.vec"), DIM), "IO_ERROR");
  });
});
