/**
 * What keeps replicas on one Redis in agreement, wired per HTTP thread
 * (issue 12; docs/replicas.md): the rate limiter (Redis or embedded), model
 * health merged across replicas, and router-config changes pushed to every
 * replica. buildApp (src/edge/server.ts) calls `buildLimiter` and
 * `startReplicaSync`; startServer adds `replicaBuffers` to the shared bag.
 *
 * One sync per process, not per thread: every thread ticks each
 * health_sync_ms, and the one that leads (RemoteHealth.lead, a token in
 * shared memory; a dead leader is replaced after STALE_SYNCS periods) does the
 * work: publish this replica's health and read the others' (one Lua call),
 * then check the router-config generation (one GET). Its results land in
 * shared memory, where every thread reads them. Nothing here runs on a
 * request: a slow or absent Redis delays a sync, never a request.
 *
 * Router configs: a thread that commits a change bumps the process's
 * generation counter (router-config-registry.ts) and `announceConfigChange`
 * INCRs the shared generation in Redis and PUBLISHes on the bus
 * (`router-configs`); every thread of every replica that hears it bumps its
 * own process counter, so the next request there re-reads the configs
 * (in effect in milliseconds). A lost message (Redis down at that moment, a
 * subscriber reconnecting) is caught by the generation check within one
 * health_sync_ms of Redis answering again. With `state.redis.store: sqlite`
 * each replica reads its own file: the notification reaches the others, but
 * they have nothing new to read (docs/replicas.md "Config changes").
 */
import { hostname } from 'node:os';
import { randomInt } from 'node:crypto';
import type { Engine } from './engine.ts';
import type { Config } from '../config/schema.ts';
import type { Budget } from '../edge/auth.ts';
import { createRateLimitBuffer, RATE_LIMIT_KEY, SharedRateLimiter, type RateLimiter } from '../store/rate-limit.ts';
import { RedisRateLimiter } from '../store/redis/rate-limit.ts';
import type { RedisHandle } from '../store/redis/client.ts';
import { createRedisStatsBuffer, REDIS_STATS_KEY, redisStatsOf } from '../store/redis/stats.ts';
import { syncHealth, type ReplicaHealth } from '../store/redis/health-sync.ts';
import { createRemoteHealthBuffer, RemoteHealth, REMOTE_HEALTH_KEY, STALE_SYNCS, type RemoteCounts } from '../providers/health-remote.ts';
import type { HealthTracker, LocalHealth } from '../providers/health.ts';
import { registryOf } from './router-config-registry.ts';
import { channels } from '../diagnostics.ts';

export const CONFIG_TOPIC = 'router-configs';

/** startServer: the process-wide buffers of this file (Redis counters, the remote health view). */
export function replicaBuffers(config: Readonly<Config>): Record<string, SharedArrayBuffer> {
  return { [REDIS_STATS_KEY]: createRedisStatsBuffer(), [REMOTE_HEALTH_KEY]: createRemoteHealthBuffer(config.providers.models.length) };
}

/**
 * The limiter for `budgets`: null without budgets; the embedded one over the
 * process's shared buffer; with Redis, the Redis one, falling back to the
 * embedded one when Redis fails and rate_limit_failure is "open".
 */
export function buildLimiter(engine: Engine, budgets: readonly Budget[]): RateLimiter | null {
  if (budgets.length === 0) return null;
  // One budget table for every thread (the shared bag); an Engine built without the bag (tests) gets a private one.
  const local = new SharedRateLimiter(engine.shared[RATE_LIMIT_KEY] ?? createRateLimitBuffer(budgets.length), budgets);
  if (engine.redis === undefined) return local;
  return new RedisRateLimiter(engine.redis, budgets, { failure: engine.redis.config.rate_limit_failure, local, stats: redisStatsOf(engine) });
}

/** The router-config generation counter: INCRed by announceConfigChange, read by every sync to catch a lost message. */
function configGenKey(redis: RedisHandle): string { return redis.keys.global('router-configs', 'gen'); }

/** After a committed router-config change on this replica: tell the others (best effort; the generation check catches a loss). */
export function announceConfigChange(engine: Engine): void {
  const redis = engine.redis;
  if (redis === undefined) return;
  const stats = redisStatsOf(engine);
  if (redis.state().status !== 'ready') { stats.add('config_sync_failures'); return; }
  redis.client.incr(configGenKey(redis))
    .then((g) => engine.bus.publish(CONFIG_TOPIC, String(g)))
    .catch((e: unknown) => { stats.failed(e); stats.add('config_sync_failures'); });
}

/**
 * Other replicas' reports merged per slot of `tracker` (model i of `models`),
 * on this process's clock `now`. A model counts as degraded until
 * min(its remaining cool-down there, staleAfterMs) when another replica skips
 * it, or for staleAfterMs when the merged window (this replica's counts plus
 * the others') reaches min_samples with failure_ratio failing and another
 * replica contributed failures. Refreshed every sync, so it lapses within
 * staleAfterMs once the reports stop.
 */
