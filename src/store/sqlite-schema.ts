/**
 * The SQLite store's schema, as an ordered list of migrations, and the one
 * function that brings a database up to date.
 *
 * The version lives in the file header (`PRAGMA user_version`), not in a table:
 * SQLite reads it without a query plan, it cannot disagree with a table, and
 * `sqlite3 switchyard.db 'pragma user_version'` shows it to an operator.
 * `PRAGMA application_id` marks the file as Switchyard's, so pointing state.dir
 * at another program's database fails at start-up instead of adding our tables
 * to it.
 *
 * Rules for adding a migration: append, never edit or reorder a shipped one
 * (a database in the field has already run it); each runs inside the same
 * write transaction as the user_version bump, so a crash mid-migration leaves
 * the old version intact. A database from a newer Switchyard is refused, not
 * downgraded: its tables may carry meaning this code would destroy.
 */
import type Database from 'better-sqlite3';
import { StoreError } from './types.ts';

/** "SwYd" as a 32-bit big-endian integer: the file's owner, in its header. */
export const APPLICATION_ID = 0x53775964;

export interface Migration {
  /** 1, 2, ...: the user_version the database has once this ran. */
  readonly version: number;
  readonly name: string;
  readonly up: string | ((db: Database.Database) => void);
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'responses',
    // A rowid table, not WITHOUT ROWID: rows hold whole response objects (KBs),
    // and SQLite advises WITHOUT ROWID only for rows well under a page.
    // (org, id) is the key: every read is scoped by organisation, so one
    // organisation can never address another's row, even with the same id.
    up: `
      CREATE TABLE responses (
        org TEXT NOT NULL,
        id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        previous_response_id TEXT,
        response TEXT NOT NULL,
        input_items TEXT NOT NULL,
        messages TEXT NOT NULL,
        PRIMARY KEY (org, id)
      );
      -- The purge job's range scan.
      CREATE INDEX responses_created_at ON responses (created_at);
    `,
  },
  {
    version: 2,
    name: 'router configs, sessions, route decisions (issue 9)',
    // router_configs: (org, id) key, (org, name) unique: a config is addressed
    // by either. session_messages: one row per message (an append is an
    // INSERT, so two calls of one session never overwrite each other's turn);
    // seq orders them. route_decisions: written once, read by id.
    up: `
      CREATE TABLE router_configs (
        org TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        config TEXT NOT NULL,
        source TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (org, id),
        UNIQUE (org, name)
      );
      CREATE TABLE session_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        org TEXT NOT NULL,
        session_id TEXT NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX session_messages_by_session ON session_messages (org, session_id, seq);
      CREATE TABLE route_decisions (
        org TEXT NOT NULL,
        id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        decision TEXT NOT NULL,
        PRIMARY KEY (org, id)
      );
      CREATE INDEX route_decisions_created_at ON route_decisions (created_at);
    `,
  },
  {
    version: 3,
    name: 'preferences, feedback, activity logs (issue 11)',
    // org_preferences: one row per (org, key), value as JSON text.
    // model_feedback: evidence per (org, cluster, model): a count and an
    // error sum, updated in place (the posterior is computed on read).
    // task_feedback: POST /v1/auto/feedback rows, read newest first per org.
    // activity_log: seq orders rows and is the export's cursor; the
    // (org, at) index serves the export's time window, (org, request_id)
    // POST /v1/feedback's lookup, (at) the retention purge.
    up: `
      CREATE TABLE org_preferences (
        org TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (org, key)
      );
      CREATE TABLE model_feedback (
        org TEXT NOT NULL,
        cluster INTEGER NOT NULL,
        model TEXT NOT NULL,
        n INTEGER NOT NULL,
        err_sum REAL NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (org, cluster, model)
      );
      CREATE TABLE task_feedback (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        org TEXT NOT NULL,
        prompt TEXT NOT NULL,
        classified_task TEXT NOT NULL,
        correct INTEGER NOT NULL,
        confidence REAL,
        suggested_task TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX task_feedback_by_org ON task_feedback (org, seq);
      CREATE TABLE activity_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        org TEXT NOT NULL,
        request_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        endpoint TEXT NOT NULL,
        model_requested TEXT,
        model_selected TEXT,
        model_executed TEXT,
        reason TEXT,
        fallback_chain TEXT NOT NULL,
        cluster INTEGER,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cost_usd REAL,
        latency_ms REAL NOT NULL,
        status INTEGER NOT NULL,
        cache_hit INTEGER NOT NULL
      );
      CREATE INDEX activity_log_by_org ON activity_log (org, at);
      CREATE INDEX activity_log_by_request ON activity_log (org, request_id);
      CREATE INDEX activity_log_at ON activity_log (at);
    `,
  },
  {
    version: 4,
    name: 'activity log: no index on at',
    // Each index is one more B-tree insert per logged request on the writer
    // thread; the (at) one served only the retention purge, which now walks
    // the oldest rows by seq (sqlite-org-ops.ts). Measured: 4.4 -> 2.9 µs a
    // row with 50-row inserts (100,000 rows, load ~2).
    up: `
      DROP INDEX IF EXISTS activity_log_at;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/**
 * Checks ownership and version, runs what is missing in one IMMEDIATE
 * transaction (so two processes starting on one file at once migrate it
 * once: the second waits on the lock, then sees the new version), and returns
 * the version found before. Always commits a write, even with nothing to
 * migrate: that is the start-up proof that the file is writable.
 */
export function migrate(db: Database.Database, path: string, migrations: readonly Migration[] = MIGRATIONS): number {
  const latest = migrations.length ? migrations[migrations.length - 1].version : 0;
  const run = db.transaction(() => {
    const app = db.pragma('application_id', { simple: true }) as number;
    const from = db.pragma('user_version', { simple: true }) as number;
    if (app !== 0 && app !== APPLICATION_ID) {
      throw new StoreError(`state: ${path} belongs to another application (application_id ${app}); point state.dir at a directory of its own`, path);
    }
    if (from > latest) {
      throw new StoreError(`state: ${path} has schema version ${from}, newer than this Switchyard supports (${latest}); run the newer Switchyard, or point state.dir elsewhere`, path);
    }
    if (from === 0 && app === 0) {
      // A version-0 file must be empty: anything else is someone else's data.
      const n = (db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'`).get() as { n: number }).n;
      if (n > 0) throw new StoreError(`state: ${path} is a SQLite database of another application (${n} tables, no Switchyard version); point state.dir elsewhere`, path);
    }
    for (const m of migrations) {
      if (m.version <= from) continue;
      if (typeof m.up === 'string') db.exec(m.up);
      else m.up(db);
    }
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${Math.max(from, latest)}`);
    return from;
  });
  return run.immediate();
}
