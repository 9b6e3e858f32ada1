/**
 * Router.routeFrom (the decision from neighbours found elsewhere, e.g. the
 * route pool) against Router.route on the same neighbours: bit-identical
 * decisions, hard and soft, with masks and lambdas; `top`; a Router with
 * remoteIndex searches nowhere.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Router, type Decision } from '../../src/routing/router.ts';
import { bruteForceIndex, remoteIndex } from '../../src/routing/nearest.ts';
import { costNormalisation, fromParts, PROFILE_FORMAT, PROFILE_VERSION, type Assignment, type Profile } from '../../src/routing/profile.ts';
import { mulberry32 } from '../../src/seeded-random.ts';

const K = 300, DIM = 16, M = 5;

function unitRandom(r: () => number, dim: number): Float32Array {
  const v = Float32Array.from({ length: dim }, () => r() * 2 - 1);
  const n = Math.hypot(...v);
  for (let i = 0; i < dim; i++) v[i] /= n;
  return v;
}

function randomProfile(assignment: Assignment, seed: number): Profile {
  const r = mulberry32(seed);
  const centroids = new Float32Array(K * DIM);
  for (let j = 0; j < K; j++) centroids.set(unitRandom(r, DIM), j * DIM);
  // About one cell in ten unknown (NaN): exercises the soft blend's per-model weights.
  const errors = Float32Array.from({ length: K * M }, () => (r() < 0.1 ? NaN : r()));
  const cost = [0.1, 0.5, 1, 5, 20];
  const n = costNormalisation(cost);
  return fromParts({
    format: PROFILE_FORMAT, version: PROFILE_VERSION, name: 'route-from', created: '2026-01-01T00:00:00Z',
    embedder: { id: 'test', dim: DIM, hash: '0123456789abcdef' }, k: K,
    models: cost.map((c, i) => ({ name: `m${i}`, cost_per_1k: c, pricing: null })),
    cost_normalisation: { kind: 'log-range', min_per_1k: n.min, max_per_1k: n.max },
    assignment, default_cost_weight: 0.2, fit: {}, files: { centroids: '', errors: '', counts: '' }, sha256: {},
  }, null, centroids, errors, new Uint32Array(K * M).fill(3));
}

/** A decision as comparable data (Object.is semantics for every number, NaN scores included). */
const plain = (d: Decision) => ({ ...d, scores: Array.from(d.scores) });

const ASSIGNMENTS: Assignment[] = [
  { mode: 'hard', temperature: 0.05, top: 1 },
  { mode: 'soft', temperature: 0.05, top: 4 },
  { mode: 'soft', temperature: 0.5, top: 8 },
];

describe('Router.routeFrom', () => {
  for (const a of ASSIGNMENTS) {
    it(`equals route() on the same neighbours (${a.mode}, top ${a.top}, T ${a.temperature})`, () => {
      const p = randomProfile(a, 11 + a.top);
      const inline = new Router(p);
      const remote = new Router(p, remoteIndex(p.k, 'a test'));
      assert.equal(inline.top, a.mode === 'soft' ? a.top : 1);
      assert.equal(remote.top, inline.top);
      const search = bruteForceIndex(p.centroids, p.k, p.dim);
      const ids = new Int32Array(inline.top), sims = new Float32Array(inline.top);
      const r = mulberry32(99);
      const masks = [undefined, inline.mask(['m0', 'm2', 'm4']), inline.mask(['m3'])];
      let compared = 0;
      for (let i = 0; i < 200; i++) {
        const q = unitRandom(r, DIM);
        const got = search.search(q, inline.top, ids, sims);
        const opts = { costWeight: [undefined, 0, 0.3, 5][i % 4], allowed: masks[i % 3] };
        let want: Decision | Error, have: Decision | Error;
        try { want = inline.route(q, opts); } catch (e) { want = e as Error; }
        try { have = remote.routeFrom(ids, sims, got, opts); } catch (e) { have = e as Error; }
        if (want instanceof Error || have instanceof Error) {
          assert.equal(String(have), String(want), `query ${i}`);
          continue;
        }
        assert.deepEqual(plain(have), plain(want), `query ${i}`);
        compared++;
      }
      assert.ok(compared > 150, `${compared} decisions compared`);
    });
  }

  it('reads at most `top` neighbours (a pool asked for more does not change the decision)', () => {
    const p = randomProfile({ mode: 'soft', temperature: 0.1, top: 3 }, 5);
    const router = new Router(p);
    const search = bruteForceIndex(p.centroids, p.k, p.dim);
    const ids = new Int32Array(10), sims = new Float32Array(10);
    const q = unitRandom(mulberry32(3), DIM);
    const got = search.search(q, 10, ids, sims);
    assert.deepEqual(plain(router.routeFrom(ids, sims, got, { costWeight: 0.1 })), plain(router.route(q, { costWeight: 0.1 })));
  });

  it('writes scores into opts.scores when given', () => {
    const p = randomProfile({ mode: 'hard', temperature: 0.05, top: 1 }, 8);
    const router = new Router(p);
    const out = new Float64Array(M);
    const d = router.routeFrom(Int32Array.of(7), Float32Array.of(0.9), 1, { costWeight: 0.2, scores: out });
    assert.equal(d.scores, out);
    assert.equal(d.clusterId, 7);
  });

  it('routeNear: route() without neighbours, routeFrom over the ones given', () => {
    const p = randomProfile({ mode: 'soft', temperature: 0.1, top: 4 }, 12);
    const router = new Router(p);
    const q = unitRandom(mulberry32(4), DIM);
    const ids = new Int32Array(4), sims = new Float32Array(4);
    bruteForceIndex(p.centroids, p.k, p.dim).search(q, 4, ids, sims);
    const want = plain(router.route(q, { costWeight: 0.3 }));
    assert.deepEqual(plain(router.routeNear(q, undefined, { costWeight: 0.3 })), want);
    assert.deepEqual(plain(router.routeNear(q, { ids, sims }, { costWeight: 0.3 })), want);
    // The neighbours given win over the embedding: a remote Router never searches.
    const remote = new Router(p, remoteIndex(p.k, 'a test'));
    assert.deepEqual(plain(remote.routeNear(new Float32Array(DIM), { ids, sims }, { costWeight: 0.3 })), want);
    assert.throws(() => remote.routeNear(q, undefined), /not inline/);
  });

  it('a Router with remoteIndex refuses to search inline', () => {
    const p = randomProfile({ mode: 'hard', temperature: 0.05, top: 1 }, 9);
    const router = new Router(p, remoteIndex(p.k, 'the route pool'));
    assert.equal(router.index.kind, 'remote');
    assert.throws(() => router.route(new Float32Array(DIM)), /runs in the route pool, not inline: use Router\.routeFrom/);
  });
});
