/**
 * The /v1/route decision cache is one for the process (src/api/route-cache.ts
 * over src/store/shm-cache.ts), not one per HTTP thread: with server.threads 2,
 * requests of one prompt on fresh connections give exactly one miss whichever
 * thread each lands on, and /health on either thread reports the same
 * process-wide counters. Also over HTTP: the key is exact at its edges
 * (prompts around the 256-byte verbatim limit, multi-byte and ill-formed
 * UTF-16), and no decision of the default profile is too big for its slot.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from 'undici';
import { startTestServer, post, PROMPTS, type TestServer } from './helpers.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PROFILE_DIR } from '../../src/config/schema.ts';
import { decisionSlotBytes } from '../../src/api/route-cache.ts';

/** One fresh connection: which thread answers it (/health's `thread`), and /v1/route's reply on that same connection. */
async function routeOnFreshConnection(base: string, body: unknown): Promise<{ thread: number; hit: boolean; cache: any }> {
  const c = new Client(base, { pipelining: 1 });
  try {
    const h = await c.request({ method: 'GET', path: '/health' });
    const hj = (await h.body.json()) as any;
    const r = await c.request({ method: 'POST', path: '/v1/route', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(r.statusCode, 200);
    const rj = (await r.body.json()) as any;
    return { thread: hj.thread, hit: rj.cache_hit, cache: hj.cache };
  } finally {
    await c.close();
  }
}

describe('one decision cache for every HTTP thread', () => {
  let t: TestServer;
  before(async () => { t = await startTestServer({ server: { threads: 2 } }); });
  after(async () => { await t.close(); });

  it('10 requests of one prompt on 10 fresh connections: 1 miss, 9 hits, on both threads; /health counts them process-wide', async () => {
    const body = { prompt: 'The shared-cache test prompt: which model should answer this?' };
    const replies = [];
    // 10 requests; more only if the kernel happened to put all 10 on one thread (the test needs both).
    for (let i = 0; i < 10 || (new Set(replies.map((r) => r.thread)).size < 2 && i < 60); i++) replies.push(await routeOnFreshConnection(t.base, body));
    const threads = new Set(replies.map((r) => r.thread));
    assert.deepEqual([...threads].sort(), [0, 1], 'requests reached both threads');
    assert.equal(replies[0].hit, false);
    assert.deepEqual(replies.slice(1).map((r) => r.hit), replies.slice(1).map(() => true), 'every request after the first is a hit, on either thread');

    // /health from each thread: the same counters (taken after the last request, before any other).
    const seen = new Map<number, any>();
    for (let i = 0; i < 60 && seen.size < 2; i++) {
      const r = await routeOnFreshConnection(t.base, body);
      // This request was a hit too: count it into the expected totals below via the reply's own /health (taken before it).
      seen.set(r.thread, r.cache);
      replies.push(r);
    }
    assert.equal(seen.size, 2);
    const [a, b] = [...seen.values()];
    // Each /health was read just before one more hit: the two differ by the hits in between, never in misses or size.
    assert.equal(a.misses, 1);
    assert.equal(b.misses, 1);
    assert.equal(a.size, 1);
    assert.equal(b.size, 1);
    assert.equal(a.capacity, 10_000);
    const last = await routeOnFreshConnection(t.base, { prompt: 'one more prompt, a miss' });
    assert.equal(last.hit, false);
    assert.equal(last.cache.hits, replies.length - 1, 'process-wide hits: every request after the first, whichever thread');
    assert.equal(last.cache.misses, 1);
    assert.equal(last.cache.evictions, 0);
  });

  it('the key is exact: the 256-byte verbatim limit, multi-byte text, lone surrogates, allowed sets', async () => {
    const cases: unknown[] = [
      { prompt: 'a'.repeat(256) }, { prompt: 'a'.repeat(257) }, { prompt: `${'a'.repeat(255)}b` },
      { prompt: '€'.repeat(85) }, { prompt: '€'.repeat(86) }, { prompt: `${'€'.repeat(85)}!` },
      { prompt: 'x \ud800 y' }, { prompt: 'x \ud801 y' }, { prompt: 'x \ufffd y' },
      { prompt: `${'\ud800'.repeat(300)}` }, { prompt: `${'\ud801'.repeat(300)}` },
      { prompt: PROMPTS[0], cost_weight: 0 }, { prompt: PROMPTS[0], cost_weight: 1e-300 },
    ];
    for (const body of cases) assert.equal((await post(t.base, '/v1/route', body)).json.cache_hit, false, `first time: ${JSON.stringify(body).slice(0, 60)}`);
    for (const body of cases) {
      const r = await post(t.base, '/v1/route', body);
      assert.equal(r.json.cache_hit, true, `second time: ${JSON.stringify(body).slice(0, 60)}`);
    }
    // -0 and 0 are the same weight (the decision prints "cost_weight":0 for both).
    assert.equal((await post(t.base, '/v1/route', `{"prompt":${JSON.stringify(PROMPTS[0])},"cost_weight":-0}`)).json.cache_hit, true);
  });

  it('decisions of every allowed subset fit their slots: nothing oversize; the slot is sized from the profile', async () => {
    const models: string[] = JSON.parse(readFileSync(join(DEFAULT_PROFILE_DIR, 'profile.json'), 'utf8')).models.map((m: any) => m.name);
    for (let i = 0; i < 40; i++) {
      const allowed = models.filter((_, m) => (i >> (m % 5)) & 1 || m === i % models.length);
      const r = await post(t.base, '/v1/route', { prompt: `${PROMPTS[i % PROMPTS.length]} #${i}`, available_models: allowed, cost_weight: i / 7 });
      assert.equal(r.status, 200);
    }
    const c = (await routeOnFreshConnection(t.base, { prompt: 'last' })).cache;
    assert.equal(c.oversize, 0);
    assert.equal(c.bytes, 128 + 8 * 1250 + 10_000 * (24 + decisionSlotBytes(models)));
  });
});

describe('cache_size 0 with two threads', () => {
  it('never hits, and /health shows capacity 0', async () => {
    const t = await startTestServer({ server: { threads: 2 }, router: { cache_size: 0 } });
    try {
      for (let i = 0; i < 4; i++) assert.equal((await routeOnFreshConnection(t.base, { prompt: 'same' })).hit, false);
      const c = (await routeOnFreshConnection(t.base, { prompt: 'same' })).cache;
      assert.equal(c.capacity, 0);
      assert.equal(c.hits, 0);
      assert.equal(c.size, 0);
    } finally {
      await t.close();
    }
  });
});
