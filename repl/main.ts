#!/usr/bin/env bun
/**
 * Placeholder entry point until the VQL shell lands: a short demo of the
 * library API on a throwaway in-memory database.
 */
import { open } from "../src/index";

using db = open();
const docs = db.createCollection("docs", { dimension: 3, metric: "cosine" });
docs.insertMany([
  { id: "a", vector: [1, 0, 0], payload: { title: "east" } },
  { id: "b", vector: [0, 1, 0], payload: { title: "north" } },
  { id: "c", vector: [0.7, 0.7, 0], payload: { title: "north-east" } },
]);
console.log("vqlite demo: nearest to [0.9, 0.3, 0]");
console.table(docs.search([0.9, 0.3, 0], { k: 3 }).map((h) => ({ id: h.id, distance: h.distance.toFixed(4), title: h.payload?.title })));
