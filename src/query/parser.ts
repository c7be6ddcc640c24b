/**
 * VQL parser: chevrotain EmbeddedActionsParser building the AST directly.
 * One parser instance is created and reused. Syntax errors name the offending
 * token, every token that would have fitted there (computed with the
 * grammar's content assist), and the line and column.
 */
import { EmbeddedActionsParser, EOF, type IToken, type TokenType } from "chevrotain";
import type { ClusteredIndexConfig, HnswIndexConfig, IndexConfig, IndexOptionsOf, QuantizationKind } from "../ann/config";
import { VqliteError } from "../errors";
import type {
  CompareOp,
  CopyOptionsNode,
  FilterNode,
  InsertRow,
  MetricName,
  NameRef,
  PathNode,
  Position,
  SearchOptionsNode,
  Statement,
  StorageName,
  CompressionName,
  ValueNode,
} from "./ast";
import * as T from "./tokens";

const { K } = T;

function pos(t: IToken): Position {
  return { line: t.startLine ?? 1, column: t.startColumn ?? 1 };
}

/** A sub-rule's statement position, replaced by the rule that consumed its first token. */
const SET_BY_CALLER: Position = { line: 1, column: 1 };

function semantic(message: string, at: Position): VqliteError {
  return new VqliteError("SYNTAX_ERROR", message).withPosition(at);
}

