/**
 * One HTTP thread's side of GET /metrics: diagnostics-channel subscribers
 * (src/diagnostics.ts) that add into this thread's region of the shared
 * counters (src/metrics/layout.ts). Nothing in a handler calls into here.
 *
 * Per request on /v1/route: http:response and route:decision, each a Map
 * lookup or two, two to four Float64 additions and a bucket search over
 * ~15 bounds. The cost that remains is the channels publishing at all
 * (a message object per event once anyone subscribes).
 *
 * Channels are per process, not per server: two servers in one process (a
 * test that starts several) each count the other's events too. A deployment
 * runs one server per process.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { CHANNEL_NAMES } from '../diagnostics.ts';
import { Layout, bucketOf, E2E_BUCKETS, STAGE_BUCKETS, PII_KINDS_M } from './layout.ts';
import type { Engine } from '../api/engine.ts';

interface HttpResponseMsg { route?: string; status: number; ms: number }
interface DecisionMsg { model?: string; clusterId?: number; cacheHit: boolean; routingMs: number; embeddingMs: number }
interface Attempt { model: string; outcome: 'ok' | 'failed' | 'skipped' }
interface CompletionMsg { model: string | null; attempts?: readonly Attempt[] }
interface OrgRequestMsg { row?: { org: string; modelExecuted: string | null; promptTokens: number | null; completionTokens: number | null; costUsd: number | null } }
interface LimitedMsg { org: string; limit: 'requests' | 'tokens'; scope: 'organization' | 'key' }
interface PiiMsg { kinds: readonly string[] }

export class MetricsRecorder {
  private readonly f: Float64Array;
  private readonly subs: [string, (m: unknown) => void][] = [];
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly layout: Layout, counters: SharedArrayBuffer, thread: number, private readonly engine: Engine | null, private readonly inFlight: () => number) {
    this.f = new Float64Array(counters, 8 * layout.stride * thread, layout.stride);
  }

  start(): this {
    const L = this.layout;
    const f = this.f;
    this.on(CHANNEL_NAMES.httpResponse, (raw) => {
      const m = raw as HttpResponseMsg;
      const r = (m.route === undefined ? undefined : L.routeIndex.get(m.route)) ?? L.R - 1;
      const s = m.status >= 0 && m.status < 600 ? L.statusIndex[m.status] : L.S - 1;
      f[L.requests + r * L.S + s] += 1;
      const sec = m.ms / 1000;
      const h = L.e2e + r * L.E;
      f[h + bucketOf(E2E_BUCKETS, sec)] += 1;
      f[h + L.E - 1] += sec;
    });
    this.on(CHANNEL_NAMES.routeDecision, (raw) => {
      const m = raw as DecisionMsg;
      if (m.cacheHit) { f[L.cache] += 1; return; }
      f[L.cache + 1] += 1;
      const c = L.K === 1 || m.clusterId === undefined || m.clusterId < 0 || m.clusterId >= L.K ? 0 : m.clusterId;
      f[L.decisions + L.model(m.model) * L.K + c] += 1;
      const e = m.embeddingMs / 1000;
      if (e > 0) { f[L.stage + bucketOf(STAGE_BUCKETS, e)] += 1; f[L.stage + L.G - 1] += e; }
      const d = m.routingMs / 1000;
      f[L.stage + L.G + bucketOf(STAGE_BUCKETS, d)] += 1;
      f[L.stage + 2 * L.G - 1] += d;
    });
    const completion = (raw: unknown) => {
      const m = raw as CompletionMsg;
      if (m.model !== null) f[L.completions + L.model(m.model)] += 1;
      const a = m.attempts ?? [];
      for (let i = 0; i < a.length; i++) {
        if (a[i].outcome !== 'failed') continue;
        const mi = L.model(a[i].model);
        f[L.upstreamErrors + mi] += 1;
        // A failure followed by another candidate is a fallback away from this model.
        if (i + 1 < a.length) f[L.fallbacks + mi] += 1;
      }
    };
    this.on(CHANNEL_NAMES.chatCompletion, completion);
    this.on(CHANNEL_NAMES.responseCreated, completion);
    this.on(CHANNEL_NAMES.orgRequest, (raw) => {
      const row = (raw as OrgRequestMsg).row;
      if (row === undefined) return;
      const at = L.org(row.org) * L.M + L.model(row.modelExecuted);
      if (row.promptTokens) f[L.tokens + 2 * at] += row.promptTokens;
      if (row.completionTokens) f[L.tokens + 2 * at + 1] += row.completionTokens;
      if (row.costUsd) f[L.cost + at] += row.costUsd;
    });
    this.on(CHANNEL_NAMES.rateLimited, (raw) => {
      const m = raw as LimitedMsg;
      f[L.limited + L.org(m.org) * 4 + (m.limit === 'tokens' ? 2 : 0) + (m.scope === 'key' ? 1 : 0)] += 1;
    });
    this.on(CHANNEL_NAMES.piiBlocked, (raw) => {
      for (const k of (raw as PiiMsg).kinds) { const i = PII_KINDS_M.indexOf(k as never); if (i >= 0) f[L.pii + i] += 1; }
    });
    // Gauges other threads cannot read directly: sampled into this region once a second (at most 1 s stale).
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
    return this;
  }

  /** This thread's pool queues and in-flight requests, written now (the answering thread calls it before reading). */
  sample(): void {
    this.f[this.layout.inFlight] = this.inFlight();
    const r = this.engine?.ready;
    if (r === undefined) return;
    let q = r.routePool?.stats().queued ?? 0;
    if (r.source.kind === 'async') {
      const s = (r.source.backend as { stats?: () => { queued: number; pending: number } }).stats?.();
      if (s !== undefined) q += s.queued + s.pending;
    }
    this.f[this.layout.poolQueue] = q;
  }

  private on(name: string, fn: (m: unknown) => void): void {
    diagnostics_channel.subscribe(name, fn);
    this.subs.push([name, fn]);
  }

  stop(): void {
    for (const [name, fn] of this.subs.splice(0)) diagnostics_channel.unsubscribe(name, fn);
    clearInterval(this.timer);
  }
}
