/**
 * OpenAI's Responses API over the chat gateway:
 *   POST   /v1/responses                  create (JSON, or typed SSE events with stream: true)
 *   GET    /v1/responses/{id}             the stored response object, as it was returned
 *   DELETE /v1/responses/{id}             {id, object: "response", deleted: true}
 *   GET    /v1/responses/{id}/input_items the request's own input items, paginated
 *
 * Create: raw JSON -> ResponsesInput (responses-validate.ts) -> the stored
 * chain's messages when previous_response_id is given (one store read per
 * link) -> a ChatRequest (responses-translate.ts) -> the same planning and
 * gateway call as POST /v1/chat/completions (chat.ts planChat ->
 * ChatGateway.chat: same candidates, fallback, health, cost), so OpenAI- and
 * Anthropic-format upstreams both serve it -> the response object (JSON) or
 * Responses events (responses-stream.ts) written with the sink's backpressure;
 * a client that goes away cancels the upstream request through sink.signal.
 *
 * With store (the default) the response is written to the store and the
 * write awaited before the 200 (JSON) or before response.completed (stream):
 * a client that saw success can retrieve or continue it, even after a crash.
 * That await is the store's commit latency on every stored response. A failed
 * write is 503 store_unavailable (JSON) or response.failed with that code
 * (stream: the text was already sent, but the response is not retrievable).
 */
import { invalid } from '../errors.ts';
import { estimateCost } from '../providers/cost.ts';
import { redact } from '../providers/redact.ts';
import { UpstreamChainError, type AttemptRecord } from '../providers/fallback.ts';
import { channels } from '../diagnostics.ts';
import { UpstreamError } from '../providers/failure.ts';
import type { ChatResult, StreamResult } from '../providers/gateway.ts';
import type { ChatCompletion, ChatMessage, ChatChunk, Usage } from '../providers/types.ts';
import { DEFAULT_ORG, StoreError, type ResponseStore, type StoredResponse } from '../store/types.ts';
import type { Engine } from './engine.ts';
import type { ResponseSink } from './sink.ts';
import { parseJsonObject, type Json } from './validate.ts';
import { cacheTtlOf, promptCacheOf, type CachedAnswer, type PromptCache } from './prompt-cache.ts';
import { routingText, type ChatInput } from './chat-validate.ts';
import { chainError, headersOf, planChat, reasonOf, type Plan } from './chat.ts';
import { newId, parseResponsesRequest, type InputItem, type ResponsesInput } from './responses-validate.ts';
import { resolveReferences } from './responses-refs.ts';
import { logRequest } from './activity-log.ts';
import { chatRequestOf, outputMessages, outputOf, responseShell, toChatMessages, usageOf, type ResponseObject } from './responses-translate.ts';
import { ResponsesEventWriter } from './responses-stream.ts';
import { responseNotFound, storeFailure } from './responses-read.ts';

export { handleGetResponse, handleDeleteResponse, handleListInputItems } from './responses-read.ts';

/**
 * The conversation a continuation replays: each stored response holds only
 * what it added (its input and output as chat messages), so the chain is
 * walked back through previous_response_id, one read per link (a 50-turn
 * conversation is 50 reads of the embedded store per request). An ancestor
 * that is gone (deleted, expired) ends the walk: the continuation keeps the
 * turns that remain rather than failing, as the one it names still exists.
 */
async function chainMessages(store: ResponseStore, id: string): Promise<ChatMessage[]> {
  const texts: string[] = [];
  const seen = new Set<string>();
  let cur: string | null = id;
  while (cur !== null && !seen.has(cur)) {
    seen.add(cur);
    const s: StoredResponse | undefined = await store.get(DEFAULT_ORG, cur).catch(storeFailure);
    if (s === undefined) {
      if (cur === id) throw responseNotFound(id, 'previous_response_id');
      break;
    }
    texts.push(s.messages);
    cur = s.previousResponseId;
  }
  const out: ChatMessage[] = [];
  for (let i = texts.length - 1; i >= 0; i--) {
    let msgs: unknown;
    try { msgs = JSON.parse(texts[i]); } catch (e) { throw new StoreError('a stored response\'s messages are not JSON', undefined, { cause: e }); }
    if (!Array.isArray(msgs)) throw new StoreError('a stored response\'s messages are not an array');
    for (const m of msgs) out.push(m as ChatMessage);
  }
  return out;
}

