/**
 * The GreatRouter endpoints that call a model (issue 10):
 *
 *   POST /v1/auto/route    classify -> rank (auto-rank.ts) -> the chat gateway, in process
 *   POST /v1/models/route  explicit filters (query, maxCost tier, task_type, capabilities) -> the gateway
 *
 * "Proxies the request" = ChatGateway.chat over the ranked models as the
 * fallback chain (the same fallback, health and cost as /v1/chat/completions):
 * the best-ranked first, degraded models (open circuit breaker) moved to the
 * end. Complete responses only: `input.parameters.stream: true` is a 400, as
 * GreatRouter documents. The answer carries the attempts (`fallback_chain`),
 * and the model's completion tokens feed the expected-output-token mean that
 * later estimates use (auto-rank.ts recordOutputTokens).
 *
 * What costs over /v1/chat/completions: classification (~5 µs), ranking
 * (~5 µs for 50 models), parsing the upstream's completion to re-emit its
 * choices inside `result` (~2 µs for the mock's answer), one session read and
 * one append when session_id is given.
 */
import { orgStates, type CompiledOrg } from './org-state.ts';
import { ApiError, invalid } from '../errors.ts';
import { UpstreamChainError } from '../providers/fallback.ts';
import type { JsonResult } from '../providers/gateway.ts';
import { PRICE_TIERS, type PriceTier } from '../routing/tiers.ts';
import { chainError } from './chat.ts';
import { parseChatRequest, type ChatInput } from './chat-validate.ts';
import { classifyPrompt } from './auto-classify.ts';
import { priceComparison, priorErrors, rank, recordOutputTokens, type Ranked, type Ranking } from './auto-rank.ts';
import { expectedErrors, inputTokens, maxTokensOf, prepare, withAutoRequest, type AutoRequest, type Prepared } from './auto-request.ts';
import { appendSession } from './auto-session.ts';
import { rankFor, rankInput } from './auto-suggest.ts';
import { catalogOf, isRouterTask, type CatalogEntry, type RouterTask } from './catalog.ts';
import type { Engine } from './engine.ts';
import type { ResponseSink } from './sink.ts';
import { channels } from '../diagnostics.ts';
import { logRequest, type RequestMeta } from './activity-log.ts';
import type { Usage } from '../providers/types.ts';
import { describe, parseJsonObject, rejectUnknownFields, type Json } from './validate.ts';

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const ms = (x: number) => Math.round(x * 1000) / 1000;
/** Float noise off (1.68e-5, not 1.6800000000000002e-5): a price times a count is exact to far fewer digits. */
const usd = (x: number | null) => (x === null ? null : Math.round(x * 1e10) / 1e10);

/** `input` -> the chat request (400s name input.messages... / input.parameters...). */
export function chatInputOf(input: Json, model: string): ChatInput {
  for (const k in input) if (k !== 'messages' && k !== 'parameters') throw invalid(`input.${k.slice(0, 64)}`, 'is not a known field (known: messages, parameters)');
  const params = input.parameters ?? {};
  if (!isObj(params)) throw invalid('input.parameters', `must be an object of chat parameters (temperature, max_tokens, ...), got ${describe(params)}`);
  for (const k of ['model', 'messages'] as const) if (k in params) throw invalid(`input.parameters.${k}`, `is not allowed: ${k === 'model' ? 'the router picks the model (send "model" at the top level to name one)' : 'messages go in input.messages'}`);
  if (params.stream === true) throw invalid('input.parameters.stream', 'must not be true: this endpoint returns complete responses only (use /v1/chat/completions with model "router" to stream)');
  try {
    return parseChatRequest({ ...params, model, messages: input.messages });
  } catch (e) {
    if (!(e instanceof ApiError) || e.field === undefined) throw e;
    const field = e.field.startsWith('messages') ? `input.${e.field}` : `input.parameters.${e.field}`;
    throw new ApiError(e.code, e.message.replace(`"${e.field}"`, `"${field}"`), field, e.details);
  }
}

