/**
 * The writes of preferences, feedback and the activity log (issue 11), as the
 * writer thread (sqlite-writer.ts) applies them. A feedback update is a
 * read-modify-write of one cell; it is atomic because one connection writes,
 * one op at a time (two concurrent "bad" scores both count).
 *
 * The log append takes a whole batch (one per activity-logger flush): one
 * message to the writer and one place in its group commit for up to
 * hundreds of rows.
 */
import type Database from 'better-sqlite3';
import type { ActivityRow, ModelFeedbackRow, TaskFeedbackRow } from './org-types.ts';

export type OrgOp =
  | { op: 'pref_set'; org: string; key: string; value: string; at: number }
  | { op: 'pref_delete'; org: string; key: string }
  | { op: 'fb_add'; org: string; cluster: number; model: string; err: number; at: number }
  | { op: 'fb_reset'; org: string; model?: string; cluster?: number }
  | { op: 'task_fb_add'; org: string; row: TaskFeedbackRow }
  /** JSON text of LOG_FIELDS values per row, rows one after another (logBatch): one string to clone, not thousands of values. */
  | { op: 'log_append'; json: string }
  | { op: 'log_purge'; before: number };

export const ORG_OPS: ReadonlySet<string> = new Set(['pref_set', 'pref_delete', 'fb_add', 'fb_reset', 'task_fb_add', 'log_append', 'log_purge']);

/** Values per row in a log_append's flat array, in the INSERT's column order. */
export const LOG_FIELDS = 16;

/**
 * The rows as JSON text of one flat array of primitives, which sqlite-org.ts
 * posts to the writer thread. Cloning one string is a copy; cloning the
 * array, a walk over every value on both sides. Measured (500-row batches,
 * flatten excluded, load ~4 on 2 cores): 2.6 µs a row to clone the flat
 * array (row objects were 6.1) against 0.9 µs for stringify + clone + parse.
 * Values are strings, finite numbers and null, which JSON keeps exactly.
 */
export function logBatch(rows: readonly ActivityRow[]): string {
  const a = new Array(rows.length * LOG_FIELDS);
  let k = 0;
  for (const r of rows) {
    a[k++] = r.org; a[k++] = r.requestId; a[k++] = r.at; a[k++] = r.endpoint; a[k++] = r.modelRequested; a[k++] = r.modelSelected;
    a[k++] = r.modelExecuted; a[k++] = r.reason; a[k++] = r.fallbackChain; a[k++] = r.cluster; a[k++] = r.promptTokens; a[k++] = r.completionTokens;
    a[k++] = r.costUsd; a[k++] = r.latencyMs; a[k++] = r.status; a[k++] = r.cacheHit ? 1 : 0;
  }
  return JSON.stringify(a);
}

/**
 * Rows per INSERT statement of a log append: one statement binds
 * LOG_ROWS_PER_INSERT x LOG_FIELDS = 800 values (SQLite allows 32,766), so a
 * 500-row batch is 10 statement runs instead of 500; the rest of a batch goes
 * row by row. Measured with better-sqlite3 (100,000 rows in 500-row
 * transactions, load ~2): 4.4-5.6 µs a row one row a statement against
 * 4.3 µs at 50, and 2.9-3.2 µs at 50 with the (at) index gone (migration 4).
 */
const LOG_ROWS_PER_INSERT = 50;

/** Rows deleted per purge statement: bounds how long retention holds the write lock. */
const LOG_PURGE_CHUNK = 5_000;

/**
 * Inserts log rows given as flat values (LOG_FIELDS a row, in the INSERT's
 * column order: logBatch's JSON, or a LogRing's peek) into the caller's
 * transaction: LOG_ROWS_PER_INSERT rows a statement, the rest one by one.
 */
