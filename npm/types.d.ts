
/** A collection's fields when no type is given: check them before use. */
export type WeftFields = Record<string, unknown>;
/** A stored document: its fields and its `_id`. */
export type WeftDocument<T extends object = WeftFields> = T & { _id: string };
/** A new document's fields (weftdb makes the `_id`). `Date`s are stored as RFC 3339 strings, as JSON writes them. */
export type WeftNew<T extends object = WeftFields> = Omit<T, "_id">;
/** The fields an update sets; the others keep their values. */
export type WeftPatch<T extends object = WeftFields> = Partial<Omit<T, "_id">>;
/** A filter operand: a list field's operators take its elements too. */
export type WeftOperand<V> = NonNullable<V> extends readonly (infer E)[] ? E | NonNullable<V> : NonNullable<V>;
/** The operators on one field (DefraDB's). `%` and `_` are wildcards in `_like`, `_nlike` and `_ilike` (case-insensitive), a backslash escapes. */
export interface WeftOperators<V> {
  _eq?: WeftOperand<V> | null;
  _ne?: WeftOperand<V> | null;
  _gt?: WeftOperand<V>;
  _ge?: WeftOperand<V>;
  _lt?: WeftOperand<V>;
  _le?: WeftOperand<V>;
  _in?: Array<WeftOperand<V> | null>;
  _nin?: Array<WeftOperand<V> | null>;
  _like?: string;
  _nlike?: string;
  _ilike?: string;
}
/** A filter: field operators, all of which must hold, combined with `_and`, `_or` and `_not`. */
export type WeftFilter<T extends object = WeftFields> = (string extends keyof T
  ? { [field: string]: unknown }
  : { [K in keyof T & string]?: WeftOperators<T[K]> }) & {
  _id?: WeftOperators<string>;
  _and?: WeftFilter<T>[];
  _or?: WeftFilter<T>[];
  _not?: WeftFilter<T>;
};
/** Sort keys: `{ title: "ASC" }`, or several, most significant first; ties go by `_id`. */
export type WeftOrder<T extends object = WeftFields> = { [K in (keyof T & string) | "_id"]?: "ASC" | "DESC" };
/** A query: a filter, an order, paging. Without `order`, results come in `_id` order. */
export interface WeftQuery<T extends object = WeftFields> {
  filter?: WeftFilter<T>;
  order?: WeftOrder<T> | WeftOrder<T>[];
  limit?: number;
  offset?: number;
}
/** What a subscriber hears after each committed change. */
export interface WeftChangeEvent<T extends object = WeftFields> {
  type: "create" | "update" | "delete";
  id: string;
  /** The document as the change's transaction left it; null after a delete. */
  doc: WeftDocument<T> | null;
}
/** A block an import did not take (nothing of it was stored). */
export interface WeftRefusal { cid: string; code: WeftErrorCode; message: string }
export interface WeftImportReport { merged: number; duplicate: number; pending: number; refused: WeftRefusal[] }
/** `Database.open`'s options (the `weftdb` package adds the network's: `peers`, `p2p`, `directUpgrade`). */
export interface WeftOpenOptions {
  /**
   * How far each write is flushed before its promise resolves (IndexedDB's transaction
   * durability). "default" (the default): the browser's choice, relaxed in Chromium and
   * Firefox, as Dexie and RxDB use; "strict": flushed to disk, survives a power cut, at
   * about one disk flush per write; "relaxed": survives a crash of the tab or the browser,
   * not of the machine.
   */
  durability?: "default" | "strict" | "relaxed";
}
/** The events of `db.on(event, listener)`, each with what its listener is given (the `weftdb` package adds the network's: `peer`, `sync`, `status`). */
export interface WeftEvents {
  /** A newer build in another tab upgraded the database (or a page deleted it): this tab's connection closed and its calls now reject with `STALE`; reload the page. */
  stale: undefined;
}
/**
 * The code of every error weftdb rejects or throws with:
 * - `SCHEMA_INVALID`: bad GraphQL SDL, or a collection that already exists;
 * - `VALIDATION`: a document, patch, query or option that does not fit (also: a document too large for one 1 MiB block, or nested more than 64 deep);
 * - `UNKNOWN_COLLECTION`: no such collection (add it with `addSchema`);
 * - `NOT_FOUND`: no such document (or it was deleted), replicator or subscribed collection;
 * - `BLOCK_INVALID`: a block that does not decode or verify;
 * - `UNAUTHORIZED`: the collection's write policy does not let this replica's key write;
 * - `STORAGE`: IndexedDB failed, or the database is closed;
 * - `NETWORK`: the page's network node could not start or has stopped;
 * - `BAD_REQUEST`: the page's node refused a command it cannot read (a bad multiaddr, a replicator to itself);
 * - `STALE`: a newer build in another tab upgraded the database (or a page deleted it): this tab's connection is closed, reload;
 * - `BLOCKED`: another tab kept the database open through a deletion or an upgrade (or an open waited behind such a deletion).
 */