/** The ranked models as the gateway's chain: healthy first in rank order, then degraded ones. */
function chainOf(engine: Engine, ranked: readonly Ranked[]): string[] {
  const h = engine.gateway.health;
  const ok: string[] = [], degraded: string[] = [];
  for (const r of ranked) (h.isDegraded(r.entry.name) ? degraded : ok).push(r.entry.name);
  return ok.concat(degraded);
}

/** 400s for an empty ranking: no routable model for the task, or none within the budget (naming the cheapest). */
function requireRanked(ranking: Ranking, task: string, budget: number | undefined, engine: Engine): void {
  if (ranking.ranked.length > 0) return;
  if (ranking.candidates === 0) {
    const listed = catalogOf(engine).entries.filter((e) => isRouterTask(task) && e.tasks.includes(task)).map((e) => e.id);
    const also = listed.length > 0 ? ` The catalog lists ${listed.slice(0, 10).join(', ')} for it, which the chat gateway cannot call (or that are long_tail); /v1/auto/suggest shows them.` : '';
    throw new ApiError('invalid_request', `No routable model for task "${task}" with these filters: this server calls chat models only.${also}`, 'task', { task });
  }
  const c = ranking.cheapestDropped;
  throw new ApiError('invalid_request',
    `"budget_dollars" (${budget}) is below every candidate's estimated cost${c ? `; the cheapest is ${c.entry.id} at $${c.cost}` : ' (no candidate has pricing)'}.`,
    'budget_dollars', { cheapest_model: c?.entry.id ?? null, cheapest_estimate_dollars: c?.cost ?? null });
}

/** The request's activity-log row (present when the log is on and the edge passed the request id). */
interface Log { engine: Engine; meta: RequestMeta; endpoint: string; requested: string | null; t0: number }

function logOf(engine: Engine, endpoint: string, requested: string | null, t0: number, org: string | undefined, requestId: string | undefined): Log | undefined {
  return org !== undefined && requestId !== undefined && channels.orgRequest.hasSubscribers ? { engine, meta: { org, requestId }, endpoint, requested, t0 } : undefined;
}

/** The gateway call's row (module-level, not a closure per request: see RouteLog in route.ts). */
function logCall(log: Log, chain: string[], executed: string | null, attempts: readonly { model: string }[], status: number, usage: Usage | null, cost: number | null): void {
  logRequest(log.engine, log.meta, {
    endpoint: log.endpoint, requested: log.requested, selected: chain[0] ?? null, executed, reason: executed === null ? null : executed === chain[0] ? 'routed' : 'fallback',
    chain: attempts, cluster: null, usage, costUsd: cost, status, cacheHit: false, t0: log.t0,
  });
}

async function callGateway(engine: Engine, input: ChatInput, chain: string[], sink: ResponseSink, log?: Log): Promise<JsonResult> {
  try {
    const res = await engine.gateway.gateway.chat(input.request, chain, sink.signal);
    if (res.stream) throw new ApiError('internal_error'); // unreachable: stream is refused in chatInputOf
    if (res.usage) recordOutputTokens(res.model, res.usage.completion_tokens);
    if (log !== undefined) logCall(log, chain, res.model, res.chain, 200, res.usage, res.costUsd);
    return res;
  } catch (e) {
    if (e instanceof UpstreamChainError) {
      if (log !== undefined) logCall(log, chain, null, e.attempts, e.aborted ? 0 : e.status, null, null);
      throw chainError(e);
    }
    throw e;
  }
}

function resultOf(res: JsonResult): Record<string, unknown> {
  const c = res.completion as unknown as Json;
  return { id: c.id ?? null, model: c.model ?? null, choices: c.choices ?? [], usage: c.usage ?? null };
}

function picked(ranking: Ranking, model: string): Ranked | undefined {
  return ranking.ranked.find((r) => r.entry.name === model);
}

