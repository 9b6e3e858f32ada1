/**
 * GET /v1/org/logs?format=csv|json&limit=…&since=…&until=…&cursor=…
 * The caller's organisation's activity log (activity-log.ts), oldest first.
 *
 *   format  json (default) or csv (RFC 4180: CRLF line ends, every field that
 *           holds a comma, quote, CR or LF quoted with quotes doubled; a
 *           header row)
 *   limit   1..10000, default 1000
 *   since   inclusive, until exclusive: RFC 3339 / ISO 8601 time or unix
 *           seconds
 *   cursor  the `seq` of the last row already read (JSON's next_cursor; the
 *           CSV's seq column): the page starts after it. An integer of up
 *           to 16 digits (the Redis store's seq encodes a stream ID)
 *
 * The read is an index range scan on (org, at) on the calling thread's
 * connection: 10,000 rows is a few ms of this thread's time (measured in the
 * tests' figures, docs/org.md).
 */
import { ApiError, invalid } from '../errors.ts';
import { StoreError } from '../store/types.ts';
import type { StoredActivity } from '../store/org-types.ts';
import type { Engine } from './engine.ts';
import type { BinaryReply } from './sink.ts';

export const MAX_LOG_LIMIT = 10_000;
const DEFAULT_LIMIT = 1_000;
const PARAMS = new Set(['format', 'limit', 'since', 'until', 'cursor']);

/** The CSV columns, in order (the header row). */
export const CSV_COLUMNS = [
  'seq', 'request_id', 'time', 'organization', 'endpoint', 'model_requested', 'model_selected', 'model_executed', 'routing_reason',
  'fallback_chain', 'cluster_id', 'prompt_tokens', 'completion_tokens', 'cost_usd', 'latency_ms', 'status', 'cache_hit',
] as const;

function time(v: string, name: string): number {
  if (/^\d{1,12}(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw invalid(name, `must be an ISO 8601 time or unix seconds, got ${JSON.stringify(v.slice(0, 64))}`);
  return t;
}

function fields(r: StoredActivity): (string | number | boolean | null)[] {
  return [r.seq, r.requestId, new Date(r.at).toISOString(), r.org, r.endpoint, r.modelRequested, r.modelSelected, r.modelExecuted, r.reason,
    r.fallbackChain, r.cluster, r.promptTokens, r.completionTokens, r.costUsd, r.latencyMs, r.status, r.cacheHit];
}

/** One RFC 4180 field. */
export function csvField(v: string | number | boolean | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: readonly StoredActivity[]): string {
  let out = CSV_COLUMNS.join(',') + '\r\n';
  for (const r of rows) out += fields(r).map(csvField).join(',') + '\r\n';
  return out;
}

function toJson(r: StoredActivity): Record<string, unknown> {
  const f = fields(r);
  const o: Record<string, unknown> = {};
  for (let i = 0; i < CSV_COLUMNS.length; i++) o[CSV_COLUMNS[i]] = f[i];
  o.fallback_chain = r.fallbackChain === '' ? [] : r.fallbackChain.split(',');
  return o;
}

export async function handleOrgLogs(engine: Engine, org: string, query: string): Promise<string | BinaryReply> {
  const q = new URLSearchParams(query);
  for (const k of q.keys()) if (!PARAMS.has(k)) throw invalid(k, `is not a parameter; use ${[...PARAMS].join(', ')}`);
  const format = q.get('format') ?? 'json';
  if (format !== 'json' && format !== 'csv') throw invalid('format', `must be csv or json, got ${JSON.stringify(format.slice(0, 20))}`);
  let limit = DEFAULT_LIMIT;
  const l = q.get('limit');
  if (l !== null) {
    limit = Number(l);
    if (!/^\d{1,6}$/.test(l) || limit < 1 || limit > MAX_LOG_LIMIT) throw invalid('limit', `must be an integer in 1..${MAX_LOG_LIMIT}, got ${JSON.stringify(l.slice(0, 20))}`);
  }
  const since = q.get('since'), until = q.get('until'), cursor = q.get('cursor');
  let after: number | undefined;
  if (cursor !== null) {
    // 16 digits: the Redis store's seq is the stream ID as ms x 1000 + n (src/store/redis/log.ts); SQLite's is shorter.
    after = Number(cursor);
    if (!/^\d{1,16}$/.test(cursor) || !Number.isSafeInteger(after)) throw invalid('cursor', `must be a next_cursor from a previous page, got ${JSON.stringify(cursor.slice(0, 30))}`);
  }
  let rows: StoredActivity[];
  try {
    // One extra row says whether there is a next page.
    rows = await engine.store.org.logs(org, { since: since === null ? undefined : time(since, 'since'), until: until === null ? undefined : time(until, 'until'), after, limit: limit + 1 });
  } catch (e) {
    if (e instanceof StoreError) throw new ApiError('store_unavailable', `The activity log is unavailable: ${e.message}`);
    throw e;
  }
  const hasMore = rows.length > limit;
  if (hasMore) rows.length = limit;
  if (format === 'csv') return { contentType: 'text/csv; charset=utf-8', body: Buffer.from(toCsv(rows)) };
  const next = hasMore ? String(rows[rows.length - 1].seq) : null;
  return JSON.stringify({ object: 'list', organization: org, data: rows.map(toJson), has_more: hasMore, next_cursor: next });
}
