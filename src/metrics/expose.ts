/**
 * GET /metrics: every thread's region of the shared counters
 * (src/metrics/layout.ts) as prom-client metric JSON, one array per thread,
 * summed by prom-client's AggregatorRegistry.aggregate into the Prometheus
 * text format (version 0.0.4). aggregate is the static half of prom-client's
 * cluster support: it takes metric JSON and needs no cluster IPC, so it serves
 * worker threads as well.
 *
 * Series with a zero value in a thread are left out of that thread's JSON (a
 * label set appears once it has counted something), except the
 * always-present totals, so an idle server still answers with every metric's
 * HELP and TYPE. Cost: a walk over the regions and one aggregate(), ~ms for
 * a few thousand series; scrapes come every 10-60 s.
 */
import promClient from 'prom-client';
import { Layout, E2E_BUCKETS, STAGE_BUCKETS, STAGES, STATUSES, PII_KINDS_M } from './layout.ts';

const { AggregatorRegistry } = promClient;

type Labels = Record<string, string | number>;
interface Value { value: number; labels: Labels; metricName?: string }
interface MetricJson { name: string; help: string; type: 'counter' | 'gauge' | 'histogram'; values: Value[]; aggregator: 'sum' }

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const statusLabel = (i: number) => (i < STATUSES.length ? String(STATUSES[i]) : 'other');

