/**
 * POST /v1/route: raw JSON -> RouteRequest -> Router.route -> decision JSON.
 *
 * Returns the response body as a string when everything ran inline (native
 * embedder, a supplied embedding, or a cache hit), or a Promise when the
 * embedding comes from an async backend or the nearest-centroid search from
 * the route pool (large-K profiles: Ready.routePool; the pool finds the
 * neighbours, Router.routeFrom decides on this thread). The edge writes a
 * string within the same uWS callback and only pays for a cork + microtask
 * on the async path. usage.routing_ms includes the pool round trip.
 *
 * Cache: one process-wide cache off the JS heap (src/api/route-cache.ts,
 * src/store/shm-cache.ts), keyed on (cost_weight, available_models as a set,
 * prompt); the value is the decision JSON up to "cache_hit", so a hit costs a
 * hash, a locked copy out of shared memory, one string decode and a
 * concatenation, and a miss stores a copy: nothing the cache holds is a JS
 * object for the GC to trace. Requests that supply an embedding are not
 * cached: the key would have to hash 1.5 KB of floats, which costs about what
 * it saves (routing at K=100 is ~20 µs), and pipelines that send embeddings
 * rarely repeat them.
 */
import { ApiError, invalid } from '../errors.ts';
import { NoCandidateError, type Decision, type FeedbackEvidence } from '../routing/router.ts';
import type { SearchResult } from '../pool/route-pool.ts';
import { channels } from '../diagnostics.ts';
import { poolSearch, type Engine, type Ready } from './engine.ts';
import { describe, embedding, parseJsonObject, rejectUnknownFields, text, type Json } from './validate.ts';
import { isMsgpack, MSGPACK_ANSWER, parseMsgpackObject, prefersMsgpack } from './route-msgpack.ts';
import type { BinaryReply } from './sink.ts';
import { PRIOR_STRENGTH, withOrg, type CompiledOrg } from './org-state.ts';
import { logRequest, logsDecisions, type RequestMeta } from './activity-log.ts';

export interface RouteRequest {
  prompt: string | undefined;
  /** Supplied embedding (takes precedence over prompt; the prompt is then only validated). */
  embedding: Float32Array | undefined;
  /** Candidate mask; undefined = every registered model. */
  allowed: Uint8Array | undefined;
  costWeight: number;
  /** The organisation's feedback evidence and preferred-provider bonus (org-state.ts); set only with `noCache`. */
  feedback?: ReadonlyMap<number, FeedbackEvidence> | null;
  bias?: Float64Array | null;
  /** The organisation's preferences or feedback change the decision: the shared decision cache (keyed without the org) is skipped. */
  noCache?: boolean;
  /** Set when the activity log is on: what was decided, for the request's row (filled by decide() or the cache hit). */
  out?: RouteOutcome;
}

/** The activity log's view of a /v1/route decision. */
export interface RouteOutcome { model: string | null; cluster: number | null; hit: boolean }

const FIELDS = new Set(['prompt', 'embedding', 'available_models', 'cost_weight']);

export function parseRouteRequest(o: Json, r: Ready, maxChars: number): RouteRequest {
  rejectUnknownFields(o, FIELDS);
  const prompt = o.prompt === undefined ? undefined : text(o.prompt, 'prompt', maxChars);
  const emb = o.embedding === undefined ? undefined : embedding(o.embedding, r.profile.dim);
  if (prompt === undefined && emb === undefined) throw invalid('prompt', 'is required unless "embedding" is given');

  let allowed: Uint8Array | undefined;
  const am = o.available_models;
  if (am !== undefined) {
    if (!Array.isArray(am) || am.length === 0) throw invalid('available_models', `must be a non-empty array of model names, got ${describe(am)}`);
    const index = r.router.modelIndex;
    allowed = new Uint8Array(r.router.models.length);
    for (let i = 0; i < am.length; i++) {
      const name = am[i];
      const m = typeof name === 'string' ? index.get(name) : undefined;
      if (m === undefined) {
        const known = r.router.models.length <= 20 ? ` (registered: ${r.router.models.join(', ')})` : '';
        throw invalid(`available_models[${i}]`, `${typeof name === 'string' ? `is not a registered model: ${JSON.stringify(name.slice(0, 200))}` : `must be a model name string, got ${describe(name)}`}${known}`);
      }
      allowed[m] = 1;
    }
    let n = 0;
    for (let m = 0; m < allowed.length; m++) n += allowed[m];
    // All models listed = no restriction: same decisions, so share the cache entries.
    if (n === allowed.length) allowed = undefined;
  }

  let costWeight = r.defaultCostWeight;
  const cw = o.cost_weight;
  if (cw !== undefined) {
    if (typeof cw !== 'number' || !(cw >= 0 && cw <= Number.MAX_VALUE)) throw invalid('cost_weight', `must be a finite number >= 0, got ${describe(cw)}`);
    costWeight = cw;
  }
  return { prompt, embedding: emb, allowed, costWeight };
}

