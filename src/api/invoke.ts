/**
 * POST /v1/model-router/invoke (the Feather API): route, call the model,
 * answer a ModelResponse. GET /v1/route-decisions/{id}: a stored decision.
 *
 *   body -> InvokeRequest (invoke-validate.ts: 422 FastAPI detail / 400)
 *   -> config: router_config_id (404 router_config_not_found), else the
 *      default config (rules need one: 404 without; smart routing does not)
 *   -> session history (session_id): the newest stored messages within
 *      routing.sessions.token_budget estimated tokens, prepended
 *   -> plan (invoke-plan.ts): rules or smart routing -> candidate chain
 *   -> ChatGateway.chat (the same fallback, health, backends and cost as
 *      /v1/chat/completions; non-streaming)
 *   -> route decision + session turn written to the store (both awaited,
 *      one group commit, before the 200: the returned route_decision_id can
 *      be fetched at once, and the next call of the session sees this turn)
 *   -> ModelResponse, exactly Feather's fields.
 *
 * Response fields we derive: provider = the answering backend's api_format
 * ("openai" | "anthropic"); costs from providers pricing × the upstream's
 * usage (0 without pricing or usage); latency_ms = this handler's wall time,
 * rounded; execution_engine = pydantic_tools when tools were given,
 * pydantic_structured for a JSON response_format, else pydantic_text;
 * parsed_output = the content parsed as a JSON object under a JSON
 * response_format (null when it is not one); cache_read_input_tokens /
 * cache_creation_input_tokens from the upstream usage when it reports them
 * (OpenAI's prompt_tokens_details.cached_tokens counts as reads); cache_hit =
 * the upstream reported cached prompt tokens (Switchyard keeps no answer
 * cache). The config version used is in the x-switchyard-config-version
 * header and the stored decision (ModelResponse has no field for it).
 *
 * Errors (dialect 'feather'): 400/401/404 as {error, message}; upstream
 * failures as chat's (502 upstream_error, 504 upstream_timeout, 429, 400
 * upstream_rejected) in the same shape; 422 as FastAPI's {detail: [...]}.
 */
import { orgStates } from './org-state.ts';
import { logRequest } from './activity-log.ts';
import { channels } from '../diagnostics.ts';
import type { Usage } from '../providers/types.ts';
import { randomUUID } from 'node:crypto';
import { ApiError } from '../errors.ts';
import { UpstreamChainError } from '../providers/fallback.ts';
import { tokenCount, validUsage } from '../providers/cost.ts';
import type { ChatMessage, ChatRequest } from '../providers/types.ts';
import type { JsonResult } from '../providers/gateway.ts';
import { estimateTokens } from '../routing/tokens.ts';
import { DEFAULT_ORG, type SessionMessage } from '../store/types.ts';
import { routingText } from './chat-validate.ts';
import { chainError, usd } from './chat.ts';
import { storeFailure } from './responses-read.ts';
import { parseInvokeJson, parseInvokeRequest, type InvokeRequest } from './invoke-validate.ts';
import { rulePlan, smartPlan, type InvokePlan } from './invoke-plan.ts';
import { registryOf, type ConfigEntry } from './router-config-registry.ts';
import type { Engine } from './engine.ts';
import type { ResponseSink } from './sink.ts';

type Usageish = Record<string, unknown> & { prompt_tokens_details?: { cached_tokens?: unknown } | null };

/** The config of a request: router_config_id, else the default; smart routing needs none (null when the default does not exist). */
async function configFor(engine: Engine, req: InvokeRequest, org: string): Promise<ConfigEntry | null> {
  const reg = registryOf(engine);
  if (req.routerConfigId !== null) return reg.resolve(org, req.routerConfigId, 'router_config_id');
  if (!req.smartRouting) return reg.resolve(org, undefined, 'router_config_id');
  try {
    return await reg.resolve(org, undefined, 'router_config_id');
  } catch (e) {
    if (e instanceof ApiError && e.code === 'router_config_not_found') return null;
    throw e;
  }
}