export function mergeRemote(tracker: HealthTracker, models: readonly string[], replicas: readonly ReplicaHealth[], now: number, staleAfterMs: number): RemoteCounts[] {
  const o = tracker.opts;
  return models.map((m) => {
    const c: RemoteCounts = { failures: 0, successes: 0, latSum: 0, latN: 0, ttfbSum: 0, ttfbN: 0, consecutive: 0, degradedUntil: 0 };
    for (const r of replicas) {
      const h = r.models.get(m);
      if (h === undefined) continue;
      c.failures += h.failures; c.successes += h.successes; c.latSum += h.latSum; c.latN += h.latN; c.ttfbSum += h.ttfbSum; c.ttfbN += h.ttfbN;
      c.consecutive = Math.max(c.consecutive, h.consecutive);
      const left = h.openForMs - r.ageMs;
      if (h.openForMs > 0 && left > 0) c.degradedUntil = Math.max(c.degradedUntil, now + Math.min(left, staleAfterMs));
    }
    if (c.failures > 0) {
      const mine = tracker.localSummary(m);
      const failures = c.failures + (mine?.failures ?? 0);
      const total = failures + c.successes + (mine?.successes ?? 0);
      if (total >= o.minSamples && failures / total >= o.failureRatio) c.degradedUntil = Math.max(c.degradedUntil, now + staleAfterMs);
    }
    return c;
  });
}

/** This process's identity among the replicas (all its threads share it). */
const REPLICA_ID = `${hostname()}:${process.pid}`;

export interface ReplicaSync {
  /** The process's view of the other replicas (health). */
  readonly remote: RemoteHealth | undefined;
  /** One sync now, if this thread leads (tests; the timer calls it every health_sync_ms). */
  tick(): Promise<void>;
  stop(): void;
}

/** Starts this thread's part (see the header); a no-op without Redis. */
export function startReplicaSync(engine: Engine, id: string = REPLICA_ID): ReplicaSync {
  const redis = engine.redis;
  if (redis === undefined) return { remote: undefined, tick: async () => {}, stop: () => {} };
  const stats = redisStatsOf(engine);
  const tracker = engine.gateway.health;
  const models = engine.gateway.models;
  const remote = new RemoteHealth(engine.shared[REMOTE_HEALTH_KEY] ?? createRemoteHealthBuffer(models.length));
  tracker.remote = remote;
  const period = redis.config.health_sync_ms;
  const staleAfter = STALE_SYNCS * period;
  const me = randomInt(1, 2 ** 31 - 1);
  const registry = registryOf(engine);
  let seenGen: string | null | undefined;

  const onConfig = () => { stats.add('config_messages'); registry.invalidate(); };
  const unsubscribe = engine.bus.subscribe(CONFIG_TOPIC, onConfig);

  /** The sync in progress: the timer skips a period while one runs; an explicit tick() waits for it, then runs its own. */
  let current: Promise<void> | undefined;
  const sync = async (): Promise<void> => {
    const now = tracker.opts.now();
    if (!remote.lead(me, now, staleAfter)) return;
    try {
      if (redis.state().status !== 'ready') {
        // Health local only once the last view is past its bound (docs/replicas.md "When Redis fails").
        if (!remote.fresh(now)) remote.clear();
        return;
      }
      const mine = new Map<string, LocalHealth>();
      for (const m of models) { const h = tracker.localSummary(m); if (h !== null) mine.set(m, h); }
      try {
        const others = await syncHealth(redis, id, staleAfter, mine);
        const t = tracker.opts.now();
        remote.write(t, staleAfter, others.length, mergeRemote(tracker, models, others, t, staleAfter));
      } catch (e) {
        stats.failed(e);
        stats.add('health_sync_failures');
        if (!remote.fresh(tracker.opts.now())) remote.clear();
      }
      try {
        const g = await redis.client.get(configGenKey(redis));
        // The first read is the baseline; any change after it (a lost message, Redis restarted empty) reloads.
        if (seenGen !== undefined && g !== seenGen) onConfig();
        seenGen = g;
      } catch (e) {
        stats.failed(e);
        stats.add('config_sync_failures');
      }
    } catch (e) {
      channels.internalError.publish({ method: 'SYNC', path: '(replica sync)', error: e });
    }
  };
  const run = (): Promise<void> => { current = sync().finally(() => { current = undefined; }); return current; };
  const tick = async (): Promise<void> => {
    while (current !== undefined) await current;
    await run();
  };
  const timer = setInterval(() => { if (current === undefined) void run(); }, period);
  timer.unref();
  return {
    remote,
    tick,
    stop: () => { clearInterval(timer); unsubscribe(); remote.resign(me); },
  };
}