interface Job {
  r: ResponsesInput;
  /** r.input with item references resolved. */
  items: InputItem[];
  engine: Engine;
  store: ResponseStore;
  sink: ResponseSink;
  requestId: string | undefined;
  /** This request's input as chat messages (stored for the chain, without instructions). */
  inputMessages: ChatMessage[];
  chat: ChatInput;
  createdAt: number;
  /** performance.now() when the request arrived. */
  t0: number;
  /** The caller's organisation (preferences, feedback, activity log: issue 11); undefined = not passed by the edge. */
  org?: string;
  /** X-GR-Cache-TTL was given (and the cache is on): where this request's answer goes, and where a hit came from. */
  cache?: ResponsesCache;
}

/** A request with X-GR-Cache-TTL: its key (scope '/v1/responses') and TTL. */
interface ResponsesCache { pc: PromptCache; key: Uint8Array; ttl: number; org: string }

/**
 * What the prompt cache keeps of a response (CachedAnswer.switchyard): the
 * `switchyard` member, and for a stream its usage. The body is the upstream's
 * chat completion (JSON) or its chunks (a JSON array of chunk texts): the
 * answer, not the response object, because a hit is a new response (new id,
 * new item ids, this request's created_at and metadata) rebuilt from it.
 */
interface CachedMeta { sy: Record<string, unknown>; stream: boolean; usage?: Usage | null }
const MISS: [string, string] = ['x-cache', 'MISS'];

/** `streamUsage`: a streamed answer's usage (from res.finished), which the StreamResult itself does not hold. */
function publish(job: Job, plan: Plan, id: string | null, res: ChatResult | null, attempts: readonly AttemptRecord[], status: number, cost: number | null, stored: boolean, streamUsage?: Usage | null): void {
  if (job.org !== undefined && channels.orgRequest.hasSubscribers) {
    logRequest(job.engine, { org: job.org, requestId: job.requestId ?? '' }, {
      endpoint: '/v1/responses', requested: job.chat.model, selected: plan.candidates[0] ?? null, executed: res?.model ?? null,
      reason: res ? reasonOf(job.chat, plan, res.model) : null, chain: attempts, cluster: plan.clusterId,
      usage: res === null ? null : res.stream ? streamUsage ?? null : res.usage, costUsd: cost, status, cacheHit: false, t0: job.t0,
    });
  }
  if (!channels.responseCreated.hasSubscribers) return;
  channels.responseCreated.publish({
    id, model: res?.model ?? null, reason: res ? reasonOf(job.chat, plan, res.model) : null, candidates: plan.candidates, attempts,
    stream: job.r.stream, status, costUsd: cost, stored, ms: performance.now() - job.t0,
  });
}

function prepare(r: ResponsesInput, items: InputItem[], engine: Engine, store: ResponseStore, sink: ResponseSink, requestId: string | undefined, chain: ChatMessage[], createdAt: number, t0: number): Job {
  const inputMessages = toChatMessages(items);
  const messages: ChatMessage[] = [];
  if (r.instructions !== null) messages.push({ role: 'system', content: r.instructions });
  for (const m of chain) messages.push(m);
  for (const m of inputMessages) messages.push(m);
  const rt = engine.gateway;
  // chat.ts's route() would name "messages"; here the client sent "input".
  if (r.routed && routingText(messages, rt.config.route_on, engine.config.limits.input_chars).trim() === '') {
    throw invalid('input', 'holds no text to route on (model "auto" embeds the input\'s text)');
  }
  const chat: ChatInput = { request: chatRequestOf(r, messages), model: r.model, routed: r.routed, costWeight: r.costWeight, stream: r.stream, includeUsage: false };
  return { r, items, engine, store, sink, requestId, inputMessages, chat, createdAt, t0 };
}

