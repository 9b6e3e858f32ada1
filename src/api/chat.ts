/**
 * POST /v1/chat/completions: OpenAI's request in, OpenAI's response out,
 * with the model chosen by the router when `model` is auto / router / MoM.
 *
 *   raw JSON -> ChatInput (chat-validate.ts)
 *   -> candidates: routed (embed -> Router.route over the models that have a
 *      backend and are not degraded, ranked by score + latency penalty; for a
 *      large-K profile the nearest search runs in the route pool first, and
 *      Router.routeFrom decides) or explicit (just that model: explicit means
 *      no substitution)
 *   -> ChatGateway.chat (fallback over the candidates, first byte in hand)
 *   -> JSON with a `switchyard` object, or SSE chunk by chunk.
 *
 * Streaming pulls one upstream read at a time and waits for the client's
 * socket to drain before pulling the next (ResponseSink.drain), so a slow
 * client slows the upstream read instead of growing a buffer; a client that
 * goes away aborts the upstream request through `sink.signal`. An upstream
 * that fails after the first byte ends the stream with an SSE error event
 * (no retry is possible once the client holds part of an answer).
 *
 * Cost: `x-switchyard-estimated-cost-usd` (before the call, cost.ts
 * estimate for the model that answered) and, for JSON, `x-switchyard-cost-usd`
 * from the upstream's usage x pricing. A stream's actual cost is only known at
 * its end: it rides on the usage chunk (`switchyard.cost_usd`, when the client
 * asked for stream_options.include_usage) and in a trailing SSE comment
 * `: switchyard {...}` before [DONE] (SSE parsers ignore comments).
 */
import { ApiError } from '../errors.ts';
import { channels } from '../diagnostics.ts';
import { NoCandidateError, type Decision } from '../routing/router.ts';
import { costUsd, estimateCost, validUsage } from '../providers/cost.ts';
import { redact } from '../providers/redact.ts';
import { UpstreamChainError, type AttemptRecord } from '../providers/fallback.ts';
import { UpstreamError } from '../providers/failure.ts';
import type { GatewayRuntime } from '../providers/runtime.ts';
import type { ChatResult } from '../providers/gateway.ts';
import { SSE_DONE, sseComment, sseData, sseError } from '../streaming/sse-writer.ts';
import { poolSearch, type Engine, type Ready } from './engine.ts';
import { parseChatRequest, routingText, type ChatInput } from './chat-validate.ts';
import { parseJsonObject } from './validate.ts';
import type { ResponseSink } from './sink.ts';
import type { SearchResult } from '../pool/route-pool.ts';
import { checkExplicit, PRIOR_STRENGTH, withOrg, type CompiledOrg } from './org-state.ts';
import { logRequest, type RequestMeta } from './activity-log.ts';
import { cacheTtlOf, promptCacheOf, type CachedAnswer, type PromptCache } from './prompt-cache.ts';
import type { Usage } from '../providers/types.ts';

type Reason = 'routed' | 'explicit' | 'fallback';

/** Which models to try, best first, and why. */
export interface Plan {
  candidates: string[];
  clusterId: number | undefined;
  routingMs: number | undefined;
}

/** USD amounts in headers: fixed-point (no exponent), trailing zeros dropped. */
export function usd(x: number): string {
  // By hand rather than .replace(/\.?0+$/, ''): two headers a request, the regex was ~0.5% of the CPU.
  const s = x.toFixed(10);
  let e = s.length;
  while (e > 0 && s.charCodeAt(e - 1) === 0x30) e--;
  if (e > 0 && s.charCodeAt(e - 1) === 0x2e) e--;
  return e === 0 ? '0' : e === s.length ? s : s.slice(0, e);
}

/** Candidate order scratch (indices, adjusted scores): filled and read synchronously per request, grown as profiles grow. */
let rankIdx = new Int32Array(64);
let rankScore = new Float64Array(64);

