/**
 * Writing an open-addressing hash table (linear probing; a slot holds row + 1,
 * 0 is empty) a part at a time, so that a table of millions of rows (32 MiB at
 * 4M) is never whole in RAM: part p takes the entries whose home slot is in it
 * (one pass over the entries per part) after the run that spilled over from
 * part p − 1, and what spills past the last part wraps round into part 0, read
 * back and written again. Every slot is only ever filled, so each entry's probe
 * from its home meets no empty slot before reaching it: lookups find exactly
 * what a table built at once would hold.
 */

/**
 * Fill `cap` slots (a power of two) of entries `each` lists (row, hash), handing
 * `write` each finished part (its slots and the number of the first), `part`
 * slots at a time; `read` reads `into.length` slots from slot `first` back.
 */
export function writeHashSlots(
  cap: number,
  part: number,
  each: (fn: (row: number, hash: number) => void) => void,
  write: (slots: Uint32Array, first: number) => void,
  read: (into: Uint32Array, first: number) => void,
): void {
  part = Math.min(cap, part);
  const mask = cap - 1;
  let buf = new Uint32Array(part + 1024);
  let carried = 0; // slots at the front of buf filled by the previous part's spill
  for (let p0 = 0; p0 < cap; p0 += part) {
    let end = Math.max(carried, part); // slots of buf in use (the spill past `part` is one run)
    each((row, h) => {
      const home = h & mask;
      if (home < p0 || home >= p0 + part) return;
      let s = home - p0;
      while (s < buf.length && buf[s] !== 0) s++;
      if (s === buf.length) {
        const grown = new Uint32Array(buf.length * 2);
        grown.set(buf);
        buf = grown;
      }
      buf[s] = row + 1;
      if (s >= end) end = s + 1;
    });
    write(buf.subarray(0, part), p0);
    // the run past this part's end starts the next part
    const spill = buf.slice(part, end);
    buf.fill(0);
    buf.set(spill);
    carried = spill.length;
  }
  // the last part's spill continues at slot 0: each entry takes the first empty slot from there
  const head = new Uint32Array(part);
  let placed = 0;
  for (let p0 = 0; placed < carried; p0 += part) {
    if (p0 >= cap) throw new Error("hash table: more entries than slots");
    read(head, p0);
    for (let s = 0; s < part && placed < carried; s++) if (head[s] === 0) head[s] = buf[placed++]!;
    write(head, p0);
  }
}