function put(job: Job, resp: ResponseObject, json: string): Promise<void> {
  const rec: StoredResponse = {
    id: resp.id, org: DEFAULT_ORG, createdAt: resp.created_at, previousResponseId: job.r.previousResponseId, response: json,
    inputItems: JSON.stringify(job.items),
    messages: JSON.stringify(job.inputMessages.concat(outputMessages(resp.output))),
  };
  return job.store.put(rec);
}

function switchyardOf(job: Job, plan: Plan, res: ChatResult, estimate: number | null, cost: number | null, upstreamMs: number | null): Record<string, unknown> {
  return {
    model: res.model, reason: reasonOf(job.chat, plan, res.model), cluster_id: plan.clusterId ?? null, candidates: plan.candidates, attempts: res.chain,
    cost_usd: cost, estimated_cost_usd: estimate, routing_ms: plan.routingMs ?? null, upstream_ms: upstreamMs, request_id: job.requestId ?? null,
  };
}

async function serve(job: Job, plan: Plan): Promise<void> {
  const rt = job.engine.gateway;
  let res: ChatResult;
  try {
    res = await rt.gateway.chat(job.chat.request, plan.candidates, job.sink.signal);
  } catch (e) {
    if (!(e instanceof UpstreamChainError)) throw e;
    publish(job, plan, null, null, e.attempts, e.aborted ? 0 : e.status, null, false);
    throw chainError(e); // a no-op on the edge when the client is gone
  }
  const pricing = rt.pricing(res.model);
  const estimate = pricing ? estimateCost(job.chat.request, pricing).usd : null;
  const reason = reasonOf(job.chat, plan, res.model);
  const shell = responseShell(job.r, newId('resp_'), job.createdAt, res.model);
  if (res.stream) return stream(job, plan, res, shell, estimate);

  const { output, status, details } = outputOf(res.completion, shell.id);
  const resp: ResponseObject = {
    ...shell, status, incomplete_details: details, output, usage: usageOf(res.completion.usage),
    switchyard: switchyardOf(job, plan, res, estimate, res.costUsd, res.latencyMs),
  };
  const json = JSON.stringify(resp);
  if (job.r.store) await put(job, resp, json).catch((e) => { publish(job, plan, resp.id, res, res.chain, 503, res.costUsd, false); return storeFailure(e); });
  const h = headersOf(res.model, reason, plan, estimate, res.costUsd);
  if (job.cache !== undefined) h.push(MISS);
  job.sink.send(200, json, h);
  if (job.cache !== undefined) {
    const c = job.cache, meta: CachedMeta = { sy: resp.switchyard!, stream: false };
    c.pc.set(c.key, { headers: headersOf(res.model, reason, plan, estimate, null), switchyard: meta as unknown as Record<string, unknown>, body: res.json }, c.ttl, c.org);
  }
  publish(job, plan, resp.id, res, res.chain, 200, res.costUsd, job.r.store);
}