function candidatesOf(rt: GatewayRuntime, d: Decision, allowed: Uint8Array, models: readonly string[]): string[] {
  if (rankIdx.length < models.length) { rankIdx = new Int32Array(models.length); rankScore = new Float64Array(models.length); }
  const idx = rankIdx, sc = rankScore;
  const now = performance.now();
  // Insertion sort on two scratch arrays, stable (an entry moves only past strictly larger scores, so equal scores keep
  // profile order; Router breaks exact ties by cost, close enough here). Replaces pushing {m, s} objects and
  // Array.prototype.sort, whose work copy and the objects were ~9% of the bytes an HTTP thread allocated on the
  // gateway path (allocation sampling with collected objects, 2026-12-05). Same order: the comparator a.s - b.s was
  // NaN (= equal) only for two equal infinities, which `<` also leaves in place.
  let n = 0;
  for (let i = 0; i < models.length; i++) {
    const s = d.scores[i];
    if (allowed[i] === 0 || s !== s) continue;
    const v = s + rt.latencyPenalty(models[i], now);
    let j = n++;
    while (j > 0 && v < sc[j - 1]) { sc[j] = sc[j - 1]; idx[j] = idx[j - 1]; j--; }
    sc[j] = v; idx[j] = i;
  }
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = models[idx[i]];
  return out;
}

/**
 * Router masks: models with a backend, and of those the ones not degraded
 * (all of them if every one is). The backed mask is cached per profile model
 * list (routes never change); the healthy one is the same array unless a
 * model is degraded, so the common request allocates neither.
 */
function masks(rt: GatewayRuntime, models: readonly string[]): { backed: Uint8Array; healthy: Uint8Array; nBacked: number } {
  const { mask: backed, count: nBacked } = rt.backedMask(models);
  let healthy = backed;
  let nHealthy = nBacked;
  for (let i = 0; i < models.length; i++) {
    if (backed[i] === 0 || !rt.health.isDegraded(models[i])) continue;
    if (healthy === backed) healthy = backed.slice();
    healthy[i] = 0;
    nHealthy--;
  }
  return { backed, healthy: nHealthy > 0 ? healthy : backed, nBacked };
}

function decide(r: Ready, rt: GatewayRuntime, v: Float32Array, nb: SearchResult | undefined, costWeight: number, t0: number, org?: CompiledOrg): Plan {
  const models = r.router.models;
  let { backed, healthy, nBacked } = masks(rt, models);
  // The organisation's exclusions (org-state.ts): masked out of both masks, so a degraded fallback never brings them back.
  if (org?.allowed) ({ backed, healthy, nBacked } = withoutExcluded(backed, healthy, org.allowed));
  const extra = org?.routingEffect ? { feedback: org.feedbackEvidence, priorStrength: PRIOR_STRENGTH, bias: org.bias } : undefined;
  if (nBacked === 0) throw new ApiError('no_backend', 'No model of the router profile has a backend: add at least one under providers.models (names must match the profile\'s models).', 'model');
  let allowed = healthy;
  let d: Decision;
  try {
    d = r.router.routeNear(v, nb, { costWeight, allowed, ...extra });
  } catch (e) {
    if (!(e instanceof NoCandidateError)) throw e;
    // The healthy models have no estimate in this cluster; degraded ones might: let the breaker decide.
    if (healthy === backed) throw new ApiError('no_candidate', 'No model with a backend has an error estimate for this prompt\'s cluster.', 'messages');
    allowed = backed;
    try { d = r.router.routeNear(v, nb, { costWeight, allowed, ...extra }); } catch (e2) {
      if (e2 instanceof NoCandidateError) throw new ApiError('no_candidate', 'No model with a backend has an error estimate for this prompt\'s cluster.', 'messages');
      throw e2;
    }
  }
  return { candidates: candidatesOf(rt, d, allowed, models), clusterId: d.clusterId, routingMs: performance.now() - t0 };
}

/** The masks without an organisation's excluded models (copies; the cached masks stay as they are). */
function withoutExcluded(backed: Uint8Array, healthy: Uint8Array, allowed: Uint8Array): { backed: Uint8Array; healthy: Uint8Array; nBacked: number } {
  const b = backed.slice(), h = healthy.slice();
  let nBacked = 0, nHealthy = 0;
  for (let i = 0; i < b.length; i++) { b[i] &= allowed[i]; h[i] &= allowed[i]; nBacked += b[i]; nHealthy += h[i]; }
  return { backed: b, healthy: nHealthy > 0 ? h : b, nBacked };
}

/** decide(), after the route pool's search when the profile searches there; routingMs then includes the hop. */
function decideAfterSearch(r: Ready, rt: GatewayRuntime, v: Float32Array, costWeight: number, t0: number, org?: CompiledOrg): Plan | Promise<Plan> {
  const nb = poolSearch(r, v);
  return nb === undefined ? decide(r, rt, v, undefined, costWeight, t0, org) : nb.then((n) => decide(r, rt, v, n, costWeight, t0, org));
}