/** POST /v1/auto/route. */
export function handleAutoRoute(body: Buffer, engine: Engine, sink: ResponseSink, org?: string, requestId?: string): Promise<void> {
  const t0 = performance.now();
  return withAutoRequest(body, engine, org, 'route', (req, c) => autoRoute(req, engine, sink, t0, c, logOf(engine, '/v1/auto/route', req.model?.name ?? 'auto', t0, org, requestId)));
}

function autoRoute(req: AutoRequest, engine: Engine, sink: ResponseSink, t0: number, org?: CompiledOrg, log?: Log): Promise<void> {
  req.org = org;
  const r = engine.require();
  if (req.model !== undefined && !req.model.routable) {
    throw invalid('model', `names ${req.model.id}, a ${req.model.taskType} model (${req.model.visibility}) that /v1/auto/route cannot call: it calls chat models through the gateway`);
  }
  const input = chatInputOf(req.input!, req.model?.name ?? 'router');
  const go = async (prep: Prepared): Promise<void> => {
    const t1 = performance.now();
    const q = rankInput(req, prep, true);
    const ranking = await rankFor(engine, r, req, q).ranking;
    requireRanked(ranking, prep.classification.task, req.budget, engine);
    const chain = chainOf(engine, ranking.ranked);
    const t2 = performance.now();
    const res = await callGateway(engine, input, chain, sink, log);
    const t3 = performance.now();
    const used = picked(ranking, res.model);
    // Awaited (one writer-thread round trip, sessions only): a client that sends its next prompt after this answer must find this one in the context.
    if (req.sessionId !== undefined) await appendSession(engine, req.sessionId, prep.classification.task, req.prompt!, req.org?.org).catch(() => { /* the answer stands; the next prompt just sees less context */ });
    sink.send(200, JSON.stringify({
      classification: prep.classification,
      optimization: req.optimization,
      model: { model: used?.entry.summary ?? null, cost_tier: used?.entry.priceTier ?? null, estimated_cost: used?.cost ?? null },
      price_comparison: priceComparison(ranking.ranked),
      result: resultOf(res),
      cost_dollars: usd(res.costUsd),
      fallback_chain: res.chain,
      timing: { classification_ms: ms(prep.classificationMs), routing_ms: ms(t2 - t1), inference_ms: ms(t3 - t2), total_ms: ms(performance.now() - t0) },
      context: { session_prompts: prep.session.prompts, contextual_boost: prep.boost },
    }));
  };
  const p = prepare(engine, req);
  return p instanceof Promise ? p.then(go) : go(p);
}

const EXPLICIT_FIELDS: ReadonlySet<string> = new Set(['query', 'input', 'maxCost', 'filter']);

/**
 * POST /v1/models/route: `query` is a router task (text, code, ...) or a
 * description classified like a prompt; `filter.task_type` (exact) replaces
 * the task match when given; `filter.capabilities` must all be present;
 * `maxCost` keeps models whose price tier is at most that one (unpriced
 * models are dropped). Among those, balanced ranking on the input's last user
 * message (else the query), and the gateway call as /v1/auto/route makes it.
 */
