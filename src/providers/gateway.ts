/**
 * One chat completion over a ranked candidate list: the transport-free core
 * of POST /v1/chat/completions. The edge hands in the parsed request, the
 * router's candidates (best first) and the client's AbortSignal, and gets
 * back either a finished chat.completion or a ChunkStream whose first chunk
 * is already in hand; it never sees a provider, a backend or a retry.
 *
 * Per candidate: circuit breaker gate -> round-robin backend -> adapter
 * builds the request -> undici -> (JSON) parse, or (stream) peek until the
 * first chunk. Failures before that point fall through to the next candidate
 * (fallback.ts); health and backend-down marks are updated on the way.
 */
import { Balancer } from './balancer.ts';
import { costUsd, validUsage } from './cost.ts';
import { countsAgainstHealth, UpstreamError } from './failure.ts';
import { runFallback, type AttemptRecord } from './fallback.ts';
import type { HealthTracker } from './health.ts';
import { getAdapter } from './registry.ts';
import { redact } from './redact.ts';
import type { UpstreamClient, Timeouts } from './upstream.ts';
import { wantsFunctionCall, type AbortHook, type Backend, type ChatCompletion, type ChatRequest, type CompletionText, type Pricing, type ProviderAdapter, type UpstreamRequestSpec, type Usage } from './types.ts';
import { invalid } from '../errors.ts';
import { ChunkStream, type StreamSummary } from '../streaming/chunk-stream.ts';

export interface ModelRoute {
  id: string;
  backends: readonly Backend[];
  pricing?: Pricing | null;
  timeouts?: Partial<Timeouts>;
}

export interface GatewayOptions {
  models: ReadonlyMap<string, ModelRoute>;
  client: UpstreamClient;
  health: HealthTracker;
  balancer?: Balancer;
  timeouts?: Partial<Timeouts>;
  /** How long a backend that refused a connection is skipped. */
  backendDownMs?: number;
  now?: () => number;
}

interface Common {
  /** Routing name of the model that answered. */
  model: string;
  backend: string;
  /** Every candidate considered, in order. */
  chain: AttemptRecord[];
}

export interface JsonResult extends Common {
  stream: false;
  /** The chat.completion as JSON text (one object), as it goes to the client. */
  json: string;
  /** The same, parsed (on first use: the edge sends `json` and never needs it). */
  readonly completion: ChatCompletion;
  usage: Usage | null;
  /** null when the model has no pricing or the upstream sent no usage. */
  costUsd: number | null;
  latencyMs: number;
  ttfbMs: number;
}

export interface StreamResult extends Common {
  stream: true;
  /** Iterate to send; the first chunk is already buffered. */
  chunks: ChunkStream;
  /** Resolves once the stream ended, with usage and its cost. */
  finished: Promise<StreamSummary & { costUsd: number | null }>;
}

export type ChatResult = JsonResult | StreamResult;

export const DEFAULT_BACKEND_DOWN_MS = 10_000;

class JsonAnswer implements JsonResult {
  readonly stream = false;
  chain: AttemptRecord[] = [];
  private parsed: ChatCompletion | undefined;
  constructor(
    readonly model: string, readonly backend: string, readonly json: string, readonly usage: Usage | null,
    readonly costUsd: number | null, readonly latencyMs: number, readonly ttfbMs: number,
  ) {}

  get completion(): ChatCompletion {
    return (this.parsed ??= JSON.parse(this.json) as ChatCompletion);
  }
}

/** Adapters without a text fast path: parse, convert, serialise. */
function completionText(adapter: ProviderAdapter, body: Buffer, created: number, req: ChatRequest): CompletionText {
  if (adapter.readResponse) return adapter.readResponse(body, created);
  const text = body.toString('utf8');
  let j: unknown;
  try { j = JSON.parse(text); } catch { throw new UpstreamError('bad_response', redact(`response body is not JSON: ${text.slice(0, 200)}`)); }
  const completion = adapter.parseResponse(j, created, { functionCall: wantsFunctionCall(req) });
  // The edge appends its own `switchyard` member (withSwitchyard): an upstream's would be a duplicate key.
  delete completion.switchyard;
  return { json: JSON.stringify(completion), usage: validUsage(completion.usage) };
}

export class ChatGateway {
  readonly balancer: Balancer;
  private readonly now: () => number;

  constructor(private readonly opts: GatewayOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.balancer = opts.balancer ?? new Balancer(this.now);
  }

  private readonly mergedTimeouts = new WeakMap<ModelRoute, Partial<Timeouts>>();

