import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseWal, WAL_HEADER_BYTES, walSalt, WriteAheadLog, RECORD_HEADER_BYTES } from "../src/storage/wal";
import { expectCode, rng, tempDir } from "./helpers";

function payloads(n: number, seed: number): Uint8Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const p = new Uint8Array(1 + Math.floor(r() * 60));
    for (let i = 0; i < p.length; i++) p[i] = Math.floor(r() * 256);
    return p;
  });
}

function writeLog(file: string, ps: Uint8Array[]): void {
  const { wal } = WriteAheadLog.open(file, "normal");
  ps.forEach((p, i) => wal.append(i + 1, p));
  wal.close();
}

describe("WriteAheadLog", () => {
  test("records round trip in order", () => {
    const file = path.join(tempDir(), "wal.log");
    const ps = payloads(50, 1);
    writeLog(file, ps);
    const { wal, recovery } = WriteAheadLog.open(file, "full");
    expect(recovery.discardedBytes).toBe(0);
    expect(recovery.records.map((r) => r.lsn)).toEqual(ps.map((_, i) => i + 1));
    recovery.records.forEach((r, i) => expect([...r.payload]).toEqual([...ps[i]!]));
    wal.close();
  });

  test("a log cut at every byte offset of its last records recovers every complete record and nothing else", () => {
    const dir = tempDir();
    const file = path.join(dir, "wal.log");
    const ps = payloads(6, 2);
    writeLog(file, ps);
    const full = fs.readFileSync(file);
    // record boundaries
    const ends: number[] = [];
    let pos = WAL_HEADER_BYTES;
    for (const p of ps) {
      pos += RECORD_HEADER_BYTES + p.length;
      ends.push(pos);
    }
    expect(pos).toBe(full.length);
    const start = ends[2]!; // cut anywhere in the last three records
    for (let cut = start; cut <= full.length; cut++) {
      const { records, goodEnd } = parseWal(file, full.subarray(0, cut));
      const complete = ends.filter((e) => e <= cut).length;
      expect(records.length).toBe(complete);
      expect(goodEnd).toBe(complete === 0 ? WAL_HEADER_BYTES : ends[complete - 1]!);
      records.forEach((r, i) => expect([...r.payload]).toEqual([...ps[i]!]));
    }
    // and through the file path: the torn tail is cut, appends continue after the good records
    fs.writeFileSync(file, full.subarray(0, ends[4]! + 5));
    const { wal, recovery } = WriteAheadLog.open(file, "full");
    expect(recovery.records.length).toBe(5);
    expect(recovery.discardedBytes).toBe(5);
    expect(fs.statSync(file).size).toBe(ends[4]!);
    wal.append(6, new Uint8Array([9, 9, 9]));
    wal.close();
    const again = WriteAheadLog.open(file, "full");
    expect(again.recovery.records.map((r) => r.lsn)).toEqual([1, 2, 3, 4, 5, 6]);
    again.wal.close();
  });

  test("a flipped byte in any record stops recovery before that record", () => {
    const file = path.join(tempDir(), "wal.log");
    const ps = payloads(5, 3);
    writeLog(file, ps);
    const full = fs.readFileSync(file);
    const ends: number[] = [];
    let pos = WAL_HEADER_BYTES;
    for (const p of ps) ends.push((pos += RECORD_HEADER_BYTES + p.length));
    const starts = [WAL_HEADER_BYTES, ...ends.slice(0, -1)];
    for (let rec = 0; rec < ps.length; rec++) {
      for (let off = starts[rec]!; off < ends[rec]!; off++) {
        const bad = Buffer.from(full);
        bad[off] = bad[off]! ^ 0x01;
        const { records } = parseWal(file, bad);
        expect(records.length).toBe(rec);
      }
    }
  });

  test("a foreign file is rejected, not parsed", () => {
    const file = path.join(tempDir(), "wal.log");
    fs.writeFileSync(file, "PK\x03\x04 definitely a zip file and not a log");
    expectCode(() => WriteAheadLog.open(file, "full"), "CORRUPT_FILE");
  });

  test("reset empties the log and stamps the new salt into the header", () => {
    const file = path.join(tempDir(), "wal.log");
    const { wal } = WriteAheadLog.open(file, "full", 7);
    expect(walSalt(fs.readFileSync(file))).toBe(7);
    wal.append(1, new Uint8Array([1]));
    wal.reset(8);
    expect(wal.byteSize).toBe(WAL_HEADER_BYTES);
    wal.close();
    expect(walSalt(fs.readFileSync(file))).toBe(8);
    expect(WriteAheadLog.open(file, "full").recovery.records.length).toBe(0);
  });
});
