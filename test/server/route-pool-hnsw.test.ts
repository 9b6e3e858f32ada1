/**
 * HNSW inside a route worker, on the real server: a synthetic profile at
 * K = HNSW_MIN_K (the smallest K whose route workers build an hnswlib index,
 * src/worker/route-worker.ts) routed with router.nearest "pool". The other
 * route-pool suites stay below the threshold, where workers run the exact
 * scan; here the pool's neighbours are approximate, so they are checked
 * against brute force over the same centroids: near-centroid queries (what
 * prompts of a fitted profile look like) get the exact nearest centroid, and
 * /v1/route decides from the pool's neighbours exactly as the Router does
 * with them. Random queries, HNSW's worst case, are held only to a floor that
 * catches a broken index: their measured recall is in the last test.
 *
 * Cost: one worker builds the index at start-up (seconds at K=6,000, dim 384:
 * 1.2 s at K=5,000 unloaded per src/routing/nearest.ts, ~16 s at load 10); the
 * rest is milliseconds.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfile } from '../../src/routing/profile.ts';
import { Router } from '../../src/routing/router.ts';
import { bruteForceIndex, HNSW_MIN_K } from '../../src/routing/nearest.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/config/schema.ts';
import { mulberry32 } from '../../src/seeded-random.ts';
import { get, post, startTestServer, type TestServer, PROMPTS } from './helpers.ts';
import { DIM, embedder, normalise, writeSyntheticProfile } from './synthetic-profile.ts';

const K = HNSW_MIN_K;
let root = '';
let centroids: Float32Array;
let router: Router;
let ts: TestServer;

/** The decision fields /v1/route answers, from its JSON or from a Decision. */
function decisionOf(x: any) {
  if ('selected_model' in x) return { model: x.selected_model, cluster: x.cluster_id, error: x.expected_error, score: x.cost_adjusted_score, weight: x.cost_weight };
  return { model: x.model, cluster: x.clusterId, error: x.expectedError, score: x.score, weight: x.costWeight };
}

const randomUnit = (r: () => number) => normalise(Float32Array.from({ length: DIM }, () => r() * 2 - 1));

/** Centroid j plus noise of `noise` times its length: still far nearer to j than to any other random centroid. */
function near(j: number, noise: number, r: () => number): Float32Array {
  const n = randomUnit(r);
  return normalise(Float32Array.from({ length: DIM }, (_, i) => centroids[j * DIM + i] + noise * n[i]));
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'switchyard-route-hnsw-'));
  const dir = join(root, 'profile');
  centroids = writeSyntheticProfile(dir, { k: K, seed: 2025, name: 'route-pool-hnsw-test' });
  // The Router's default index is the exact scan: the reference the pool is held to.
  router = new Router(loadProfile(dir, embedder));
  assert.notEqual(router.index.kind, 'hnsw');
  ts = await startTestServer({ router: { profile: dir, nearest: 'pool' }, embedder: { kind: 'native', dir: DEFAULT_PROFILE_DIR }, workers: 1 });
});

after(async () => {
  await ts?.close();
  await rm(root, { recursive: true, force: true });
});

describe(`route pool with HNSW in its worker (K = HNSW_MIN_K = ${K})`, () => {
  it('the server routes through the pool, whose worker built an index over all K centroids', async () => {
    const h = await get(ts.base, '/health');
    assert.equal(h.status, 200);
    assert.equal(h.json.routing, 'pool');
    assert.equal(h.json.route_pool.k, K);
    assert.ok(h.json.route_pool.k >= HNSW_MIN_K, 'at or above the threshold, the worker builds HNSW');
    assert.equal(h.json.route_pool.worker_errors, 0);
    assert.equal(ts.server.engine.ready!.router.index.kind, 'remote');
  });

  it('/v1/route decides from the pool\'s neighbours as the Router does with them; near-centroid queries land on their centroid', async () => {
    const r = mulberry32(11);
    const pool = ts.server.engine.ready!.routePool!;
    const before = pool.stats().searches;
    const N = 60;
    for (let i = 0; i < N; i++) {
      const j = (i * 97 + 13) % K;
      const v = near(j, 0.5, r);
      const cw = [0, 0.1, 0.5, 3][i % 4];
      const res = await post(ts.base, '/v1/route', { embedding: Array.from(v), cost_weight: cw });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(router.route(v, { costWeight: cw }).clusterId, j, 'the exact scan agrees the query is nearest its centroid');
      assert.equal(res.json.cluster_id, j, `query ${i}: the pool's nearest centroid is the exact one`);
      // The same neighbours asked of the pool directly (every worker's graph is identical and
      // deterministic): the server's decision is the Router's over them, bit for bit.
      const nb = await pool.search(v, router.top);
      assert.deepEqual(decisionOf(res.json), decisionOf(router.routeNear(v, nb, { costWeight: cw })), `query ${i}`);
    }
    assert.equal(pool.stats().searches - before, 2 * N, 'every search went through the pool');
  });

  it('/v1/route with a prompt lands on the prompt\'s own centroid, as inline', async () => {
    for (const [i, prompt] of PROMPTS.entries()) {
      const res = await post(ts.base, '/v1/route', { prompt, cost_weight: 0.2 });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(res.json.cluster_id, i);
      assert.equal(res.json.selected_model, router.route(embedder.embedSync(prompt), { costWeight: 0.2 }).model, prompt);
    }
  });

  it('the pool\'s top-1 agrees with brute force: always near a centroid, and far better than chance on random queries', async () => {
    const pool = ts.server.engine.ready!.routePool!;
    const exact = bruteForceIndex(centroids, K, DIM);
    const r = mulberry32(12);
    const ids = new Int32Array(1), sims = new Float32Array(1);
    const N = 100;
    for (let i = 0; i < N; i++) {
      const j = Math.floor(r() * K);
      const q = near(j, 1, r);
      const got = await pool.search(q, 1);
      exact.search(q, 1, ids, sims);
      assert.equal(got.ids[0], ids[0], `near-centroid query ${i}`);
      assert.ok(Math.abs(got.sims[0] - sims[0]) < 1e-4);
    }
    // Random directions are HNSW's worst case: every centroid is about equally far
    // (best ~0.20, runner-up ~0.19 here). Measured with the default efSearch 64 at this
    // K: top-1 recall ~0.56 (0.875 at efSearch 200). The floor catches a broken index
    // (ids mis-mapped, wrong space: recall ~0), not the approximation.
    let hits = 0;
    for (let i = 0; i < N; i++) {
      const q = randomUnit(r);
      const got = await pool.search(q, 1);
      exact.search(q, 1, ids, sims);
      if (got.ids[0] === ids[0]) hits++;
      else assert.ok(got.sims[0] <= sims[0] + 1e-6, 'a miss is a worse neighbour, never a better one than exact');
    }
    assert.ok(hits / N >= 0.4, `top-1 recall on random queries ${hits}/${N}`);
  });
});
