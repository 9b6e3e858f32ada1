/**
 * The activity log: every routed request through the gateway, written to the
 * store in batches, off the hot path.
 *
 * Per request the handler does one `hasSubscribers` check and, when the log
 * is on, builds one row object and publishes it on channels.orgRequest
 * (diagnostics.ts). The subscriber (one per thread) hands it to its Engine's
 * log, which writes it where the store says:
 *
 * - The embedded store (OrgStore.openLogSink): the row's bytes go into this
 *   thread's shared-memory ring (src/store/log-ring.ts), and the store's
 *   writer thread drains every ring each state.logs.flush_ms (default 250 ms)
 *   in one transaction. Per request: one encode into shared memory; no
 *   object kept, no message, no wake-up of another thread. When a burst
 *   fills the ring, rows wait in a bounded array (MAX_BUFFERED) and go in as
 *   the writer makes room; beyond that they are dropped and counted.
 * - A store without one (Redis): rows are buffered and written as one
 *   appendLogs call every flush_ms or FLUSH_ROWS rows, whichever comes first.
 *
 * What can go wrong: the store fails the write (disk full, writer dead): the
 * rows are dropped and counted (droppedRows, and
 * switchyard:store:error), the requests themselves are unaffected. A crash
 * loses at most one flush interval of rows. A row is readable (GET
 * /v1/org/logs, POST /v1/feedback) once flushed and committed: up to flush_ms
 * after the response.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { CHANNEL_NAMES, channels } from '../diagnostics.ts';
import type { ActivityRow, LogSink } from '../store/org-types.ts';
import type { Engine } from './engine.ts';
import { isOn } from '../config/schema.ts';

/** A batch is written at this size even before the flush interval (the appendLogs path). */
const FLUSH_ROWS = 500;
/** Rows held at most while the store is slow; beyond it new rows are dropped (and counted) rather than growing the heap. */
const MAX_BUFFERED = 50_000;
const DAY_MS = 86_400_000;
/** How soon rows held because the ring was full are offered to it again. */
const RETRY_MS = 20;

export class ActivityLog {
  private buf: ActivityRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;
  private inflight = new Set<Promise<void>>();
  private readonly sink: LogSink | undefined;
  /** Rows the ring had no room for (sink mode), oldest first. */
  private overflow: ActivityRow[] = [];
  private retry: NodeJS.Timeout | undefined;
  private lostRows = 0;
  private storedRows = 0;

  constructor(private readonly engine: Engine) {
    const l = engine.config.state.logs;
    this.sink = engine.store.org.openLogSink?.(l.flush_ms);
    if (l.retention_days > 0) {
      this.purgeTimer = setInterval(() => this.purge(), engine.config.state.purge_interval_ms);
      this.purgeTimer.unref();
    }
  }

  /** Rows dropped: no room even in the overflow (the store is far behind), or the store failed the write. */
  get droppedRows(): number { return this.lostRows + (this.sink?.dropped ?? 0); }
  /** Rows the store committed. */
  get writtenRows(): number { return this.storedRows + (this.sink?.written ?? 0); }

  push(row: ActivityRow): void {
    if (this.sink !== undefined) {
      if (this.overflow.length === 0 && this.sink.push(row)) return;
      // The ring is full (a burst beyond what the writer drained): held here, bounded, and moved in as it drains.
      if (this.overflow.length >= MAX_BUFFERED) { this.lostRows++; return; }
      this.overflow.push(row);
      this.refillLater();
      return;
    }
    if (this.buf.length >= MAX_BUFFERED) { this.lostRows++; return; }
    this.buf.push(row);
    if (this.buf.length >= FLUSH_ROWS) void this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.engine.config.state.logs.flush_ms);
      // The log alone must not keep a process alive; close() flushes what is left.
      this.timer.unref();
    }
  }

  /** Moves held rows into the ring while it takes them; retries on a timer while some are left. */
  private refill(): void {
    let i = 0;
    while (i < this.overflow.length && this.sink!.push(this.overflow[i])) i++;
    if (i > 0) this.overflow.splice(0, i);
    if (this.overflow.length > 0) this.refillLater();
  }

  private refillLater(): void {
    if (this.retry !== undefined) return;
    this.retry = setTimeout(() => { this.retry = undefined; this.refill(); }, RETRY_MS);
    this.retry.unref();
  }

  /** Writes what is buffered; resolves when it is committed (or dropped). */
  flush(): Promise<void> {
    if (this.sink !== undefined) return this.flushSink();
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; }
    if (this.buf.length === 0) return Promise.all(this.inflight).then(() => {});
    const rows = this.buf;
    this.buf = [];
    const p: Promise<void> = this.engine.store.org.appendLogs(rows).then(
      () => { this.storedRows += rows.length; },
      (e: Error) => { this.lostRows += rows.length; channels.storeError.publish({ path: 'activity_log', error: e }); },
    ).finally(() => { this.inflight.delete(p); });
    this.inflight.add(p);
    return p;
  }

  private async flushSink(): Promise<void> {
    // Held rows go in as the writer makes room; a writer that makes none (it is gone) ends the wait, the rest stays held.
    let stalled = false;
    for (;;) {
      const before = this.overflow.length;
      this.refill();
      const moved = before - this.overflow.length;
      await this.sink!.flush();
      if (this.overflow.length === 0) return;
      if (moved === 0 && stalled) return;
      stalled = moved === 0;
    }
  }

  purge(): Promise<number> {
    const days = this.engine.config.state.logs.retention_days;
    if (days <= 0) return Promise.resolve(0);
    return this.engine.store.org.purgeLogs(Date.now() - days * DAY_MS).catch(() => 0);
  }

  async close(): Promise<void> {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    if (this.sink !== undefined) {
      await this.flushSink();
      clearTimeout(this.retry);
      this.lostRows += this.overflow.length;
      this.overflow = [];
      await this.sink.close();
      return;
    }
    await this.flush();
  }
}

