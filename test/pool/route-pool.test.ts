import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRoutePool, type RoutePool } from '../../src/pool/route-pool.ts';
import { BruteForceIndex } from '../../src/routing/nearest.ts';
import { PoolError } from '../../src/pool/errors.ts';
import { mulberry32 } from '../../src/fit/kmeans.ts';

function normalise(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < v.length; i++) v[i] *= inv;
  return v;
}

describe('route pool', () => {
  const K = 1500, DIM = 32;
  const r = mulberry32(7);
  const centroids = new Float32Array(K * DIM);
  for (let j = 0; j < K; j++) centroids.set(normalise(Float32Array.from({ length: DIM }, () => r() * 2 - 1)), j * DIM);
  const brute = new BruteForceIndex(centroids, K, DIM);
  let pool: RoutePool;
  after(async () => { await pool?.close(); });

  it('top-1 equals brute force on random data', async () => {
    pool = await createRoutePool({ centroids, k: K, dim: DIM, threads: 2 });
    const ids = new Int32Array(1), sims = new Float32Array(1);
    const queries = Array.from({ length: 100 }, (_, i) => {
      const j = (i * 37) % K;
      return normalise(Float32Array.from({ length: DIM }, (_, d) => centroids[j * DIM + d] + (r() * 2 - 1) * 0.1));
    });
    const got = await Promise.all(queries.map((q) => pool.search(q, 1)));
    queries.forEach((q, i) => {
      brute.search(q, 1, ids, sims);
      assert.equal(got[i].ids[0], ids[0], `query ${i}`);
      assert.ok(Math.abs(got[i].sims[0] - sims[0]) < 1e-4);
    });
    assert.equal(pool.stats().searches, 100);
  });

  it('returns min(top, k) results, best first, and validates its input', async () => {
    const q = normalise(Float32Array.from({ length: DIM }, () => r() * 2 - 1));
    const res = await pool.search(q, 5);
    assert.equal(res.ids.length, 5);
    for (let i = 1; i < 5; i++) assert.ok(res.sims[i - 1] >= res.sims[i]);
    await assert.rejects(pool.search(new Float32Array(3), 1), /expected 32/);
    await assert.rejects(pool.search(q, 0), /top/);
  });

  it('rejects after close', async () => {
    await pool.close();
    await assert.rejects(pool.search(new Float32Array(DIM), 1), (e: unknown) => e instanceof PoolError && e.code === 'pool_closed');
  });
});
