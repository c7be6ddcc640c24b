import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { open } from "../src/index";
import { DIM, sameVector, vecFor } from "./fixtures/rw_data";
import { rng, tempDir } from "./helpers";

setDefaultTimeout(120_000);

const WRITER = path.join(import.meta.dir, "fixtures", "rw_writer.ts");
const READER = path.join(import.meta.dir, "fixtures", "rw_reader.ts");

interface Child {
  readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** What it printed so far. */
  out(): string;
  /** Resolves when its stdout is closed and read to the end. */
  readonly drained: Promise<void>;
}

/** Spawn a child and collect its stdout as it comes; resolves once it printed READY. */
async function spawn(args: string[]): Promise<Child> {
  const proc = Bun.spawn([process.execPath, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let out = "";
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let ready = () => {};
  const isReady = new Promise<void>((r) => (ready = r));
  const drained = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += decoder.decode(value);
      if (/(^|\n)READY[^\n]*\n/.test(out)) ready();
    }
    ready();
  })();
  await isReady;
  return { proc, out: () => out, drained };
}

describe("one writer, many reader processes", () => {
  test("readers check every state they see while a writer churns and is killed with kill -9 at random moments", async () => {
    const dir = tempDir();
    const done = path.join(tempDir(), "done");
    {
      using db = open(dir);
      db.createCollection("log", { dimension: DIM, metric: "l2", storage: "mmap" });
    }
    const readers = await Promise.all([0, 1, 2].map(() => spawn([READER, dir, done])));
    const r = rng(9);
    const acked: string[] = [];
    const started = Date.now();
    let run = 0;
    let kills = 0;
    const history: string[] = []; // the writers' maintenance steps, to explain a reader's failure
    while (Date.now() - started < 18_000) {
      const writer = await spawn([WRITER, dir, String(run), String(1 + run)]);
      await Bun.sleep(400 + Math.floor(r() * 2500));
      writer.proc.kill("SIGKILL");
      await writer.proc.exited;
      await writer.drained;
      expect(writer.proc.signalCode).toBe("SIGKILL");
      kills++;
      // only whole lines are acknowledgements
      // only whole lines are acknowledgements: a line cut by the kill is not
      const out = writer.out();
      history.push(...out.split("\n").filter((l) => !l.startsWith("ACK ")).map((l) => `run ${run}: ${l}`), `run ${run}: killed`);
      for (const line of out.slice(0, out.lastIndexOf("\n") + 1).split("\n")) if (/^ACK r\d+b\d+ \d+$/.test(line)) acked.push(line.slice(4));
      // from now on every check a reader starts must see all of these (atomic replace: never a half-written list)
      fs.writeFileSync(`${done}.acked.tmp`, acked.join("\n") + "\n");
      fs.renameSync(`${done}.acked.tmp`, `${done}.acked`);
      run++;
      // readers keep working through every kill
      for (const rd of readers) {
        if (rd.proc.exitCode !== null) {
          throw new Error(`a reader exited (${rd.proc.exitCode}): ${await new Response(rd.proc.stderr).text()}\nwriters did:\n${history.slice(-15).join("\n")}`);
        }
      }
    }
    expect(kills).toBeGreaterThan(3);
    expect(acked.length).toBeGreaterThan(20);
    fs.writeFileSync(`${done}.tmp`, acked.join("\n") + "\n");
    fs.renameSync(`${done}.tmp`, done); // the readers poll for it: never let them see half of it
    const codes = await Promise.all(readers.map((rd) => rd.proc.exited));
    for (const rd of readers) {
      const err = await new Response(rd.proc.stderr).text();
      expect(err).toBe("");
      expect(rd.out()).toMatch(/OK \d+ \d+/);
    }
    expect(codes).toEqual([0, 0, 0]);
    if (process.env.VQLITE_DEBUG) console.log(kills, acked.length, readers.map((rd) => rd.out().trim().split("\n").slice(-3).join(" / ")));
    // every acknowledged batch is there after the last kill, and the readers' registrations are gone
    using db = open(dir);
    const log = db.collection("log");
    for (const line of acked) {
      const [name, n] = line.split(" ");
      for (let j = 0; j < Number(n); j++) expect(sameVector(log.get(`${name}_${j}`)!.vector, vecFor(`${name}_${j}`, 0))).toBe(true);
    }
    expect(fs.readdirSync(path.join(dir, "readers"))).toEqual([]);
  });

  test("files pinned by a reader killed with kill -9 are reclaimed at a later checkpoint", async () => {
    const dir = tempDir();
    using db = open(dir);
    const c = db.createCollection("pts", { dimension: DIM, storage: "mmap" });
    c.insertMany(Array.from({ length: 50 }, (_, i) => ({ id: `p${i}`, vector: vecFor(`p${i}`, 0) })));
    db.checkpoint();
    const before = fs.readdirSync(dir).filter((f) => /\.(vec|snap)$/.test(f)).sort();
    // a reader that opens and then sits idle (it never moves on to a newer generation)
    const reader = await spawn([path.join(import.meta.dir, "fixtures", "idle_reader.ts"), dir]);
    expect(reader.out()).toContain("COUNT 50");
    c.deleteMany(["p1", "p2", "p3"]);
    c.vacuum(); // new vector file, new snapshot, new manifest
    c.setStorage("memory");
    db.checkpoint();
    const live = fs.readdirSync(dir);
    for (const f of before) expect(live).toContain(f); // still pinned by the live reader
    reader.proc.kill("SIGKILL");
    await reader.proc.exited;
    c.insert("q", vecFor("q", 0));
    db.checkpoint();
    const after = fs.readdirSync(dir);
    for (const f of before) expect(after).not.toContain(f);
    expect(fs.readdirSync(path.join(dir, "readers"))).toEqual([]);
  });

  test("a backup taken from a reader while another process writes opens on its own and equals one committed state", async () => {
    const dir = tempDir();
    {
      using db = open(dir);
      db.createCollection("log", { dimension: DIM, metric: "l2", storage: "mmap" });
    }
    const writer = await spawn([WRITER, dir, "0", "5"]);
    await Bun.sleep(800);
    using r = open(dir, { readonly: true });
    const target = path.join(tempDir(), "copy");
    const dump = (d: ReturnType<typeof open>) =>
      Object.fromEntries(d.listCollections().map((n) => [n, [...d.collection(n)].map((it) => [it.id, [...it.vector], it.payload])]));
    const { state, result } = r.withView(() => ({ state: dump(r), result: r.backup(target) }));
    await Bun.sleep(300);
    writer.proc.kill("SIGKILL");
    await writer.proc.exited;
    expect(result.items).toBeGreaterThan(0);
    using copy = open(target);
    expect(dump(copy)).toEqual(state);
    // and it is a state the writer committed: whole batches only
    const counts = new Map<string, number>();
    for (const it of copy.collection("log")) {
      const p = it.payload as { batch: string; n: number };
      counts.set(p.batch, (counts.get(p.batch) ?? 0) + 1);
      expect(p.n).toBeGreaterThan(0);
    }
    for (const it of copy.collection("log")) expect(counts.get((it.payload as { batch: string }).batch)).toBe((it.payload as { n: number }).n);
  });
});
