/**
 * A helper thread of a parallel HNSW build (hnsw_parallel.ts): inserts rows
 * from the shared counter into the shared graph until none is left or the
 * build is aborted, then says it finished (G_FINISHED, and G_FAILED on an error).
 */
import { G_FAILED, G_FINISHED, G_STARTED, GLOBALS, SharedGraphBuilder, type SharedGraph } from "./hnsw_parallel";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ graph: SharedGraph; thread: number; abort?: Int32Array }>) => {
  const { graph, thread, abort } = event.data;
  const G = new Int32Array(graph.memory.buffer, graph.globals, GLOBALS);
  Atomics.add(G, G_STARTED, 1);
  try {
    new SharedGraphBuilder(graph, thread).run(() => abort !== undefined && Atomics.load(abort, 0) === 1);
  } catch {
    Atomics.store(G, G_FAILED, 1);
  } finally {
    Atomics.add(G, G_FINISHED, 1);
    Atomics.notify(G, G_FINISHED);
  }
};