export async function handleModelsRoute(body: Buffer, engine: Engine, sink: ResponseSink, org?: string, requestId?: string): Promise<void> {
  const t0 = performance.now();
  const o = parseJsonObject(body);
  rejectUnknownFields(o, EXPLICIT_FIELDS);
  if (typeof o.query !== 'string' || o.query.length === 0 || o.query.length > engine.config.limits.input_chars) throw invalid('query', `is required: a task (text, code, ...) or a description, got ${describe(o.query)}`);
  if (!isObj(o.input)) throw invalid('input', `is required ({messages: [...], parameters?: {...}}), got ${describe(o.input)}`);
  let maxTier: number = PRICE_TIERS.length - 1;
  if (o.maxCost !== undefined && o.maxCost !== null) {
    maxTier = PRICE_TIERS.indexOf(o.maxCost as PriceTier);
    if (maxTier < 0) throw invalid('maxCost', `must be one of ${PRICE_TIERS.join(', ')}, got ${describe(o.maxCost)}`);
  }
  let taskType: string | undefined, caps: string[] | undefined;
  if (o.filter !== undefined && o.filter !== null) {
    const f = o.filter;
    if (!isObj(f)) throw invalid('filter', `must be an object {task_type?, capabilities?}, got ${describe(f)}`);
    for (const k in f) if (k !== 'task_type' && k !== 'capabilities') throw invalid(`filter.${k.slice(0, 64)}`, 'is not a known field (known: task_type, capabilities)');
    if (f.task_type !== undefined && f.task_type !== null) {
      if (typeof f.task_type !== 'string' || f.task_type.length === 0) throw invalid('filter.task_type', `must be a task type string (e.g. "text_generation"), got ${describe(f.task_type)}`);
      taskType = f.task_type;
    }
    if (f.capabilities !== undefined && f.capabilities !== null) {
      if (!Array.isArray(f.capabilities) || f.capabilities.length > 64 || !f.capabilities.every((c) => typeof c === 'string')) throw invalid('filter.capabilities', `must be an array of strings, got ${describe(f.capabilities)}`);
      caps = f.capabilities as string[];
    }
  }
  const input = chatInputOf(o.input, 'router');
  const r = engine.require();
  const task: RouterTask = isRouterTask(o.query) ? o.query : classifyPrompt(o.query, 'auto').task;
  const msgs = input.request.messages;
  let text = o.query;
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i].role === 'user' && typeof msgs[i].content === 'string' && (msgs[i].content as string).length > 0) { text = msgs[i].content as string; break; }
  const fits = (e: CatalogEntry) => e.routable && (taskType !== undefined ? e.taskType === taskType : e.tasks.includes(task))
    && (caps === undefined || caps.every((c) => e.capabilities.includes(c)))
    && (maxTier === PRICE_TIERS.length - 1 || (e.priceTier !== null && PRICE_TIERS.indexOf(e.priceTier) <= maxTier));
  // The organisation's exclusions (issue 11), as /v1/auto/*: never ranked, so never called.
  const ex = org === undefined ? undefined : (await orgStates(engine).get(org)).excludedModels;
  const cands = catalogOf(engine).entries.filter((e) => fits(e) && !(ex !== undefined && (ex.has(e.name) || ex.has(e.id))));
  if (cands.length === 0) throw invalid('query', `matches no routable model (task ${taskType ?? task}${caps ? `, capabilities ${caps.join(', ')}` : ''}${o.maxCost ? `, maxCost ${o.maxCost}` : ''})`);
  const idx = r.router.modelIndex;
  const errors = cands.some((e) => idx.has(e.name)) ? await expectedErrors(r, text) : priorErrors(r);
  const ranking = rank(cands, {
    task, optimization: 'balanced', errors, inputTokens: inputTokens({ prompt: text, input: o.input }), maxTokens: maxTokensOf(o.input),
    budget: undefined, routableOnly: true,
  }, idx, r.defaultCostWeight);
  const chain = chainOf(engine, ranking.ranked);
  const t1 = performance.now();
  const res = await callGateway(engine, input, chain, sink, logOf(engine, '/v1/models/route', null, t0, org, requestId));
  const t2 = performance.now();
  const used = picked(ranking, res.model);
  sink.send(200, JSON.stringify({
    model: used?.entry.summary ?? null, cost_tier: used?.entry.priceTier ?? null, estimated_cost: used?.cost ?? null,
    result: resultOf(res), cost_dollars: usd(res.costUsd), fallback_chain: res.chain,
    timing: { routing_ms: ms(t1 - t0), inference_ms: ms(t2 - t1), total_ms: ms(performance.now() - t0) },
  }));
}