const ms = (x: number) => Math.round(x * 1e4) / 1e4;

function tail(hit: boolean, routingMs: number, embeddingMs: number): string {
  return `,"cache_hit":${hit},"usage":{"routing_ms":${num(ms(routingMs))},"embedding_ms":${num(ms(embeddingMs))}}}`;
}

/**
 * A double as JSON text. Not `${x}` or String(x): those go through V8's
 * number-string cache, which keeps every new string it makes alive until a
 * later number takes its slot, so the strings of unique decisions (14 doubles
 * a request) survive two scavenges, are promoted, and die in the old
 * generation: ~300-480 B/request of old-space garbage with unique prompts,
 * hence mark-compacts under load. JSON.stringify formats the double into its
 * own buffer (same shortest round-trip digits; NaN and infinities -> null).
 * Measured side by side: old-space growth per request and the mark-compacts
 * it causes in README's bench:latency table.
 */
const num = (x: number): string => JSON.stringify(x);

/**
 * How a decision becomes the 200 body: JSON (below, the default) or msgpack
 * (route-msgpack.ts, when Accept prefers it). The cache holds decision JSON
 * whatever the format, so a JSON hit stays one concatenation.
 */
export interface RouteFormat<T> {
  /** decided() reads `json`: build decisionJson even when nothing is cached. */
  readonly needsJson: boolean;
  /** A fresh decision (d.scores is scratch: consume it now). `json`: decisionJson, when built. */
  decided(r: Ready, d: Decision, allowed: Uint8Array | undefined, json: string | undefined, routingMs: number, embeddingMs: number): T;
  /** A cache hit: `json` is the stored decision JSON up to "cache_hit". */
  hit(r: Ready, json: string, routingMs: number): T;
}

export const JSON_ANSWER: RouteFormat<string> = {
  needsJson: true,
  decided: (_r, _d, _a, json, routingMs, embeddingMs) => json! + tail(false, routingMs, embeddingMs),
  hit: (_r, json, routingMs) => json + tail(true, routingMs, 0),
};

/**
 * The decision as JSON, without the closing brace: cache_hit and usage are appended per response.
 *
 * Cost: ~1.3-1.9 µs for 11 models, of which ~85% is V8 turning doubles into
 * their shortest round-trip decimal (~100 ns each; no JS formatter beats V8's
 * C++ one while keeping the output identical; num() says why not `${x}`). So each number is formatted
 * once: the selected model's score string serves both cost_adjusted_score and
 * its all_scores entry (the Router sets both from the same double), and the
 * `{"selected_model":"name","cluster_id":` prefix is precomputed per model.
 */
function decisionJson(r: Ready, d: Decision, allowed: Uint8Array | undefined): string {
  const keys = r.modelKeys, scores = d.scores, best = d.modelIndex;
  const bestScore = num(d.score);
  let all = '';
  for (let m = 0; m < keys.length; m++) {
    if (allowed !== undefined && allowed[m] === 0) continue;
    // A candidate with no error estimate in this cluster scores NaN: JSON null.
    const v = scores[m];
    const sv = m === best ? bestScore : num(v);
    all = all === '' ? keys[m] + sv : `${all},${keys[m]}${sv}`;
  }
  return `${r.modelPrefixes[best]}${d.clusterId},"expected_error":${num(d.expectedError)},"cost_adjusted_score":${bestScore},"cost_weight":${num(d.costWeight)},"all_scores":{${all}}`;
}

/**
 * `nb`: the neighbours the route pool found for `v`; undefined = search inline.
 * `key`: cache the decision under key[0..keyLength); undefined = do not cache.
 */