async function stream(job: Job, plan: Plan, res: StreamResult, shell: ResponseObject, estimate: number | null): Promise<void> {
  const { sink } = job;
  const chunks = res.chunks;
  const w = new ResponsesEventWriter(shell);
  const streamHeaders = headersOf(res.model, reasonOf(job.chat, plan, res.model), plan, estimate, null);
  sink.openStream(job.cache === undefined ? streamHeaders : [...streamHeaders, MISS]);
  let pending = w.start();
  // The upstream's chunks as JSON text, for the prompt cache (undefined: not caching, or past a slot's size).
  let recorded: string[] | undefined = job.cache === undefined ? undefined : [];
  let recordedBytes = 0;
  try {
    for (;;) {
      const batch = await chunks.nextBatch();
      if (batch === null) break;
      // OpenAI-format upstreams hand chunks over as JSON text (pass-through): this path has to read them.
      for (let i = 0; i < batch.length; i++) {
        const c = batch[i];
        pending += w.push(typeof c === 'string' ? JSON.parse(c) as ChatChunk : c);
        if (recorded !== undefined) {
          const t = typeof c === 'string' ? c : JSON.stringify(c);
          recordedBytes += t.length + 3;
          if (recordedBytes > job.cache!.pc.slotBytes) recorded = undefined;
          else recorded.push(t);
        }
      }
      if (chunks.complete) break;
      if (pending !== '') {
        const ok = sink.write(pending);
        pending = '';
        if (!ok) await sink.drain();
      }
      if (sink.signal.aborted) break;
    }
  } catch (e) {
    // After the first byte: the client holds part of an answer, so the stream ends with response.failed.
    await chunks.return(); // an event we could not read: the upstream may still be sending
    const err = e instanceof UpstreamError ? e : new UpstreamError('bad_response', (e as Error)?.message ?? String(e));
    const s = await res.finished;
    const message = redact(`${res.model} failed mid-stream: ${err.message}`);
    sink.end(pending + w.failed(message, 'server_error', switchyardOf(job, plan, res, estimate, s.costUsd, s.latencyMs), usageOf(s.usage)));
    publish(job, plan, shell.id, res, res.chain, sink.signal.aborted ? 0 : 200, s.costUsd, false, s.usage);
    return;
  }
  if (sink.signal.aborted) {
    await chunks.return(); // cancels the upstream request
    const s = await res.finished;
    publish(job, plan, shell.id, res, res.chain, 0, s.costUsd, false, s.usage);
    return;
  }
  const s = await res.finished;
  pending += w.finishItems();
  const resp = w.response(usageOf(s.usage), switchyardOf(job, plan, res, estimate, s.costUsd, s.latencyMs));
  const json = JSON.stringify(resp);
  if (!(await storeStreamed(job, w, resp, json, pending))) {
    publish(job, plan, shell.id, res, res.chain, 200, s.costUsd, false, s.usage);
    return;
  }
  sink.end(pending + w.terminal(resp, json));
  if (recorded !== undefined) {
    const c = job.cache!, meta: CachedMeta = { sy: resp.switchyard!, stream: true, usage: s.usage };
    c.pc.set(c.key, { headers: streamHeaders, switchyard: meta as unknown as Record<string, unknown>, body: JSON.stringify(recorded) }, c.ttl, c.org);
  }
  publish(job, plan, shell.id, res, res.chain, 200, s.costUsd, job.r.store, s.usage);
}

/**
 * A prompt-cache hit: a NEW response (new id and item ids, this request's
 * created_at, metadata and previous_response_id) built from the cached answer
 * by the same translation a fresh one goes through, with cost 0 and no
 * upstream call. With store (the default) it is stored like any response, so
 * it can be retrieved and continued by its own id; a failed write is 503
 * store_unavailable (JSON) or response.failed (stream), as for a fresh one.
 * A streamed request is replayed as a stream of Responses events (one write).
 */
async function replay(job: Job, hit: CachedAnswer): Promise<void> {
  const meta = hit.switchyard as unknown as CachedMeta;
  const model = String(meta.sy.model);
  const shell = responseShell(job.r, newId('resp_'), job.createdAt, model);
  const sy = { ...meta.sy, cost_usd: 0, cache: 'HIT', request_id: job.requestId ?? null };
  const headers: [string, string][] = [...hit.headers, ['x-switchyard-cost-usd', '0'], ['x-cache', 'HIT']];
  const { sink } = job;
  if (!meta.stream) {
    const completion = JSON.parse(hit.body) as ChatCompletion;
    const { output, status, details } = outputOf(completion, shell.id);
    const resp: ResponseObject = { ...shell, status, incomplete_details: details, output, usage: usageOf(completion.usage), switchyard: sy };
    const json = JSON.stringify(resp);
    if (job.r.store) await put(job, resp, json).catch((e) => { logHit(job, model, meta, 503); return storeFailure(e); });
    sink.send(200, json, headers);
    logHit(job, model, meta, 200);
    return;
  }
  const w = new ResponsesEventWriter(shell);
  sink.openStream(headers);
  let out = w.start();
  for (const c of JSON.parse(hit.body) as string[]) out += w.push(JSON.parse(c) as ChatChunk);
  out += w.finishItems();
  const resp = w.response(usageOf(meta.usage ?? null), sy);
  const json = JSON.stringify(resp);
  if (!(await storeStreamed(job, w, resp, json, out))) {
    logHit(job, model, meta, 200);
    return;
  }
  sink.end(out + w.terminal(resp, json));
  logHit(job, model, meta, 200);
}