class VqlParser extends EmbeddedActionsParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: false, maxLookahead: 3, skipValidations: false });
    this.performSelfAnalysis();
  }

  // ---- script ------------------------------------------------------------------------------

  script = this.RULE("script", (): Statement[] => {
    const out: Statement[] = [];
    this.OPTION(() => out.push(this.SUBRULE(this.statement)));
    this.MANY(() => {
      this.CONSUME(T.Semicolon);
      this.OPTION2(() => out.push(this.SUBRULE2(this.statement)));
    });
    return out;
  });

  statement = this.RULE("statement", (): Statement =>
    this.OR([
      { ALT: () => this.SUBRULE(this.create) },
      { ALT: () => this.SUBRULE(this.drop) },
      { ALT: () => this.SUBRULE(this.showCollections) },
      { ALT: () => this.SUBRULE(this.describe) },
      { ALT: () => this.SUBRULE(this.insert) },
      { ALT: () => this.SUBRULE(this.update) },
      { ALT: () => this.SUBRULE(this.deleteStmt) },
      { ALT: () => this.SUBRULE(this.select) },
      { ALT: () => this.SUBRULE(this.search) },
      { ALT: () => this.SUBRULE(this.explain) },
      { ALT: () => this.SUBRULE(this.alter) },
      { ALT: () => this.SUBRULE(this.buildIndex) },
      { ALT: () => this.SUBRULE(this.copy) },
      { ALT: () => this.SUBRULE(this.checkpoint) },
      { ALT: () => this.SUBRULE(this.check) },
      { ALT: () => this.SUBRULE(this.vacuum) },
      { ALT: () => this.SUBRULE(this.backup) },
    ]),
  );

  private nameRef = this.RULE("nameRef", (): NameRef => {
    const t = this.CONSUME(T.Name);
    return { name: t.image, pos: pos(t) };
  });

  private integer = this.RULE("integer", (): number => {
    const t = this.CONSUME(T.NumberLiteral);
    const v = Number(t.image);
    this.ACTION(() => {
      if (!Number.isSafeInteger(v) || v < 0) throw semantic(`expected a whole number, got ${t.image}`, pos(t));
    });
    return v;
  });

  // ---- catalog -----------------------------------------------------------------------------

  private create = this.RULE("create", (): Statement => {
    const start = this.CONSUME(K.CREATE);
    return this.OR([
      { ALT: () => ({ ...this.SUBRULE(this.createCollection), pos: pos(start) }) },
      { ALT: () => ({ ...this.SUBRULE(this.createIndex), pos: pos(start) }) },
    ]);
  });

  private drop = this.RULE("drop", (): Statement => {
    const start = this.CONSUME(K.DROP);
    return this.OR([
      { ALT: () => ({ ...this.SUBRULE(this.dropCollection), pos: pos(start) }) },
      { ALT: () => ({ ...this.SUBRULE(this.dropIndex), pos: pos(start) }) },
    ]);
  });

  private createCollection = this.RULE("createCollection", (): Statement => {
    this.CONSUME(K.COLLECTION);
    const ifNotExists = this.OPTION(() => this.SUBRULE(this.ifNotExists)) ?? false;
    const collection = this.SUBRULE(this.nameRef);
    const lp = this.CONSUME(T.LParen);
    let dimension: number | undefined;
    let metric: MetricName | undefined;
    let normalize = false;
    const seen = new Set<string>();
    const once = (what: string, t: IToken) =>
      this.ACTION(() => {
        if (seen.has(what)) throw semantic(`${what} is given twice`, pos(t));
        seen.add(what);
      });
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () =>
        this.OR([
          {
            ALT: () => {
              const t = this.CONSUME(K.DIMENSION);
              once("DIMENSION", t);
              dimension = this.SUBRULE(this.integer);
            },
          },
          {
            ALT: () => {
              const t = this.CONSUME(K.METRIC);
              once("METRIC", t);
              metric = this.SUBRULE(this.metricName);
            },
          },
          {
            ALT: () => {
              const t = this.CONSUME(K.NORMALIZE);
              once("NORMALIZE", t);
              normalize = true;
            },
          },
        ]),
    });
    this.CONSUME(T.RParen);
    let storage: StorageName | undefined;
    let index: IndexConfig | undefined;
    let quantization: QuantizationKind | undefined;
    let compression: CompressionName | undefined;
    this.MANY(() =>
      this.OR2([
        {
          ALT: () => {
            const t = this.CONSUME(K.STORAGE);
            once("STORAGE", t);
            storage = this.SUBRULE(this.storageName);
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(K.INDEX);
            once("INDEX", t);
            index = this.SUBRULE(this.indexSpec);
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(K.QUANTIZATION);
            once("QUANTIZATION", t);
            quantization = this.OR3([
              { ALT: () => (this.CONSUME(K.NONE), "none" as const) },
              { ALT: () => (this.CONSUME(K.SCALAR), "scalar" as const) },
              { ALT: () => (this.CONSUME(K.BINARY), "binary" as const) },
            ]);
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(K.COMPRESSION);
            once("COMPRESSION", t);
            compression = this.SUBRULE(this.compressionName);
          },
        },
      ]),
    );
    this.ACTION(() => {
      if (dimension === undefined) throw semantic("CREATE COLLECTION needs DIMENSION", pos(lp));
    });
    return {
      kind: "createCollection",
      collection,
      ifNotExists,
      dimension: dimension ?? 0,
      metric: metric ?? "cosine",
      normalize,
      storage,
      index,
      quantization,
      compression,
      pos: SET_BY_CALLER,
    };
  });

  private metricName = this.RULE("metricName", (): MetricName =>
    this.OR([
      { ALT: () => (this.CONSUME(K.COSINE), "cosine" as const) },
      { ALT: () => (this.CONSUME(K.L2), "l2" as const) },
      { ALT: () => (this.CONSUME(K.DOT), "dot" as const) },
    ]),
  );

  private storageName = this.RULE("storageName", (): StorageName =>
    this.OR([
      { ALT: () => (this.CONSUME(K.MEMORY), "memory" as const) },
      { ALT: () => (this.CONSUME(K.MMAP), "mmap" as const) },
    ]),
  );

  private compressionName = this.RULE("compressionName", (): CompressionName =>
    this.OR([
      { ALT: () => (this.CONSUME(K.NONE), "none" as const) },
      { ALT: () => (this.CONSUME(K.ZSTD), "zstd" as const) },
    ]),
  );

  private indexSpec = this.RULE("indexSpec", (): IndexConfig =>
    this.OR([
      { ALT: () => (this.CONSUME(K.FLAT), { type: "flat" as const }) },
      {
        ALT: () => {
          this.CONSUME(K.CLUSTERED);
          const o: IndexOptionsOf<ClusteredIndexConfig> = {};
          this.OPTION(() => {
            this.CONSUME(T.LParen);
            this.MANY_SEP({
              SEP: T.Comma,
              DEF: () =>
                this.OR2([
                  { ALT: () => (this.CONSUME(K.BRANCHING), (o.branchingFactor = this.SUBRULE(this.integer))) },
                  { ALT: () => (this.CONSUME(K.LEAF_SIZE), (o.maxLeafSize = this.SUBRULE2(this.integer))) },
                  { ALT: () => (this.CONSUME(K.ITERATIONS), (o.maxIterations = this.SUBRULE3(this.integer))) },
                ]),
            });
            this.CONSUME(T.RParen);
          });
          return { type: "clustered" as const, ...o };
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.HNSW);
          const o: IndexOptionsOf<HnswIndexConfig> = {};
          this.OPTION2(() => {
            this.CONSUME2(T.LParen);
            this.MANY_SEP2({
              SEP: T.Comma,
              DEF: () =>
                this.OR3([
                  { ALT: () => (this.CONSUME(K.M), (o.m = this.SUBRULE4(this.integer))) },
                  { ALT: () => (this.CONSUME(K.EF_CONSTRUCTION), (o.efConstruction = this.SUBRULE5(this.integer))) },
                  { ALT: () => (this.CONSUME(K.EF_SEARCH), (o.efSearch = this.SUBRULE6(this.integer))) },
                ]),
            });
            this.CONSUME2(T.RParen);
          });
          return { type: "hnsw" as const, ...o };
        },
      },
    ]),
  );

  private dropCollection = this.RULE("dropCollection", (): Statement => {
    this.CONSUME(K.COLLECTION);
    const ifExists = this.OPTION(() => this.SUBRULE(this.ifExists)) ?? false;
    return { kind: "dropCollection", collection: this.SUBRULE(this.nameRef), ifExists, pos: SET_BY_CALLER };
  });

  // IF NOT EXISTS of a CREATE, IF EXISTS of a DROP: true when written
  private ifNotExists = this.RULE("ifNotExists", (): boolean => {
    this.CONSUME(K.IF);
    this.CONSUME(K.NOT);
    this.CONSUME(K.EXISTS);
    return true;
  });

  private ifExists = this.RULE("ifExists", (): boolean => {
    this.CONSUME(K.IF);
    this.CONSUME(K.EXISTS);
    return true;
  });

  // CREATE INDEX [IF NOT EXISTS] ON name (path)
  private createIndex = this.RULE("createIndex", (): Statement => {
    this.CONSUME(K.INDEX);
    const ifNotExists = this.OPTION(() => this.SUBRULE(this.ifNotExists)) ?? false;
    this.CONSUME(K.ON);
    const collection = this.SUBRULE(this.nameRef);
    const field = this.SUBRULE(this.indexedField);
    return { kind: "createIndex", collection, field, ifNotExists, pos: SET_BY_CALLER };
  });

  // DROP INDEX [IF EXISTS] ON name (path)
  private dropIndex = this.RULE("dropIndex", (): Statement => {
    this.CONSUME(K.INDEX);
    const ifExists = this.OPTION(() => this.SUBRULE(this.ifExists)) ?? false;
    this.CONSUME(K.ON);
    const collection = this.SUBRULE(this.nameRef);
    const field = this.SUBRULE(this.indexedField);
    return { kind: "dropIndex", collection, field, ifExists, pos: SET_BY_CALLER };
  });

  private indexedField = this.RULE("indexedField", (): PathNode => {
    this.CONSUME(T.LParen);
    const field = this.SUBRULE(this.path);
    this.CONSUME(T.RParen);
    this.ACTION(() => {
      if (field.isId) throw semantic("the item id needs no index: id = and id IN look items up directly", field.pos);
    });
    return field;
  });

  private showCollections = this.RULE("showCollections", (): Statement => {
    const start = this.CONSUME(K.SHOW);
    this.CONSUME(K.COLLECTIONS);
    return { kind: "showCollections", pos: pos(start) };
  });

  private describe = this.RULE("describe", (): Statement => {
    const start = this.CONSUME(K.DESCRIBE);
    this.OPTION(() => this.CONSUME(K.COLLECTION));
    return { kind: "describe", collection: this.SUBRULE(this.nameRef), pos: pos(start) };
  });

  // ---- writes ------------------------------------------------------------------------------

  private insert = this.RULE("insert", (): Statement => {
    const start = this.OR([{ ALT: () => this.CONSUME(K.INSERT) }, { ALT: () => this.CONSUME(K.UPSERT) }]);
    this.CONSUME(K.INTO);
    const collection = this.SUBRULE(this.nameRef);
    this.CONSUME(K.VALUES);
    const rows: InsertRow[] = [];
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => rows.push(this.SUBRULE(this.insertRow)) });
    return { kind: "insert", mode: start.tokenType === K.INSERT ? "insert" : "upsert", collection, rows, pos: pos(start) };
  });

  private insertRow = this.RULE("insertRow", (): InsertRow => {
    const lp = this.CONSUME(T.LParen);
    const id = this.SUBRULE(this.value);
    this.CONSUME(T.Comma);
    const vector = this.SUBRULE2(this.value);
    let payload: ValueNode = { kind: "literal", value: null, pos: pos(lp) };
    this.OPTION(() => {
      this.CONSUME2(T.Comma);
      payload = this.SUBRULE3(this.value);
    });
    this.CONSUME(T.RParen);
    return { id, vector, payload, pos: pos(lp) };
  });

  private update = this.RULE("update", (): Statement => {
    const start = this.CONSUME(K.UPDATE);
    const collection = this.SUBRULE(this.nameRef);
    this.CONSUME(K.SET);
    let payload: ValueNode | undefined;
    let vector: ValueNode | undefined;
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () =>
        this.OR([
          {
            ALT: () => {
              const t = this.CONSUME(K.PAYLOAD);
              this.CONSUME(T.Equals);
              const v = this.SUBRULE(this.value);
              this.ACTION(() => {
                if (payload) throw semantic("PAYLOAD is set twice", pos(t));
              });
              payload = v;
            },
          },
          {
            ALT: () => {
              const t = this.CONSUME(K.VECTOR);
              this.CONSUME2(T.Equals);
              const v = this.SUBRULE2(this.value);
              this.ACTION(() => {
                if (vector) throw semantic("VECTOR is set twice", pos(t));
              });
              vector = v;
            },
          },
        ]),
    });
    this.CONSUME(K.WHERE);
    const where = this.SUBRULE(this.filter);
    return { kind: "update", collection, payload, vector, where, pos: pos(start) };
  });

  private deleteStmt = this.RULE("deleteStmt", (): Statement => {
    const start = this.CONSUME(K.DELETE);
    this.CONSUME(K.FROM);
    const collection = this.SUBRULE(this.nameRef);
    let where: FilterNode | undefined;
    this.OPTION(() => {
      this.CONSUME(K.WHERE);
      where = this.SUBRULE(this.filter);
    });
    return { kind: "delete", collection, where, pos: pos(start) };
  });

  // ---- reads -------------------------------------------------------------------------------

  private select = this.RULE("select", (): Statement => {
    const start = this.CONSUME(K.SELECT);
    let columns: ("id" | "payload" | "vector")[] = [];
    this.OR([
      { ALT: () => (this.CONSUME(T.Star), (columns = ["id", "payload", "vector"])) },
      {
        ALT: () =>
          this.AT_LEAST_ONE_SEP({
            SEP: T.Comma,
            DEF: () =>
              columns.push(
                this.OR2([
                  { ALT: () => (this.CONSUME(K.ID), "id" as const) },
                  { ALT: () => (this.CONSUME(K.PAYLOAD), "payload" as const) },
                  { ALT: () => (this.CONSUME(K.VECTOR), "vector" as const) },
                ]),
              ),
          }),
      },
    ]);
    this.CONSUME(K.FROM);
    const collection = this.SUBRULE(this.nameRef);
    let where: FilterNode | undefined;
    let limit: ValueNode | undefined;
    this.OPTION(() => {
      this.CONSUME(K.WHERE);
      where = this.SUBRULE(this.filter);
    });
    this.OPTION2(() => {
      this.CONSUME(K.LIMIT);
      limit = this.SUBRULE(this.value);
    });
    return { kind: "select", collection, columns, where, limit, pos: pos(start) };
  });

  private search = this.RULE("search", (): Statement => {
    const start = this.CONSUME(K.SEARCH);
    const collection = this.SUBRULE(this.nameRef);
    this.CONSUME(K.NEAR);
    const near = this.OR([
      { ALT: () => (this.CONSUME(K.ID), { kind: "id" as const, value: this.SUBRULE(this.value) }) },
      { ALT: () => ({ kind: "vector" as const, value: this.SUBRULE2(this.value) }) },
    ]);
    let where: FilterNode | undefined;
    this.OPTION(() => {
      this.CONSUME(K.WHERE);
      where = this.SUBRULE(this.filter);
    });
    this.CONSUME(K.LIMIT);
    const limit = this.SUBRULE3(this.value);
    const options: { probes?: ValueNode; rerank?: ValueNode; ef?: ValueNode; exact?: boolean } = {};
    this.OPTION2(() => {
      this.CONSUME(K.WITH);
      this.CONSUME(T.LParen);
      this.AT_LEAST_ONE_SEP({
        SEP: T.Comma,
        DEF: () =>
          this.OR2([
            { ALT: () => (this.CONSUME(K.PROBES), (options.probes = this.SUBRULE4(this.value))) },
            { ALT: () => (this.CONSUME(K.RERANK), (options.rerank = this.SUBRULE5(this.value))) },
            { ALT: () => (this.CONSUME(K.EF), (options.ef = this.SUBRULE6(this.value))) },
            { ALT: () => (this.CONSUME(K.EXACT), (options.exact = true)) },
          ]),
      });
      this.CONSUME(T.RParen);
    });
    return { kind: "search", collection, near, where, limit, options: options as SearchOptionsNode, explain: false, pos: pos(start) };
  });

  private explain = this.RULE("explain", (): Statement => {
    const start = this.CONSUME(K.EXPLAIN);
    const s = this.SUBRULE(this.search);
    return { ...(s as Extract<Statement, { kind: "search" }>), explain: true, pos: pos(start) };
  });

  // ---- maintenance -------------------------------------------------------------------------

  private alter = this.RULE("alter", (): Statement => {
    const start = this.CONSUME(K.ALTER);
    this.CONSUME(K.COLLECTION);
    const collection = this.SUBRULE(this.nameRef);
    this.CONSUME(K.SET);
    return this.OR([
      {
        ALT: (): Statement => {
          this.CONSUME(K.STORAGE);
          return { kind: "alterStorage", collection, storage: this.SUBRULE(this.storageName), pos: pos(start) };
        },
      },
      {
        ALT: (): Statement => {
          this.CONSUME(K.COMPRESSION);
          return { kind: "alterCompression", collection, compression: this.SUBRULE(this.compressionName), pos: pos(start) };
        },
      },
    ]);
  });

  private buildIndex = this.RULE("buildIndex", (): Statement => {
    const start = this.CONSUME(K.BUILD);
    this.CONSUME(K.INDEX);
    this.CONSUME(K.ON);
    return { kind: "buildIndex", collection: this.SUBRULE(this.nameRef), pos: pos(start) };
  });

  // COPY name FROM|TO [LANCEDB] 'file' [TABLE 't'] [(ID 'c', VECTOR 'c', PAYLOAD 'c', SPARSE 'c', FORMAT 'f', TABLE 't', EXCLUDE ('a', ...), OVERWRITE)]
  private copy = this.RULE("copy", (): Statement => {
    const start = this.CONSUME(K.COPY);
    const collection = this.SUBRULE(this.nameRef);
    const kind = this.OR([{ ALT: () => (this.CONSUME(K.FROM), "copyFrom" as const) }, { ALT: () => (this.CONSUME(K.TO), "copyTo" as const) }]);
    let lancedb = false;
    this.OPTION(() => {
      this.CONSUME(K.LANCEDB);
      lancedb = true;
    });
    const file = this.SUBRULE(this.value);
    const options: { -readonly [K in keyof CopyOptionsNode]: CopyOptionsNode[K] } = {};
    const seen = new Set<string>();
    const once = (what: string, t: IToken) =>
      this.ACTION(() => {
        if (seen.has(what)) throw semantic(`${what} is given twice`, pos(t));
        seen.add(what);
      });
    this.OPTION2(() => {
      once("TABLE", this.CONSUME(K.TABLE));
      options.table = this.SUBRULE2(this.value);
    });
    this.OPTION3(() => {
      this.CONSUME(T.LParen);
      this.AT_LEAST_ONE_SEP({
        SEP: T.Comma,
        DEF: () =>
          this.OR2([
            { ALT: () => (once("ID", this.CONSUME(K.ID)), (options.id = this.SUBRULE3(this.value))) },
            { ALT: () => (once("VECTOR", this.CONSUME(K.VECTOR)), (options.vector = this.SUBRULE4(this.value))) },
            { ALT: () => (once("PAYLOAD", this.CONSUME(K.PAYLOAD)), (options.payload = this.SUBRULE5(this.value))) },
            { ALT: () => (once("SPARSE", this.CONSUME(K.SPARSE)), (options.sparse = this.SUBRULE6(this.value))) },
            { ALT: () => (once("FORMAT", this.CONSUME(K.FORMAT)), (options.format = this.SUBRULE7(this.value))) },
            { ALT: () => (once("TABLE", this.CONSUME2(K.TABLE)), (options.table = this.SUBRULE8(this.value))) },
            { ALT: () => (once("OVERWRITE", this.CONSUME(K.OVERWRITE)), (options.overwrite = true)) },
            {
              ALT: () => {
                once("EXCLUDE", this.CONSUME(K.EXCLUDE));
                this.CONSUME2(T.LParen);
                const names: ValueNode[] = [];
                this.AT_LEAST_ONE_SEP2({ SEP: T.Comma, DEF: () => names.push(this.SUBRULE9(this.value)) });
                this.CONSUME2(T.RParen);
                options.exclude = names;
              },
            },
          ]),
      });
      this.CONSUME(T.RParen);
    });
    return { kind, collection, file, lancedb, options, pos: pos(start) };
  });

  private checkpoint = this.RULE("checkpoint", (): Statement => ({ kind: "checkpoint", pos: pos(this.CONSUME(K.CHECKPOINT)) }));

  private backup = this.RULE("backup", (): Statement => {
    const start = this.CONSUME(K.BACKUP);
    this.CONSUME(K.TO);
    return { kind: "backup", dir: this.SUBRULE(this.value), pos: pos(start) };
  });

  private check = this.RULE("check", (): Statement => {
    const start = this.CONSUME(K.CHECK);
    const collection = this.OPTION(() => this.SUBRULE(this.nameRef)) ?? null;
    return { kind: "check", collection, pos: pos(start) };
  });

  private vacuum = this.RULE("vacuum", (): Statement => {
    const start = this.CONSUME(K.VACUUM);
    return { kind: "vacuum", collection: this.SUBRULE(this.nameRef), pos: pos(start) };
  });

  // ---- filters -----------------------------------------------------------------------------

  filter = this.RULE("filter", (): FilterNode => {
    let left = this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(K.OR);
      const right = this.SUBRULE2(this.andExpr);
      left = { kind: "or", left, right };
    });
    return left;
  });

  private andExpr = this.RULE("andExpr", (): FilterNode => {
    let left = this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(K.AND);
      const right = this.SUBRULE2(this.notExpr);
      left = { kind: "and", left, right };
    });
    return left;
  });

  private notExpr = this.RULE("notExpr", (): FilterNode =>
    this.OR([
      { ALT: () => (this.CONSUME(K.NOT), { kind: "not" as const, operand: this.SUBRULE(this.notExpr) }) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          const inner = this.SUBRULE(this.filter);
          this.CONSUME(T.RParen);
          return inner;
        },
      },
      { ALT: () => this.SUBRULE(this.predicate) },
    ]),
  );

  private predicate = this.RULE("predicate", (): FilterNode => {
    const path = this.SUBRULE(this.path);
    return this.OR([
      {
        ALT: () => {
          const op = this.SUBRULE(this.compareOp);
          return { kind: "compare" as const, path, op, value: this.SUBRULE(this.value) };
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.IS);
          let negated = false;
          this.OPTION(() => (this.CONSUME(K.NOT), (negated = true)));
          this.CONSUME(K.NULL);
          return { kind: "isNull" as const, path, negated };
        },
      },
      {
        ALT: () => {
          let negated = false;
          this.OPTION2(() => (this.CONSUME2(K.NOT), (negated = true)));
          return this.OR2([
            {
              ALT: () => {
                this.CONSUME(K.IN);
                this.CONSUME(T.LParen);
                const values: ValueNode[] = [];
                this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => values.push(this.SUBRULE2(this.value)) });
                this.CONSUME(T.RParen);
                return { kind: "in" as const, path, values, negated };
              },
            },
            {
              ALT: () => {
                this.CONSUME(K.BETWEEN);
                const low = this.SUBRULE3(this.value);
                this.CONSUME(K.AND);
                const high = this.SUBRULE4(this.value);
                return { kind: "between" as const, path, low, high, negated };
              },
            },
            {
              ALT: () => {
                this.CONSUME(K.LIKE);
                return { kind: "like" as const, path, pattern: this.SUBRULE5(this.value), negated };
              },
            },
          ]);
        },
      },
    ]);
  });

  private compareOp = this.RULE("compareOp", (): CompareOp =>
    this.OR([
      { ALT: () => (this.CONSUME(T.Equals), "=" as const) },
      { ALT: () => (this.CONSUME(T.NotEquals), "!=" as const) },
      { ALT: () => (this.CONSUME(T.LessEquals), "<=" as const) },
      { ALT: () => (this.CONSUME(T.GreaterEquals), ">=" as const) },
      { ALT: () => (this.CONSUME(T.Less), "<" as const) },
      { ALT: () => (this.CONSUME(T.Greater), ">" as const) },
    ]),
  );

  private path = this.RULE("path", (): PathNode => {
    const segments: string[] = [];
    let first: IToken | undefined;
    this.AT_LEAST_ONE_SEP({
      SEP: T.Dot,
      DEF: () => {
        const t = this.OR([{ ALT: () => this.CONSUME(T.Name) }, { ALT: () => this.CONSUME(T.JsonString) }]);
        first ??= t;
        segments.push(this.ACTION(() => (t.tokenType === T.JsonString ? parseJsonString(t) : t.image)));
      },
    });
    const isId = segments.length === 1 && first?.tokenType === K.ID;
    // `payload.x` and `x` name the same field
    const segs = !isId && segments.length > 1 && first?.tokenType === K.PAYLOAD ? segments.slice(1) : segments;
    return { kind: "path", segments: segs, isId, pos: first ? pos(first) : { line: 1, column: 1 } };
  });

  // ---- values ------------------------------------------------------------------------------

  value = this.RULE("value", (): ValueNode =>
    this.OR([
      {
        ALT: () => {
          const t = this.CONSUME(T.StringLiteral);
          return { kind: "literal" as const, value: t.image.slice(1, -1).replace(/''/g, "'"), pos: pos(t) };
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.JsonString);
          return { kind: "literal" as const, value: this.ACTION(() => parseJsonString(t)), pos: pos(t) };
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.NumberLiteral);
          return { kind: "literal" as const, value: Number(t.image), pos: pos(t) };
        },
      },
      { ALT: () => ({ kind: "literal" as const, value: true, pos: pos(this.CONSUME(K.TRUE)) }) },
      { ALT: () => ({ kind: "literal" as const, value: false, pos: pos(this.CONSUME(K.FALSE)) }) },
      { ALT: () => ({ kind: "literal" as const, value: null, pos: pos(this.CONSUME(K.NULL)) }) },
      {
        ALT: () => {
          const t = this.CONSUME(T.Param);
          return { kind: "param" as const, name: t.image.slice(1), pos: pos(t) };
        },
      },
      { ALT: () => this.SUBRULE(this.arrayValue) },
      { ALT: () => this.SUBRULE(this.objectValue) },
    ]),
  );

  private arrayValue = this.RULE("arrayValue", (): ValueNode => {
    const t = this.CONSUME(T.LBracket);
    const items: ValueNode[] = [];
    this.MANY_SEP({ SEP: T.Comma, DEF: () => items.push(this.SUBRULE(this.value)) });
    this.CONSUME(T.RBracket);
    return { kind: "array", items, pos: pos(t) };
  });

  private objectValue = this.RULE("objectValue", (): ValueNode => {
    const t = this.CONSUME(T.LBrace);
    const entries: [string, ValueNode][] = [];
    this.MANY_SEP({
      SEP: T.Comma,
      DEF: () => {
        const k = this.OR([
          { ALT: () => this.CONSUME(T.JsonString) },
          { ALT: () => this.CONSUME(T.StringLiteral) },
          { ALT: () => this.CONSUME(T.Name) },
        ]);
        this.CONSUME(T.Colon);
        const key = this.ACTION(() =>
          k.tokenType === T.JsonString ? parseJsonString(k) : k.tokenType === T.StringLiteral ? k.image.slice(1, -1).replace(/''/g, "'") : k.image,
        );
        entries.push([key, this.SUBRULE(this.value)]);
      },
    });
    this.CONSUME(T.RBrace);
    return { kind: "object", entries, pos: pos(t) };
  });
}

