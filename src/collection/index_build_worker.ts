/**
 * The worker side of an index build (see index_build.ts): rebuild the index
 * over the rows it was given and post back its serialized section.
 */
import { createIndex, writeIndexSection } from "../ann/factory";
import { VqliteError } from "../errors";
import { ByteWriter } from "../storage/binary";
import { MmapVectorStore, VectorFile } from "../storage/vector_file";
import { MemoryVectorStore } from "../storage/vector_store";
import type { BuildMessage, BuildRequest } from "./index_build";
import { LiveRows } from "./live_rows";

declare const self: Worker;

function post(message: BuildMessage, transfer: ArrayBuffer[] = []): void {
  self.postMessage(message, transfer as never);
}

self.onmessage = (event: MessageEvent<BuildRequest>) => {
  const req = event.data;
  try {
    // A vector file is mapped as a read-only handle maps it (never written, torn header
    // reads retried while the writer grows it); rows handed over are put in this worker's
    // WebAssembly heap, as a memory collection's are, for the same kernels.
    const store =
      req.vectors.kind === "file"
        ? new MmapVectorStore(VectorFile.open(req.vectors.path, req.dimension, false, true), req.rows, true)
        : MemoryVectorStore.from(req.dimension, req.vectors.data);
    const rows = new LiveRows(store, req.metric);
    rows.restore(req.live, req.norms);
    const index = createIndex(req.index, rows, req.quantization);
    let reported = 0;
    index.rebuild(
      (done, total) => {
        // at most ~200 progress messages per build
        if (done === total || done - reported >= total / 200) {
          reported = done;
          post({ type: "progress", done, total });
        }
      },
      { threads: req.threads, abort: req.abort },
    );
    const w = new ByteWriter(1 << 16);
    writeIndexSection(w, index);
    const section = w.finish().slice();
    post({ type: "done", section }, [section.buffer]);
  } catch (e) {
    post({ type: "error", code: e instanceof VqliteError ? e.code : undefined, message: (e as Error)?.message ?? String(e) });
  }
};