function decide<T>(f: RouteFormat<T>, r: Ready, req: RouteRequest, v: Float32Array, nb: SearchResult | undefined, t0: number, embeddingMs: number, key: Uint8Array | undefined, keyLength: number): T {
  let d: Decision;
  try {
    // scores go into the engine's scratch: the decision is consumed before this function returns.
    d = r.router.routeNear(v, nb, { costWeight: req.costWeight, allowed: req.allowed, scores: r.scoreScratch, feedback: req.feedback, priorStrength: PRIOR_STRENGTH, bias: req.bias });
  } catch (e) {
    if (e instanceof NoCandidateError) throw new ApiError('no_candidate', `None of "available_models" has an error estimate in this prompt's cluster: ${e.message}`, 'available_models');
    throw e;
  }
  if (req.out !== undefined) { req.out.model = d.model; req.out.cluster = d.clusterId; }
  const body = key !== undefined || f.needsJson ? decisionJson(r, d, req.allowed) : undefined;
  // A copy into shared memory: the body and its concatenation tree die young.
  if (key !== undefined) r.cache.store(body!, key, keyLength);
  const routingMs = performance.now() - t0 - embeddingMs;
  if (channels.routeDecision.hasSubscribers) channels.routeDecision.publish({ model: d.model, clusterId: d.clusterId, cacheHit: false, routingMs, embeddingMs });
  return f.decided(r, d, req.allowed, body, routingMs, embeddingMs);
}

/** decide(), after the route pool's search when the profile searches there (a Promise), else at once. */
function decideAfterSearch<T>(f: RouteFormat<T>, r: Ready, req: RouteRequest, v: Float32Array, t0: number, embeddingMs: number, key: Uint8Array | undefined, keyLength: number): T | Promise<T> {
  const nb = poolSearch(r, v);
  if (nb === undefined) return decide(f, r, req, v, undefined, t0, embeddingMs, key, keyLength);
  // The thread's key scratch is reused by the next request while the pool searches: keep a copy.
  const k = key === undefined ? undefined : key === r.cache.key ? r.cache.keyCopy() : key;
  return nb.then((n) => decide(f, r, req, v, n, t0, embeddingMs, k, keyLength));
}

/**
 * The endpoint. `body` is valid only during this call (it may be uWS's
 * buffer): parsed before any await. A msgpack content type is decoded by
 * route-msgpack.ts into the same object JSON.parse gives, so one
 * parseRouteRequest checks both; Accept picks the answer's format.
 */
export function handleRoute(body: Buffer, engine: Engine, contentType = '', accept = '', org?: string, requestId?: string): string | BinaryReply | Promise<string | BinaryReply> {
  // The activity log (activity-log.ts): one hasSubscribers check when nothing listens, two loads more with only metrics on.
  if (org !== undefined && requestId !== undefined && channels.orgRequest.hasSubscribers && logsDecisions(engine)) return logged(body, engine, contentType, accept, org, requestId);
  return routeBody(body, engine, contentType, accept, org);
}

/**
 * handleRoute with the request's activity-log row: the decision's model and
 * cluster come back through req.out (no second parse of the answer); the row
 * is published once the answer is known (a Promise's settlement on the async
 * paths). Requests refused before routing (a 400, 503 router_not_ready) are
 * not rows, as on the gateway endpoints; a routing failure (422 no_candidate) is.
 */
function logged(body: Buffer, engine: Engine, contentType: string, accept: string, org: string, requestId: string): string | BinaryReply | Promise<string | BinaryReply> {
  const log = new RouteLog(engine, org, requestId);
  let res: string | BinaryReply | Promise<string | BinaryReply>;
  try {
    res = routeBody(body, engine, contentType, accept, org, log);
  } catch (e) {
    if (log.routing) log.row(statusOf(e));
    throw e;
  }
  if (!(res instanceof Promise)) { log.row(200); return res; }
  return res.then((v) => { log.row(200); return v; }, (e: unknown) => { if (log.routing) log.row(statusOf(e)); throw e; });
}

/**
 * One logged /v1/route request: its RouteOutcome (filled by routeRequest),
 * its RequestMeta and whether it got past parsing, in one object. Per-request
 * closures cost more than their allocation here: tsx compiles with esbuild's
 * keepNames, so each named arrow made in a function body is passed through
 * __name (an Object.defineProperty on a fresh function): 2.1% of an HTTP
 * thread's samples on decision-cache hits (bench/cpu-profile-top.ts, 2026-12-05).
 */
class RouteLog implements RouteOutcome, RequestMeta {
  model: string | null = null;
  cluster: number | null = null;
  hit = false;
  /** Parsed and checked: from here a failure is a logged row (a 422 no_candidate), before it not (a 400). */
  routing = false;
  private readonly t0 = performance.now();
  constructor(private readonly engine: Engine, readonly org: string, readonly requestId: string) {}

  row(status: number): void {
    logRequest(this.engine, this, {
      endpoint: '/v1/route', requested: null, selected: this.model, executed: null, reason: this.model === null ? null : 'routed', chain: NO_CHAIN,
      cluster: this.cluster, usage: null, costUsd: null, status, cacheHit: this.hit, t0: this.t0,
    });
  }
}