export function logInserter(db: Database.Database): (f: readonly unknown[]) => void {
  const logInsert = `INSERT INTO activity_log (org, request_id, at, endpoint, model_requested, model_selected, model_executed, reason, fallback_chain,
    cluster, prompt_tokens, completion_tokens, cost_usd, latency_ms, status, cache_hit) VALUES `;
  const logRow = `(${new Array(LOG_FIELDS).fill('?').join(', ')})`;
  const addLog = db.prepare(logInsert + logRow);
  const addLogs = db.prepare(logInsert + new Array(LOG_ROWS_PER_INSERT).fill(logRow).join(', '));
  const many = LOG_ROWS_PER_INSERT * LOG_FIELDS;
  return (f) => {
    let i = 0;
    for (; i + many <= f.length; i += many) addLogs.run(f.slice(i, i + many));
    for (; i + LOG_FIELDS <= f.length; i += LOG_FIELDS) addLog.run(f.slice(i, i + LOG_FIELDS));
  };
}

export function orgWriter(db: Database.Database): (op: OrgOp) => unknown {
  const setPref = db.prepare('INSERT INTO org_preferences (org, key, value, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (org, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at');
  const delPref = db.prepare('DELETE FROM org_preferences WHERE org = ? AND key = ?');
  const addFb = db.prepare(`INSERT INTO model_feedback (org, cluster, model, n, err_sum, updated_at) VALUES (?, ?, ?, 1, ?, ?)
    ON CONFLICT (org, cluster, model) DO UPDATE SET n = n + 1, err_sum = err_sum + excluded.err_sum, updated_at = excluded.updated_at`);
  const getFb = db.prepare<[string, number, string], { cluster: number; model: string; n: number; err_sum: number; updated_at: number }>(
    'SELECT cluster, model, n, err_sum, updated_at FROM model_feedback WHERE org = ? AND cluster = ? AND model = ?');
  const resetAll = db.prepare('DELETE FROM model_feedback WHERE org = ?');
  const resetModel = db.prepare('DELETE FROM model_feedback WHERE org = ? AND model = ?');
  const resetCell = db.prepare('DELETE FROM model_feedback WHERE org = ? AND model = ? AND cluster = ?');
  const resetCluster = db.prepare('DELETE FROM model_feedback WHERE org = ? AND cluster = ?');
  const addTask = db.prepare('INSERT INTO task_feedback (org, prompt, classified_task, correct, confidence, suggested_task, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const insertLogs = logInserter(db);
  // Retention walks the oldest rows in seq order (no index on `at`, migration 4): rows are appended in time order, up
  // to one flush interval apart between HTTP threads, so the oldest chunk holding a young row is where expiry ends.
  // A purge with nothing to delete reads one chunk, not the table.
  const purge = db.prepare('DELETE FROM activity_log WHERE seq IN (SELECT seq FROM activity_log ORDER BY seq LIMIT ?) AND at < ?');

  return (op) => {
    switch (op.op) {
      case 'pref_set': setPref.run(op.org, op.key, op.value, op.at); return undefined;
      case 'pref_delete': return delPref.run(op.org, op.key).changes > 0;
      case 'fb_add': {
        addFb.run(op.org, op.cluster, op.model, op.err, op.at);
        const r = getFb.get(op.org, op.cluster, op.model)!;
        return { cluster: r.cluster, model: r.model, n: r.n, errSum: r.err_sum, updatedAt: r.updated_at } satisfies ModelFeedbackRow;
      }
      case 'fb_reset':
        if (op.model === undefined) return (op.cluster === undefined ? resetAll.run(op.org) : resetCluster.run(op.org, op.cluster)).changes;
        return (op.cluster === undefined ? resetModel.run(op.org, op.model) : resetCell.run(op.org, op.model, op.cluster)).changes;
      case 'task_fb_add': {
        const r = op.row;
        addTask.run(op.org, r.prompt, r.classifiedTask, r.correct ? 1 : 0, r.confidence, r.suggestedTask, r.createdAt);
        return undefined;
      }
      case 'log_append': insertLogs(JSON.parse(op.json) as unknown[]); return undefined;
      case 'log_purge': {
        let total = 0, n: number;
        do { n = purge.run(LOG_PURGE_CHUNK, op.before).changes; total += n; } while (n === LOG_PURGE_CHUNK);
        return total;
      }
    }
  };
}
