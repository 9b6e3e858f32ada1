/**
 * The server's routing state and its life cycle: loading -> ready (or failed).
 * The server listens before this loads, so /health can answer "loading" and
 * /v1/* answer 503 router_not_ready instead of connections being refused
 * while a large profile or an ONNX model loads.
 *
 * Everything the hot path needs is computed once here (model-name JSON keys,
 * the resolved default lambda, scratch buffers), so a request does no per-call
 * setup.
 *
 * With several HTTP threads (src/edge/threads.ts) the main thread reads the
 * disk once (`loadTables`) and every thread's Engine adopts the result with
 * `load(tables)`: the profile's tables and the native embedder's tables are
 * SharedArrayBuffers, mapped, not copied. What stays per thread: the Router
 * (small scratch arrays, its nearest index), the embedder's term-frequency
 * scratch (2 MB), and for a large-K profile the route pool. The decision cache
 * is one SharedArrayBuffer for the process (shared[DECISION_CACHE_KEY]).
 *
 * Nearest-centroid search follows dispatchFor (src/pool/pool.ts): inline
 * (the Router's own index) below ROUTE_POOL_MIN_K centroids; from there in a
 * route pool of routePoolThreads(workers, HTTP threads) worker threads, and
 * the Router gets no inline index at all (remoteIndex): handlers search in the
 * pool and decide with Router.routeFrom.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { join } from 'node:path';
import { checkEmbedder, loadProfile, type Profile } from '../routing/profile.ts';
import { loadNativeTables, NativeEmbedder, type NativeTables } from '../routing/embedders/native.ts';
import { NeighbourRouter, servedRouter, type NearFound, type ServedRouter } from '../routing/neighbours.ts';
import { nearestIndexFor, remoteIndex, type NearestIndex } from '../routing/nearest.ts';
import { createHash } from 'node:crypto';
import { DECISION_CACHE_KEY, DecisionCache, createDecisionCacheBuffer } from './route-cache.ts';
import { ApiError } from '../errors.ts';
import { channels } from '../diagnostics.ts';
import type { Config } from '../config/schema.ts';
import { closeEmbedSource, createEmbedSource, identityOf, type EmbedIdentity, type EmbedSource } from './embed-source.ts';
import { GatewayRuntime, MODEL_HEALTH_KEY } from '../providers/runtime.ts';
import { dispatchFor, routePoolThreads } from '../pool/pool.ts';
import { createRoutePool, type RoutePool, type SearchResult } from '../pool/route-pool.ts';
import { openStore, type Store } from '../store/index.ts';
import { closeActivityLog } from './activity-log.ts';
import { openRedis, redisConfigured, type RedisHandle } from '../store/redis/client.ts';
import { localBus, redisBus, type Bus } from '../store/bus.ts';
import type { ProfileControl } from './profile-control.ts';
import { effectiveProfileDir } from './profile-versions.ts';

export type EngineStatus = 'loading' | 'ready' | 'failed';

/** The loaded state; exists only once status is 'ready', so handlers never see a half-built router. */
export interface Ready {
  readonly profile: Profile;
  /** The cluster router, or the neighbour router for a router.kind "neighbours" profile (same contract: src/routing/neighbours.ts). */
  readonly router: ServedRouter;
  /**
   * Which profile: the first 16 hex of the SHA-256 of its manifest (which
   * holds every table's sha256), the same on every thread and every replica
   * that loaded the same files.
   */
  readonly profileId: string;
  /**
   * 1 for the profile loaded at start, +1 per hot reload (POST
   * /v1/router/reload, SIGHUP, an added model; src/api/profile-control.ts).
   * Numbered by the process that loads (the main thread with HTTP threads),
   * so every thread reports the same; per replica, not across replicas.
   */
  readonly generation: number;
  /**
   * Present when dispatchFor says the profile's K searches in the pool: search
   * there (async), then router.routeFrom. Absent: router.route, inline.
   */
  readonly routePool: RoutePool | undefined;
  /**
   * A neighbours profile whose labelled prompts search in the pool (the same
   * dispatchFor policy as the centroids, with K = the labelled prompts: from
   * ROUTE_POOL_MIN_K, or router.nearest: pool; HNSW from HNSW_MIN_K). The
   * threshold is the centroids' (the same search: dot products over N rows of
   * dim 384), not measured separately for this router.
   */
  readonly pointPool: RoutePool | undefined;
  readonly source: EmbedSource;
  readonly embedder: EmbedIdentity;
  /**
   * Decision cache: key -> the decision's JSON up to (not including) "cache_hit".
   * Process-wide: the buffer is shared[DECISION_CACHE_KEY] (one for every HTTP thread).
   */
  readonly cache: DecisionCache;
  readonly defaultCostWeight: number;
  /** `"model name":` per model index, JSON-escaped once. */
  readonly modelKeys: readonly string[];
  /** `{"selected_model":"model name","cluster_id":` per model index: the start of a decision's JSON. */
  readonly modelPrefixes: readonly string[];
  /** Reused by the inline (sync) embedder: route() copies nothing out of it. */
  readonly scratch: Float32Array;
  /** Reused for Decision.scores by handlers that consume the decision synchronously. */
  readonly scoreScratch: Float64Array;
}