function chatRequest(req: InvokeRequest, history: readonly SessionMessage[], first: string): ChatRequest {
  const messages: ChatMessage[] = [];
  for (const m of history) messages.push({ role: m.role as ChatMessage['role'], content: m.content });
  for (const m of req.messages) messages.push({ role: m.role as ChatMessage['role'], content: m.content });
  const o = req.overrides;
  const r: ChatRequest = { model: first, messages };
  if (o.temperature !== undefined) r.temperature = o.temperature;
  if (o.max_tokens !== undefined) r.max_tokens = o.max_tokens;
  if (o.top_p !== undefined) r.top_p = o.top_p;
  if (o.stop !== undefined) r.stop = o.stop;
  if (o.response_format !== undefined) r.response_format = o.response_format;
  if (o.tools !== undefined) r.tools = o.tools;
  if (o.tool_choice !== undefined) r.tool_choice = o.tool_choice;
  return r;
}

function engineOf(req: InvokeRequest): 'pydantic_text' | 'pydantic_tools' | 'pydantic_structured' {
  if (req.overrides.tools !== undefined && req.overrides.tools.length > 0) return 'pydantic_tools';
  const t = req.overrides.response_format?.type;
  return t === 'json_object' || t === 'json_schema' ? 'pydantic_structured' : 'pydantic_text';
}

