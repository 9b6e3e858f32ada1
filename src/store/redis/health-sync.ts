/**
 * Model health across replicas, the Redis side (issue 12; docs/replicas.md
 * "Health"): one Lua script a sync that publishes this replica's counts and
 * returns every other live replica's, in one round trip.
 *
 * Keys (one Cluster slot: the `{replicas}` hash tag):
 *   <prefix>:v1:health:{replicas}          sorted set: replica id -> last sync (Redis TIME, ms)
 *   <prefix>:v1:health:{replicas}:<id>     hash: model -> "f,s,latSum,latN,ttfbSum,ttfbN,consecutive,openForMs", _at -> ms
 * Each hash expires `ttl_ms` (3 x health_sync_ms) after its replica's last
 * sync, and the set drops members older than that: a replica that stopped
 * (crashed, lost Redis) stops counting within the TTL. Times are Redis TIME,
 * so `age = now - _at` is free of clock skew between machines; `openForMs` is
 * relative to `_at`.
 */
import type { RedisHandle, RedisLike } from './client.ts';
import type { LocalHealth } from '../../providers/health.ts';

const SYNC_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[2], '_at', tostring(now))
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
local out = {tostring(now)}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m ~= ARGV[1] then
    local h = redis.call('HGETALL', KEYS[1] .. ':' .. m)
    if #h > 0 then out[#out + 1] = m; out[#out + 1] = h end
  end
end
return out
`;

type Scripted = RedisLike & { syHealthSync(n: number, ...args: string[]): Promise<[string, ...(string | string[])[]]> };
const defined = new WeakSet<object>();

function scripted(client: RedisLike): Scripted {
  if (!defined.has(client)) { client.defineCommand('syHealthSync', { lua: SYNC_LUA }); defined.add(client); }
  return client as Scripted;
}

/** One other replica's report, as of `ageMs` ago. */
export interface ReplicaHealth {
  id: string;
  ageMs: number;
  models: Map<string, LocalHealth>;
}

export function encodeHealth(h: LocalHealth): string {
  const r = (x: number) => (Number.isFinite(x) ? String(Math.round(x * 1000) / 1000) : '0');
  return [h.failures, h.successes, h.latSum, h.latN, h.ttfbSum, h.ttfbN, h.consecutive, h.openForMs].map(r).join(',');
}

export function decodeHealth(s: string): LocalHealth | null {
  const p = s.split(',').map(Number);
  if (p.length !== 8 || p.some((x) => !Number.isFinite(x) || x < 0)) return null;
  return { failures: p[0], successes: p[1], latSum: p[2], latN: p[3], ttfbSum: p[4], ttfbN: p[5], consecutive: p[6], openForMs: p[7] };
}

export function healthKeys(redis: RedisHandle, id: string): [string, string] {
  const set = redis.keys.global('health', '{replicas}');
  return [set, `${set}:${id}`];
}

/** Publishes `mine` (model -> summary) as replica `id` and returns the other replicas' latest. */
export async function syncHealth(redis: RedisHandle, id: string, ttlMs: number, mine: ReadonlyMap<string, LocalHealth>): Promise<ReplicaHealth[]> {
  const [set, own] = healthKeys(redis, id);
  const args: string[] = [set, own, id, String(ttlMs)];
  for (const [model, h] of mine) args.push(model, encodeHealth(h));
  const r = await scripted(redis.client).syHealthSync(2, ...args);
  const now = Number(r[0]);
  const out: ReplicaHealth[] = [];
  for (let i = 1; i + 1 < r.length; i += 2) {
    const rid = r[i] as string;
    const flat = r[i + 1] as string[];
    const models = new Map<string, LocalHealth>();
    let at = now;
    for (let j = 0; j + 1 < flat.length; j += 2) {
      if (flat[j] === '_at') { at = Number(flat[j + 1]); continue; }
      const h = decodeHealth(flat[j + 1]);
      if (h !== null) models.set(flat[j], h);
    }
    out.push({ id: rid, ageMs: Math.max(0, now - at), models });
  }
  return out;
}