/**
 * What one thread loads and the others adopt: the profile (its tables in
 * SharedArrayBuffers, see routing/profile.ts) and the native embedder's tables
 * (one SharedArrayBuffer); null for an embedder that cannot be shared (ONNX:
 * each Engine creates its own, and config refuses several HTTP threads with it).
 * Structured-cloneable: posting it to a thread shares the buffers.
 */
export interface SharedTables {
  readonly profile: Profile;
  readonly native: NativeTables | null;
}

/** A hot reload's payload for one Engine (src/api/profile-control.ts; posted to each HTTP thread). */
export interface SwapTables extends SharedTables {
  readonly generation: number;
  /**
   * A fresh decision-cache buffer for the new profile, shared by every thread
   * (sized for its model names): decisions of the old profile are never
   * served after the swap. Absent: a private one (an Engine without the
   * server's shared bag).
   */
  readonly cache?: SharedArrayBuffer;
}

export interface EngineOptions {
  /** HTTP threads in the process, each with its own Engine: they share `workers` for route pools. Default 1. */
  httpThreads?: number;
  /**
   * false: this Engine answers no requests (the main thread supervising HTTP
   * threads, which mirrors their state): it starts no route pool and builds
   * no nearest index. Default true.
   */
  serves?: boolean;
}

/**
 * The route pool's neighbours for `v` when this profile searches there, else
 * undefined (the Router searches inline: Router.routeNear takes either). The
 * pool gets a copy of `v`: piscina clones a task's data only when a worker
 * takes it, by which time a caller's scratch buffer may hold the next
 * request's embedding (1.5 KB at dim 384, nothing next to the hop). A closed
 * pool (shutdown) rejects with PoolError pool_closed: 503 shutting_down.
 */
export function poolSearch(r: Ready, v: Float32Array): Promise<NearFound> | undefined {
  const clusters = r.routePool?.search(v.slice(), r.router.top);
  const nr = r.router instanceof NeighbourRouter ? r.router : undefined;
  if (nr === undefined) return clusters;
  // The neighbour router also reads the embedding for its labelled prompts: that search happens now
  // (inline) or in the pool, never after the await, when `v` may hold the next request's embedding.
  if (r.pointPool === undefined) {
    if (clusters === undefined) return undefined;
    const points = nr.searchPoints(v);
    return clusters.then((c) => ({ ids: c.ids, sims: c.sims, points }));
  }
  const points = r.pointPool.search(v.slice(), nr.neighbours);
  const c = clusters ?? nr.searchClusters(v);
  return Promise.all([c, points]).then(([a, b]) => ({ ids: a.ids, sims: a.sims, points: b }));
}

