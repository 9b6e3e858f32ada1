/**
 * The Redis rate limiter's Lua script against a real redis-server (issue 12):
 * exactly N of M admitted when M requests race from several clients (each its
 * own connection, as replicas have), all-or-none over a request's budgets,
 * the x-ratelimit-* and Retry-After headers, the keys' TTL, token settlement,
 * and fail open / fail closed when Redis cannot answer.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from './redis-server.ts';
import { openRedis, type RedisHandle } from '../../src/store/redis/client.ts';
import { RedisRateLimiter } from '../../src/store/redis/rate-limit.ts';
import { RedisStats } from '../../src/store/redis/stats.ts';
import { createRateLimitBuffer, SharedRateLimiter, type Admission } from '../../src/store/rate-limit.ts';
import { defaults, type RedisConfig } from '../../src/config/schema.ts';
import { ApiError } from '../../src/errors.ts';
import type { Budget } from '../../src/edge/auth.ts';

let redis: TestRedis;
const handles: RedisHandle[] = [];
let prefixN = 0;

function config(url: string, over: Partial<RedisConfig> = {}): RedisConfig {
  return { ...defaults().state.redis, url, key_prefix: `rl-test-${++prefixN}`, ...over };
}

async function open(c: RedisConfig): Promise<RedisHandle> {
  const h = openRedis(c);
  handles.push(h);
  return h;
}

const header = (a: Admission, name: string) => a.headers.find(([k]) => k === name)?.[1];

function limiter(h: RedisHandle, budgets: Budget[], failure: 'open' | 'closed' = 'open', stats = new RedisStats()) {
  const local = new SharedRateLimiter(createRateLimitBuffer(budgets.length), budgets);
  return new RedisRateLimiter(h, budgets, { failure, local, stats });
}

before(async () => { redis = await startRedis(); });
after(async () => {
  await Promise.all(handles.map((h) => h.close()));
  await redis.stop();
});

test('a limit of N a minute admits exactly N of M racing requests from three connections', async () => {
  const c = config(redis.url);
  const budgets: Budget[] = [{ name: 'org:acme', requestsPerMinute: 17, tokensPerMinute: null }];
  const hs = await Promise.all([open(c), open(c), open(c)]);
  await Promise.all(hs.map((h) => h.ready()));
  const lims = hs.map((h) => limiter(h, budgets));
  const M = 90;
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: M }, (_, i) => lims[i % 3].admit({ orgBudget: 0, keyBudget: -1 }, 0)));
  // GCRA's contract: the burst of 17, plus one more per 60/17 s the race lasted (none unless the machine stalls for 3.5 s).
  const refills = Math.floor(((performance.now() - t0) / 60_000) * 17);
  const admitted = results.filter((r) => r.ok).length;
  assert.ok(admitted >= 17 && admitted <= 17 + refills, `admitted ${admitted} of ${M} (refills allowed: ${refills})`);
  for (const r of results.filter((x) => !x.ok)) {
    assert.equal(r.limit, 'requests');
    assert.equal(r.scope, 'organization');
  }
});

test('headers: limit, remaining, reset; a refusal carries retry-after; keys expire within the window', async () => {
  const c = config(redis.url);
  const h = await open(c);
  await h.ready();
  const lim = limiter(h, [{ name: 'org:acme', requestsPerMinute: 10, tokensPerMinute: null }]);
  const s = { orgBudget: 0, keyBudget: -1 };
  const first = await lim.admit(s, 0);
  assert.equal(first.ok, true);
  assert.equal(header(first, 'x-ratelimit-limit-requests'), '10');
  assert.equal(header(first, 'x-ratelimit-remaining-requests'), '9');
  // One request of ten a minute takes 6 s to refill.
  assert.match(header(first, 'x-ratelimit-reset-requests')!, /^(5\.\d+|6)s$/);
  for (let i = 0; i < 9; i++) assert.equal((await lim.admit(s, 0)).ok, true);
  const refused = await lim.admit(s, 0);
  assert.equal(refused.ok, false);
  assert.equal(header(refused, 'x-ratelimit-remaining-requests'), '0');
  // 6 s after the burst began (the next unit), less the time the ten took.
  assert.ok(refused.retryAfterS !== null && refused.retryAfterS! >= 1 && refused.retryAfterS! <= 6, `retry-after ${refused.retryAfterS}`);
  assert.equal(header(refused, 'retry-after'), String(refused.retryAfterS));
  const key = h.keys.org('rl', 'acme', 'org:acme', 'r');
  const ttl = Number(redis.cli('PTTL', key).trim());
  assert.ok(ttl > 0 && ttl <= 60_001, `PTTL ${ttl}`);
  assert.ok(key.includes('{acme}'), 'the organisation is the hash tag');
});

test('all or none: a refusal on the key budget takes nothing from the organisation budget', async () => {
  const c = config(redis.url);
  const h = await open(c);
  await h.ready();
  const budgets: Budget[] = [
    { name: 'org:acme', requestsPerMinute: 100, tokensPerMinute: 10_000 },
    { name: 'key:acme/env:K', requestsPerMinute: 2, tokensPerMinute: null },
  ];
  const lim = limiter(h, budgets);
  const s = { orgBudget: 0, keyBudget: 1 };
  const a = await lim.admit(s, 100);
  assert.equal(a.ok, true);
  // The tightest budget per kind: the key's 2 requests, the organisation's tokens.
  assert.equal(header(a, 'x-ratelimit-limit-requests'), '2');
  assert.equal(header(a, 'x-ratelimit-remaining-tokens'), '9900');
  assert.equal((await lim.admit(s, 100)).ok, true);
  // The refusal writes nothing: the organisation's cells (checked before the key's) hold the same TATs after it.
  const cells = ['r', 't'].map((k) => h.keys.org('rl', 'acme', 'org:acme', k));
  const before = cells.map((k) => redis.cli('GET', k).trim());
  const refused = await lim.admit(s, 100);
  assert.equal(refused.ok, false);
  assert.equal(refused.scope, 'key');
  assert.deepEqual(cells.map((k) => redis.cli('GET', k).trim()), before);
  assert.ok(before.every((v) => Number(v) > 0));
});

test('tokens: over the budget is refused by tokens, more than a whole minute never (retry-after null), settle corrects the estimate', async () => {
  const c = config(redis.url);
  const h = await open(c);
  await h.ready();
  const lim = limiter(h, [{ name: 'org:t', requestsPerMinute: null, tokensPerMinute: 1_000 }]);
  const s = { orgBudget: 0, keyBudget: -1 };
  assert.equal((await lim.admit(s, 600)).ok, true);
  const over = await lim.admit(s, 600);
  assert.equal(over.ok, false);
  assert.equal(over.limit, 'tokens');
  assert.ok(over.retryAfterS !== null && over.retryAfterS! >= 1);
  const never = await lim.admit(s, 1_001);
  assert.equal(never.ok, false);
  assert.equal(never.retryAfterS, null);
  // The 600 estimated were really 100: 500 back.
  await lim.settle(s, -500);
  // Refused a moment ago with 600 spent; admitted now that 500 of them came back.
  const after = await lim.admit(s, 600);
  assert.equal(after.ok, true);
});

test('Redis unreachable: fail open admits through the local limiter (counted); fail closed answers rate_limiter_unavailable', async () => {
  const dead = config('redis://127.0.0.1:1', { connect_timeout_ms: 200 });
  const h = await open(dead);
  await h.ready().catch(() => {});
  const budgets: Budget[] = [{ name: 'org:acme', requestsPerMinute: 2, tokensPerMinute: null }];
  const stats = new RedisStats();
  const open1 = limiter(h, budgets, 'open', stats);
  const s = { orgBudget: 0, keyBudget: -1 };
  const r = [await open1.admit(s, 0), await open1.admit(s, 0), await open1.admit(s, 0)];
  // The local limiter still limits: 2 of 3.
  assert.deepEqual(r.map((x) => x.ok), [true, true, false]);
  assert.equal(stats.get('rate_limit_fail_open'), 3);
  const closed = limiter(h, budgets, 'closed', stats);
  await assert.rejects(async () => closed.admit(s, 0), (e: unknown) => e instanceof ApiError && e.code === 'rate_limiter_unavailable' && e.status === 503);
  assert.equal(stats.get('rate_limit_fail_closed'), 1);
});

test('a command that times out (Redis paused) fails open once, then skips Redis for the back-off', async () => {
  const c = config(redis.url, { command_timeout_ms: 100 });
  const h = await open(c);
  await h.ready();
  const stats = new RedisStats();
  let now = 1_000_000;
  const budgets: Budget[] = [{ name: 'org:slow', requestsPerMinute: 5, tokensPerMinute: null }];
  const local = new SharedRateLimiter(createRateLimitBuffer(1), budgets);
  const lim = new RedisRateLimiter(h, budgets, { failure: 'open', local, stats, now: () => now });
  redis.cli('CLIENT', 'PAUSE', '1000', 'ALL');
  try {
    const a = await lim.admit({ orgBudget: 0, keyBudget: -1 }, 0);
    assert.equal(a.ok, true);
    assert.equal(stats.get('command_timeouts'), 1);
    // Within the back-off the limiter does not ask Redis: no second timeout.
    const b = lim.admit({ orgBudget: 0, keyBudget: -1 }, 0);
    assert.ok(!(b instanceof Promise), 'answered without waiting for Redis');
    assert.equal(stats.get('command_timeouts'), 1);
    assert.equal(stats.get('rate_limit_fail_open'), 2);
  } finally {
    redis.cli('CLIENT', 'UNPAUSE');
  }
  now += 1_001;
  const c2 = await lim.admit({ orgBudget: 0, keyBudget: -1 }, 0);
  assert.equal(c2.ok, true);
  assert.equal(stats.get('rate_limit_fail_open'), 2, 'Redis answers again after the back-off');
});
