/**
 * The SQLite store's router configs, sessions and route decisions (issue 9):
 * reads on the calling thread's own connection (a few µs, like responses in
 * sqlite.ts), writes through the writer thread (sqlite-routing-ops.ts, where
 * the conditional updates are applied atomically).
 */
import type Database from 'better-sqlite3';
import {
  StoreError, type RouteDecisionStore, type RouterConfigStore, type RouterConfigWrite, type SessionMessage,
  type SessionStore, type StoredRouteDecision, type StoredRouterConfig,
} from './types.ts';
import type { WriterLink } from './sqlite-link.ts';
import { RC_COLUMNS, toStoredConfig } from './sqlite-routing-ops.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function read<T>(path: string, f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (e) {
    return Promise.reject(new StoreError(`store read failed on ${path}: ${(e as Error).message}`, path, { cause: e }));
  }
}

type RcRow = Parameters<typeof toStoredConfig>[0];

export class SqliteRouterConfigs implements RouterConfigStore {
  private readonly all: Database.Statement<[string], RcRow>;
  private readonly byId: Database.Statement<[string, string], RcRow>;
  private readonly byName: Database.Statement<[string, string], RcRow>;
  constructor(db: Database.Database, private readonly link: WriterLink, private readonly path: string) {
    this.all = db.prepare(`SELECT ${RC_COLUMNS} FROM router_configs WHERE org = ? ORDER BY created_at, name`);
    this.byId = db.prepare(`SELECT ${RC_COLUMNS} FROM router_configs WHERE org = ? AND id = ?`);
    this.byName = db.prepare(`SELECT ${RC_COLUMNS} FROM router_configs WHERE org = ? AND name = ?`);
  }
  list(org: string): Promise<StoredRouterConfig[]> {
    return read(this.path, () => this.all.all(org).map(toStoredConfig));
  }
  get(org: string, idOrName: string): Promise<StoredRouterConfig | undefined> {
    return read(this.path, () => {
      const r = (UUID.test(idOrName) ? this.byId.get(org, idOrName.toLowerCase()) : undefined) ?? this.byName.get(org, idOrName);
      return r && toStoredConfig(r);
    });
  }
  create(row: Omit<StoredRouterConfig, 'version' | 'updatedAt'>): Promise<RouterConfigWrite> {
    return this.link.write({ op: 'rc_create', row }) as Promise<RouterConfigWrite>;
  }
  update(org: string, id: string, expectedVersion: number, name: string, config: string, source: 'yaml' | 'api', updatedAt: number): Promise<RouterConfigWrite> {
    return this.link.write({ op: 'rc_update', org, id, expectedVersion, name, config, source, updatedAt }) as Promise<RouterConfigWrite>;
  }
  delete(org: string, id: string, expectedVersion?: number): Promise<RouterConfigWrite | { ok: true; row: null }> {
    return this.link.write({ op: 'rc_delete', org, id, expectedVersion }) as Promise<RouterConfigWrite | { ok: true; row: null }>;
  }
}

/** Newest first, at most this many read per call: a budget never needs more (and a huge session costs a bounded read). */
const SESSION_READ_LIMIT = 1_000;

/** Oldest created_at (unix ms) still readable; 0 = everything (ttlMs 0: kept until deleted). */
const notBefore = (ttlMs: number) => (ttlMs > 0 ? Date.now() - ttlMs : 0);

export class SqliteSessions implements SessionStore {
  private readonly newest: Database.Statement<[string, string, number, number], SessionMessage>;
  /** `ttlMs`: messages older than this are never read (the writer deletes them as the session goes on). */
  constructor(db: Database.Database, private readonly link: WriterLink, private readonly path: string, private readonly ttlMs = 0) {
    this.newest = db.prepare('SELECT role, content, tokens FROM session_messages WHERE org = ? AND session_id = ? AND created_at >= ? ORDER BY seq DESC LIMIT ?');
  }
  recent(org: string, sessionId: string, tokenBudget: number): Promise<SessionMessage[]> {
    return read(this.path, () => {
      const out: SessionMessage[] = [];
      let sum = 0;
      // iterate(), not all(): the rows past the budget are never fetched. A session may hold max_messages rows of up
      // to limits.input_chars each (~13 MB at the defaults), and a call keeps a few thousand tokens of it.
      for (const r of this.newest.iterate(org, sessionId, notBefore(this.ttlMs), SESSION_READ_LIMIT)) {
        if (sum + r.tokens > tokenBudget) break;
        sum += r.tokens;
        out.push({ role: r.role, content: r.content, tokens: r.tokens });
      }
      return out.reverse();
    });
  }
  append(org: string, sessionId: string, messages: readonly SessionMessage[], at: number, keep: number): Promise<void> {
    return this.link.write({ op: 'session_append', org, sessionId, messages, at, keep }) as Promise<void>;
  }
}

export class SqliteRouteDecisions implements RouteDecisionStore {
  private readonly byId: Database.Statement<[string, string], { org: string; id: string; created_at: number; decision: string }>;
  /** `ttlMs`: a decision older than this is never read (the writer deletes it as new ones arrive). */
  constructor(db: Database.Database, private readonly link: WriterLink, private readonly path: string, private readonly ttlMs = 0) {
    this.byId = db.prepare('SELECT org, id, created_at, decision FROM route_decisions WHERE org = ? AND id = ?');
  }
  put(d: StoredRouteDecision): Promise<void> {
    return this.link.write({ op: 'decision_put', org: d.org, id: d.id, createdAt: d.createdAt, decision: d.decision }) as Promise<void>;
  }
  get(org: string, id: string): Promise<StoredRouteDecision | undefined> {
    return read(this.path, () => {
      const r = this.byId.get(org, id);
      if (r === undefined || r.created_at < notBefore(this.ttlMs)) return undefined;
      return { org: r.org, id: r.id, createdAt: r.created_at, decision: r.decision };
    });
  }
}