/** Cheap to construct; all the work is in load(). */
export class Engine {
  status: EngineStatus = 'loading';
  ready: Ready | undefined;
  error: Error | undefined;
  private loading: Promise<void> | undefined;
  private closed = false;
  /**
   * What a hot reload replaced and has not closed yet (closed after RETIRE_MS,
   * or by close()): the pool and embedder only, not the Ready, so its decision
   * cache and tables are freed as soon as the last request holding it ends.
   */
  private readonly retiring = new Set<{ pools: (RoutePool | undefined)[]; source: EmbedSource | undefined }>();
  /**
   * Hot reload and the models API (src/api/profile-control.ts): set by the
   * server (edge/server.ts with one HTTP thread, the HTTP thread's proxy to
   * the main thread with several); undefined in an Engine built by a script.
   */
  control: ProfileControl | undefined;
  /**
   * The chat gateway (routes, upstream pools, health): built from config at
   * construction, so explicit-model calls, /v1/models and /v1/model-health
   * work while the profile is still loading. Health state lives in
   * shared[MODEL_HEALTH_KEY] when given (one buffer for every HTTP thread).
   */
  readonly gateway: GatewayRuntime;
  /**
   * What outlives a request (src/store/), opened at construction: a store that
   * cannot be opened (state.dir unwritable, a corrupt file) throws StoreError
   * naming the path, failing the server's start. Closed (pending writes
   * committed) in close().
   */
  readonly store: Store;
  /**
   * Redis when `state.redis.url` (or Sentinel / Cluster) is set (issue 12;
   * docs/replicas.md): one connection per Engine (per HTTP thread), shared by
   * the store, the rate limiter, health sync and the bus. undefined: embedded.
   */
  readonly redis: RedisHandle | undefined;
  /** Notifications to every replica (Redis pub/sub), or to this process only. */
  readonly bus: Bus;

  constructor(readonly config: Readonly<Config>, readonly shared: Readonly<Record<string, SharedArrayBuffer>> = {}, private readonly opts: EngineOptions = {}) {
    const healthBuffer = shared[MODEL_HEALTH_KEY];
    this.gateway = new GatewayRuntime(config.providers, healthBuffer ? { healthBuffer } : {});
    const rc = config.state.redis;
    this.redis = redisConfigured(rc) ? openRedis(rc) : undefined;
    this.bus = this.redis ? redisBus(this.redis) : localBus();
    this.store = openStore(config, undefined, this.redis);
  }

  /** Throws 503 router_not_ready unless loaded. The one gate every /v1 handler passes. */
  require(): Ready {
    if (this.ready !== undefined) return this.ready;
    throw new ApiError('router_not_ready', this.status === 'failed' ? 'The router failed to load; see the server log.' : undefined);
  }

  /**
   * Idempotent: a second call returns the first call's promise. `shared`: adopt
   * tables loaded elsewhere (loadTables, in the main thread) instead of reading
   * the disk; a rejection fails this Engine as a load error would.
   */
  load(shared?: SharedTables | Promise<SharedTables>): Promise<void> {
    // doLoad awaits it only after yielding to the loop: mark a rejection handled
    // now, or Node reports it as unhandled (and exits) in between.
    if (shared instanceof Promise) shared.catch(() => {});
    this.loading ??= this.doLoad(shared);
    return this.loading;
  }