export type WeftErrorCode =
  | "SCHEMA_INVALID" | "VALIDATION" | "UNKNOWN_COLLECTION" | "NOT_FOUND" | "BLOCK_INVALID" | "UNAUTHORIZED"
  | "STORAGE" | "NETWORK" | "BAD_REQUEST" | "STALE" | "BLOCKED";
/** Every error weftdb rejects or throws with: an `Error` with a stable `code`. */
export interface WeftError extends Error { code: WeftErrorCode }
/** `using db = ...` where the TypeScript lib has `Symbol.dispose` (esnext, es2025 and later); nothing where it does not. */
type WeftDisposable = SymbolConstructor extends { readonly dispose: infer S extends symbol } ? { [K in S]: () => void } : {};

/**
 * The documents of one collection, typed by `T` when `db.collection<T>(name)`
 * gave one (`T` is not checked at run time: the schema is).
 */
export class Collection<T extends object = WeftFields> {
  private constructor();
  free(): void;
  readonly name: string;
  /**
   * Creates a document; resolves to its id.
   * @throws {WeftError} `VALIDATION`, `UNKNOWN_COLLECTION`, `UNAUTHORIZED`, `STORAGE`
   */
  create(fields: WeftNew<T>): Promise<string>;
  /**
   * Creates many documents in one transaction (all or none); resolves to their ids.
   * @throws {WeftError} `VALIDATION`, `UNKNOWN_COLLECTION`, `UNAUTHORIZED`, `STORAGE`
   */
  createMany(docs: WeftNew<T>[]): Promise<string[]>;
  /**
   * The document with this id, or null.
   * @throws {WeftError} `UNKNOWN_COLLECTION`, `STORAGE`
   */
  get(id: string): Promise<WeftDocument<T> | null>;
  /**
   * Sets the given fields; the others keep their values.
   * @throws {WeftError} `NOT_FOUND`, `VALIDATION`, `UNKNOWN_COLLECTION`, `UNAUTHORIZED`, `STORAGE`
   */
  update(id: string, patch: WeftPatch<T>): Promise<void>;
  /**
   * Deletes the document.
   * @throws {WeftError} `NOT_FOUND`, `UNKNOWN_COLLECTION`, `UNAUTHORIZED`, `STORAGE`
   */
  delete(id: string): Promise<void>;
  /**
   * The documents matching a query (all of them without one).
   * @throws {WeftError} `VALIDATION` (a field or operator the schema lacks), `UNKNOWN_COLLECTION`, `STORAGE`
   */
  find(query?: WeftQuery<T>): Promise<WeftDocument<T>[]>;
  /**
   * How many documents match a query's filter (all of them without one).
   * @throws {WeftError} `VALIDATION`, `UNKNOWN_COLLECTION`, `STORAGE`
   */
  count(query?: WeftQuery<T>): Promise<number>;
  /**
   * The document's heads, as CID strings.
   * @throws {WeftError} `NOT_FOUND`, `UNKNOWN_COLLECTION`, `STORAGE`
   */
  heads(id: string): Promise<string[]>;
  /**
   * Calls `listener` after every committed change to this collection, local
   * or from a peer: once per document a transaction changed, with the
   * document as it left it (ten updates that a peer's batch brings at once
   * are one event; a document it creates and deletes, none); returns a
   * function that ends the subscription. Never
   * throws a {@link WeftError}: a listener that throws is logged and skipped.
   */
  subscribe(listener: (event: WeftChangeEvent<T>) => void): () => void;
}
export interface Collection<T extends object = WeftFields> extends WeftDisposable {}

export interface Database extends WeftDisposable {
  /**
   * A handle on a collection, its documents typed as `T` (unchecked: the
   * schema checks them). Operations on an unknown collection reject with
   * `UNKNOWN_COLLECTION`.
   */
  collection<T extends object = WeftFields>(name: string): Collection<T>;
  /**
   * Listens to the database's events (see {@link WeftEvents}); returns a
   * function that stops listening. Without `p2p` no network event comes.
   * @throws {WeftError} `VALIDATION` for an event weftdb does not emit
   */
  on<E extends keyof WeftEvents>(event: E, listener: (event: WeftEvents[E]) => void): () => void;
}
export declare namespace Database {
  /**
   * Opens (creating on first use) the database `name`, one IndexedDB
   * database of this origin; in the `weftdb` package, with `peers` (or
   * `p2p: true`) it also starts the page's libp2p node and dials them.
   * @throws {WeftError} `VALIDATION` (bad options), `STORAGE`, `NETWORK`
   */
  function open(name: string, options?: WeftOpenOptions): Promise<Database>;
}
