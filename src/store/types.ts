/**
 * What outlives a request, behind small interfaces: the Responses API's stored
 * responses first; router configs, sessions, preferences, feedback and activity
 * logs join later (issues 9-12). Every implementation (the embedded SQLite one,
 * src/store/sqlite*.ts; a Redis one later) passes the one contract suite in
 * test/store/contract.ts.
 *
 * All methods are async so a networked store fits the same interface; the
 * embedded store answers reads synchronously underneath (better-sqlite3) and
 * resolves at once. Every read and write is scoped by organisation (`org`):
 * one organisation never sees another's data. Until organisations exist
 * (issue 11) every caller is DEFAULT_ORG.
 */

export const DEFAULT_ORG = 'default';

/** One stored Responses API response (POST /v1/responses with store: true). */
export interface StoredResponse {
  /** `resp_…` */
  readonly id: string;
  readonly org: string;
  /** Unix seconds, as in the response object's created_at. */
  readonly createdAt: number;
  /** The `previous_response_id` this response continued, or null. */
  readonly previousResponseId: string | null;
  /** The response object exactly as returned to the client (JSON text). */
  readonly response: string;
  /**
   * This request's own input items (not the chain's), in order, each with its
   * `id`, as GET /v1/responses/{id}/input_items lists them (JSON text of an array).
   */
  readonly inputItems: string;
  /**
   * The conversation this response adds to a chain, as Chat Completions
   * messages (JSON text of an array): its input (with instructions excluded)
   * followed by its output. A continuation prepends the chain's messages.
   */
  readonly messages: string;
}

export interface ResponseStore {
  /**
   * Resolves once the row is durable (committed: it survives kill -9 of the
   * process). The handler awaits it before answering 200.
   */
  put(r: StoredResponse): Promise<void>;
  /** undefined: no such id for this org (never stored, deleted, expired, or another org's). */
  get(org: string, id: string): Promise<StoredResponse | undefined>;
  /** true if it existed and is now gone. */
  delete(org: string, id: string): Promise<boolean>;
  /** Deletes responses created before `olderThan` (unix seconds); returns how many. */
  purge(olderThan: number): Promise<number>;
}

/** Every state interface of one process; `close` flushes pending writes. */
export interface Store {
  readonly kind: 'sqlite' | 'redis';
  readonly responses: ResponseStore;
  close(): Promise<void>;
}

/** A store failure a handler maps to 503 store_unavailable. */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(message: string, readonly path?: string, options?: ErrorOptions) {
    super(message, options);
  }
}
