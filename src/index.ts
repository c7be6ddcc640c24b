/**
 * vqlite: a Bun-native embedded vector database.
 *
 *   import { open } from "vqlite";
 *   using db = open("./my.db");
 *   const docs = db.createCollection("docs", { dimension: 3, metric: "cosine" });
 *   docs.insert("a", [0.1, 0.2, 0.3], { title: "x" });
 *   docs.search([0.1, 0.2, 0.3], { k: 5 });
 */
export { open, Database } from "./db";
export type { OpenOptions, CreateCollectionOptions, Durability, BackupResult, CheckReport } from "./db";
export type { CollectionCheck } from "./collection/check";
export { Collection } from "./collection/collection";
export type {
  Item,
  ItemUpdate,
  StoredItem,
  SearchOptions,
  SearchHit,
  SearchReport,
  PayloadFilter,
  PayloadIndexInfo,
  MemoryUsage,
  VacuumResult,
  LoadManyOptions,
} from "./collection/collection";
export type { CollectionOptions, CollectionConfig, StorageKind } from "./collection/config";
export { ITEM_ID } from "./collection/predicate";
export type { Predicate, FieldRef, Scalar } from "./collection/predicate";
export type { IndexConfig, QuantizationKind } from "./ann/config";
export type { ImportOptions, ExportOptions } from "./collection/transfer";
export type { FileFormat, ExportFlavor } from "./storage/formats/types";
export { uuidV5, VQLITE_UUID_NAMESPACE } from "./storage/formats/engines";
export type { Payload, SparseVector, SparseInput, VectorInput } from "./collection/validate";
export { VqliteError } from "./errors";
export type { ErrorCode } from "./errors";
export type { Metric } from "./ann/distance";
export type { VectorStore } from "./storage/vector_store";
export { MemoryVectorStore } from "./storage/vector_store";
export { MmapVectorStore } from "./storage/vector_file";
export { ClusteredIndex } from "./clustered_index";
export type { ClusteredOptions, ClusteredSearchOptions, VectorsInput } from "./clustered_index";
export type { StatementResult, Row, ExecOptions } from "./query/executor";
export type { Params } from "./query/values";
export { parse } from "./query/parser";
