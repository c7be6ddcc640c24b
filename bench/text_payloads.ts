/**
 * Realistic text payloads for compression benchmarks: sentences of words drawn
 * with Zipf frequencies (as in English text) from a vocabulary of common
 * English words plus a few thousand generated ones, never a repeated constant
 * string (which would flatter any compressor).
 */
const COMMON = (
  "the of and to in is that it was for on are as with his they at be this from have or by one had not but what all were when " +
  "we there can an your which their said if do will each about how up out them then she many some so these would other into " +
  "has more her two like him see time could no make than first been its who now people my made over did down only way find " +
  "use may water long little very after words called just where most know get through back much go good new write our me man " +
  "too any day same right look think also around another came come work three word must because does part even place well such " +
  "here take why things help put years different away again off went old number great tell men say small every found still " +
  "between name should home big give air line set own under read last never us left end along while might next sound below saw " +
  "something thought both few those always looked show large often together asked house world going want school important until " +
  "form food keep children feet land side without boy once animals life enough took sometimes four head above kind began almost " +
  "live page got earth need far hand high year mother light parts country father let night following picture being study second " +
  "eyes soon times story boys since white days ever paper hard near sentence better best across during today others however sure"
).split(" ");

const ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "ch", "cl", "dr", "gr", "pl", "sh", "st", "th", "tr"];
const VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y"];
const CODAS = ["", "", "n", "r", "s", "t", "l", "nd", "ng", "st", "ck", "m"];

/** Mulberry32: deterministic, seedable (the tests' rng() too). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TextGenerator {
  /** About `bytes` characters of sentences. */
  text(bytes: number): string;
  /** A JSON payload of about `bytes` UTF-8 bytes: title, body, author, tags, numbers. */
  payload(i: number, bytes: number): Record<string, unknown>;
}

export function textGenerator(seed = 1, vocabulary = 8000): TextGenerator {
  const r = mulberry32(seed);
  const words = COMMON.slice();
  const seen = new Set(words);
  while (words.length < vocabulary) {
    let w = "";
    const syllables = 1 + Math.floor(r() * 3);
    for (let s = 0; s < syllables; s++) w += ONSETS[Math.floor(r() * ONSETS.length)]! + VOWELS[Math.floor(r() * VOWELS.length)]! + CODAS[Math.floor(r() * CODAS.length)]!;
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  // Zipf (s = 1) by inverse CDF over ranks
  const cdf = new Float64Array(words.length);
  let sum = 0;
  for (let i = 0; i < words.length; i++) cdf[i] = sum += 1 / (i + 1);
  for (let i = 0; i < words.length; i++) cdf[i]! /= sum;
  const word = (): string => {
    const u = r();
    let lo = 0, hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return words[lo]!;
  };
  const sentence = (): string => {
    const n = 5 + Math.floor(r() * 14);
    let s = word();
    s = s[0]!.toUpperCase() + s.slice(1);
    for (let i = 1; i < n; i++) s += (r() < 0.08 ? ", " : " ") + word();
    return s + (r() < 0.1 ? "?" : ".");
  };
  const text = (bytes: number): string => {
    let out = sentence();
    while (out.length < bytes) out += " " + sentence();
    return out.slice(0, bytes);
  };
  return {
    text,
    payload(i: number, bytes: number) {
      const title = text(30 + Math.floor(r() * 40));
      const author = `${word()} ${word()}`;
      const tags = [word(), word(), word()];
      const head = { id: i, title, author, year: 1950 + Math.floor(r() * 75), score: Math.round(r() * 1000) / 100, tags };
      const rest = Math.max(16, bytes - JSON.stringify(head).length - 12);
      return { ...head, body: text(rest) };
    },
  };
}
