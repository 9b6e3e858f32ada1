/**
 * The embedded store: one SQLite file (`<state.dir>/switchyard.db`, WAL mode)
 * through better-sqlite3.
 *
 * Reads run on the calling thread, on its own connection: better-sqlite3 is
 * synchronous and a primary-key lookup is a few µs, far less than any hop to
 * another thread; in WAL mode readers never wait for the writer or for each
 * other, so every HTTP thread reads at once. The promise only wraps the value
 * (the interface is async for networked stores).
 *
 * Writes go to the process's one writer thread (sqlite-writer.ts: group
 * commit, purge job; sqlite-link.ts: how each thread reaches it). put()
 * resolves after the COMMIT that holds its row, so an acknowledged response
 * survives kill -9.
 *
 * Construction is synchronous and does every start-up check (sqlite-open.ts):
 * creates state.dir, opens the file, migrates it, proves it writable. A bad
 * store fails the server's start with the path in the message.
 *
 * Expiry: rows older than ttlMs are never returned (checked on read, and the
 * read asks the writer to delete the row) even between purge runs.
 */
import { isMainThread } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { StoreError, type ResponseStore, type RouteDecisionStore, type RouterConfigStore, type SessionStore, type Store, type StoredResponse } from './types.ts';
import { SqliteRouteDecisions, SqliteRouterConfigs, SqliteSessions } from './sqlite-routing.ts';
import { SqliteOrgStore } from './sqlite-org.ts';
import type { OrgStore } from './org-types.ts';
import { dbPath, openDatabase } from './sqlite-open.ts';
import { ownedLink, remoteLink, type WriterLink } from './sqlite-link.ts';

export interface SqliteOptions {
  dir: string;
  /** Age after which a response is gone; 0 = kept until deleted. */
  ttlMs: number;
  /** How often the writer purges expired rows. */
  purgeIntervalMs: number;
}

interface Row {
  org: string; id: string; created_at: number; previous_response_id: string | null;
  response: string; input_items: string; messages: string;
}

function toStored(r: Row): StoredResponse {
  return { id: r.id, org: r.org, createdAt: r.created_at, previousResponseId: r.previous_response_id, response: r.response, inputItems: r.input_items, messages: r.messages };
}

class SqliteResponses implements ResponseStore {
  private readonly getStmt: Database.Statement<[string, string], Row>;

  constructor(db: Database.Database, private readonly link: WriterLink, private readonly ttlMs: number, private readonly path: string) {
    this.getStmt = db.prepare('SELECT org, id, created_at, previous_response_id, response, input_items, messages FROM responses WHERE org = ? AND id = ?');
  }

  put(r: StoredResponse): Promise<void> {
    return this.link.write({ op: 'put', row: r }) as Promise<void>;
  }

  get(org: string, id: string): Promise<StoredResponse | undefined> {
    let row: Row | undefined;
    try {
      row = this.getStmt.get(org, id);
    } catch (e) {
      return Promise.reject(new StoreError(`store read failed on ${this.path}: ${(e as Error).message}`, this.path, { cause: e }));
    }
    if (row === undefined) return Promise.resolve(undefined);
    if (this.ttlMs > 0 && row.created_at * 1000 < Date.now() - this.ttlMs) {
      // Expired but not yet purged: never served. The delete is best effort (the purge job retries).
      this.link.write({ op: 'delete', org, id }).catch(() => {});
      return Promise.resolve(undefined);
    }
    return Promise.resolve(toStored(row));
  }

  delete(org: string, id: string): Promise<boolean> {
    return this.link.write({ op: 'delete', org, id }) as Promise<boolean>;
  }

  purge(olderThan: number): Promise<number> {
    return this.link.write({ op: 'purge', olderThan }) as Promise<number>;
  }
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly responses: ResponseStore;
  readonly routerConfigs: RouterConfigStore;
  readonly sessions: SessionStore;
  readonly routeDecisions: RouteDecisionStore;
  readonly org: OrgStore;
  readonly path: string;
  private readonly db: Database.Database;
  private readonly link: WriterLink;
  private closing: Promise<void> | undefined;

  /** Throws StoreError naming the path if the store cannot be used. */
  constructor(opts: SqliteOptions) {
    this.path = dbPath(opts.dir);
    // Every connection migrates (idempotent, one IMMEDIATE transaction): whichever
    // thread or process opens the file first brings it up to date, and each proves it writable.
    this.db = openDatabase(opts.dir, { migrate: true, readOnly: true });
    try {
      this.link = isMainThread
        ? ownedLink({ dir: opts.dir, path: this.path, ttlMs: opts.ttlMs, purgeIntervalMs: opts.purgeIntervalMs })
        : remoteLink(this.path);
      this.responses = new SqliteResponses(this.db, this.link, opts.ttlMs, this.path);
      this.routerConfigs = new SqliteRouterConfigs(this.db, this.link, this.path);
      this.sessions = new SqliteSessions(this.db, this.link, this.path, opts.ttlMs);
      this.routeDecisions = new SqliteRouteDecisions(this.db, this.link, this.path, opts.ttlMs);
      this.org = new SqliteOrgStore(this.db, this.link, this.path);
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  /** Waits for this store's outstanding writes (committed, not dropped), then closes its connection. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await this.link.close();
      this.db.close();
    })());
  }
}