/** Routed plan: synchronous with the inline (native) embedder and inline search, a Promise with an async backend or the route pool. */
function route(engine: Engine, rt: GatewayRuntime, input: ChatInput, org?: CompiledOrg): Plan | Promise<Plan> {
  const r = engine.require();
  const text = routingText(input.request.messages, rt.config.route_on, engine.config.limits.input_chars);
  if (text.trim() === '') throw new ApiError('invalid_request', '"messages" holds no text to route on (model "auto" embeds message text)', 'messages');
  const costWeight = input.costWeight ?? org?.costWeight ?? r.defaultCostWeight;
  const t0 = performance.now();
  if (r.source.kind === 'sync') return decideAfterSearch(r, rt, r.source.embedder.embedSync(text, r.scratch), costWeight, t0, org);
  return r.source.backend.embed(text).then((v) => decideAfterSearch(r, rt, v, costWeight, t0, org));
}

export function chainError(e: UpstreamChainError): ApiError {
  const code = e.status === 429 ? 'upstream_rate_limited'
    : e.status === 504 ? 'upstream_timeout'
      : e.status >= 400 && e.status < 500 ? 'upstream_rejected'
        : 'upstream_error';
  return new ApiError(code, e.message, undefined, { attempts: e.attempts });
}

export function reasonOf(input: ChatInput, plan: Plan, model: string): Reason {
  return !input.routed ? 'explicit' : plan.candidates[0] === model ? 'routed' : 'fallback';
}

export function headersOf(model: string, reason: Reason, plan: Plan, estimate: number | null, cost: number | null): [string, string][] {
  const h: [string, string][] = [['x-switchyard-model', model], ['x-switchyard-reason', reason]];
  if (plan.clusterId !== undefined) h.push(['x-switchyard-cluster', String(plan.clusterId)]);
  h.push(['x-switchyard-candidates', plan.candidates.join(',')]);
  if (estimate !== null) h.push(['x-switchyard-estimated-cost-usd', usd(estimate)]);
  if (cost !== null) h.push(['x-switchyard-cost-usd', usd(cost)]);
  return h;
}

function publish(model: string | null, reason: Reason | null, plan: Plan, attempts: readonly AttemptRecord[], stream: boolean, status: number, cost: number | null, t0: number, log?: ChatLog, usage?: Usage | null): void {
  if (log !== undefined && channels.orgRequest.hasSubscribers) {
    logRequest(log.engine, log.meta, {
      endpoint: '/v1/chat/completions', requested: log.requested, selected: plan.candidates[0] ?? null, executed: model, reason,
      chain: attempts, cluster: plan.clusterId, usage, costUsd: cost, status, cacheHit: false, t0,
    });
  }
  if (!channels.chatCompletion.hasSubscribers) return;
  channels.chatCompletion.publish({ model, reason, candidates: plan.candidates, attempts, stream, status, costUsd: cost, ms: performance.now() - t0 });
}

/** Who asked (activity log): present when the edge passed the request's org and id. */
interface ChatLog { engine: Engine; meta: RequestMeta; requested: string }

/** A request with X-GR-Cache-TTL that missed: where its answer goes (prompt-cache.ts). */
interface CacheCtx { pc: PromptCache; key: Uint8Array; ttl: number; org: string }
const MISS: [string, string] = ['x-cache', 'MISS'];
const HIT: [string, string] = ['x-cache', 'HIT'];
const COST_0: [string, string] = ['x-switchyard-cost-usd', '0'];

