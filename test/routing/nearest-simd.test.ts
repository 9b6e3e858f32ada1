/**
 * The WebAssembly SIMD kernel behind SimdBruteForceIndex: the committed binary
 * is what scripts/build-wasm.ts builds, the kernel is right for every remainder
 * shape (dim % 4, k % 4), and the factories pick it. The shared nearest-index
 * contract (nearest.test.ts) covers search semantics.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildDotWasm } from '../../scripts/build-wasm.ts';
import { DOT_WASM_URL, SimdBruteForceIndex, simdAvailable } from '../../src/routing/nearest-simd.ts';
import { bruteForceIndex, nearestIndexFor } from '../../src/routing/nearest.ts';
import { Router } from '../../src/routing/router.ts';
import { mulberry32 } from '../../src/fit/kmeans.ts';
import { handProfile } from './helpers.ts';

function randomRows(n: number, dim: number, seed: number): Float32Array {
  const r = mulberry32(seed), m = new Float32Array(n * dim);
  for (let i = 0; i < m.length; i++) m[i] = r() * 2 - 1;
  return m;
}

describe('dot.wasm', () => {
  it('is what scripts/build-wasm.ts builds (rebuild after editing the kernel)', () => {
    assert.deepEqual(new Uint8Array(readFileSync(DOT_WASM_URL)), buildDotWasm());
  });

  it('validates and runs on this runtime (Node >= 20 has WebAssembly SIMD)', () => {
    assert.equal(simdAvailable(), true);
  });

  it('computes every similarity for dim 1-9 x k 1-9 (all tails and remainders)', () => {
    for (let dim = 1; dim <= 9; dim++) {
      for (let k = 1; k <= 9; k++) {
        const c = randomRows(k, dim, 10 * dim + k), q = randomRows(1, dim, 99);
        const ids = new Int32Array(k), sims = new Float32Array(k);
        assert.equal(new SimdBruteForceIndex(c, k, dim).search(q, k, ids, sims), k);
        assert.deepEqual([...ids].sort((a, b) => a - b), Array.from({ length: k }, (_, j) => j), `dim ${dim} k ${k}: every centroid once`);
        for (let t = 0; t < k; t++) {
          let d = 0;
          for (let i = 0; i < dim; i++) d += q[i] * c[ids[t] * dim + i];
          assert.ok(Math.abs(sims[t] - d) < 1e-5, `dim ${dim} k ${k}: centroid ${ids[t]} ${sims[t]} vs ${d}`);
        }
      }
    }
  });
});

describe('SimdBruteForceIndex', () => {
  it('searches its own copy of the centroids', () => {
    const c = randomRows(6, 10, 1), q = c.slice(30, 40);
    const idx = new SimdBruteForceIndex(c, 6, 10);
    c.fill(0);
    const ids = new Int32Array(1), sims = new Float32Array(1);
    idx.search(q, 1, ids, sims);
    assert.equal(ids[0], 3);
  });

  it('rejects a query of the wrong length and a matrix of the wrong shape', () => {
    const idx = new SimdBruteForceIndex(randomRows(3, 8, 2), 3, 8);
    assert.throws(() => idx.search(new Float32Array(7), 1, new Int32Array(1), new Float32Array(1)), /7 floats, expected 8/);
    assert.throws(() => new SimdBruteForceIndex(new Float32Array(23), 3, 8), /not 3 x 8/);
  });
});

describe('index factories', () => {
  it('bruteForceIndex and nearestIndexFor below the HNSW threshold use SIMD; the Router defaults to it', async () => {
    const c = randomRows(20, 16, 3);
    assert.equal(bruteForceIndex(c, 20, 16).kind, 'simd');
    assert.equal((await nearestIndexFor(c, 20, 16)).kind, 'simd');
    assert.equal((await nearestIndexFor(c, 20, 16, 20)).kind, 'hnsw');
    assert.equal(new Router(handProfile([[0.1, 0.2]], [1, 2])).index.kind, 'simd');
  });
});
