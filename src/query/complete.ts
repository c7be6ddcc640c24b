/**
 * Statement boundaries without parsing, as SQLite's sqlite3_complete() decides
 * them: a statement ends at a ';' outside strings and comments. The shell uses
 * this to know when to ask for more input, and to run a script one statement
 * at a time (so --continue can go past a statement that does not parse).
 */
export interface Chunk {
  readonly text: string;
  /** 1-based line and column where the chunk starts in the whole text. */
  readonly line: number;
  readonly column: number;
}

type State = "normal" | "single" | "double" | "line" | "block";

/** Split at top-level ';' (kept with its statement). The last chunk may be unterminated. */
export function splitStatements(text: string): { chunks: Chunk[]; openState: State } {
  const chunks: Chunk[] = [];
  let state: State = "normal";
  let start = 0, line = 1, col = 1, startLine = 1, startCol = 1;
  let seenContent = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!, next = text[i + 1];
    switch (state) {
      case "normal":
        if (ch === "'") state = "single";
        else if (ch === '"') state = "double";
        else if (ch === "-" && next === "-") {
          state = "line";
          break;
        } else if (ch === "/" && next === "*") {
          state = "block";
          i++;
          col++;
          break;
        } else if (ch === ";") {
          chunks.push({ text: text.slice(start, i + 1), line: startLine, column: startCol });
          start = i + 1;
          startLine = line;
          startCol = col + 1;
          seenContent = false;
          break;
        }
        if (!/\s/.test(ch)) seenContent = true;
        break;
      case "single":
        if (ch === "'") {
          if (next === "'") {
            i++;
            col++;
          } else state = "normal";
        }
        break;
      case "double":
        if (ch === "\\") {
          i++;
          col++;
        } else if (ch === '"') state = "normal";
        break;
      case "line":
        if (ch === "\n") state = "normal";
        break;
      case "block":
        if (ch === "*" && next === "/") {
          state = "normal";
          i++;
          col++;
        }
        break;
    }
    if (text[i] === "\n") {
      line++;
      col = 1;
    } else col++;
  }
  const rest = text.slice(start);
  if (seenContent || state === "single" || state === "double") chunks.push({ text: rest, line: startLine, column: startCol });
  return { chunks, openState: state };
}

/** True when `text` holds one or more whole statements: it ends (outside strings and comments) with ';'. */
export function isComplete(text: string): boolean {
  const { chunks, openState } = splitStatements(text);
  if (openState === "single" || openState === "double" || openState === "block") return false;
  if (chunks.length === 0) return false;
  // chunks end at their ';'; only an unterminated statement does not
  return chunks[chunks.length - 1]!.text.endsWith(";");
}