function parseJsonString(t: IToken): string {
  try {
    return JSON.parse(t.image) as string;
  } catch {
    throw semantic(`bad escape in string ${t.image}`, pos(t));
  }
}

const parser = new VqlParser();

const LITERAL_LABELS: Map<TokenType, string> = new Map([
  [T.Name, "a name"],
  [T.Identifier, "a name"],
  [T.StringLiteral, "a string"],
  [T.JsonString, "a string"],
  [T.NumberLiteral, "a number"],
  [T.Param, "a $parameter"],
  [EOF, "end of input"],
]);

function label(t: TokenType): string {
  return LITERAL_LABELS.get(t) ?? (typeof t.LABEL === "string" ? t.LABEL : t.name);
}

function describeToken(t: IToken | undefined): string {
  return !t || t.tokenType === EOF ? "end of input" : `"${t.image}"`;
}

function joinAlternatives(items: string[]): string {
  const unique = [...new Set(items)];
  const shown = unique.length > 10 ? [...unique.slice(0, 10), "…"] : unique;
  return shown.length <= 1 ? (shown[0] ?? "nothing") : `${shown.slice(0, -1).join(", ")} or ${shown[shown.length - 1]}`;
}

/** The tokens that could follow `before` in a statement, by the grammar. */
export function expectedAfter(before: IToken[]): TokenType[] {
  // only the statement being typed matters: start after the last ';'
  let start = 0;
  for (let i = before.length - 1; i >= 0; i--) {
    if (before[i]!.tokenType === T.Semicolon) {
      start = i + 1;
      break;
    }
  }
  // Content assist costs more than linear time in the tokens: a long list of literals
  // ("1, 2, 3, …") says no more than its last two elements, so it is cut to them.
  const literal = (t: IToken | undefined) =>
    t !== undefined && (t.tokenType === T.NumberLiteral || t.tokenType === T.StringLiteral || t.tokenType === T.JsonString || t.tokenType === T.Param);
  const tail: IToken[] = [];
  for (let i = start; i < before.length; i++) {
    const t = before[i]!;
    const n = tail.length;
    if (literal(t) && before[i + 1]?.tokenType === T.Comma && n >= 2 && tail[n - 1]!.tokenType === T.Comma && literal(tail[n - 2])) {
      i++; // drop "literal ," inside a run
      continue;
    }
    tail.push(t);
  }
  if (tail.length > MAX_ASSIST_TOKENS) return []; // too long to say what was expected
  const paths = tail.length === 0 ? parser.computeContentAssist("statement", []) : parser.computeContentAssist("statement", tail);
  const next = paths.map((p) => p.nextTokenType);
  if (tail.length > 0 && next.length === 0) return [T.Semicolon]; // statement complete
  return next;
}

