/**
 * The SQLite store's OrgStore (issue 11): reads on the calling thread's own
 * connection (a few µs: primary-key or index range reads), writes through the
 * writer thread (sqlite-org-ops.ts).
 */
import type Database from 'better-sqlite3';
import { StoreError } from './types.ts';
import type { WriterLink } from './sqlite-link.ts';
import { logBatch } from './sqlite-org-ops.ts';
import type { ActivityRow, LogQuery, LogSink, ModelFeedbackRow, ModelUsage, OrgStore, PreferenceRow, StoredActivity, TaskFeedbackRow } from './org-types.ts';
import { LogRing } from './log-ring.ts';
import { threadId } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';

function read<T>(path: string, f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (e) {
    return Promise.reject(new StoreError(`store read failed on ${path}: ${(e as Error).message}`, path, { cause: e }));
  }
}

interface LogRow {
  seq: number; org: string; request_id: string; at: number; endpoint: string; model_requested: string | null; model_selected: string | null;
  model_executed: string | null; reason: string | null; fallback_chain: string; cluster: number | null; prompt_tokens: number | null;
  completion_tokens: number | null; cost_usd: number | null; latency_ms: number; status: number; cache_hit: number;
}

function toActivity(r: LogRow): StoredActivity {
  return {
    seq: r.seq, requestId: r.request_id, org: r.org, at: r.at, endpoint: r.endpoint, modelRequested: r.model_requested, modelSelected: r.model_selected,
    modelExecuted: r.model_executed, reason: r.reason, fallbackChain: r.fallback_chain, cluster: r.cluster, promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens, costUsd: r.cost_usd, latencyMs: r.latency_ms, status: r.status, cacheHit: r.cache_hit === 1,
  };
}

const LOG_COLUMNS = 'seq, org, request_id, at, endpoint, model_requested, model_selected, model_executed, reason, fallback_chain, cluster, prompt_tokens, completion_tokens, cost_usd, latency_ms, status, cache_hit';

export class SqliteOrgStore implements OrgStore {
  private readonly prefs: Database.Statement<[string], { key: string; value: string; updated_at: number }>;
  private readonly fb: Database.Statement<[string], { cluster: number; model: string; n: number; err_sum: number; updated_at: number }>;
  private readonly tasks: Database.Statement<[string, number], { prompt: string; classified_task: string; correct: number; confidence: number | null; suggested_task: string | null; created_at: number }>;
  private readonly logsStmt: Database.Statement<[string, number, number, number, number], LogRow>;
  private readonly byRequest: Database.Statement<[string, string], LogRow>;
  private readonly usageStmt: Database.Statement<[string, number], { model: string; requests: number; errors: number; cost: number | null }>;

  constructor(db: Database.Database, private readonly link: WriterLink, private readonly path: string) {
    this.prefs = db.prepare('SELECT key, value, updated_at FROM org_preferences WHERE org = ? ORDER BY key');
    this.fb = db.prepare('SELECT cluster, model, n, err_sum, updated_at FROM model_feedback WHERE org = ?');
    this.tasks = db.prepare('SELECT prompt, classified_task, correct, confidence, suggested_task, created_at FROM task_feedback WHERE org = ? ORDER BY seq DESC LIMIT ?');
    this.logsStmt = db.prepare(`SELECT ${LOG_COLUMNS} FROM activity_log WHERE org = ? AND at >= ? AND at < ? AND seq > ? ORDER BY seq LIMIT ?`);
    this.byRequest = db.prepare(`SELECT ${LOG_COLUMNS} FROM activity_log WHERE org = ? AND request_id = ? ORDER BY seq DESC LIMIT 1`);
    this.usageStmt = db.prepare(`SELECT model_executed AS model, count(*) AS requests, sum(status >= 500 OR status = 0) AS errors, sum(cost_usd) AS cost
      FROM activity_log WHERE org = ? AND at >= ? AND model_executed IS NOT NULL GROUP BY model_executed ORDER BY requests DESC`);
  }

