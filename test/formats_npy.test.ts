import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open } from "../src/index";
import { readRecords } from "../src/storage/formats";
import { expectCode, randomVectors, tempDir } from "./helpers";

/** A .npy file built by hand, the way numpy.save lays it out. */
function npy(descr: string, shape: number[], data: Uint8Array, o: { version?: 1 | 2; fortran?: boolean } = {}): Uint8Array {
  const version = o.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '${descr}', 'fortran_order': ${o.fortran ? "True" : "False"}, 'shape': ${shapeText}, }`;
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - pre - 1, " ") + "\n";
  const out = new Uint8Array(total + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, dict.length, true);
  else dv.setUint32(8, dict.length, true);
  out.set(new TextEncoder().encode(dict), pre);
  out.set(data, total);
  return out;
}

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe(".npy import and export", () => {
  test("COPY TO writes a NumPy float32 (n, d) array; COPY FROM reads it back with ids '0', '1', …", () => {
    const dir = tempDir();
    using db = open();
    const data = randomVectors(300, 5, 1);
    db.exec("CREATE COLLECTION v (DIMENSION 5, METRIC L2)");
    db.collection("v").insertMany(Array.from({ length: 300 }, (_, i) => ({ id: `x${i}`, vector: data.subarray(i * 5, i * 5 + 5), payload: { i } })));
    const file = path.join(dir, "v.npy");
    expect(db.exec(`COPY v TO '${file}'`)[0]!.count).toBe(300);
    const raw = new Uint8Array(fs.readFileSync(file));
    const header = new TextDecoder("latin1").decode(raw.subarray(10, 10 + new DataView(raw.buffer).getUint16(8, true)));
    expect(Array.from(raw.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    expect(header).toStartWith("{'descr': '<f4', 'fortran_order': False, 'shape': (300, 5), }");
    expect(header).toEndWith("\n");
    const dataStart = 10 + header.length;
    expect(dataStart % 64).toBe(0);
    expect(Array.from(new Float32Array(raw.slice(dataStart).buffer))).toEqual(Array.from(data));

    db.exec("CREATE COLLECTION back (DIMENSION 5, METRIC L2)");
    expect(db.exec(`COPY back FROM '${file}'`)[0]!.count).toBe(300);
    expect(db.collection("back").get("0")!.vector).toEqual(data.subarray(0, 5));
    expect(db.collection("back").get("299")!.vector).toEqual(data.subarray(299 * 5));
    expect(db.collection("back").get("0")!.payload).toBeNull();
  });

  test("float64, big-endian and version 2 headers read; rows arrive in bounded batches with progress", () => {
    const dir = tempDir();
    const f64 = Float64Array.from({ length: 12 }, (_, i) => i * 0.5 - 1);
    fs.writeFileSync(path.join(dir, "d.npy"), npy("<f8", [4, 3], bytes(f64)));
    const be = new Uint8Array(4 * 3 * 4);
    for (let i = 0; i < 12; i++) new DataView(be.buffer).setFloat32(i * 4, i * 0.5 - 1, false);
    fs.writeFileSync(path.join(dir, "be.npy"), npy(">f4", [4, 3], be, { version: 2 }));
    for (const name of ["d.npy", "be.npy"]) {
      const batches: number[] = [];
      const progress: number[] = [];
      const got: number[] = [];
      readRecords(path.join(dir, name), { batchRows: 3, onProgress: (d) => progress.push(d) }, (records, first) => {
        batches.push(first);
        for (const r of records) got.push(...Array.from(r.vector));
        expect(records.map((r) => r.id)).toEqual(records.map((_, i) => String(first + i)));
      });
      expect(batches).toEqual([0, 3]);
      expect(progress).toEqual([3, 4]);
      expect(got).toEqual(Array.from(f64));
    }
  });

  test("bad files are refused with the reason; a failing import writes nothing", () => {
    const dir = tempDir();
    using db = open();
    db.exec("CREATE COLLECTION v (DIMENSION 3, METRIC L2)");
    const put = (name: string, content: Uint8Array) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, content);
      return f;
    };
    const rows = new Float32Array([1, 2, 3, 4, 5, 6]);
    const copy = (f: string) => () => db.exec(`COPY v FROM '${f}'`);
    expect(expectCode(copy(put("i.npy", npy("<i4", [2, 3], bytes(new Int32Array(6))))), "INVALID_ARGUMENT").message).toContain("dtype <i4 is not supported");
    expect(expectCode(copy(put("f.npy", npy("<f4", [2, 3], bytes(rows), { fortran: true }))), "INVALID_ARGUMENT").message).toContain("Fortran order");
    expect(expectCode(copy(put("1d.npy", npy("<f4", [6], bytes(rows)))), "INVALID_ARGUMENT").message).toContain("2-D array");
    expect(expectCode(copy(put("short.npy", npy("<f4", [3, 3], bytes(rows)))), "CORRUPT_FILE").message).toContain("does not match shape (3, 3)");
    expectCode(copy(put("junk.npy", new TextEncoder().encode("not numpy at all"))), "CORRUPT_FILE");
    const wide = expectCode(copy(put("wide.npy", npy("<f4", [3, 2], bytes(rows)))), "DIMENSION_MISMATCH");
    expect(wide.message).toContain('row 0, column "vector": vector has dimension 2, collection expects 3');
    expect([wide.line, wide.column]).toEqual([1, 13]);
    const nan = put("nan.npy", npy("<f4", [2, 3], bytes(new Float32Array([1, 2, 3, 4, NaN, 6]))));
    expect(expectCode(copy(nan), "NON_FINITE_VALUE").message).toContain('row 1, column "vector"');
    db.exec("INSERT INTO v VALUES ('1', [0, 0, 0], NULL)");
    const dup = expectCode(copy(put("ok.npy", npy("<f4", [2, 3], bytes(rows)))), "DUPLICATE_ID");
    expect(dup.message).toContain('row 1, column "id"');
    expect(db.collection("v").count()).toBe(1);
    expect(db.exec(`COPY v FROM '${put("empty.npy", npy("<f4", [0, 3], new Uint8Array(0)))}'`)[0]!.count).toBe(0);
    expect(expectCode(() => db.exec(`COPY v TO '${path.join(dir, "out.npy.gz")}'`), "INVALID_ARGUMENT").message).toContain("exports are not compressed");
    expect(expectCode(() => db.exec(`COPY v TO '${path.join(dir, "out.fvecs")}'`), "INVALID_ARGUMENT").message).toContain("not .fvecs");
  });
});