/** Past this many tokens (after cutting literal lists) a syntax error does not list what was expected. */
const MAX_ASSIST_TOKENS = 5000;

/** Longest statement text (one exec()/query() call, or one statement of a file) in characters. */
export const MAX_STATEMENT_CHARS = 16 * 1024 * 1024;
/** Deepest nesting of ( [ { and of NOT chains: deeper input is an error, not a stack overflow. */
export const MAX_NESTING = 100;
/** Most conditions joined by AND/OR in one statement (a filter is a tree as deep as its chain). */
export const MAX_FILTER_TERMS = 1000;

function checkNesting(tokens: IToken[]): void {
  let depth = 0;
  let nots = 0;
  let terms = 0;
  for (const t of tokens) {
    const type = t.tokenType;
    if (type === T.Semicolon) terms = 0;
    else if ((type === K.AND || type === K.OR) && ++terms >= MAX_FILTER_TERMS) {
      const at = pos(t);
      throw new VqliteError("SYNTAX_ERROR", `a statement joins more than ${MAX_FILTER_TERMS} conditions with AND/OR`).withPosition(at);
    }
    if (type === T.LParen || type === T.LBracket || type === T.LBrace) depth++;
    else if (type === T.RParen || type === T.RBracket || type === T.RBrace) depth = Math.max(0, depth - 1);
    nots = type === K.NOT ? nots + 1 : 0;
    if (depth > MAX_NESTING || nots > MAX_NESTING) {
      const at = pos(t);
      throw new VqliteError("SYNTAX_ERROR", `nesting deeper than ${MAX_NESTING} levels`).withPosition(at);
    }
  }
}

