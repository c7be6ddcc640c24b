/**
 * Export layouts for other engines (docs/SCALING.md):
 * - Qdrant: JSON lines of points { id, vector, payload }; Qdrant ids are
 *   unsigned integers or UUIDs, so a point's id is the UUIDv5 of the vqlite id
 *   in VQLITE_UUID_NAMESPACE, and the original id is kept in payload.vqlite_id.
 * - pgvector: the plain CSV export (vectors in the `[1,2,3]` text form).
 * - Milvus: Parquet with `id`, `vector` and the payload as a JSON object in
 *   the dynamic-field column `$meta`.
 */
import { createHash } from "node:crypto";
import { writeStreaming } from "./sink";
import type { ExportRecord, Progress } from "./types";

/** uuid5(NAMESPACE_URL, "https://github.com/vqlite/vqlite#ids") */
export const VQLITE_UUID_NAMESPACE = "c29ec19a-49f9-51ca-a0e9-4aad96208f9c";
export const QDRANT_ORIGINAL_ID_FIELD = "vqlite_id";

/** RFC 9562 UUID version 5 (SHA-1) of `name` in `namespace`. */
export function uuidV5(name: string, namespace: string = VQLITE_UUID_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
  const h = createHash("sha1").update(ns).update(Buffer.from(name, "utf8")).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function writeQdrantPoints(file: string, records: Iterable<ExportRecord>, options: { count: number; onProgress?: Progress }): number {
  return writeStreaming(file, (sink) => {
    let n = 0;
    for (const r of records) {
      const point = {
        id: uuidV5(r.id),
        vector: Array.from(r.vector),
        payload: { ...(r.payload ?? {}), [QDRANT_ORIGINAL_ID_FIELD]: r.id },
      };
      sink.write(`${JSON.stringify(point)}\n`);
      if (++n % 4096 === 0) options.onProgress?.(n, options.count);
    }
    options.onProgress?.(n, options.count);
  });
}
