import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BruteForceIndex, HnswIndex, SimdBruteForceIndex, selectTop, type NearestIndex } from '../../src/routing/nearest.ts';
import { randomUnitRows } from './unit-rows.ts';

function dot(c: Float32Array, j: number, dim: number, q: Float32Array): number {
  let d = 0;
  for (let i = 0; i < dim; i++) d += q[i] * c[j * dim + i];
  return d;
}

function exact(c: Float32Array, k: number, dim: number, q: Float32Array): number[] {
  const s = Array.from({ length: k }, (_, j) => [dot(c, j, dim, q), j] as const);
  return s.sort((a, b) => b[0] - a[0]).map((x) => x[1]);
}

function contract(name: string, make: (c: Float32Array, k: number, dim: number) => Promise<NearestIndex>, minRecall: number) {
  describe(`nearest index contract: ${name}`, () => {
    // Odd shapes too: dim % 4 != 0 takes the SIMD kernel's scalar tail, and
    // k % 4 != 0 its one-centroid remainder pass.
    for (const [k, dim] of [[5, 7], [7, 16], [101, 384]] as const) {
      it(`finds the nearest centroids (K=${k}, dim=${dim}), best first`, async () => {
        const c = randomUnitRows(k, dim, 1), qs = randomUnitRows(50, dim, 2);
        const idx = await make(c, k, dim);
        assert.equal(idx.size, k);
        const ids = new Int32Array(5), sims = new Float32Array(5);
        let hits = 0;
        for (let t = 0; t < 50; t++) {
          const q = qs.subarray(t * dim, (t + 1) * dim);
          const n = idx.search(q, 5, ids, sims);
          assert.equal(n, 5);
          for (let i = 1; i < n; i++) assert.ok(sims[i - 1] >= sims[i] - 1e-6, 'sorted best first');
          for (let i = 0; i < n; i++) assert.ok(Math.abs(sims[i] - dot(c, ids[i], dim, q)) < 1e-4, 'similarity of the returned id');
          const want = exact(c, k, dim, q);
          if (ids[0] === want[0]) hits++;
          if (minRecall === 1) assert.deepEqual([...ids.subarray(0, n)], want.slice(0, n), 'an exact index returns the exhaustive top-n');
        }
        assert.ok(hits / 50 >= minRecall, `top-1 recall ${hits / 50}`);
      });
    }
    it('returns at most size results', async () => {
      const c = randomUnitRows(3, 8, 3);
      const idx = await make(c, 3, 8);
      const n = idx.search(c.subarray(0, 8), 10, new Int32Array(10), new Float32Array(10));
      assert.equal(n, 3);
    });
  });
}

contract('brute force', async (c, k, dim) => new BruteForceIndex(c, k, dim), 1);
contract('brute force, WebAssembly SIMD', async (c, k, dim) => new SimdBruteForceIndex(c, k, dim), 1);
contract('hnswlib-node', (c, k, dim) => HnswIndex.build(c, k, dim), 0.96);

describe('selectTop', () => {
  it('keeps the largest values in order, stable for ties', () => {
    const ids = new Int32Array(3), sims = new Float32Array(3);
    assert.equal(selectTop(Float32Array.from([0.1, 0.9, 0.5, 0.9, -1]), 5, 3, ids, sims), 3);
    assert.deepEqual([...ids], [1, 3, 2]);
  });
});
