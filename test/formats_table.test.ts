import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as arrow from "apache-arrow";
import { parquetMetadata } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { open } from "../src/index";
import { readRecords } from "../src/storage/formats";
import { expectCode, randomVectors, tempDir } from "./helpers";

// Parquet encoding and child processes take seconds on a loaded 2-core machine
setDefaultTimeout(30_000);

function arrowFile(file: string, table: arrow.Table): string {
  fs.writeFileSync(file, arrow.tableToIPC(table, "file"));
  return file;
}

function parquetFile(file: string, schema: Record<string, unknown>[], columnData: { name: string; data: unknown[] }[]): string {
  fs.writeFileSync(file, new Uint8Array(parquetWriteBuffer({ schema: schema as never, columnData: columnData as never, rowGroupSize: 2 })));
  return file;
}

const listOf = (name: string, type: "FLOAT" | "DOUBLE", repetition = "REQUIRED") => [
  { name, repetition_type: repetition, converted_type: "LIST", num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  { name: "element", type, repetition_type: "REQUIRED" },
];

describe("Parquet and Arrow round trips", () => {
  for (const ext of ["parquet", "arrow", "feather"]) {
    test(`COPY TO and FROM .${ext} keeps ids, vectors, payloads and sparse vectors`, () => {
      const dir = tempDir();
      using db = open();
      db.exec(`CREATE COLLECTION src (DIMENSION 4, METRIC COSINE)`);
      const data = randomVectors(2500, 4, 7);
      db.collection("src").insertMany(
        Array.from({ length: 2500 }, (_, i) => ({
          id: i === 0 ? 'q"uote, comma\nnewline ✓' : `id-${i}`,
          vector: data.subarray(i * 4, i * 4 + 4),
          payload: i % 3 === 0 ? null : { n: i, tag: `t${i % 7}`, nested: { list: [i, "x", null], ok: i % 2 === 0 } },
          sparse: i % 5 === 0 ? { indices: [i, i + 10], values: [0.5, -1.25] } : null,
        })),
      );
      const file = path.join(dir, `out.${ext}`);
      expect(db.exec(`COPY src TO '${file}'`)[0]!.count).toBe(2500);
      expect(fs.existsSync(`${file}.tmp`)).toBe(false);
      db.exec(`CREATE COLLECTION back (DIMENSION 4, METRIC COSINE); COPY back FROM '${file}'`);
      const a = [...db.collection("src")];
      const b = [...db.collection("back")];
      expect(b).toEqual(a);
    });
  }

  test("Parquet exports are row groups of id (utf8), vector (LIST<FLOAT>) and payload (utf8 JSON)", () => {
    const dir = tempDir();
    using db = open();
    db.exec("CREATE COLLECTION s (DIMENSION 3, METRIC L2)");
    db.collection("s").insertMany(Array.from({ length: 9000 }, (_, i) => ({ id: `${i}`, vector: [i, 0, 1] })));
    const file = path.join(dir, "s.parquet");
    db.collection("s").exportTo(file, { batchRows: 4000 });
    const raw = fs.readFileSync(file);
    const md = parquetMetadata(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    expect(Number(md.num_rows)).toBe(9000);
    expect(md.row_groups.map((g) => Number(g.num_rows))).toEqual([4000, 4000, 1000]);
    expect(md.schema.map((e) => [e.name, e.type ?? null, e.converted_type ?? null, e.repetition_type ?? null])).toEqual([
      ["root", null, null, null],
      ["id", "BYTE_ARRAY", "UTF8", "REQUIRED"],
      ["vector", null, "LIST", "REQUIRED"],
      ["list", null, null, "REPEATED"],
      ["element", "FLOAT", null, "REQUIRED"],
      ["payload", "BYTE_ARRAY", "UTF8", "OPTIONAL"],
    ]);
    const progress: number[] = [];
    let batches = 0;
    readRecords(file, { onProgress: (d) => progress.push(d) }, () => batches++);
    expect(batches).toBe(3);
    expect(progress).toEqual([4000, 8000, 9000]);
  });
});

describe("column mapping of foreign files", () => {
  test("Arrow: integer ids, List<Float64> vectors, a struct payload, other columns as fields, EXCLUDE", () => {
    const dir = tempDir();
    const table = new arrow.Table({
      doc_id: arrow.vectorFromArray([10n, 11n, 12n], new arrow.Int64()),
      emb: arrow.vectorFromArray([[1, 2], [3, 4.5], [-1, 0]], new arrow.List(new arrow.Field("item", new arrow.Float64()))),
      meta: arrow.vectorFromArray(
        [{ a: "x", b: 1 }, { a: "y", b: 2 }, null],
        new arrow.Struct([new arrow.Field("a", new arrow.Utf8(), true), new arrow.Field("b", new arrow.Int32(), true)]),
      ),
      label: arrow.vectorFromArray(["cat", null, "dog"], new arrow.Utf8()),
      ignored: arrow.vectorFromArray([0.5, 0.25, 0.125], new arrow.Float64()),
    });
    const file = arrowFile(path.join(dir, "foreign.arrow"), table);
    using db = open();
    db.exec("CREATE COLLECTION f (DIMENSION 2, METRIC L2)");
    db.exec(`COPY f FROM '${file}' (ID 'doc_id', VECTOR 'emb', PAYLOAD 'meta', EXCLUDE ('ignored'))`);
    expect(db.query("SELECT * FROM f")).toEqual([
      { id: "10", vector: [1, 2], payload: { a: "x", b: 1, label: "cat" } },
      { id: "11", vector: [3, 4.5], payload: { a: "y", b: 2 } },
      { id: "12", vector: [-1, 0], payload: { label: "dog" } },
    ]);
    db.exec("CREATE COLLECTION g (DIMENSION 2, METRIC L2)");
    db.collection("g").importFrom(file, { id: "doc_id", vector: "emb" });
    expect(db.collection("g").get("10")!.payload).toEqual({ meta: { a: "x", b: 1 }, label: "cat", ignored: 0.5 });
  });

  test("Parquet: INT32 ids, LIST<DOUBLE> vectors, a JSON string payload, several row groups", () => {
    const dir = tempDir();
    const file = parquetFile(
      path.join(dir, "foreign.parquet"),
      [
        { name: "root", num_children: 4 },
        { name: "doc_id", type: "INT32", repetition_type: "REQUIRED" },
        ...listOf("emb", "DOUBLE"),
        { name: "meta", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
        { name: "year", type: "INT32", repetition_type: "OPTIONAL" },
      ],
      [
        { name: "doc_id", data: [1, 2, 3, 4, 5] },
        { name: "emb", data: [[1, 0], [0, 1], [1, 1], [0.5, 0.5], [2, 2]] },
        { name: "meta", data: ['{"t": "a"}', null, '{"t": "c", "deep": {"k": [1]}}', "null", '{"t": "e"}'] },
        { name: "year", data: [2020, 2021, null, 2023, 2024] },
      ],
    );
    using db = open();
    db.exec("CREATE COLLECTION p (DIMENSION 2, METRIC L2)");
    const progress: number[] = [];
    const n = db.collection("p").importFrom(file, { id: "doc_id", vector: "emb", payload: "meta", onProgress: (d) => progress.push(d) });
    expect(n).toBe(5);
    expect(progress).toEqual([2, 4, 5]);
    expect(db.query("SELECT id, payload FROM p")).toEqual([
      { id: "1", payload: { t: "a", year: 2020 } },
      { id: "2", payload: { year: 2021 } },
      { id: "3", payload: { t: "c", deep: { k: [1] } } },
      { id: "4", payload: { year: 2023 } },
      { id: "5", payload: { t: "e", year: 2024 } },
    ]);
    expect(db.query("SEARCH p NEAR [2, 2] WHERE year > 2020 LIMIT 1")[0]!.id).toBe("5");
  });

  test("bad values name the row and the column, and nothing is written", () => {
    const dir = tempDir();
    using db = open();
    db.exec("CREATE COLLECTION e (DIMENSION 2, METRIC L2); INSERT INTO e VALUES ('keep', [0, 0], NULL)");
    const f32 = new arrow.List(new arrow.Field("item", new arrow.Float32()));
    const make = (name: string, cols: Record<string, arrow.Vector>) => arrowFile(path.join(dir, name), new arrow.Table(cols));
    const copy = (file: string, opts = "") => () => db.exec(`COPY e FROM '${file}'${opts}`);
    const ids = (xs: (string | null)[]) => arrow.vectorFromArray(xs, new arrow.Utf8());
    const cases: [string, string, string][] = [
      [make("null_vec.arrow", { id: ids(["a", "b", "c"]), vector: arrow.vectorFromArray([[1, 2], [3, 4], null], f32) }), "INVALID_VECTOR", 'row 2, column "vector": the vector is null'],
      [make("dim.arrow", { id: ids(["a", "b"]), vector: arrow.vectorFromArray([[1, 2], [3, 4, 5]], f32) }), "DIMENSION_MISMATCH", 'row 1, column "vector": vector has dimension 3, collection expects 2'],
      [make("dup.arrow", { id: ids(["a", "b", "a"]), vector: arrow.vectorFromArray([[1, 2], [3, 4], [5, 6]], f32) }), "DUPLICATE_ID", 'row 2, column "id": id "a" appears twice in the file'],
      [make("exists.arrow", { id: ids(["a", "keep"]), vector: arrow.vectorFromArray([[1, 2], [3, 4]], f32) }), "DUPLICATE_ID", 'row 1, column "id": id already exists: "keep"'],
      [make("null_id.arrow", { id: ids(["a", null]), vector: arrow.vectorFromArray([[1, 2], [3, 4]], f32) }), "INVALID_ID", 'row 1, column "id": the id is null'],
      [
        make("float_id.arrow", { id: arrow.vectorFromArray([1.5], new arrow.Float64()), vector: arrow.vectorFromArray([[1, 2]], f32) }),
        "INVALID_ID",
        'row 0, column "id": an id must be a string or an integer, got a number (column type Float64)',
      ],
      [
        make("text_vec.arrow", { id: ids(["a"]), vector: arrow.vectorFromArray(["[1, 2]"], new arrow.Utf8()) }),
        "INVALID_VECTOR",
        'row 0, column "vector": a vector must be a list of float32 or float64 values, got a string (column type Utf8)',
      ],
      [
        make("bad_payload.arrow", { id: ids(["a", "b"]), vector: arrow.vectorFromArray([[1, 2], [3, 4]], f32), payload: ids(['{"ok": 1}', "[1, 2]"]) }),
        "INVALID_PAYLOAD",
        'row 1, column "payload": the payload must be a JSON object',
      ],
      [
        make("null_elem.arrow", { id: ids(["a"]), vector: arrow.vectorFromArray([[1, null]], new arrow.List(new arrow.Field("item", new arrow.Float32(), true))) }),
        "INVALID_VECTOR",
        'row 0, column "vector": vector value at position 1 is null',
      ],
    ];
    for (const [file, code, message] of cases) {
      const e = expectCode(copy(file), code);
      expect(e.message).toContain(`${file}: ${message}`);
      expect([e.line, e.column]).toEqual([1, 13]);
    }
    const plain = make("plain.arrow", { id: ids(["a"]), vector: arrow.vectorFromArray([[1, 2]], f32) });
    expect(expectCode(copy(plain, " (VECTOR 'emb')"), "INVALID_ARGUMENT").message).toContain('no column "emb" for the vector (columns: "id", "vector")');
    expect(expectCode(copy(plain, " (EXCLUDE ('nope'))"), "INVALID_ARGUMENT").message).toContain('EXCLUDE names no column "nope"');
    const pq = parquetFile(path.join(dir, "null.parquet"), [{ name: "root", num_children: 2 }, { name: "id", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" }, ...listOf("vector", "FLOAT", "OPTIONAL")], [
      { name: "id", data: ["a", "b", "c"] },
      { name: "vector", data: [[1, 2], [3, 4], null] },
    ]);
    expect(expectCode(copy(pq), "INVALID_VECTOR").message).toContain(`${pq}: row 2, column "vector": the vector is null`);
    fs.writeFileSync(path.join(dir, "junk.parquet"), "PAR1 but not really a parquet file");
    expectCode(copy(path.join(dir, "junk.parquet")), "CORRUPT_FILE");
    fs.writeFileSync(path.join(dir, "junk.arrow"), "not arrow");
    expectCode(copy(path.join(dir, "junk.arrow")), "CORRUPT_FILE");
    expect(db.query("SELECT id FROM e")).toEqual([{ id: "keep" }]);
  });

  test("the library API: upsert mode and renamed export columns", () => {
    const dir = tempDir();
    using db = open();
    const c = db.createCollection("c", { dimension: 2, metric: "l2" });
    c.insertMany([{ id: "a", vector: [1, 1], payload: { v: 1 } }]);
    const file = path.join(dir, "renamed.parquet");
    expect(c.exportTo(file, { id: "doc_id", vector: "emb", payload: "meta" })).toBe(1);
    c.update("a", { payload: { v: 2 } });
    expectCode(() => c.importFrom(file), "INVALID_ARGUMENT");
    expect(c.importFrom(file, { id: "doc_id", vector: "emb", payload: "meta", mode: "upsert" })).toBe(1);
    expect(c.get("a")!.payload).toEqual({ v: 1 });
    expectCode(() => c.importFrom(path.join(dir, "x.jsonl"), { id: "doc_id" }), "INVALID_ARGUMENT");
  });
});
