import { describe, expect, test } from "bun:test";
import * as path from "node:path";
import { open } from "../src/index";
import { one, syntaxError, where } from "./vql_helpers";
import { expectCode, tempDir } from "./helpers";

describe("COPY options parse to the AST", () => {
  test("column names, EXCLUDE and FORMAT, with positions", () => {
    expect(one("COPY c FROM 'x.parquet' (ID 'doc_id', VECTOR 'emb', PAYLOAD 'meta', SPARSE 'sp', EXCLUDE ('a', $b), FORMAT 'arrow')")).toMatchObject({
      kind: "copyFrom",
      collection: { name: "c" },
      file: { kind: "literal", value: "x.parquet", pos: { line: 1, column: 13 } },
      lancedb: false,
      options: {
        id: { value: "doc_id", pos: { line: 1, column: 29 } },
        vector: { value: "emb" },
        payload: { value: "meta" },
        sparse: { value: "sp" },
        exclude: [{ value: "a" }, { kind: "param", name: "b" }],
        format: { value: "arrow" },
      },
    });
    expect(one("COPY c TO 'x.npy'")).toMatchObject({ kind: "copyTo", lancedb: false, options: {} });
  });

  test("LANCEDB with TABLE after the directory or among the options, and OVERWRITE", () => {
    expect(one("COPY c FROM LANCEDB './lance' TABLE 't'")).toMatchObject({ kind: "copyFrom", lancedb: true, file: { value: "./lance" }, options: { table: { value: "t" } } });
    expect(one("copy c to lancedb 'dir' (table 't', overwrite)")).toMatchObject({ kind: "copyTo", lancedb: true, options: { table: { value: "t" }, overwrite: true } });
  });

  test("the new keywords still work as names", () => {
    expect(one("SELECT id FROM table WHERE format = 'x' AND sparse IS NULL AND lancedb > 1 AND exclude < 2 AND overwrite = true")).toMatchObject({ kind: "select", collection: { name: "table" } });
  });
});

describe("COPY option errors point at the option", () => {
  test("syntax", () => {
    expect(where(syntaxError("COPY c FROM 'x.parquet' (ID 'a', ID 'b')"))).toEqual(["ID is given twice", 1, 34]);
    expect(where(syntaxError("COPY c FROM LANCEDB 'd' TABLE 't' (TABLE 'u')"))).toEqual(["TABLE is given twice", 1, 36]);
    expect(where(syntaxError("COPY c FROM 'x.parquet' (ID)"))).toEqual(['near ")": expected a string, a number, TRUE, FALSE, NULL, a $parameter, [ or {', 1, 28]);
    expect(syntaxError("COPY c FROM 'x.parquet' (VECTORS 'emb')").message).toStartWith('near "VECTORS": expected ');
    expect(where(syntaxError("COPY c FROM 'x.parquet' (EXCLUDE 'a')"))).toEqual(['near "\'a\'": expected (', 1, 34]);
  });

  test("meaning", () => {
    using db = open();
    db.exec("CREATE COLLECTION c (DIMENSION 2)");
    const dir = tempDir();
    const f = path.join(dir, "x.parquet");
    const e1 = expectCode(() => db.exec(`COPY c TO '${f}' (FORMAT 'xlsx')`), "TYPE_ERROR");
    expect(e1.message).toMatch(/^FORMAT must be one of 'jsonl', 'csv', 'fvecs', 'npy', 'parquet', 'arrow', 'pgvector', 'qdrant', 'milvus', got 'xlsx'$/);
    expect(e1.line).toBe(1);
    expect(e1.column).toBe(f.length + 22);
    const e2 = expectCode(() => db.exec(`COPY c FROM '${f}'\n  (TABLE 't')`), "TYPE_ERROR");
    expect([e2.line, e2.column, e2.message]).toEqual([2, 10, "TABLE applies to COPY ... LANCEDB"]);
    expect(expectCode(() => db.exec(`COPY c TO '${f}' (EXCLUDE ('a'))`), "TYPE_ERROR").message).toStartWith("EXCLUDE applies to COPY ... FROM");
    expect(expectCode(() => db.exec(`COPY c FROM LANCEDB '${dir}'`), "TYPE_ERROR").message).toStartWith("COPY ... FROM LANCEDB needs the table");
    const e3 = expectCode(() => db.exec(`COPY c FROM '${f}' (ID 3)`), "TYPE_ERROR");
    expect([e3.message, e3.line, e3.column]).toEqual(["ID must be a string, got number 3", 1, f.length + 20]);
    expect(expectCode(() => db.exec(`COPY c TO '${path.join(dir, "x.jsonl")}' (FORMAT 'milvus')`), "INVALID_ARGUMENT").message).toContain("FORMAT 'milvus' writes a .parquet file");
  });
});
