/**
 * GET /health: 200 {"status":"ok"} once the router is ready, 503 with
 * "loading" (or "failed") before: load balancers and orchestrators key on the
 * status code, humans read the body. Never behind the API key.
 */
import type { Engine } from './engine.ts';
import type { RoutePool } from '../pool/route-pool.ts';
import type { ShmCacheStats } from '../store/shm-cache.ts';

export interface HealthInfo {
  /** Whether uWebSockets.js runs its native build (false = the slower JS fallback). */
  uwsNative: boolean;
  /** performance.now() when the server started listening. */
  startedAt: number;
  /** HTTP threads serving the port (server.threads resolved), and which one is answering (0-based). */
  threads: number;
  thread: number;
}

export function handleHealth(engine: Engine, info: HealthInfo): { status: number; body: string } {
  const r = engine.ready;
  const cfg = engine.config;
  const redis = redisHealth(engine);
  const body = {
    // "degraded": routing is ready but Redis is not (still 200: /v1/route and chat serve; see docs/replicas.md "When Redis fails").
    status: engine.status === 'ready' ? (redis !== null && redis.status !== 'ready' ? 'degraded' : 'ok') : engine.status,
    profile: r?.profile.manifest.name ?? null,
    // Issue 13: which profile (the manifest's hash: the same on every replica that loaded the same files), its
    // version (1 at start, +1 per hot reload; per process), its directory and router kind.
    profile_id: r?.profileId ?? null,
    profile_version: r?.generation ?? null,
    profile_dir: r?.profile.dir ?? null,
    router: r ? (r.profile.manifest.router?.kind ?? 'clusters') : null,
    k: r?.profile.k ?? null,
    models: r?.profile.models ?? [],
    embedder: r?.embedder.id ?? null,
    // inline = embedSync on the event loop (native); backend = an async EmbedBackend (ONNX).
    embedding: r ? (r.source.kind === 'sync' ? 'inline' : 'backend') : null,
    workers: cfg.workers,
    // inline = the Router's own index on the event loop; pool = the route pool
    // (K >= ROUTE_POOL_MIN_K, src/pool/pool.ts). route_pool describes this thread's pool.
    routing: r ? (r.routePool ? 'pool' : 'inline') : null,
    route_pool: r?.routePool ? routePoolHealth(r.routePool) : null,
    // A neighbours profile whose labelled prompts search in the pool (engine.ts Ready.pointPool): that pool, else null.
    neighbour_pool: r?.pointPool ? routePoolHealth(r.pointPool) : null,
    uptime_s: Math.round((performance.now() - info.startedAt) / 100) / 10,
    uws_native: info.uwsNative,
    // `thread` is the thread that answered (a connection stays on one thread);
    // `cache` is process-wide: one decision cache in shared memory for every thread.
    threads: info.threads,
    thread: info.thread,
    cache: r ? cacheHealth(r.cache.stats()) : null,
    // state.redis: this thread's connection (null without Redis).
    redis,
  };
  return { status: engine.status === 'ready' ? 200 : 503, body: JSON.stringify(body) };
}

function redisHealth(engine: Engine) {
  if (engine.redis === undefined) return null;
  const s = engine.redis.state();
  return { status: s.status, since: new Date(s.since).toISOString(), reconnects: s.reconnects, last_error: s.lastError };
}

function cacheHealth(s: ShmCacheStats) {
  return { size: s.size, capacity: s.capacity, hits: s.hits, misses: s.misses, evictions: s.evictions, oversize: s.oversize, bytes: s.bytes };
}

function routePoolHealth(p: RoutePool) {
  const s = p.stats();
  return {
    threads: s.threads, k: p.k, searches: s.searches, queued: s.queued,
    build_ms: s.buildMs.map((x) => Math.round(x)), worker_errors: s.workerErrors, last_worker_error: s.lastWorkerError,
  };
}