  preferences(org: string): Promise<PreferenceRow[]> {
    return read(this.path, () => this.prefs.all(org).map((r) => ({ key: r.key, value: r.value, updatedAt: r.updated_at })));
  }
  setPreference(org: string, key: string, value: string, at: number): Promise<void> {
    return this.link.write({ op: 'pref_set', org, key, value, at }) as Promise<void>;
  }
  deletePreference(org: string, key: string): Promise<boolean> {
    return this.link.write({ op: 'pref_delete', org, key }) as Promise<boolean>;
  }

  modelFeedback(org: string): Promise<ModelFeedbackRow[]> {
    return read(this.path, () => this.fb.all(org).map((r) => ({ cluster: r.cluster, model: r.model, n: r.n, errSum: r.err_sum, updatedAt: r.updated_at })));
  }
  addModelFeedback(org: string, cluster: number, model: string, err: number, at: number): Promise<ModelFeedbackRow> {
    return this.link.write({ op: 'fb_add', org, cluster, model, err, at }) as Promise<ModelFeedbackRow>;
  }
  resetModelFeedback(org: string, model?: string, cluster?: number): Promise<number> {
    return this.link.write({ op: 'fb_reset', org, model, cluster }) as Promise<number>;
  }

  addTaskFeedback(org: string, row: TaskFeedbackRow): Promise<void> {
    return this.link.write({ op: 'task_fb_add', org, row }) as Promise<void>;
  }
  taskFeedback(org: string, limit: number): Promise<TaskFeedbackRow[]> {
    return read(this.path, () => this.tasks.all(org, limit).map((r) => ({
      prompt: r.prompt, classifiedTask: r.classified_task, correct: r.correct === 1, confidence: r.confidence, suggestedTask: r.suggested_task, createdAt: r.created_at,
    })));
  }

  appendLogs(rows: readonly ActivityRow[]): Promise<void> {
    return this.link.write({ op: 'log_append', json: logBatch(rows) }) as Promise<void>;
  }
  /** A shared-memory ring this thread writes rows into; the writer thread drains it every `flushMs` (log-ring.ts). */
  openLogSink(flushMs: number): LogSink {
    const ring = LogRing.create();
    const id = `${threadId}-${randomBytes(6).toString('hex')}`;
    // If the registration fails (the writer is gone), rows fill the ring and are dropped and counted.
    const registered = this.link.write({ op: 'log_ring', id, sab: ring.sab, flushMs }).then(() => true, () => false);
    const drain = (close: boolean) => registered.then((ok) => (ok ? this.link.write({ op: 'log_drain', id, close }).then(() => {}) : undefined));
    // A ring past half full asks for a drain now (once until it is answered), instead of waiting for the writer's tick.
    let nudged = false;
    const nudge = () => { nudged = true; drain(false).catch(() => {}).finally(() => { nudged = false; }); };
    return {
      push: (row) => { const ok = ring.push(row); if (ring.overHalf && !nudged) nudge(); return ok; },
      flush: () => drain(false),
      close: () => drain(true),
      get written() { return ring.written; },
      get dropped() { return ring.dropped; },
    };
  }
  logs(org: string, q: LogQuery): Promise<StoredActivity[]> {
    return read(this.path, () => this.logsStmt.all(org, q.since ?? 0, q.until ?? Number.MAX_SAFE_INTEGER, q.after ?? 0, q.limit).map(toActivity));
  }
  logByRequest(org: string, requestId: string): Promise<StoredActivity | undefined> {
    return read(this.path, () => { const r = this.byRequest.get(org, requestId); return r && toActivity(r); });
  }
  usage(org: string, since: number): Promise<ModelUsage[]> {
    return read(this.path, () => this.usageStmt.all(org, since).map((r) => ({ model: r.model, requests: r.requests, errors: r.errors, costUsd: r.cost ?? 0 })));
  }
  purgeLogs(before: number): Promise<number> {
    return this.link.write({ op: 'log_purge', before }) as Promise<number>;
  }
}
