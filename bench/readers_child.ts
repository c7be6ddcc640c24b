// A reader process for bench/readers.ts.
//   latency DIR: poll for new items and print, per item, commit→visible ms (payload t is the commit time).
//   follow DIR:  refresh and count in a loop (load on the writer's ingest).
//   open DIR:    print how long open(DIR, { readonly: true }) took, then exit.
// Stops when DIR/../stop exists.
import * as fs from "node:fs";
import * as path from "node:path";
import { open } from "../src/index";

const [mode, dir] = process.argv.slice(2) as [string, string];
const stop = path.join(path.dirname(dir), "stop");
const t0 = performance.now();
const db = open(dir, { readonly: true });
if (mode === "open") {
  const ms = performance.now() - t0;
  fs.writeSync(1, JSON.stringify({ ms, count: db.collection("v").count() }) + "\n");
  db.close();
  process.exit(0);
}
fs.writeSync(1, "READY\n");
const latencies: number[] = [];
let seen = 0;
let polls = 0;
while (!fs.existsSync(stop)) {
  db.refresh();
  polls++;
  if (!db.hasCollection("v")) continue;
  const c = db.collection("v");
  const n = c.count();
  if (mode === "latency" && n > seen) {
    const now = performance.timeOrigin + performance.now();
    for (let i = seen; i < n; i++) {
      const it = c.get(`l${i}`);
      if (it) latencies.push(now - (it.payload as { t: number }).t);
    }
    seen = n;
  }
  Bun.sleepSync(1); // poll every millisecond: busy-polling readers would starve the writer on a small machine
}
fs.writeSync(1, JSON.stringify({ latencies, polls }) + "\n");
db.close();