export function tokenize(text: string): IToken[] {
  if (typeof text !== "string") throw new VqliteError("INVALID_ARGUMENT", "statement text must be a string").withPosition({ line: 1, column: 1 });
  if (text.length > MAX_STATEMENT_CHARS) {
    throw new VqliteError("INVALID_ARGUMENT", `statement text is ${text.length} characters, the limit is ${MAX_STATEMENT_CHARS}`).withPosition({ line: 1, column: 1 });
  }
  const lexed = T.vqlLexer.tokenize(text);
  if (lexed.errors.length > 0) {
    const e = lexed.errors[0]!;
    const at = { line: e.line ?? 1, column: e.column ?? 1 };
    const first = text[e.offset] ?? "";
    const isString = first === "'" || first === '"';
    // an unterminated string: quote its start (to the end of its line); otherwise the one bad character
    const ch = isString ? text.slice(e.offset).split(/\r?\n/)[0]!.slice(0, 20) : first;
    const hint = isString ? "unterminated string" : "unexpected character";
    throw new VqliteError("SYNTAX_ERROR", `near "${ch}": ${hint}`).withPosition(at);
  }
  checkNesting(lexed.tokens);
  return lexed.tokens;
}

/** Parse a script (statements separated by ';') into AST nodes. Throws VqliteError with line and column. */
export function parse(text: string): Statement[] {
  const tokens = tokenize(text);
  parser.input = tokens;
  const result = parser.script();
  if (parser.errors.length > 0) {
    const err = parser.errors[0]!;
    let token: IToken | undefined = err.token;
    let index = token && token.tokenType !== EOF ? tokens.indexOf(token) : tokens.length;
    if (index < 0) index = tokens.findIndex((t) => t.startOffset === token!.startOffset);
    if (index < 0) index = tokens.length;
    if (err.name === "NotAllInputParsedException") {
      // the grammar stopped before this token: what could have followed is what was expected here
      token = tokens[index];
    }
    const alternatives = expectedAfter(tokens.slice(0, index));
    const expected = alternatives.length > 0 ? joinAlternatives(alternatives.map(label)) : "something else (the statement is too long to list what)";
    let at: Position;
    if (index < tokens.length && tokens[index]!.tokenType !== EOF) {
      at = pos(tokens[index]!);
    } else {
      const last = tokens[tokens.length - 1];
      at = last ? { line: last.endLine ?? 1, column: (last.endColumn ?? 0) + 1 } : { line: 1, column: 1 };
      token = undefined;
    }
    throw new VqliteError("SYNTAX_ERROR", `near ${describeToken(token)}: expected ${expected}`).withPosition(at);
  }
  return result ?? [];
}