const NO_CHAIN: readonly { model: string }[] = [];
const statusOf = (e: unknown): number => (e instanceof ApiError ? e.status : 500);

/** A cached decision's model and cluster: its JSON starts with r.modelPrefixes[m], `{"selected_model":"<name>","cluster_id":<k>,`. */
function outcomeOfJson(out: RouteOutcome, json: string): void {
  const end = json.indexOf(',"cluster_id":', 18);
  out.hit = true;
  if (end < 0) return;
  try { out.model = JSON.parse(json.slice(18, end)) as string; } catch { /* not a decision: leave the model unknown */ }
  const k = json.indexOf(',', end + 14);
  out.cluster = Number(json.slice(end + 14, k < 0 ? undefined : k));
}

function routeBody(body: Buffer, engine: Engine, contentType: string, accept: string, org?: string, out?: RouteLog): string | BinaryReply | Promise<string | BinaryReply> {
  const r = engine.require();
  // A msgpack bin embedding may be a view of the body, which uWS detaches when this call returns. Nothing reads it after
  // an await: the route pool gets a copy (poolSearch) and decides from the neighbours alone (Router.routeFrom).
  const o = isMsgpack(contentType) ? parseMsgpackObject(body) : parseJsonObject(body);
  const req = parseRouteRequest(o, r, engine.config.limits.input_chars);
  if (out !== undefined) { req.out = out; out.routing = true; }
  if (org === undefined) return prefersMsgpack(accept) ? routeRequest(MSGPACK_ANSWER, r, req) : routeRequest(JSON_ANSWER, r, req);
  // The organisation's preferences and feedback (org-state.ts): one Map lookup when compiled; nothing changes for an org without any.
  if (req.embedding !== undefined && req.embedding.buffer === body.buffer) req.embedding = req.embedding.slice();
  const msgpack = prefersMsgpack(accept);
  return withOrg(engine, org, (c) => {
    if (c.routingEffect) applyOrg(req, c, o.cost_weight === undefined);
    return msgpack ? routeRequest(MSGPACK_ANSWER, r, req) : routeRequest(JSON_ANSWER, r, req);
  });
}

/** An organisation's exclusions, λ default, feedback posteriors and bonus onto a parsed request. */
function applyOrg(req: RouteRequest, c: CompiledOrg, lambdaUnset: boolean): void {
  if (c.allowed !== null) {
    const a = req.allowed ? req.allowed.slice() : c.allowed.slice();
    if (req.allowed) for (let m = 0; m < a.length; m++) a[m] &= c.allowed[m];
    req.allowed = a;
  }
  if (lambdaUnset && c.costWeight !== undefined) req.costWeight = c.costWeight;
  req.feedback = c.feedbackEvidence;
  req.bias = c.bias;
  req.noCache = true;
}

/** A checked request -> its decision in format `f` (inline, or a Promise on the async embedding / pool paths). */
export function routeRequest<T>(f: RouteFormat<T>, r: Ready, req: RouteRequest): T | Promise<T> {
  const t0 = performance.now();
  if (req.embedding !== undefined) return decideAfterSearch(f, r, req, req.embedding, t0, 0, undefined, 0);

  if (req.noCache === true) {
    if (r.source.kind === 'sync') return decideAfterSearch(f, r, req, r.source.embedder.embedSync(req.prompt!, r.scratch), t0, 0, undefined, 0);
    return r.source.backend.embed(req.prompt!).then((v) => decideAfterSearch(f, r, req, v, t0, 0, undefined, 0));
  }
  const c = r.cache;
  const hit = c.lookup(req);
  if (hit !== undefined) {
    const routingMs = performance.now() - t0;
    if (channels.routeDecision.hasSubscribers) channels.routeDecision.publish({ cacheHit: true, routingMs, embeddingMs: 0 });
    if (req.out !== undefined) outcomeOfJson(req.out, hit);
    return f.hit(r, hit, routingMs);
  }
  const te = performance.now();
  // Synchronous to the store: the key stays in the thread's scratch (c.key), no copy.
  const key = c.enabled ? c.key : undefined, keyLength = c.keyLength;
  if (r.source.kind === 'sync') {
    const v = r.source.embedder.embedSync(req.prompt!, r.scratch);
    return decideAfterSearch(f, r, req, v, t0, performance.now() - te, key, keyLength);
  }
  const k = key === undefined ? undefined : c.keyCopy();
  return r.source.backend.embed(req.prompt!).then((v) => decideAfterSearch(f, r, req, v, t0, performance.now() - te, k, keyLength));
}
