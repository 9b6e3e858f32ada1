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
import { costUsd } from './cost.ts';
import { countsAgainstHealth, UpstreamError } from './failure.ts';
import { runFallback, type AttemptRecord } from './fallback.ts';
import type { HealthTracker } from './health.ts';
import { getAdapter } from './registry.ts';
import type { UpstreamClient, Timeouts } from './upstream.ts';
import type { Backend, ChatCompletion, ChatRequest, Pricing, Usage } from './types.ts';
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
  completion: ChatCompletion;
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

export class ChatGateway {
  readonly balancer: Balancer;
  private readonly now: () => number;

  constructor(private readonly opts: GatewayOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.balancer = opts.balancer ?? new Balancer(this.now);
  }

  /** Throws UpstreamChainError when no candidate could answer (see fallback.ts). */
  async chat(req: ChatRequest, candidates: readonly string[], signal?: AbortSignal): Promise<ChatResult> {
    const created = Math.floor(Date.now() / 1000);
    const { health } = this.opts;
    const r = await runFallback(candidates, (model) => this.attempt(req, model, created, signal), {
      skip: (m) => !health.allow(m),
      signal,
      now: this.now,
    });
    return { ...r.value, chain: r.chain };
  }

  private async attempt(req: ChatRequest, model: string, created: number, signal: AbortSignal | undefined): Promise<ChatResult> {
    const { models, client, health } = this.opts;
    const route = models.get(model);
    if (!route) throw new UpstreamError('no_backend', `model "${model}" has no configured backend`);
    const backend = this.balancer.pick(model, route.backends);
    if (!backend) throw new UpstreamError('no_backend', `every backend of "${model}" is marked down`);
    const adapter = getAdapter(backend.provider);
    const spec = adapter.buildRequest(req, backend);
    const timeouts = route.timeouts ? { ...this.opts.timeouts, ...route.timeouts } : this.opts.timeouts;
    const t0 = this.now();
    const failed = (e: unknown): never => {
      const err = e instanceof UpstreamError ? e : new UpstreamError('bad_response', (e as Error)?.message ?? String(e));
      if (err.kind === 'connect') this.balancer.markDown(backend.id, this.opts.backendDownMs ?? DEFAULT_BACKEND_DOWN_MS);
      if (countsAgainstHealth(err.kind)) health.record(model, { ok: false });
      throw err;
    };
    const cost = (u: Usage | null): number | null => (u && route.pricing ? costUsd(u, route.pricing) : null);

    let res;
    try { res = await client.request(backend.baseUrl, spec, { timeouts, signal }); } catch (e) { return failed(e); }

    if (!req.stream) {
      let completion: ChatCompletion;
      try { completion = adapter.parseResponse(await res.json(), created); } catch (e) { return failed(e); }
      const latencyMs = this.now() - t0;
      const ttfbMs = res.ttfbMs === res.ttfbMs ? res.ttfbMs : res.headersMs;
      health.record(model, { ok: true, latencyMs, ttfbMs });
      const usage = completion.usage ?? null;
      return { stream: false, model, backend: backend.id, chain: [], completion, usage, costUsd: cost(usage), latencyMs, ttfbMs };
    }

    const tx = adapter.createStreamTransformer({ includeUsage: req.stream_options?.include_usage === true, created });
    const chunks = new ChunkStream(res, tx, t0, this.now);
    try { await chunks.peek(); } catch (e) { return failed(e); }
    const finished = chunks.finished.then((s) => {
      if (!s.error) health.record(model, { ok: true, latencyMs: s.latencyMs, ttfbMs: s.ttfbMs });
      else if (countsAgainstHealth(s.error.kind)) health.record(model, { ok: false });
      return { ...s, costUsd: cost(s.usage) };
    });
    return { stream: true, model, backend: backend.id, chain: [], chunks, finished };
  }
}