  private async doLoad(shared: SharedTables | Promise<SharedTables> | undefined): Promise<void> {
    const t0 = performance.now();
    let source: EmbedSource | undefined;
    try {
      // Profile and native-table loading are synchronous (~50 ms for the default
      // profile); yielding between the steps lets /health probes and the listen
      // callback's callers run in between instead of queueing behind all of it.
      await yieldToLoop();
      const from = await shared;
      // Without tables handed over: router.profile, or the newest version the models API wrote for it (profile-versions.ts).
      const dir = from ? undefined : effectiveProfileDir(this.config);
      source = from?.native ? { kind: 'sync', embedder: new NativeEmbedder(from.native) } : await createEmbedSource(dir === undefined ? this.config : { ...this.config, router: { ...this.config.router, profile: dir } });
      await yieldToLoop();
      const embedder = identityOf(source);
      let profile: Profile;
      if (from) {
        checkEmbedder(from.profile.manifest, embedder, join(from.profile.dir ?? '(shared profile)', 'profile.json'));
        profile = from.profile;
      } else profile = loadProfile(dir!, embedder);
      // A thread (re)started after a hot reload adopts the current tables with their generation and cache (threads.ts).
      const swapped = from as Partial<SwapTables> | undefined;
      const ready = await this.build(profile, source, swapped?.cache ?? this.shared[DECISION_CACHE_KEY], swapped?.generation ?? 1);
      if (this.closed) { await Promise.all([ready.routePool?.close(), ready.pointPool?.close()]); await closeEmbedSource(source); return; }
      this.ready = ready;
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

  /** A Ready for `profile`: the nearest index (or route pool), the router, the scratch. Closes its own pool if it fails. */
  private async build(profile: Profile, source: EmbedSource, cacheBuffer: SharedArrayBuffer | undefined, generation: number): Promise<Ready> {
    const httpThreads = this.opts.httpThreads ?? 1;
    let index: NearestIndex;
    let routePool: RoutePool | undefined;
    if (this.opts.serves === false) {
      // The supervisor of HTTP threads routes nothing: no pool, and no inline index either (HNSW at K=10,000 takes seconds).
      index = remoteIndex(profile.k, 'the HTTP threads');
    } else if (dispatchFor({ embedderKind: this.config.embedder.kind, k: profile.k, nearest: this.config.router.nearest, httpThreads }).route === 'pool') {
      index = remoteIndex(profile.k, 'the route pool');
      // Each worker builds its own index in parallel, off this thread (HNSW at K=10,000: ~3 s).
      routePool = await createRoutePool({ centroids: profile.centroids, k: profile.k, dim: profile.dim, threads: routePoolThreads(this.config.workers, httpThreads) });
    } else index = await nearestIndexFor(profile.centroids, profile.k, profile.dim);
    let pointPool: RoutePool | undefined;
    try {
      const spec = profile.manifest.router;
      if (this.opts.serves !== false && spec?.kind === 'neighbours' && dispatchFor({ embedderKind: this.config.embedder.kind, k: spec.samples, nearest: this.config.router.nearest, httpThreads }).route === 'pool') {
        pointPool = await createRoutePool({ centroids: profile.points!, k: spec.samples, dim: profile.dim, threads: routePoolThreads(this.config.workers, httpThreads) });
      }
      const router = servedRouter(profile, index);
      // The labelled prompts searched on this thread (inline, or by poolSearch's searchPoints before the clusters' await):
      // build their index (the inverted file, 17-28 ms at RouterBench's 2,225) at load and on reload, not in the first request.
      if (router instanceof NeighbourRouter && this.opts.serves !== false && pointPool === undefined) router.prepare();
      return {
        profile, router, routePool, pointPool, source, embedder: identityOf(source),
        profileId: profileIdOf(profile), generation,
        // An Engine built without the server's shared bag (tests, scripts) gets a private cache.
        cache: new DecisionCache(cacheBuffer ?? createDecisionCacheBuffer(this.config.router.cache_size, profile.models), profile.models.length),
        defaultCostWeight: this.config.router.default_cost_weight ?? profile.manifest.default_cost_weight,
        modelKeys: profile.models.map((m) => `${JSON.stringify(m)}:`),
        modelPrefixes: profile.models.map((m) => `{"selected_model":${JSON.stringify(m)},"cluster_id":`),
        scratch: new Float32Array(profile.dim),
        scoreScratch: new Float64Array(profile.models.length),
      };
    } catch (e) {
      await Promise.all([routePool?.close().catch(() => {}), pointPool?.close().catch(() => {})]);
      throw e;
    }
  }

  /**
   * Hot reload (src/api/profile-control.ts): builds a Ready for the new
   * tables and makes it the one every new request takes, in one assignment.
   * A request in flight keeps the Ready it started with (handlers read
   * engine.require() once), so it finishes on the old profile, its router,
   * its cache and its route pool; the old pool is closed RETIRE_MS later
   * (a search started on it after that answers 503 shutting_down: only a
   * request whose embedding took longer than RETIRE_MS). Same embedder
   * checks as the start. Throws (and changes nothing) if the Engine is not
   * ready yet or the tables do not fit the embedder.
   */
  async swap(t: SwapTables): Promise<void> {
    const old = this.ready;
    if (old === undefined || this.closed) throw new Error('the router has not loaded a profile yet');
    // Native tables travel with the profile (they live in its directory): a new embedder, sharing the buffers. Otherwise (ONNX, embedder.dir) the same one.
    const source: EmbedSource = t.native ? { kind: 'sync', embedder: new NativeEmbedder(t.native) } : old.source;
    const embedder = identityOf(source);
    checkEmbedder(t.profile.manifest, embedder, join(t.profile.dir ?? '(shared profile)', 'profile.json'));
    const ready = await this.build(t.profile, source, t.cache, t.generation);
    if (this.closed) { await Promise.all([ready.routePool?.close(), ready.pointPool?.close()]); return; }
    this.ready = ready;
    this.retire(old, ready);
  }

  private retire(old: Ready, now: Ready): void {
    const r = { pools: [old.routePool, old.pointPool], source: old.source !== now.source ? old.source : undefined };
    if (r.pools.every((p) => p === undefined) && r.source === undefined) return;
    this.retiring.add(r);
    const timer = setTimeout(() => {
      this.retiring.delete(r);
      for (const p of r.pools) void p?.close().catch(() => {});
      if (r.source) void closeEmbedSource(r.source).catch(() => {});
    }, RETIRE_MS);
    timer.unref();
  }

  /**
   * Releases the embedder (ONNX session / pool) and the route pool. Waits for
   * an in-progress load to settle first. A pool lets its accepted tasks finish;
   * a search started after this rejects with pool_closed (503 shutting_down).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.loading?.catch(() => {});
    await this.gateway.close();
    // The activity log's buffered rows go to the store before it closes (activity-log.ts).
    await closeActivityLog(this);
    await this.store.close();
    await this.bus.close();
    await this.redis?.close();
    for (const old of this.retiring) await Promise.all([...old.pools.map((p) => p?.close()), old.source && closeEmbedSource(old.source)]);
    this.retiring.clear();
    if (this.ready) await Promise.all([this.ready.routePool?.close(), this.ready.pointPool?.close(), closeEmbedSource(this.ready.source)]);
  }
}

/** How long a replaced profile's route pool stays open for the requests that started on it (Engine.swap). */
export const RETIRE_MS = 30_000;

/** Ready.profileId: 16 hex of the SHA-256 of the manifest (its `sha256` member pins every table). */
export function profileIdOf(profile: Profile): string {
  return createHash('sha256').update(JSON.stringify(profile.manifest)).digest('hex').slice(0, 16);
}

/**
 * Reads and checks what every HTTP thread's Engine adopts: once, in the main
 * thread. Same checks as Engine.load (the profile must have been fitted with
 * this embedder). An ONNX embedder is loaded only to check its identity, then
 * released: it cannot be shared, and config allows one HTTP thread with it.
 */
export async function loadTables(config: Pick<Config, 'embedder' | 'router' | 'workers' | 'state'>): Promise<SharedTables> {
  const dir = effectiveProfileDir(config);
  if (config.embedder.kind === 'native') return readProfileTables(config, dir);
  const source = await createEmbedSource({ ...config, router: { ...config.router, profile: dir } });
  try {
    return { profile: loadProfile(dir, identityOf(source)), native: null };
  } finally {
    await closeEmbedSource(source);
  }
}

/**
 * The profile in `dir` checked against the embedder that will serve it: the
 * start's (loadTables) and a hot reload's (src/api/profile-control.ts) one
 * read. The native embedder's tables are read from embedder.dir, else from
 * `dir` (so a reload may change the text selection or the IDF with the
 * profile); with embedder.dir and a `running` embedder, or with ONNX, the
 * running embedder stays and the profile is checked against `running`.
 */
export function readProfileTables(config: Pick<Config, 'embedder'>, dir: string, running?: EmbedIdentity): SharedTables {
  if (config.embedder.kind === 'native' && (config.embedder.dir === null || running === undefined)) {
    const native = loadNativeTables(config.embedder.dir ?? dir);
    return { profile: loadProfile(dir, new NativeEmbedder(native)), native };
  }
  if (running === undefined) throw new Error('readProfileTables: an ONNX embedder needs the running embedder\'s identity');
  return { profile: loadProfile(dir, running), native: null };
}