function parsedOutput(content: string, structured: boolean): Record<string, unknown> | null {
  if (!structured) return null;
  try {
    const v = JSON.parse(content) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

/** USD rounded to 1e-10 (what a float product can claim), as a number. */
const money = (x: number) => Number(usd(x));

function respond(engine: Engine, req: InvokeRequest, plan: InvokePlan, res: JsonResult, t0: number, decisionId: string): Record<string, unknown> {
  const rt = engine.gateway;
  const completion = res.completion;
  const msg = completion.choices?.[0]?.message;
  const content = typeof msg?.content === 'string' ? msg.content : '';
  const u = (validUsage(res.usage) ?? {}) as Usageish;
  const input = tokenCount(u.prompt_tokens), output = tokenCount(u.completion_tokens);
  const p = rt.pricing(res.model);
  const inCost = p ? input * p.prompt_per_1m / 1e6 : 0, outCost = p ? output * p.completion_per_1m / 1e6 : 0;
  const cacheRead = tokenCount(u.cache_read_input_tokens) || tokenCount(u.prompt_tokens_details?.cached_tokens);
  const cacheCreate = tokenCount(u.cache_creation_input_tokens);
  const ee = engineOf(req);
  const toolCalls = Array.isArray(msg?.tool_calls) ? msg.tool_calls as Record<string, unknown>[] : null;
  const meta = plan.smart && { ...plan.smart, executed_model: res.model, reason: plan.smart.recommended_model === res.model ? plan.smart.reason : `${plan.smart.reason}; ${plan.smart.recommended_model} failed, ${res.model} answered (fallback)` };
  return {
    content,
    model_identifier: res.model,
    provider: rt.routes.get(res.model)?.backends.find((b) => b.id === res.backend)?.provider ?? 'unknown',
    input_tokens: input,
    output_tokens: output,
    total_tokens: input + output,
    input_cost_usd: money(inCost),
    output_cost_usd: money(outCost),
    total_cost_usd: money(inCost + outCost),
    latency_ms: Math.round(performance.now() - t0),
    tool_calls: toolCalls,
    routing_metadata: meta,
    parsed_output: parsedOutput(content, ee === 'pydantic_structured'),
    execution_engine: ee,
    cache_read_input_tokens: cacheRead,
    cache_creation_input_tokens: cacheCreate,
    cache_hit: cacheRead > 0,
    route_decision_id: decisionId,
  };
}

function decisionOf(id: string, req: InvokeRequest, plan: InvokePlan, res: JsonResult, body: Record<string, unknown>, requestId: string | undefined, historyLen: number): Record<string, unknown> {
  const c = plan.config?.config;
  return {
    id, object: 'route_decision', created_at: Math.floor(Date.now() / 1000), request_id: requestId ?? null,
    router_config_id: c?.id ?? null, router_config_name: c?.name ?? null, router_config_version: c?.version ?? null,
    smart_routing: req.smartRouting, session_id: req.sessionId, session_messages_prepended: historyLen,
    matched_rule: plan.matchedRule, signals: plan.signals, cost_weight: plan.costWeight,
    candidate_chain: plan.candidates, skipped_models: plan.skipped, executed_model: res.model,
    attempts: res.chain, routing_metadata: body.routing_metadata,
    input_tokens: body.input_tokens, output_tokens: body.output_tokens, total_cost_usd: body.total_cost_usd, latency_ms: body.latency_ms,
  };
}

async function run(engine: Engine, req: InvokeRequest, sink: ResponseSink, t0: number, requestId: string | undefined, org: string): Promise<void> {
  const cfg = await configFor(engine, req, org);
  const store = engine.store;
  const budget = engine.config.routing.sessions.token_budget;
  const history = req.sessionId !== null && budget > 0 ? await store.sessions.recent(org, req.sessionId, budget).catch(storeFailure) : [];
  const text = routingText(req.messages as ChatMessage[], engine.gateway.config.route_on, engine.config.limits.input_chars);
  if (text.trim() === '') throw new ApiError('invalid_request', '"messages" holds no text to route on', 'messages');
  const o = await orgStates(engine).get(org);
  const plan = await (req.smartRouting ? smartPlan(engine, cfg, text, req.overrides, o) : rulePlan(engine, cfg!, text, req.overrides, o));
  const log = (model: string | null, chain: readonly { model: string }[], status: number, usage: Usage | null, cost: number | null) => {
    if (!channels.orgRequest.hasSubscribers) return;
    logRequest(engine, { org, requestId: requestId ?? '' }, {
      endpoint: '/v1/model-router/invoke', requested: req.smartRouting ? 'smart_routing' : cfg?.row.name ?? null, selected: plan.candidates[0] ?? null, executed: model,
      reason: model === null ? null : req.smartRouting ? (model === plan.candidates[0] ? 'routed' : 'fallback') : plan.matchedRule !== null ? 'rule' : 'default',
      chain, cluster: plan.clusterId, usage, costUsd: cost, status, cacheHit: false, t0,
    });
  };
  let res;
  try {
    res = await engine.gateway.gateway.chat(chatRequest(req, history, plan.candidates[0]), plan.candidates, sink.signal);
  } catch (e) {
    if (!(e instanceof UpstreamChainError)) throw e;
    log(null, e.attempts, e.aborted ? 0 : e.status, null, null);
    throw chainError(e);
  }
  if (!res.stream) log(res.model, res.chain, 200, res.usage, res.costUsd);
  if (res.stream) throw new Error('invoke: the gateway streamed a non-streaming request');
  const id = randomUUID();
  const body = respond(engine, req, plan, res, t0, id);
  const now = Date.now();
  const writes: Promise<void>[] = [store.routeDecisions.put({ id, org, createdAt: now, decision: JSON.stringify(decisionOf(id, req, plan, res, body, requestId, history.length)) })];
  if (req.sessionId !== null) {
    const turn: SessionMessage[] = req.messages.map((m) => ({ role: m.role, content: m.content, tokens: estimateTokens(m.content) }));
    // A tool-call-only answer has no text: an empty assistant message replayed later is refused by some upstreams (Anthropic).
    if (body.content !== '') turn.push({ role: 'assistant', content: body.content as string, tokens: estimateTokens(body.content as string) });
    writes.push(store.sessions.append(org, req.sessionId, turn, now, engine.config.routing.sessions.max_messages));
  }
  await Promise.all(writes).catch(storeFailure);
  const headers: [string, string][] = [['x-switchyard-model', res.model], ['x-switchyard-candidates', plan.candidates.join(',')]];
  if (plan.config?.config.version != null) headers.push(['x-switchyard-config-version', String(plan.config.config.version)]);
  sink.send(200, JSON.stringify(body), headers);
}

/**
 * POST /v1/model-router/invoke. The body is parsed synchronously (it may be
 * uWS's buffer). `org`: the caller's organisation: its sessions and decisions,
 * its own configs first, then the default organisation's.
 */
export function handleInvoke(body: Buffer, engine: Engine, sink: ResponseSink, requestId?: string, org: string = DEFAULT_ORG): Promise<void> {
  const t0 = performance.now();
  const req = parseInvokeRequest(parseInvokeJson(body), engine.config.limits.input_chars);
  return run(engine, req, sink, t0, requestId, org);
}

/** GET /v1/route-decisions/{id}: the stored decision object. */
export async function handleGetRouteDecision(id: string, engine: Engine, org: string = DEFAULT_ORG): Promise<string> {
  const d = await engine.store.routeDecisions.get(org, id).catch(storeFailure);
  if (d === undefined) throw new ApiError('route_decision_not_found', `No route decision with id ${JSON.stringify(id.slice(0, 256))}.`, 'id');
  return d.decision;
}