/**
 * A streamed response with store: written before its terminal event. A
 * StoreError ends the stream with response.failed (store_unavailable) after
 * `head` (the events not yet sent) and returns false; true: stored (or
 * store: false), the caller sends the terminal event.
 */
async function storeStreamed(job: Job, w: ResponsesEventWriter, resp: ResponseObject, json: string, head: string): Promise<boolean> {
  if (!job.r.store) return true;
  try {
    await put(job, resp, json);
    return true;
  } catch (e) {
    if (!(e instanceof StoreError)) throw e;
    job.sink.end(head + w.failed('The response could not be stored (store_unavailable): it cannot be retrieved or continued.', 'store_unavailable', resp.switchyard!, resp.usage));
    return false;
  }
}

function logHit(job: Job, model: string, meta: CachedMeta, status: number): void {
  if (job.org === undefined || !channels.orgRequest.hasSubscribers) return;
  const cluster = meta.sy.cluster_id;
  logRequest(job.engine, { org: job.org, requestId: job.requestId ?? '' }, {
    endpoint: '/v1/responses', requested: job.chat.model, selected: model, executed: model, reason: 'cache', chain: [],
    cluster: typeof cluster === 'number' ? cluster : null, usage: null, costUsd: 0, status, cacheHit: true, t0: job.t0,
  });
}

/** The body as the cache key sees it: `store` and `metadata` change what is kept about a response, not the model's answer. */
function cacheKeyBody(o: Json): Json {
  if (!('store' in o) && !('metadata' in o)) return o;
  const k: Json = { ...o };
  delete k.store;
  delete k.metadata;
  return k;
}

/**
 * POST /v1/responses. `body` is parsed synchronously (it may be uWS's buffer,
 * valid only during this call); everything after the first await works on
 * copies. `requestId` goes into the switchyard object.
 */
export function handleCreateResponse(body: Buffer, engine: Engine, store: ResponseStore, sink: ResponseSink, requestId?: string, org?: string, cacheTtl = ''): void | Promise<void> {
  const t0 = performance.now();
  const o = parseJsonObject(body);
  const r = parseResponsesRequest(o);
  const createdAt = Math.floor(Date.now() / 1000);
  // The prompt cache (X-GR-Cache-TTL; prompt-cache.ts): keyed on (organisation, body without store and metadata).
  const ttl = cacheTtl === '' ? 0 : cacheTtlOf(cacheTtl);
  let cache: ResponsesCache | undefined;
  if (ttl > 0) {
    const pc = promptCacheOf(engine);
    const co = org ?? DEFAULT_ORG;
    if (pc.enabled) cache = { pc, key: pc.key(co, cacheKeyBody(o), '/v1/responses'), ttl, org: co };
  }
  const plan = (job: Job): void | Promise<void> => {
    const p = planChat(engine, job.chat, org);
    return p instanceof Promise ? p.then((x) => serve(job, x)) : serve(job, p);
  };
  const go = (chain: ChatMessage[], items: InputItem[]): void | Promise<void> => {
    const job = prepare(r, items, engine, store, sink, requestId, chain, createdAt, t0);
    job.org = org;
    if (cache === undefined) return plan(job);
    // After the chain is read: a continuation of a response that is gone is still a 404, cached or not.
    job.cache = cache;
    const hit = cache.pc.lookup(cache.org, cache.key);
    if (hit instanceof Promise) return hit.then((h) => (h !== undefined ? replay(job, h) : plan(job)));
    return hit !== undefined ? replay(job, hit) : plan(job);
  };
  const refs = r.input.some((it) => it.type === 'item_reference');
  if (r.previousResponseId === null && !refs) return go([], r.input as InputItem[]);
  return (async () => {
    const chain = r.previousResponseId === null ? [] : await chainMessages(store, r.previousResponseId).catch(storeFailure);
    return go(chain, refs ? await resolveReferences(store, r.input).catch(storeFailure) : r.input as InputItem[]);
  })();
}
