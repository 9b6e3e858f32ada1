/**
 * The server's routing state and its life cycle: loading -> ready (or failed).
 * The server listens before this loads, so /health can answer "loading" and
 * /v1/* answer 503 router_not_ready instead of connections being refused
 * while a large profile or an ONNX model loads.
 *
 * Everything the hot path needs is computed once here (model-name JSON keys,
 * the resolved default lambda, a scratch embedding buffer), so a request does
 * no per-call setup.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { loadProfile, type Profile } from '../routing/profile.ts';
import { Router } from '../routing/router.ts';
import { nearestIndexFor } from '../routing/nearest.ts';
import { LruCache } from '../routing/cache.ts';
import { ApiError } from '../errors.ts';
import { channels } from '../diagnostics.ts';
import type { Config } from '../config/schema.ts';
import { closeEmbedSource, createEmbedSource, identityOf, type EmbedIdentity, type EmbedSource } from './embed-source.ts';

export type EngineStatus = 'loading' | 'ready' | 'failed';

/** The loaded state; exists only once status is 'ready', so handlers never see a half-built router. */
export interface Ready {
  readonly profile: Profile;
  readonly router: Router;
  readonly source: EmbedSource;
  readonly embedder: EmbedIdentity;
  /** Decision cache: key -> the decision's JSON up to (not including) "cache_hit". */
  readonly cache: LruCache<string, string>;
  readonly defaultCostWeight: number;
  /** `"model name":` per model index, JSON-escaped once. */
  readonly modelKeys: readonly string[];
  /** Reused by the inline (sync) embedder: route() copies nothing out of it. */
  readonly scratch: Float32Array;
}

/** Cheap to construct; all the work is in load(). */
export class Engine {
  status: EngineStatus = 'loading';
  ready: Ready | undefined;
  error: Error | undefined;
  private loading: Promise<void> | undefined;
  private closed = false;

  constructor(readonly config: Readonly<Config>) {}

  /** Throws 503 router_not_ready unless loaded. The one gate every /v1 handler passes. */
  require(): Ready {
    if (this.ready !== undefined) return this.ready;
    throw new ApiError('router_not_ready', this.status === 'failed' ? 'The router failed to load; see the server log.' : undefined);
  }

  /** Idempotent: a second call returns the first call's promise. */
  load(): Promise<void> {
    this.loading ??= this.doLoad();
    return this.loading;
  }

  private async doLoad(): Promise<void> {
    const t0 = performance.now();
    let source: EmbedSource | undefined;
    try {
      // Profile and native-table loading are synchronous (~50 ms for the default
      // profile); yielding between the steps lets /health probes and the listen
      // callback's callers run in between instead of queueing behind all of it.
      await yieldToLoop();
      source = await createEmbedSource(this.config);
      await yieldToLoop();
      const embedder = identityOf(source);
      const profile = loadProfile(this.config.router.profile, embedder);
      const router = new Router(profile, await nearestIndexFor(profile.centroids, profile.k, profile.dim));
      if (this.closed) { await closeEmbedSource(source); return; }
      this.ready = {
        profile, router, source, embedder,
        cache: new LruCache(this.config.router.cache_size),
        defaultCostWeight: this.config.router.default_cost_weight ?? profile.manifest.default_cost_weight,
        modelKeys: profile.models.map((m) => `${JSON.stringify(m)}:`),
        scratch: new Float32Array(profile.dim),
      };
      this.status = 'ready';
      if (channels.profileLoaded.hasSubscribers) {
        channels.profileLoaded.publish({ profile: profile.manifest.name, k: profile.k, models: profile.models.length, embedder: embedder.id, ms: performance.now() - t0 });
      }
    } catch (err) {
      this.status = 'failed';
      this.error = err as Error;
      if (source) await closeEmbedSource(source).catch(() => {});
      channels.profileFailed.publish({ error: err });
      throw err;
    }
  }

  /** Releases the embedder (ONNX session / pool). Waits for an in-progress load to settle first. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.loading?.catch(() => {});
    if (this.ready) await closeEmbedSource(this.ready.source);
  }
}