async function serve(rt: GatewayRuntime, input: ChatInput, plan: Plan, sink: ResponseSink, t0: number, log?: ChatLog, cache?: CacheCtx): Promise<void> {
  let res: ChatResult;
  try {
    res = await rt.gateway.chat(input.request, plan.candidates, sink.signal);
  } catch (e) {
    if (!(e instanceof UpstreamChainError)) throw e;
    publish(null, null, plan, e.attempts, input.stream, e.aborted ? 0 : e.status, null, t0, log);
    throw chainError(e); // a no-op on the edge when the client is gone
  }
  const pricing = rt.pricing(res.model);
  const estimate = pricing ? estimateCost(input.request, pricing).usd : null;
  const reason = reasonOf(input, plan, res.model);

  if (!res.stream) {
    const switchyard = {
      model: res.model, reason, cluster_id: plan.clusterId ?? null, candidates: plan.candidates, attempts: res.chain,
      cost_usd: res.costUsd, estimated_cost_usd: estimate, routing_ms: plan.routingMs ?? null, upstream_ms: res.latencyMs,
    };
    const h = headersOf(res.model, reason, plan, estimate, res.costUsd);
    if (cache !== undefined) h.push(MISS);
    sink.send(200, withSwitchyard(res.json, switchyard), h);
    if (cache !== undefined) cache.pc.set(cache.key, { headers: headersOf(res.model, reason, plan, estimate, null), switchyard, body: res.json }, cache.ttl, cache.org);
    publish(res.model, reason, plan, res.chain, false, 200, res.costUsd, t0, log, res.usage);
    return;
  }

  const chunks = res.chunks;
  const model = res.model;
  const streamHeaders = headersOf(model, reason, plan, estimate, null);
  sink.openStream(cache === undefined ? streamHeaders : [...streamHeaders, MISS]);
  let pending = '';
  // The whole stream, for the prompt cache (undefined: not caching, or already larger than a slot).
  let recorded: string | undefined = cache === undefined ? undefined : '';
  try {
    for (;;) {
      // Everything one upstream read produced, in one write (one syscall).
      const batch = await chunks.nextBatch();
      if (batch === null) break;
      for (let i = 0; i < batch.length; i++) {
        const c = batch[i];
        if (typeof c === 'string') { pending += 'data: ' + c + '\n\n'; continue; } // pass-through JSON text
        if (c.usage && pricing) {
          // An OpenAI upstream's usage chunk reaches here as the upstream sent it: price only real counts.
          const u = validUsage(c.usage);
          c.switchyard = { model, cost_usd: u ? costUsd(u, pricing) : null };
        }
        pending += sseData(JSON.stringify(c));
      }
      // The terminal event is in: the rest leaves with the trailer and [DONE] in end(), one write instead of two.
      if (chunks.complete) break;
      if (recorded !== undefined) recorded = recorded.length + pending.length > cache!.pc.slotBytes ? undefined : recorded + pending;
      const ok = sink.write(pending);
      pending = '';
      if (!ok) await sink.drain();
      if (sink.signal.aborted) break;
    }
  } catch (e) {
    // After the first byte: the client already holds part of an answer, so end the stream with the error.
    // The message quotes the upstream: redacted like every failure message before it reaches a client.
    const err = e instanceof UpstreamError ? e : new UpstreamError('bad_response', (e as Error)?.message ?? String(e));
    sink.end(pending + sseError({ message: redact(`${model} failed mid-stream: ${err.message}`), type: 'upstream_error', code: err.kind }));
    const s = await res.finished;
    publish(model, reason, plan, res.chain, true, sink.signal.aborted ? 0 : 200, s.costUsd, t0, log, s.usage);
    return;
  }
  if (sink.signal.aborted) {
    await chunks.return(); // cancels the upstream request
    const s = await res.finished;
    publish(model, reason, plan, res.chain, true, 0, s.costUsd, t0, log, s.usage);
    return;
  }
  const s = await res.finished;
  const trailer = { model, cost_usd: s.costUsd, usage: s.usage };
  const last = pending + sseComment(`switchyard ${JSON.stringify(trailer)}`) + SSE_DONE;
  sink.end(last);
  if (recorded !== undefined) cache!.pc.set(cache!.key, { headers: streamHeaders, switchyard: null, body: recorded + last }, cache!.ttl, cache!.org);
  publish(model, reason, plan, res.chain, true, 200, s.costUsd, t0, log, s.usage);
}

/**
 * `json` (one JSON object, the completion) with a `switchyard` member added
 * before its closing brace: a splice instead of parsing the upstream's answer
 * and serialising it again with the member (measured: 1.2 µs vs 2.7 µs for
 * the mock's 450-byte answer, and no object graph for the GC).
 */
export function withSwitchyard(json: string, switchyard: object): string {
  const end = json.lastIndexOf('}');
  let i = end - 1;
  while (i > 0 && (json.charCodeAt(i) === 0x20 || json.charCodeAt(i) === 0x0a || json.charCodeAt(i) === 0x0d || json.charCodeAt(i) === 0x09)) i--;
  return json.slice(0, end) + (json.charCodeAt(i) === 0x7b ? '"switchyard":' : ',"switchyard":') + JSON.stringify(switchyard) + '}';
}

/**
 * The endpoint. `body` is parsed synchronously (it may be uWS's buffer, valid
 * only during this call); everything after the first await works on copies.
 */
