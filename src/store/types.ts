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

/**
 * One router config (issue 9; the rules.ts RouterConfig) as stored. `config`
 * is the JSON of its body without `id` and `version` (those are columns).
 * Names are unique per org; `version` starts at 1 and increases by one on
 * every change (optimistic concurrency: an update names the version it read).
 */
export interface StoredRouterConfig {
  readonly id: string;
  readonly org: string;
  readonly name: string;
  readonly version: number;
  readonly config: string;
  /** Where the current content came from: the YAML (seeded at start) or the admin API. */
  readonly source: 'yaml' | 'api';
  /** Unix milliseconds. */
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What a conditional write found: done, or why not. */
export type RouterConfigWrite =
  | { ok: true; row: StoredRouterConfig }
  | { ok: false; reason: 'not_found' | 'version_conflict' | 'name_taken'; current?: number };

export interface RouterConfigStore {
  list(org: string): Promise<StoredRouterConfig[]>;
  /** By id (a UUID) or by name. */
  get(org: string, idOrName: string): Promise<StoredRouterConfig | undefined>;
  /** Inserts with version 1; name_taken when another config of the org has the name. */
  create(row: Omit<StoredRouterConfig, 'version' | 'updatedAt'>): Promise<RouterConfigWrite>;
  /** Replaces name and body if the stored version is `expectedVersion`; the version becomes expectedVersion + 1. */
  update(org: string, id: string, expectedVersion: number, name: string, config: string, source: 'yaml' | 'api', updatedAt: number): Promise<RouterConfigWrite>;
  /** Deletes if present (and, when given, at `expectedVersion`). */
  delete(org: string, id: string, expectedVersion?: number): Promise<RouterConfigWrite | { ok: true; row: null }>;
}

/** One message of a session (POST /v1/model-router/invoke session_id). */
export interface SessionMessage {
  readonly role: string;
  readonly content: string;
  /** Estimated tokens (routing/tokens.ts), stored so the budget is summed without re-scanning. */
  readonly tokens: number;
}

export interface SessionStore {
  /**
   * The session's most recent messages, oldest first, whose tokens sum to at
   * most `tokenBudget` (whole messages: the oldest that would cross it and
   * everything before it are left out).
   */
  recent(org: string, sessionId: string, tokenBudget: number): Promise<SessionMessage[]>;
  /** Appends in order (one atomic write: concurrent calls of one session interleave whole turns, none is lost); keeps the newest `keep` messages. */
  append(org: string, sessionId: string, messages: readonly SessionMessage[], at: number, keep: number): Promise<void>;
}

/** A stored routing decision of /v1/model-router/invoke (GET /v1/route-decisions/{id}). */
export interface StoredRouteDecision {
  readonly id: string;
  readonly org: string;
  /** Unix milliseconds. */
  readonly createdAt: number;
  /** The decision object (JSON text) as GET returns it. */
  readonly decision: string;
}

export interface RouteDecisionStore {
  put(d: StoredRouteDecision): Promise<void>;
  get(org: string, id: string): Promise<StoredRouteDecision | undefined>;
}

export type { OrgStore } from './org-types.ts';
import type { OrgStore } from './org-types.ts';

/** Every state interface of one process; `close` flushes pending writes. */
export interface Store {
  readonly kind: 'sqlite' | 'redis';
  readonly responses: ResponseStore;
  readonly routerConfigs: RouterConfigStore;
  readonly sessions: SessionStore;
  readonly routeDecisions: RouteDecisionStore;
  /** Preferences, feedback, activity log (issue 11; src/store/org-types.ts). */
  readonly org: OrgStore;
  close(): Promise<void>;
}

/** A store failure a handler maps to 503 store_unavailable. */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(message: string, readonly path?: string, options?: ErrorOptions) {
    super(message, options);
  }
}
