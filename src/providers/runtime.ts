/**
 * The gateway's per-thread runtime, built once from config.providers: routes
 * (backends with their keys), the upstream client (keep-alive pools), the
 * health tracker over the process-wide shared buffer, and the ChatGateway
 * that ties them together. One per HTTP thread; only the health state is
 * shared between threads (see health.ts). Round-robin positions and backend
 * down-marks stay per thread: a refused connection costs each thread one
 * failed connect before it skips that backend, which is cheap and needs no
 * cross-thread clock.
 */
import { ChatGateway, type ModelRoute } from './gateway.ts';
import { createHealthBuffer, HealthTracker, type HealthOptions } from './health.ts';
import { resolveRoutes } from './routes.ts';
import { UpstreamClient } from './upstream.ts';
import type { HealthConfig, ProvidersConfig } from '../config/schema.ts';
import type { Pricing } from './types.ts';

/** Key of the model-health buffer in the server's `shared` bag. */
export const MODEL_HEALTH_KEY = 'modelHealth';

/** How long a computed latency penalty is reused: it moves with a 60 s window, not per request. */
const PENALTY_TTL_MS = 1_000;

export function healthOptions(h: HealthConfig): Partial<HealthOptions> {
  return {
    failureThreshold: h.failure_threshold, failureRatio: h.failure_ratio, minSamples: h.min_samples,
    windowSize: h.window_size, windowMs: h.window_ms, cooldownMs: h.cooldown_ms, probeTimeoutMs: h.probe_timeout_ms,
    latencyTargetMs: h.latency_target_ms, latencyWeight: h.latency_weight,
  };
}

/** Main thread, once: the buffer every thread's HealthTracker shares (one slot per configured model). */
export function createModelHealthBuffer(p: Pick<ProvidersConfig, 'models' | 'health'>): SharedArrayBuffer {
  return createHealthBuffer(Math.max(1, p.models.length), p.health.window_size);
}

export interface RuntimeOptions {
  /** From createModelHealthBuffer; omitted = a private buffer (one thread, tests). */
  healthBuffer?: SharedArrayBuffer;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

export class GatewayRuntime {
  readonly routes: ReadonlyMap<string, ModelRoute>;
  /** Configured model names in config order (= health slot order). */
  readonly models: readonly string[];
  readonly health: HealthTracker;
  readonly client: UpstreamClient;
  readonly gateway: ChatGateway;
  /** Unix seconds when this runtime was built: /v1/models' `created`. */
  readonly created = Math.floor(Date.now() / 1000);
  private readonly penalties = new Map<string, { at: number; value: number }>();

  constructor(readonly config: Readonly<ProvidersConfig>, opts: RuntimeOptions = {}) {
    this.routes = resolveRoutes(config.models, opts.env ?? process.env);
    this.models = config.models.map((m) => m.name);
    const hopts = healthOptions(config.health);
    if (opts.now) hopts.now = opts.now;
    this.health = new HealthTracker(hopts, { models: this.models, ...(opts.healthBuffer ? { buffer: opts.healthBuffer } : {}) });
    this.client = new UpstreamClient();
    this.gateway = new ChatGateway({ models: this.routes, client: this.client, health: this.health, timeouts: config.timeouts, backendDownMs: config.backend_down_ms });
  }

  private masked: { models: readonly string[]; mask: Uint8Array; count: number } | null = null;

  /**
   * 1 for each of `models` (a router profile's list, by index) that has a
   * backend here, and how many. Cached for the last list seen: it is the
   * loaded profile's, the same array on every request.
   */
  backedMask(models: readonly string[]): { mask: Uint8Array; count: number } {
    const m = this.masked;
    if (m !== null && m.models === models) return m;
    const mask = new Uint8Array(models.length);
    let count = 0;
    for (let i = 0; i < models.length; i++) if (this.routes.has(models[i])) { mask[i] = 1; count++; }
    this.masked = { models, mask, count };
    return this.masked;
  }

  pricing(model: string): Pricing | null {
    return this.routes.get(model)?.pricing ?? null;
  }

  /** HealthTracker.latencyPenalty of the model, recomputed at most once a second. */
  latencyPenalty(model: string, now = performance.now()): number {
    if (this.health.opts.latencyWeight === 0) return 0;
    const c = this.penalties.get(model);
    if (c !== undefined && now - c.at < PENALTY_TTL_MS) return c.value;
    const value = this.health.latencyPenalty(this.health.entry(model));
    this.penalties.set(model, { at: now, value });
    return value;
  }

  /** Closes the keep-alive pools (in-flight upstream requests are aborted by their own clients first). */
  close(): Promise<void> {
    return this.client.destroy();
  }
}
