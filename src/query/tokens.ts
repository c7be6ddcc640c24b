/**
 * VQL tokens. Keywords are case-insensitive and carry `longer_alt: Identifier`
 * so `limits` lexes as one identifier, not LIMIT + s. Keywords that are not
 * operators also belong to the Name category, so a collection or payload
 * field may be called `index` or `metric`.
 */
import { createToken, Lexer, type TokenType } from "chevrotain";

export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/ });
/** Anything usable as a name: identifiers and non-operator keywords. */
export const Name = createToken({ name: "Name", pattern: Lexer.NA });
Identifier.CATEGORIES = [Name];

const keywordTokens: TokenType[] = [];
function keyword(word: string, usableAsName = true): TokenType {
  const t = createToken({
    name: word.toUpperCase(),
    pattern: new RegExp(word.replace(/_/g, "_"), "i"),
    longer_alt: Identifier,
    categories: usableAsName ? [Name] : [],
  });
  keywordTokens.push(t);
  return t;
}

export const K = {
  CREATE: keyword("create"),
  COLLECTION: keyword("collection"),
  COLLECTIONS: keyword("collections"),
  IF: keyword("if"),
  EXISTS: keyword("exists"),
  DIMENSION: keyword("dimension"),
  METRIC: keyword("metric"),
  COSINE: keyword("cosine"),
  L2: keyword("l2"),
  DOT: keyword("dot"),
  NORMALIZE: keyword("normalize"),
  STORAGE: keyword("storage"),
  MEMORY: keyword("memory"),
  MMAP: keyword("mmap"),
  INDEX: keyword("index"),
  FLAT: keyword("flat"),
  CLUSTERED: keyword("clustered"),
  HNSW: keyword("hnsw"),
  BRANCHING: keyword("branching"),
  LEAF_SIZE: keyword("leaf_size"),
  ITERATIONS: keyword("iterations"),
  M: keyword("m"),
  EF_CONSTRUCTION: keyword("ef_construction"),
  EF_SEARCH: keyword("ef_search"),
  QUANTIZATION: keyword("quantization"),
  NONE: keyword("none"),
  SCALAR: keyword("scalar"),
  BINARY: keyword("binary"),
  COMPRESSION: keyword("compression"),
  ZSTD: keyword("zstd"),
  DROP: keyword("drop"),
  SHOW: keyword("show"),
  DESCRIBE: keyword("describe"),
  INSERT: keyword("insert"),
  INTO: keyword("into"),
  VALUES: keyword("values"),
  UPSERT: keyword("upsert"),
  UPDATE: keyword("update"),
  SET: keyword("set"),
  PAYLOAD: keyword("payload"),
  VECTOR: keyword("vector"),
  WHERE: keyword("where"),
  DELETE: keyword("delete"),
  FROM: keyword("from"),
  SELECT: keyword("select"),
  LIMIT: keyword("limit"),
  SEARCH: keyword("search"),
  NEAR: keyword("near"),
  ID: keyword("id"),
  WITH: keyword("with"),
  PROBES: keyword("probes"),
  RERANK: keyword("rerank"),
  EF: keyword("ef"),
  EXACT: keyword("exact"),
  EXPLAIN: keyword("explain"),
  ALTER: keyword("alter"),
  BUILD: keyword("build"),
  ON: keyword("on"),
  COPY: keyword("copy"),
  TO: keyword("to"),
  CHECKPOINT: keyword("checkpoint"),
  LANCEDB: keyword("lancedb"),
  TABLE: keyword("table"),
  FORMAT: keyword("format"),
  SPARSE: keyword("sparse"),
  EXCLUDE: keyword("exclude"),
  OVERWRITE: keyword("overwrite"),
  CHECK: keyword("check"),
  VACUUM: keyword("vacuum"),
  BACKUP: keyword("backup"),
  // operators and literals: never names
  NOT: keyword("not", false),
  AND: keyword("and", false),
  OR: keyword("or", false),
  IN: keyword("in", false),
  BETWEEN: keyword("between", false),
  LIKE: keyword("like", false),
  IS: keyword("is", false),
  NULL: keyword("null", false),
  TRUE: keyword("true", false),
  FALSE: keyword("false", false),
};

export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /\s+/, group: Lexer.SKIPPED, line_breaks: true });
export const LineComment = createToken({ name: "LineComment", pattern: /--[^\n\r]*/, group: Lexer.SKIPPED });
export const BlockComment = createToken({ name: "BlockComment", pattern: /\/\*[\s\S]*?\*\//, group: Lexer.SKIPPED, line_breaks: true });
/** SQL string: single quotes, '' for a quote. */
export const StringLiteral = createToken({ name: "StringLiteral", pattern: /'(?:[^']|'')*'/, line_breaks: true });
/** JSON string: double quotes with JSON escapes (payload keys and values). */
export const JsonString = createToken({ name: "JsonString", pattern: /"(?:[^"\\\n\r]|\\.)*"/ });
export const NumberLiteral = createToken({ name: "NumberLiteral", pattern: /[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/ });
export const Param = createToken({ name: "Param", pattern: /\$[A-Za-z_][A-Za-z0-9_]*/ });
export const LParen = createToken({ name: "LParen", pattern: /\(/, label: "(" });
export const RParen = createToken({ name: "RParen", pattern: /\)/, label: ")" });
export const LBracket = createToken({ name: "LBracket", pattern: /\[/, label: "[" });
export const RBracket = createToken({ name: "RBracket", pattern: /\]/, label: "]" });
export const LBrace = createToken({ name: "LBrace", pattern: /\{/, label: "{" });
export const RBrace = createToken({ name: "RBrace", pattern: /\}/, label: "}" });
export const Comma = createToken({ name: "Comma", pattern: /,/, label: "," });
export const Semicolon = createToken({ name: "Semicolon", pattern: /;/, label: ";" });
export const Colon = createToken({ name: "Colon", pattern: /:/, label: ":" });
export const Dot = createToken({ name: "Dot", pattern: /\./, label: "." });
export const Star = createToken({ name: "Star", pattern: /\*/, label: "*" });
export const NotEquals = createToken({ name: "NotEquals", pattern: /!=|<>/, label: "!=" });
export const LessEquals = createToken({ name: "LessEquals", pattern: /<=/, label: "<=" });
export const GreaterEquals = createToken({ name: "GreaterEquals", pattern: />=/, label: ">=" });
export const Equals = createToken({ name: "Equals", pattern: /=/, label: "=" });
export const Less = createToken({ name: "Less", pattern: /</, label: "<" });
export const Greater = createToken({ name: "Greater", pattern: />/, label: ">" });

// Longer keywords first: the first pattern that matches wins, and longer_alt only
// rescues identifiers, so "ef_search" must be tried before "ef", "insert" before "in".
const sortedKeywords = [...keywordTokens].sort(
  (a, b) => (b.PATTERN as RegExp).source.length - (a.PATTERN as RegExp).source.length,
);

export const allTokens: TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
  StringLiteral,
  JsonString,
  NumberLiteral,
  Param,
  NotEquals,
  LessEquals,
  GreaterEquals,
  Equals,
  Less,
  Greater,
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Comma,
  Semicolon,
  Colon,
  Dot,
  Star,
  ...sortedKeywords,
  Name,
  Identifier,
];

export const KEYWORDS: readonly string[] = keywordTokens.map((t) => t.name);

export const vqlLexer = new Lexer(allTokens, { ensureOptimizations: false, positionTracking: "full" });
