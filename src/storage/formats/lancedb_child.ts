/**
 * The LanceDB side of LANCEDB imports and exports, run by lancedb.ts in a
 * child Bun process so that the optional native package is loaded only here.
 *
 *   bun lancedb_child.ts export ARROW_FILE DIR TABLE create|overwrite
 *   bun lancedb_child.ts import DIR TABLE ARROW_FILE
 *
 * Failures are written to stderr as one line: `LANCEDB_UNAVAILABLE: why` when
 * the package cannot be loaded, `VQLITE_ERROR: {"code","message"}` otherwise.
 */
import { createRequire } from "node:module";
import type * as Arrow from "apache-arrow";
import { writeAll } from "../files";
import { vfs } from "../fs";

// @lancedb/lancedb require()s apache-arrow's CommonJS build; an ESM import would
// load a second copy whose classes fail LanceDB's instanceof checks
const arrow = createRequire(import.meta.url)("apache-arrow") as typeof Arrow;

function fail(code: string, message: string): never {
  process.stderr.write(`VQLITE_ERROR:${JSON.stringify({ code, message })}\n`);
  process.exit(1);
}

type LanceModule = typeof import("@lancedb/lancedb");
let lancedb: LanceModule;
try {
  lancedb = (await import(process.env.VQLITE_LANCEDB_MODULE ?? "@lancedb/lancedb")) as LanceModule;
  if (typeof lancedb.connect !== "function") throw new Error("the module has no connect()");
} catch (e) {
  process.stderr.write(`LANCEDB_UNAVAILABLE: ${((e as Error).message ?? String(e)).split("\n")[0]}\n`);
  process.exit(3);
}

const [command, ...args] = process.argv.slice(2);
if (command === "export") {
  const [file, dir, table, mode] = args as [string, string, string, string];
  const db = await lancedb.connect(dir);
  const names = await db.tableNames();
  if (names.includes(table) && mode !== "overwrite") fail("COLLECTION_EXISTS", `LanceDB table ${table} already exists in ${dir}`);
  const reader = arrow.RecordBatchReader.from(Bun.mmap(file, { shared: false }));
  reader.open();
  let t: Awaited<ReturnType<typeof db.createEmptyTable>> | null = null;
  for (const batch of reader) {
    const data = new arrow.Table([batch]);
    if (t === null) t = await db.createTable(table, data, { mode: "overwrite" });
    else await t.add(data);
  }
  if (t === null) await db.createEmptyTable(table, reader.schema, { mode: "overwrite" });
} else if (command === "import") {
  const [dir, table, file] = args as [string, string, string];
  const db = await lancedb.connect(dir);
  const names = await db.tableNames();
  if (!names.includes(table)) fail("INVALID_ARGUMENT", `no LanceDB table ${table} in ${dir} (tables: ${names.join(", ") || "none"})`);
  const t = await db.openTable(table);
  const fd = vfs.open(file, "w");
  try {
    const schema = (await t.schema()) as unknown as Arrow.Schema;
    // apache-arrow's writer takes any AsyncByteQueue as its sink: this one writes each chunk to the file
    class FileQueue extends arrow.AsyncByteQueue {
      override write(value: Parameters<Arrow.AsyncByteQueue["write"]>[0]): void {
        const v = value as ArrayBufferView;
        if (v.byteLength > 0) writeAll(fd, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      }
    }
    const writer = new arrow.RecordBatchFileWriter();
    writer.reset(new FileQueue(), schema);
    for await (const batch of t.query()) writer.write(batch as unknown as Arrow.RecordBatch);
    writer.finish();
  } finally {
    vfs.close(fd);
  }
} else {
  fail("INVALID_ARGUMENT", `unknown LanceDB command ${command}`);
}