/** One thread's region as metric JSON. */
function threadMetrics(L: Layout, f: Float64Array): MetricJson[] {
  const m = (name: string, help: string, type: MetricJson['type'], values: Value[]): MetricJson => ({ name, help, type, values, aggregator: 'sum' });
  const { routes, models, orgs } = L.spec;
  const out: MetricJson[] = [];

  const reqs: Value[] = [];
  for (let r = 0; r < L.R; r++) for (let s = 0; s < L.S; s++) {
    const v = f[L.requests + r * L.S + s];
    if (v !== 0) reqs.push({ value: v, labels: { route: routes[r], status: statusLabel(s) } });
  }
  out.push(m('switchyard_http_requests_total', 'HTTP requests answered, by route pattern and status (0: the client went away first).', 'counter', reqs));

  const hist = (name: string, help: string, bounds: readonly number[], base: number, width: number, labels: Labels): Value[] => {
    const vals: Value[] = [];
    // One read of each bucket: the HTTP threads keep counting while this runs, and reading a bucket twice
    // (once for _count, once for the cumulative series) let the +Inf bucket and _count disagree (seen in CI).
    const snap = f.slice(base, base + bounds.length + 1);
    let count = 0;
    for (let b = 0; b < snap.length; b++) count += snap[b];
    if (count === 0) return vals;
    let cum = 0;
    for (let b = 0; b < snap.length; b++) {
      cum += snap[b];
      vals.push({ value: cum, labels: { ...labels, le: b < bounds.length ? bounds[b] : '+Inf' }, metricName: `${name}_bucket` });
    }
    vals.push({ value: f[base + width - 1], labels, metricName: `${name}_sum` }, { value: count, labels, metricName: `${name}_count` });
    return vals;
  };
  const e2e: Value[] = [];
  for (let r = 0; r < L.R; r++) e2e.push(...hist('switchyard_http_request_duration_seconds', '', E2E_BUCKETS, L.e2e + r * L.E, L.E, { route: routes[r] }));
  out.push(m('switchyard_http_request_duration_seconds', 'End-to-end time from the request\'s arrival to the end of its response, by route pattern.', 'histogram', e2e));
  const stage: Value[] = [];
  STAGES.forEach((s, i) => stage.push(...hist('switchyard_routing_duration_seconds', '', STAGE_BUCKETS, L.stage + i * L.G, L.G, { stage: s })));
  out.push(m('switchyard_routing_duration_seconds', 'Routing time of computed /v1/route decisions, by stage: embedding (0 for a supplied embedding, not observed) and decision.', 'histogram', stage));

  const dec: Value[] = [];
  for (let mi = 0; mi < L.M; mi++) for (let c = 0; c < L.K; c++) {
    const v = f[L.decisions + mi * L.K + c];
    if (v !== 0) dec.push({ value: v, labels: { model: models[mi], cluster: L.K === 1 ? 'all' : String(c) } });
  }
  out.push(m('switchyard_route_decisions_total', 'Computed routing decisions (cache misses), by selected model and cluster.', 'counter', dec));
  out.push(m('switchyard_route_cache_total', 'Decision cache lookups of /v1/route, by result.', 'counter', [{ value: f[L.cache], labels: { result: 'hit' } }, { value: f[L.cache + 1], labels: { result: 'miss' } }]));

  const byModel = (off: number) => { const v: Value[] = []; for (let i = 0; i < L.M; i++) if (f[off + i] !== 0) v.push({ value: f[off + i], labels: { model: models[i] } }); return v; };
  out.push(m('switchyard_upstream_completions_total', 'Gateway calls (chat completions, responses) by the model that answered.', 'counter', byModel(L.completions)));
  out.push(m('switchyard_upstream_errors_total', 'Failed upstream attempts, by model.', 'counter', byModel(L.upstreamErrors)));
  out.push(m('switchyard_upstream_fallbacks_total', 'Fallbacks away from a model: its attempt failed and the next candidate was tried.', 'counter', byModel(L.fallbacks)));

  const tok: Value[] = [];
  const cost: Value[] = [];
  for (let o = 0; o < L.O; o++) for (let mi = 0; mi < L.M; mi++) {
    const at = o * L.M + mi;
    const labels = { org: orgs[o], model: models[mi] };
    if (f[L.tokens + 2 * at] !== 0) tok.push({ value: f[L.tokens + 2 * at], labels: { ...labels, kind: 'prompt' } });
    if (f[L.tokens + 2 * at + 1] !== 0) tok.push({ value: f[L.tokens + 2 * at + 1], labels: { ...labels, kind: 'completion' } });
    if (f[L.cost + at] !== 0) cost.push({ value: f[L.cost + at], labels });
  }
  out.push(m('switchyard_tokens_total', 'Tokens the upstream reported, by organisation, model and kind.', 'counter', tok));
  out.push(m('switchyard_cost_usd_total', 'Cost in USD of gateway calls (providers.models pricing), by organisation and model.', 'counter', cost));

  const lim: Value[] = [];
  for (let o = 0; o < L.O; o++) for (let j = 0; j < 4; j++) {
    const v = f[L.limited + o * 4 + j];
    if (v !== 0) lim.push({ value: v, labels: { org: orgs[o], limit: j >= 2 ? 'tokens' : 'requests', scope: j % 2 === 1 ? 'key' : 'organization' } });
  }
  out.push(m('switchyard_rate_limited_total', 'Requests refused 429 rate_limit_exceeded, by organisation, limit and scope.', 'counter', lim));
  const pii: Value[] = [];
  PII_KINDS_M.forEach((k, i) => { if (f[L.pii + i] !== 0) pii.push({ value: f[L.pii + i], labels: { kind: k } }); });
  out.push(m('switchyard_pii_blocked_total', 'Personal data kinds found in requests the guardrail refused (one request may count several kinds).', 'counter', pii));
  out.push(m('switchyard_pool_queue_depth', 'Tasks waiting for a worker in the route and embedding pools, all HTTP threads (sampled each second).', 'gauge', [{ value: f[L.poolQueue], labels: {} }]));
  out.push(m('switchyard_in_flight_requests', 'Requests being served, all HTTP threads (sampled each second; the answering thread\'s is current).', 'gauge', [{ value: f[L.inFlight], labels: {} }]));
  return out;
}

/** The text of GET /metrics: every thread's region, summed. */
export async function exposition(L: Layout, counters: SharedArrayBuffer, threads: number): Promise<string> {
  const perThread: MetricJson[][] = [];
  for (let t = 0; t < threads; t++) perThread.push(threadMetrics(L, new Float64Array(counters, 8 * L.stride * t, L.stride)));
  // The typings declare aggregate over prom-client's own MetricObjectWithValues; ours is that shape.
  return AggregatorRegistry.aggregate(perThread as never).metrics();
}
