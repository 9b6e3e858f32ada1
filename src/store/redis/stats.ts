/**
 * What Redis cost and failed, for /metrics (issue 12): a few process-wide
 * counters in one SharedArrayBuffer of the server's `shared` bag
 * (REDIS_STATS_KEY), so every HTTP thread adds to the same numbers and a
 * scrape on any thread reads them all. Only failure paths count here (a
 * command that failed, a fail-open admission), so Atomics.add on BigInt64
 * costs nothing on the hot path.
 *
 * `switchyard_redis_up` is not a counter: it is the answering thread's own
 * connection state (each HTTP thread has its own connection, all to one
 * server, so they agree within a reconnect).
 */
import type { Engine } from '../../api/engine.ts';

export const REDIS_STATS_KEY = 'redis-stats';

export const REDIS_COUNTERS = ['command_errors', 'command_timeouts', 'rate_limit_fail_open', 'rate_limit_fail_closed', 'health_sync_failures', 'config_sync_failures', 'config_messages'] as const;
export type RedisCounter = typeof REDIS_COUNTERS[number];

export function createRedisStatsBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(8 * REDIS_COUNTERS.length);
}

export class RedisStats {
  private readonly c: BigInt64Array;
  constructor(buffer: SharedArrayBuffer = createRedisStatsBuffer()) { this.c = new BigInt64Array(buffer); }
  add(name: RedisCounter, n = 1): void { Atomics.add(this.c, REDIS_COUNTERS.indexOf(name), BigInt(n)); }
  get(name: RedisCounter): number { return Number(Atomics.load(this.c, REDIS_COUNTERS.indexOf(name))); }
  /** A failed command: a timeout (command_timeout_ms) or anything else (connection down, script error). */
  failed(e: unknown): void { this.add(isTimeout(e) ? 'command_timeouts' : 'command_errors'); }
}

/** ioredis' commandTimeout rejects with "Command timed out". */
export function isTimeout(e: unknown): boolean {
  return e instanceof Error && /timed out/i.test(e.message);
}

const byEngine = new WeakMap<object, RedisStats>();

/** The process's counters (the shared bag's buffer), or a private set for an Engine built without it (tests). */
export function redisStatsOf(engine: Pick<Engine, 'shared'>): RedisStats {
  let s = byEngine.get(engine);
  if (s === undefined) {
    const buf = engine.shared[REDIS_STATS_KEY];
    s = buf ? new RedisStats(buf) : new RedisStats();
    byEngine.set(engine, s);
  }
  return s;
}

const HELP: Record<RedisCounter, [string, string]> = {
  command_errors: ['switchyard_redis_command_errors_total', 'Redis commands that failed other than by timeout (connection down, refused, script error), this process.'],
  command_timeouts: ['switchyard_redis_command_timeouts_total', 'Redis commands not answered within state.redis.command_timeout_ms, this process.'],
  rate_limit_fail_open: ['switchyard_rate_limit_fail_open_total', 'Requests admitted by the local limiter because Redis could not answer (state.redis.rate_limit_failure: open).'],
  rate_limit_fail_closed: ['switchyard_rate_limit_fail_closed_total', 'Requests refused 503 rate_limiter_unavailable because Redis could not answer (state.redis.rate_limit_failure: closed).'],
  health_sync_failures: ['switchyard_health_sync_failures_total', 'Model-health syncs with Redis that failed (health stays local meanwhile).'],
  config_sync_failures: ['switchyard_config_sync_failures_total', 'Router-config change notifications or generation checks that failed.'],
  config_messages: ['switchyard_config_changes_received_total', 'Router-config changes learnt from other replicas (bus message or generation check).'],
};

/** The Redis lines of GET /metrics (Prometheus text format), '' without Redis. */
export function redisExposition(engine: Pick<Engine, 'shared' | 'redis'>): string {
  if (engine.redis === undefined) return '';
  const s = redisStatsOf(engine);
  const st = engine.redis.state();
  let out = '# HELP switchyard_redis_up 1 when this replica\'s Redis connection is ready, 0 while it is down or connecting.\n# TYPE switchyard_redis_up gauge\n';
  out += `switchyard_redis_up ${st.status === 'ready' ? 1 : 0}\n`;
  out += '# HELP switchyard_redis_reconnects_total Times the answering thread\'s Redis connection came back after being down.\n# TYPE switchyard_redis_reconnects_total counter\n';
  out += `switchyard_redis_reconnects_total ${st.reconnects}\n`;
  for (const name of REDIS_COUNTERS) {
    const [metric, help] = HELP[name];
    out += `# HELP ${metric} ${help}\n# TYPE ${metric} counter\n${metric} ${s.get(name)}\n`;
  }
  return out;
}