export function handleChat(body: Buffer, engine: Engine, sink: ResponseSink, meta?: RequestMeta & { readonly cacheTtl?: string }): void | Promise<void> {
  const t0 = performance.now();
  const o = parseJsonObject(body);
  const input = parseChatRequest(o);
  // Built only when something listens on switchyard:org:request (the activity log, the metrics recorder).
  const log = meta !== undefined && channels.orgRequest.hasSubscribers ? { engine, meta, requested: input.model } : undefined;
  const org = meta?.org;
  let cache: CacheCtx | undefined;
  const ttl = meta?.cacheTtl ? cacheTtlOf(meta.cacheTtl) : 0;
  if (ttl > 0) {
    const pc = promptCacheOf(engine);
    if (pc.enabled) {
      const key = pc.key(meta!.org, o);
      const hit = pc.lookup(meta!.org, key);
      cache = { pc, key, ttl, org: meta!.org };
      // A local miss with Redis behind it (issue 12): one bounded round trip, a miss on any failure.
      if (hit instanceof Promise) {
        const c = cache;
        return hit.then((h) => (h !== undefined ? replay(h, input, sink, log, t0) : planAndServe(engine, input, sink, t0, org, log, c)));
      }
      if (hit !== undefined) return replay(hit, input, sink, log, t0);
    }
  }
  return planAndServe(engine, input, sink, t0, org, log, cache);
}

function planAndServe(engine: Engine, input: ChatInput, sink: ResponseSink, t0: number, org: string | undefined, log: ChatLog | undefined, cache: CacheCtx | undefined): void | Promise<void> {
  const rt = engine.gateway;
  const plan = planChat(engine, input, org);
  if (plan instanceof Promise) return plan.then((p) => serve(rt, input, p, sink, t0, log, cache));
  return serve(rt, input, plan, sink, t0, log, cache);
}

/** A prompt-cache hit: the stored answer, nothing spent (cost 0), no upstream call. */
function replay(hit: CachedAnswer, input: ChatInput, sink: ResponseSink, log: ChatLog | undefined, t0: number): void {
  // hit is this lookup's own copy (decoded per hit): its headers array and switchyard object are extended in place.
  const headers = hit.headers;
  const n = headers.length;
  headers.push(COST_0, HIT);
  const sw = hit.switchyard;
  if (sw !== null) {
    // Same text as { ...sw, cost_usd: 0, cache: 'HIT' }: assignment keeps an existing key where it is.
    sw.cost_usd = 0;
    sw.cache = 'HIT';
    sink.send(200, withSwitchyard(hit.body, sw), headers);
  } else { sink.openStream(headers); sink.end(hit.body); }
  if (log !== undefined && channels.orgRequest.hasSubscribers) {
    let model: string | null = null, cluster: string | undefined;
    for (let i = 0; i < n; i++) {
      if (headers[i][0] === 'x-switchyard-model') { if (model === null) model = headers[i][1]; } else if (headers[i][0] === 'x-switchyard-cluster' && cluster === undefined) cluster = headers[i][1];
    }
    logRequest(log.engine, log.meta, {
      endpoint: '/v1/chat/completions', requested: input.model, selected: model, executed: model, reason: 'cache', chain: [],
      cluster: cluster === undefined ? null : Number(cluster), usage: null, costUsd: 0, status: 200, cacheHit: true, t0,
    });
  }
}

/**
 * The candidates for a chat request: routed (auto / router / MoM) or the one
 * configured model named, else 404 model_not_found. Shared with
 * POST /v1/responses (responses.ts), which routes exactly as chat does.
 */
export function planChat(engine: Engine, input: ChatInput, org?: string | CompiledOrg): Plan | Promise<Plan> {
  if (typeof org === 'string') return withOrg(engine, org, (c) => planChat(engine, input, c));
  const rt = engine.gateway;
  if (org !== undefined && !input.routed) checkExplicit(org, input.model);
  if (input.routed) return route(engine, rt, input, org);
  if (rt.routes.has(input.model)) return { candidates: [input.model], clusterId: undefined, routingMs: undefined };
  const known = rt.models.length <= 20 ? ` (configured: ${rt.models.join(', ') || 'none'}; or "auto")` : '';
  throw new ApiError('model_not_found', `The model ${JSON.stringify(input.model.slice(0, 256))} does not exist or has no configured backend${known}.`, 'model');
}

