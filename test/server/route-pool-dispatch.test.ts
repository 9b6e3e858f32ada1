/**
 * The dispatch policy's `route: 'pool'` on the real server: a profile with
 * K >= ROUTE_POOL_MIN_K searches in the route pool (no inline index), and
 * /v1/route (supplied embedding, prompt, cache hit, concurrent prompts) and
 * /v1/chat/completions with model "auto" decide exactly as an inline Router
 * over the same profile; /health reports the pool; a closed pool answers 503
 * shutting_down; shutdown drains requests in flight in the pool; with two
 * HTTP threads each gets its share of the workers.
 *
 * The profile is synthetic (K = ROUTE_POOL_MIN_K, below HNSW_MIN_K, so the
 * pool's workers and the inline Router both run the exact SIMD scan and the
 * answers can be compared bit for bit), fitted "with" the native embedder.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfile } from '../../src/routing/profile.ts';
import { Router, type Decision } from '../../src/routing/router.ts';
import { HNSW_MIN_K } from '../../src/routing/nearest.ts';
import { ROUTE_POOL_MIN_K, routePoolThreads } from '../../src/pool/pool.ts';
import { PoolError } from '../../src/pool/errors.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/config/schema.ts';
import { mulberry32 } from '../../src/seeded-random.ts';
import { assertError, get, post, startTestServer, type TestServer, PROMPTS } from './helpers.ts';
import { DIM, embedder, MODELS, normalise, writeSyntheticProfile } from './synthetic-profile.ts';
import { chat, openaiModel, startGateway, startMocks, user, type Gateway, type Mocks } from '../gateway/helpers.ts';

const K = ROUTE_POOL_MIN_K;
let root = '';
let profileDir = '';
let router: Router;
let mocks: Mocks;
let gw: Gateway;

/** What /v1/route must answer for this decision (the JSON round trip of every double is exact). */
function expected(d: Decision, allowed?: readonly string[]) {
  const all: Record<string, number | null> = {};
  MODELS.forEach((m, i) => { if (!allowed || allowed.includes(m)) all[m] = Number.isNaN(d.scores[i]) ? null : d.scores[i]; });
  return { selected_model: d.model, cluster_id: d.clusterId, expected_error: d.expectedError, cost_adjusted_score: d.score, cost_weight: d.costWeight, all_scores: all };
}

function decisionOf(json: any) {
  const { selected_model, cluster_id, expected_error, cost_adjusted_score, cost_weight, all_scores } = json;
  return { selected_model, cluster_id, expected_error, cost_adjusted_score, cost_weight, all_scores };
}

const inline = (v: Float32Array, costWeight: number, allowed?: readonly string[]) =>
  router.route(v, { costWeight, allowed: allowed ? router.mask(allowed) : undefined });

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'switchyard-route-pool-'));
  profileDir = join(root, 'profile');
  assert.ok(K < HNSW_MIN_K, 'K stays on the exact scan, so pool and inline agree bit for bit');
  writeSyntheticProfile(profileDir, { k: K, seed: 2024, name: 'route-pool-test' });
  router = new Router(loadProfile(profileDir, embedder));
  mocks = await startMocks();
  gw = await startGateway(
    { models: MODELS.map((m) => openaiModel(m, mocks.oa)) },
    { server: { threads: 1 }, router: { profile: profileDir, nearest: 'pool' }, embedder: { kind: 'native', dir: DEFAULT_PROFILE_DIR }, workers: 2 },
  );
});

after(async () => {
  await gw?.close();
  await mocks?.close();
  await rm(root, { recursive: true, force: true });
});