const logs = new WeakMap<Engine, ActivityLog>();
let subscribed = false;

function onRow(m: unknown): void {
  const { engine, row } = m as { engine: Engine; row: ActivityRow };
  let l = logs.get(engine);
  if (l === undefined) {
    // Another server of this process (tests) with its log off.
    if (!logsOn(engine)) return;
    l = new ActivityLog(engine);
    logs.set(engine, l);
  }
  l.push(row);
}

/**
 * Whether `engine` writes an activity log. Endpoints whose rows carry no
 * tokens or cost (/v1/route, /api/v1/route-model) check logsDecisions
 * besides hasSubscribers: the metrics recorder also listens on the channel
 * (for the gateway rows' tokens and cost), and with the log off those rows
 * would be built for nobody.
 */
export function logsOn(engine: Engine): boolean {
  return isOn(engine.config.state.logs.enabled);
}

/** Whether the decision-only endpoints (/v1/route, /api/v1/route-model) are logged: the log on and state.logs.decisions not off. */
export function logsDecisions(engine: Engine): boolean {
  return logsOn(engine) && isOn(engine.config.state.logs.decisions);
}

/** Subscribes this thread's log (idempotent); called where the server is built. Off (state.logs.enabled false): nothing subscribes, nothing is built per request. */
export function startActivityLog(engine: Engine): void {
  if (!logsOn(engine) || subscribed) return;
  subscribed = true;
  diagnostics_channel.subscribe(CHANNEL_NAMES.orgRequest, onRow);
}

/** The Engine's log, if it received a row. */
export function activityLogOf(engine: Engine): ActivityLog | undefined {
  return logs.get(engine);
}

/** Flushes (committed) and stops the Engine's log: Engine.close calls it before closing the store. */
export function closeActivityLog(engine: Engine): Promise<void> {
  const l = logs.get(engine);
  if (l === undefined) return Promise.resolve();
  logs.delete(engine);
  return l.close();
}

/** What a handler knows about its request (the RequestContext satisfies it). */
export interface RequestMeta {
  readonly org: string;
  readonly requestId: string;
}

export interface Outcome {
  endpoint: string;
  requested: string | null;
  selected: string | null;
  executed: string | null;
  reason: string | null;
  chain: readonly { model: string }[];
  cluster: number | null | undefined;
  usage: { prompt_tokens?: number; completion_tokens?: number } | null | undefined;
  costUsd: number | null;
  status: number;
  cacheHit: boolean;
  t0: number;
}

/** Publishes the row (callers check channels.orgRequest.hasSubscribers first, so an unlogged server builds nothing). */
export function logRequest(engine: Engine, meta: RequestMeta, o: Outcome): void {
  let chain = '';
  for (let i = 0; i < o.chain.length; i++) chain = i === 0 ? o.chain[i].model : `${chain},${o.chain[i].model}`;
  const row: ActivityRow = {
    requestId: meta.requestId, org: meta.org, at: Date.now(), endpoint: o.endpoint,
    modelRequested: o.requested, modelSelected: o.selected, modelExecuted: o.executed, reason: o.reason, fallbackChain: chain,
    cluster: o.cluster ?? null, promptTokens: o.usage?.prompt_tokens ?? null, completionTokens: o.usage?.completion_tokens ?? null,
    costUsd: o.costUsd, latencyMs: Math.round((performance.now() - o.t0) * 1000) / 1000, status: o.status, cacheHit: o.cacheHit,
  };
  channels.orgRequest.publish(new OrgRequest(row, engine));
}

/**
 * The message on switchyard:org:request. The Engine rides along for this log's
 * own subscriber (it needs the store) in a private field behind a getter, so
 * JSON.stringify of the message, what any generic subscriber (a logger, an
 * exporter, a test scanning every channel for secrets) does, sees only the row:
 * an Engine holds timers and workers and cannot be serialised (it threw
 * "Converting circular structure to JSON" inside publish, on the request path).
 */
class OrgRequest {
  readonly #engine: Engine;
  constructor(readonly row: ActivityRow, engine: Engine) { this.#engine = engine; }
  get engine(): Engine { return this.#engine; }
}