  /** A model's own timeouts over the gateway's, merged once (the upstream client caches by object). */
  private routeTimeouts(route: ModelRoute): Partial<Timeouts> {
    let t = this.mergedTimeouts.get(route);
    if (t === undefined) { t = { ...this.opts.timeouts, ...route.timeouts }; this.mergedTimeouts.set(route, t); }
    return t;
  }

  /** Made once: a named closure per request costs a defineProperty under tsx (see fallback.ts). */
  private readonly skip = (m: string): boolean => !this.opts.health.allow(m);

  /** Throws UpstreamChainError when no candidate could answer (see fallback.ts). */
  async chat(req: ChatRequest, candidates: readonly string[], signal?: AbortHook): Promise<ChatResult> {
    const created = Math.floor(Date.now() / 1000);
    const r = await runFallback(candidates, (model) => this.attempt(req, model, created, signal), { skip: this.skip, signal, now: this.now });
    r.value.chain = r.chain;
    return r.value;
  }

  private async attempt(req: ChatRequest, model: string, created: number, signal: AbortHook | undefined): Promise<ChatResult> {
    const { models, client, health } = this.opts;
    const route = models.get(model);
    if (!route) throw new UpstreamError('no_backend', `model "${model}" has no configured backend`);
    const backend = this.balancer.pick(model, route.backends);
    if (!backend) throw new UpstreamError('no_backend', `every backend of "${model}" is marked down`);
    const adapter = getAdapter(backend.provider);
    const spec = buildRequest(adapter, req, backend);
    const timeouts = route.timeouts ? this.routeTimeouts(route) : this.opts.timeouts;
    const t0 = this.now();

    let res;
    try { res = await client.request(backend.baseUrl, spec, { timeouts, signal }); } catch (e) { return this.failed(e, model, backend.id); }

    if (!req.stream) {
      let text: CompletionText;
      try { text = completionText(adapter, await res.bytes(), created, req); } catch (e) { return this.failed(e, model, backend.id); }
      const latencyMs = this.now() - t0;
      const ttfbMs = res.ttfbMs === res.ttfbMs ? res.ttfbMs : res.headersMs;
      health.record(model, { ok: true, latencyMs, ttfbMs });
      return new JsonAnswer(model, backend.id, text.json, text.usage, costOf(text.usage, route.pricing), latencyMs, ttfbMs);
    }

    // passThrough: the edge writes chunks as JSON text, so an OpenAI upstream's events need no parsing.
    const tx = adapter.createStreamTransformer({
      includeUsage: req.stream_options?.include_usage === true, created, passThrough: true, functionCall: wantsFunctionCall(req),
    });
    const chunks = new ChunkStream(res, tx, t0, this.now);
    try { await chunks.peek(); } catch (e) { return this.failed(e, model, backend.id); }
    const finished = chunks.finished.then((s) => {
      if (!s.error) health.record(model, { ok: true, latencyMs: s.latencyMs, ttfbMs: s.ttfbMs });
      else if (countsAgainstHealth(s.error.kind)) health.record(model, { ok: false });
      return { ...s, costUsd: costOf(s.usage, route.pricing) };
    });
    return { stream: true, model, backend: backend.id, chain: [], chunks, finished };
  }

  /** A failure before the first byte: mark the backend down (connect) and the model's health, then rethrow. */
  private failed(e: unknown, model: string, backendId: string): never {
    const err = e instanceof UpstreamError ? e : new UpstreamError('bad_response', (e as Error)?.message ?? String(e));
    if (err.kind === 'connect') this.balancer.markDown(backendId, this.opts.backendDownMs ?? DEFAULT_BACKEND_DOWN_MS);
    if (countsAgainstHealth(err.kind)) this.opts.health.record(model, { ok: false });
    throw err;
  }
}

/**
 * adapter.buildRequest, where JSON.stringify overflowing the stack (a request
 * nested a few thousand levels deep in a field that passes through: an extra
 * field, tool parameters, a response_format schema) is the client's error,
 * not a 500: JSON.parse took the body, serialising it again recurses.
 */
function buildRequest(adapter: ProviderAdapter, req: ChatRequest, backend: Backend): UpstreamRequestSpec {
  try {
    return adapter.buildRequest(req, backend);
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw invalid('body', 'is nested too deeply to be forwarded upstream');
    throw e;
  }
}

function costOf(u: Usage | null, pricing: Pricing | null | undefined): number | null {
  return u && pricing ? costUsd(u, pricing) : null;
}