describe('route pool on the server (K = ROUTE_POOL_MIN_K)', () => {
  it('/health reports the route pool; the engine built no inline index', async () => {
    const h = await get(gw.base, '/health');
    assert.equal(h.status, 200);
    assert.equal(h.json.k, K);
    assert.equal(h.json.routing, 'pool');
    assert.equal(h.json.route_pool.threads, routePoolThreads(2, 1));
    assert.equal(h.json.route_pool.threads, 2);
    assert.equal(h.json.route_pool.k, K);
    assert.equal(h.json.route_pool.build_ms.length, 2);
    assert.equal(h.json.route_pool.worker_errors, 0);
    const r = gw.server.engine.ready!;
    assert.ok(r.routePool);
    assert.equal(r.router.index.kind, 'remote');
  });

  it('/v1/route with a supplied embedding decides exactly as an inline Router', async () => {
    const rnd = mulberry32(5);
    const before = gw.server.engine.ready!.routePool!.stats().searches;
    for (let i = 0; i < 12; i++) {
      const v = i < PROMPTS.length ? embedder.embedSync(PROMPTS[i]).slice() : normalise(Float32Array.from({ length: DIM }, () => rnd() * 2 - 1));
      const cw = [0, 0.1, 0.5, 3][i % 4];
      const allowed = i % 3 === 2 ? ['small', 'large'] : undefined;
      const res = await post(gw.base, '/v1/route', { embedding: Array.from(v), cost_weight: cw, ...(allowed ? { available_models: allowed } : {}) });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.deepEqual(decisionOf(res.json), expected(inline(v, cw, allowed), allowed), `embedding ${i}`);
      assert.equal(res.json.cache_hit, false);
      assert.ok(res.json.usage.routing_ms > 0, 'routing_ms counts the pool round trip');
    }
    assert.equal(gw.server.engine.ready!.routePool!.stats().searches - before, 12, 'every search went through the pool');
  });

  it('/v1/route with a prompt decides exactly as an inline Router, and caches', async () => {
    for (const [i, prompt] of PROMPTS.entries()) {
      const res = await post(gw.base, '/v1/route', { prompt, cost_weight: 0.2 });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      const d = inline(embedder.embedSync(prompt), 0.2);
      assert.deepEqual(decisionOf(res.json), expected(d), prompt);
      assert.equal(res.json.cluster_id, i, 'the prompt lands on its own centroid');
      assert.equal(res.json.cache_hit, false);
      const again = await post(gw.base, '/v1/route', { prompt, cost_weight: 0.2 });
      assert.equal(again.json.cache_hit, true);
      assert.deepEqual(decisionOf(again.json), expected(d));
    }
    // The profile's default lambda when the request has none.
    const res = await post(gw.base, '/v1/route', { prompt: PROMPTS[0], available_models: ['tiny', 'medium'] });
    assert.deepEqual(decisionOf(res.json), expected(inline(embedder.embedSync(PROMPTS[0]), 0.1, ['tiny', 'medium']), ['tiny', 'medium']));
  });

  it('120 concurrent unique prompts each get their own decision (the embedding scratch is not shared with queued searches)', async () => {
    const prompts = Array.from({ length: 120 }, (_, i) => `${PROMPTS[i % PROMPTS.length]} variant ${i} ${'x'.repeat(i % 17)}`);
    const replies = await Promise.all(prompts.map((prompt) => post(gw.base, '/v1/route', { prompt, cost_weight: 0.3 })));
    replies.forEach((res, i) => {
      assert.equal(res.status, 200);
      assert.deepEqual(decisionOf(res.json), expected(inline(embedder.embedSync(prompts[i]), 0.3)), prompts[i]);
    });
  });

  it('/v1/chat/completions with model "auto" routes through the pool like /v1/route', async () => {
    for (const prompt of PROMPTS.slice(0, 3)) {
      const d = inline(embedder.embedSync(prompt), 0.1);
      const r = await chat(gw.base, { model: 'auto', messages: user(prompt) });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-switchyard-model'), d.model);
      assert.equal(r.headers.get('x-switchyard-reason'), 'routed');
      assert.equal(r.headers.get('x-switchyard-cluster'), String(d.clusterId));
      const ranked = MODELS.map((m, i) => ({ m, s: d.scores[i] })).filter((x) => !Number.isNaN(x.s)).sort((a, b) => a.s - b.s).map((x) => x.m);
      assert.deepEqual(r.json.switchyard.candidates, ranked);
      assert.ok(r.json.switchyard.routing_ms > 0);
    }
  });

  it('two HTTP threads: each has its own pool with its share of the workers, same decisions; close() drains searches in flight', async () => {
    const t: TestServer = await startTestServer({ server: { threads: 2 }, router: { profile: profileDir, nearest: 'pool' }, embedder: { kind: 'native', dir: DEFAULT_PROFILE_DIR }, workers: 2 });
    let closed = false;
    try {
      if (t.server.threads === 2) {
        assert.equal(t.server.engine.ready!.routePool, undefined, 'the supervising main thread starts no pool');
        assert.equal(t.server.engine.ready!.router.index.kind, 'remote');
      }
      const seen = new Set<number>();
      for (let i = 0; i < 60 && seen.size < t.server.threads; i++) {
        const res = await fetch(`${t.base}/health`, { headers: { connection: 'close' } });
        const h = await res.json() as any;
        assert.equal(h.routing, 'pool');
        assert.equal(h.route_pool.threads, routePoolThreads(2, t.server.threads));
        seen.add(h.thread);
      }
      assert.equal(seen.size, t.server.threads);
      for (const prompt of PROMPTS) {
        const res = await post(t.base, '/v1/route', { prompt, cost_weight: 0.2 }, { connection: 'close' });
        assert.deepEqual(decisionOf(res.json), expected(inline(embedder.embedSync(prompt), 0.2)));
      }

      // Shutdown with searches in flight: every request the server accepted is answered.
      const v = embedder.embedSync(PROMPTS[1]).slice();
      const want = expected(inline(v, 0.1));
      const body = JSON.stringify({ embedding: Array.from(v), cost_weight: 0.1 });
      const sent = Array.from({ length: 40 }, () => fetch(`${t.base}/v1/route`, { method: 'POST', body }).then(async (r) => ({ status: r.status, json: await r.json() }), (e: Error) => e));
      const t0 = Date.now();
      while (t.server.inFlight() === 0 && Date.now() - t0 < 5000) await new Promise((r) => setImmediate(r));
      assert.ok(t.server.inFlight() > 0, 'requests in flight at close()');
      closed = true;
      assert.equal((await t.server.close({ timeoutMs: 5000 })).drained, true);
      let answered = 0;
      for (const r of await Promise.all(sent)) {
        if (r instanceof Error) continue; // not yet connected when the listener closed
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.deepEqual(decisionOf(r.json), want);
        answered++;
      }
      assert.ok(answered > 0);
    } finally {
      if (!closed) await t.close();
    }
  });

  it('router.nearest: inline keeps the same K on the HTTP thread, with the same decisions', async () => {
    const t: TestServer = await startTestServer({ server: { threads: 1 }, router: { profile: profileDir, nearest: 'inline' }, embedder: { kind: 'native', dir: DEFAULT_PROFILE_DIR }, workers: 2 });
    try {
      const h = await get(t.base, '/health');
      assert.equal(h.json.routing, 'inline');
      assert.equal(h.json.route_pool, null);
      assert.equal(t.server.engine.ready!.routePool, undefined);
      assert.notEqual(t.server.engine.ready!.router.index.kind, 'remote');
      for (const prompt of PROMPTS) {
        const res = await post(t.base, '/v1/route', { prompt, cost_weight: 0.2 });
        assert.deepEqual(decisionOf(res.json), expected(inline(embedder.embedSync(prompt), 0.2)));
      }
    } finally {
      await t.close();
    }
  });

  // Last: it closes the suite's pool.
  it('a closed route pool answers 503 shutting_down (both dialects), not a crash', async () => {
    const pool = gw.server.engine.ready!.routePool!;
    await pool.close();
    await assert.rejects(pool.search(new Float32Array(DIM), 1), (e: unknown) => e instanceof PoolError && e.code === 'pool_closed');
    assertError(await post(gw.base, '/v1/route', { prompt: 'hello there, not cached' }), 'shutting_down');
    assertError(await post(gw.base, '/v1/route', { embedding: Array.from(embedder.embedSync('hi')) }), 'shutting_down');
    const c = await chat(gw.base, { model: 'auto', messages: user('hello there') });
    assert.equal(c.status, 503, c.text);
    assert.equal(c.json.error.code, 'shutting_down');
    assert.equal(c.json.error.type, 'service_unavailable');
    assert.equal((await get(gw.base, '/health')).status, 200, 'the server itself still answers');
  });
});
