/**
 * The exports docs/SCALING.md hands to other engines, checked against each
 * engine's documented input:
 * - pgvector: CSV for `\copy ... WITH (FORMAT csv, HEADER true)`, vectors in
 *   pgvector's text form `[1,2,3]`, the payload as jsonb text or empty (NULL);
 * - Qdrant: JSON lines of points { id: unsigned integer or UUID, vector: [floats], payload: object };
 * - Milvus: Parquet for bulk import: every column a field of the collection
 *   schema, VarChar as string, FloatVector as a list of float32, the
 *   dynamic field `$meta` as a JSON object string.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { parquetMetadata, parquetReadObjects, parquetSchema } from "hyparquet";
import { open } from "../src/index";
import { uuidV5, VQLITE_UUID_NAMESPACE } from "../src/storage/formats/engines";
import { randomVectors, tempDir } from "./helpers";

// Parquet encoding and child processes take seconds on a loaded 2-core machine
setDefaultTimeout(30_000);

const DIM = 8;

function collection() {
  const db = open();
  db.exec(`CREATE COLLECTION items (DIMENSION ${DIM}, METRIC COSINE)`);
  const data = randomVectors(300, DIM, 11);
  data[3] = 1e-7; // exponent notation must survive too
  db.collection("items").insertMany(
    Array.from({ length: 300 }, (_, i) => ({
      id: i === 1 ? 'awkward, "quoted"\nid' : `doc-${i}`,
      vector: data.subarray(i * DIM, (i + 1) * DIM),
      payload: i % 4 === 0 ? null : { title: `t,"${i}"`, year: 2000 + i, tags: ["a", "b"], meta: { ok: true } },
    })),
  );
  return db;
}

/** RFC 4180 records, as PostgreSQL's CSV mode reads them. */
function csvRecords(text: string): { fields: string[]; quoted: boolean[] }[] {
  const out: { fields: string[]; quoted: boolean[] }[] = [];
  let fields: string[] = [], quoted: boolean[] = [], field = "", q = false, inQ = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inQ) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') inQ = false;
      else field += ch;
    } else if (ch === '"') (inQ = true), (q = true);
    else if (ch === ",") fields.push(field), quoted.push(q), (field = ""), (q = false);
    else if (ch === "\n") {
      fields.push(field), quoted.push(q);
      out.push({ fields, quoted });
      (fields = []), (quoted = []), (field = ""), (q = false);
    } else field += ch;
  }
  expect(field).toBe("");
  return out;
}

// pgvector's text input: '[' float (',' float)* ']', each float as strtof reads it
const PGVECTOR_TEXT = /^\[(-?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(,-?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)*\]$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("exports for other engines", () => {
  test("pgvector: CSV with [x,y,…] vectors and jsonb payloads for \\copy", () => {
    using db = collection();
    const file = path.join(tempDir(), "items.csv");
    db.exec(`COPY items TO '${file}' (FORMAT 'pgvector')`);
    const records = csvRecords(fs.readFileSync(file, "utf8"));
    expect(records[0]!.fields).toEqual(["id", "vector", "payload"]);
    expect(records.length).toBe(301);
    for (const { fields, quoted } of records.slice(1)) {
      expect(fields.length).toBe(3);
      const [id, vec, payload] = fields as [string, string, string];
      const item = db.collection("items").get(id)!;
      expect(item).not.toBeNull();
      expect(vec).toMatch(PGVECTOR_TEXT);
      const values = vec.slice(1, -1).split(",").map(Number);
      expect(Array.from(new Float32Array(values))).toEqual(Array.from(item.vector)); // float4 parses back to the same values
      if (item.payload === null) {
        expect(payload).toBe("");
        expect(quoted[2]).toBe(false); // an unquoted empty field is NULL in COPY's CSV mode
      } else expect(JSON.parse(payload)).toEqual(item.payload);
    }
  });

  test("Qdrant: points with UUIDv5 ids, the original id in the payload", () => {
    // RFC 9562 test vector, then vqlite's namespace (uuid5(NAMESPACE_URL, "https://github.com/vqlite/vqlite#ids"))
    expect(uuidV5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")).toBe("2ed6657d-e927-568b-95e1-2665a8aea6a2");
    expect(uuidV5("https://github.com/vqlite/vqlite#ids", "6ba7b811-9dad-11d1-80b4-00c04fd430c8")).toBe(VQLITE_UUID_NAMESPACE);
    using db = collection();
    const file = path.join(tempDir(), "points.jsonl");
    db.exec(`COPY items TO '${file}' (FORMAT 'qdrant')`);
    const lines = fs.readFileSync(file, "utf8").trimEnd().split("\n");
    expect(lines.length).toBe(300);
    const ids = new Set<string>();
    for (const line of lines) {
      const point = JSON.parse(line) as { id: string; vector: number[]; payload: Record<string, unknown> };
      expect(Object.keys(point).sort()).toEqual(["id", "payload", "vector"]);
      expect(point.id).toMatch(UUID);
      ids.add(point.id);
      const original = point.payload.vqlite_id as string;
      expect(point.id).toBe(uuidV5(original));
      const item = db.collection("items").get(original)!;
      expect(point.vector.length).toBe(DIM);
      expect(point.vector.every((x) => typeof x === "number" && Number.isFinite(x))).toBe(true);
      expect(Array.from(new Float32Array(point.vector))).toEqual(Array.from(item.vector));
      expect(point.payload).toEqual({ ...(item.payload ?? {}), vqlite_id: original });
    }
    expect(ids.size).toBe(300);
  });

  test("Milvus: Parquet with id (string), vector (list<float32>) and $meta (JSON object string)", async () => {
    using db = collection();
    const file = path.join(tempDir(), "items.parquet");
    db.exec(`COPY items TO '${file}' (FORMAT 'milvus')`);
    const raw = fs.readFileSync(file);
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer;
    const md = parquetMetadata(buf);
    const top = parquetSchema(md).children;
    expect(top.map((c) => c.element.name)).toEqual(["id", "vector", "$meta"]);
    expect(top[0]!.element).toMatchObject({ type: "BYTE_ARRAY", converted_type: "UTF8" });
    expect(top[1]!.element).toMatchObject({ converted_type: "LIST" });
    expect(top[1]!.children[0]!.children[0]!.element).toMatchObject({ type: "FLOAT" });
    expect(top[2]!.element).toMatchObject({ type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" });
    const rows = await parquetReadObjects({ file: buf });
    expect(rows.length).toBe(300);
    for (const row of rows) {
      const item = db.collection("items").get(row.id as string)!;
      expect(Array.from(row.vector as number[])).toEqual(Array.from(item.vector));
      const meta = JSON.parse(row.$meta as string);
      expect(typeof meta === "object" && meta !== null && !Array.isArray(meta)).toBe(true);
      expect(meta).toEqual(item.payload ?? {});
    }
  });
});
