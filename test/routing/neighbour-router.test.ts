import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NeighbourRouter, routerFor, nprobeOf, DEFAULT_NPROBE } from '../../src/routing/neighbours.ts';
import { mulberry32 } from '../../src/fit/kmeans.ts';
import { Router } from '../../src/routing/router.ts';
import { loadProfile, saveProfile, type Profile, type ProfileManifest } from '../../src/routing/profile.ts';
import { routerContract } from './router-contract.ts';
import { handProfile, unit } from './helpers.ts';

/**
 * A neighbours profile over handProfile's clusters: `per` labelled prompts on
 * each cluster's axis whose errors are `labels(k, i)` (default: the cluster's
 * own errors, so the router predicts errors[k] on axis k).
 */
function handNeighbours(errors: number[][], costs: number[], opts: Partial<ProfileManifest> = {}, per = 6, k = 4, alpha = 2, labels?: (k: number, i: number, m: number) => number): Profile {
  const p = handProfile(errors, costs, opts);
  const K = errors.length, M = costs.length, dim = p.dim, n = K * per;
  const points = new Float32Array(n * dim), lab = new Float32Array(n * M);
  for (let c = 0; c < K; c++) for (let i = 0; i < per; i++) {
    const row = c * per + i;
    points[row * dim + c] = 1;
    for (let m = 0; m < M; m++) lab[row * M + m] = labels ? labels(c, i, m) : errors[c][m];
  }
  p.manifest = { ...p.manifest, router: { kind: 'neighbours', k, alpha, samples: n }, files: { ...p.manifest.files, points: 'points.f32', labels: 'labels.f32' } };
  p.points = points; p.labels = lab;
  return p;
}

routerContract('neighbours (NeighbourRouter)', (errors, costs, opts) => new NeighbourRouter(handNeighbours(errors, costs, opts)));

/** The same profile with router.nprobe set. */
function withNprobe(p: Profile, nprobe: number | 'all'): Profile {
  const spec = p.manifest.router as Extract<ProfileManifest['router'], { kind: 'neighbours' }>;
  return { ...p, manifest: { ...p.manifest, router: { ...spec, nprobe } } };
}

// nprobe 1 of 2 clusters: the inverted file scans one list (6 prompts >= k = 4), not every prompt.
routerContract('neighbours, inverted file (nprobe 1)', (errors, costs, opts) => {
  const r = new NeighbourRouter(withNprobe(handNeighbours(errors, costs, opts), 1));
  assert.equal(r.nprobe, 1);
  return r;
});

/**
 * A random neighbours profile: K clusters, N labelled prompts near them
 * (noisy copies of the centroids), M models with random labels, soft top 3.
 */
function randomNeighbours(K: number, N: number, dim: number, k: number, nprobe?: number | 'all'): Profile {
  const rnd = mulberry32(21), M = 3;
  const norm = (v: Float32Array, o: number) => { let s = 0; for (let i = 0; i < dim; i++) s += v[o + i] ** 2; for (let i = 0; i < dim; i++) v[o + i] /= Math.sqrt(s); };
  const errors = Array.from({ length: K }, () => Array.from({ length: M }, () => rnd()));
  const p = handProfile(errors, [1, 10, 100], { assignment: { mode: 'soft', temperature: 0.05, top: 3 } }, dim);
  const centroids = new Float32Array(K * dim);
  for (let c = 0; c < K * dim; c++) centroids[c] = rnd() * 2 - 1;
  for (let c = 0; c < K; c++) norm(centroids, c * dim);
  const points = new Float32Array(N * dim), labels = new Float32Array(N * M);
  for (let j = 0; j < N; j++) {
    const c = Math.floor(rnd() * K);
    for (let i = 0; i < dim; i++) points[j * dim + i] = centroids[c * dim + i] + 0.6 * (rnd() * 2 - 1);
    norm(points, j * dim);
    for (let m = 0; m < M; m++) labels[j * M + m] = rnd() < 0.1 ? NaN : rnd();
  }
  p.centroids = centroids;
  p.manifest = { ...p.manifest, router: { kind: 'neighbours', k, alpha: 2, samples: N, ...(nprobe === undefined ? {} : { nprobe }) }, files: { ...p.manifest.files, points: 'points.f32', labels: 'labels.f32' } };
  p.points = points; p.labels = labels;
  return p;
}

describe('NeighbourRouter: the inverted file (router.nprobe)', () => {
  const K = 12, N = 360, dim = 16, k = 20;
  const queries = Array.from({ length: 30 }, (_, t) => { const r = mulberry32(100 + t); const v = Float32Array.from({ length: dim }, () => r() * 2 - 1); const n = Math.hypot(...v); return v.map((x) => x / n); });

  it('nprobe: absent = DEFAULT_NPROBE, 0 / "all" / at least every cluster = exact', () => {
    assert.equal(nprobeOf({}, 100), DEFAULT_NPROBE);
    assert.equal(nprobeOf({ nprobe: 'all' }, 100), 0);
    assert.equal(nprobeOf({ nprobe: 0 }, 100), 0);
    assert.equal(nprobeOf({ nprobe: 100 }, 100), 0);
    assert.equal(nprobeOf({ nprobe: 4 }, 100), 4);
    assert.equal(new NeighbourRouter(randomNeighbours(K, N, dim, k)).nprobe, DEFAULT_NPROBE);
  });

  it('decides from the k nearest among the probed clusters\' prompts, the same inline as from clusters found elsewhere', () => {
    const r = new NeighbourRouter(randomNeighbours(K, N, dim, k, 2));
    const exact = new NeighbourRouter(randomNeighbours(K, N, dim, k, 'all'));
    let differ = 0;
    for (const q of queries) {
      const c = r.searchClusters(q);
      const ids = new Int32Array(k), sims = new Float32Array(k);
      assert.equal(r.nearestIn(q, c.ids, c.ids.length, ids, sims), k);
      const file = r.files();
      const scanned = new Set<number>();
      for (let t = 0; t < file.lastProbed; t++) for (const j of file.members(c.ids[t])) scanned.add(j);
      assert.ok(file.lastProbed >= 2 && file.lastProbed < K, `probed ${file.lastProbed}`);
      for (let i = 0; i < k; i++) assert.ok(scanned.has(ids[i]), `neighbour ${ids[i]} is filed under a probed cluster`);
      // route() (inline search) = routeNear with the clusters found elsewhere = routeNear with these prompts.
      const d = r.route(q, { costWeight: 0.1 });
      const viaClusters = r.routeNear(q, { ids: c.ids, sims: c.sims }, { costWeight: 0.1 });
      const viaPoints = r.routeNear(q, { ids: c.ids, sims: c.sims, points: { ids, sims } }, { costWeight: 0.1 });
      assert.deepEqual([...d.scores], [...viaClusters.scores]);
      assert.deepEqual([...d.scores], [...viaPoints.scores]);
      assert.equal(d.clusterId, c.ids[0]);
      // The prior (cluster router) is the same as the exact router's; the neighbours may differ.
      const e = exact.route(q, { costWeight: 0.1 });
      assert.equal(e.clusterId, d.clusterId);
      if (e.scores.some((x, m) => x !== d.scores[m])) differ++;
    }
    assert.ok(differ > 0, 'nprobe 2 of 12 changes some estimates on this data (else the IVF path was not taken)');
  });

  it('probing every cluster gives the exact router\'s neighbours and decisions', () => {
    const r = new NeighbourRouter(randomNeighbours(K, N, dim, k, 3));
    const exact = new NeighbourRouter(randomNeighbours(K, N, dim, k, 0));
    assert.equal(exact.nprobe, 0);
    const all = new Int32Array(K), allSims = new Float32Array(K);
    for (const q of queries) {
      r.index.search(q, K, all, allSims);
      const a = new Int32Array(k), as = new Float32Array(k), b = new Int32Array(k), bs = new Float32Array(k);
      assert.equal(r.files().search(q, all, K, K, k, a, as), k);
      assert.equal(r.files().lastProbed, K);
      exact.nearest(q, b, bs);
      assert.deepEqual([...a], [...b]);
      assert.deepEqual([...as], [...bs]);
      // and nearest() (exact) over the inverted file's copy = the exact index's answer
      r.nearest(q, a, as);
      assert.deepEqual([...a], [...b]);
      const d = r.routeNear(q, { ids: all, sims: allSims, points: { ids: a, sims: as } }, { costWeight: 0.2 });
      assert.deepEqual([...d.scores], [...exact.route(q, { costWeight: 0.2 }).scores]);
    }
  });

  it('nprobe above the clusters\' top searches that many clusters, once', () => {
    const r = new NeighbourRouter(randomNeighbours(K, N, dim, k, 5)); // top 3, nprobe 5
    let calls = 0, depth = 0;
    const inner = r.index.search.bind(r.index);
    (r.index as { search: typeof inner }).search = (q, top, ids, sims) => { calls++; depth = top; return inner(q, top, ids, sims); };
    r.route(queries[0]);
    assert.equal(calls, 1);
    assert.equal(depth, 5);
    assert.ok(r.files().lastProbed >= 5);
  });
});

describe('NeighbourRouter', () => {
  it('reads the k nearest labelled prompts, shrunk toward the clusters estimate with alpha', () => {
    // cluster tables say 0.5 for m0 on axis 0; the 6 prompts there say 0 (first 3) and 1 (last 3).
    const errors = [[0.5, 0.5], [0.5, 0.5]];
    const p = handNeighbours(errors, [1, 10], {}, 6, 4, 2, (c, i, m) => (m === 0 ? (i < 3 ? 0 : 1) : 0.5));
    // Tilt the labelled prompts so the first three are nearer to the query than the last three.
    for (let i = 0; i < 3; i++) p.points![i * p.dim + 2] = 0.3;
    for (let i = 0; i < 6; i++) { const o = i * p.dim; const nn = Math.hypot(p.points![o], p.points![o + 2]); p.points![o] /= nn; p.points![o + 2] /= nn; }
    const r = new NeighbourRouter(p);
    const q = unit(8, 0, 2, 0.3);
    const got = r.nearest(q);
    assert.equal(got, 4);
    // 3 zeros and one 1 among the 4 nearest: (0 + 0 + 0 + 1 + 2 * 0.5) / (4 + 2)
    const d = r.route(q, { costWeight: 0 });
    assert.ok(Math.abs(d.scores[0] - 2 / 6) < 1e-6, `m0 ${d.scores[0]}`);
    assert.ok(Math.abs(d.scores[1] - 0.5) < 1e-6);
    assert.equal(d.model, 'm0');
    // The cluster router alone cannot tell them apart: ties go to the cheaper, m0 too, but at 0.5 each.
    assert.ok(Math.abs(new Router(p).route(q, { costWeight: 0 }).scores[0] - 0.5) < 1e-6);
  });

  it('unknown labels on the neighbours fall back to the cluster estimate', () => {
    const p = handNeighbours([[0.3, 0.6]], [1, 10], {}, 5, 5, 1, (c, i, m) => (m === 1 ? NaN : 0.3));
    const d = new NeighbourRouter(p).route(unit(8, 0), { costWeight: 0 });
    assert.ok(Math.abs(d.scores[1] - 0.6) < 1e-6);
  });

  it('refuses a clusters profile; routerFor picks by router.kind', () => {
    const c = handProfile([[0.1, 0.2]], [1, 2]);
    assert.throws(() => new NeighbourRouter(c), /not a neighbours profile/);
    assert.ok(routerFor(c) instanceof Router);
    assert.ok(routerFor(handNeighbours([[0.1, 0.2]], [1, 2])) instanceof NeighbourRouter);
  });

  it('saves and loads points and labels with their sha256, and validates router fields', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nb-profile-'));
    try {
      const p = handNeighbours([[0.1, 0.2], [0.3, NaN]], [1, 2]);
      saveProfile(dir, p);
      const back = loadProfile(dir);
      assert.deepEqual(back.manifest.router, p.manifest.router);
      assert.deepEqual(back.points, p.points);
      assert.deepEqual([...back.labels!].map(String), [...p.labels!].map(String));
      const d1 = new NeighbourRouter(back).route(unit(8, 1), { costWeight: 0.1 });
      const d0 = new NeighbourRouter(p).route(unit(8, 1), { costWeight: 0.1 });
      assert.equal(d1.model, d0.model);
      const manifest = JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8'));
      for (const [edit, msg] of [
        [(m: any) => { m.router.kind = 'forest'; }, /"router.kind" must be "clusters" or "neighbours"/],
        [(m: any) => { m.router.k = 0; }, /"router.k" must be an integer >= 1/],
        [(m: any) => { m.router.samples = 3; }, /points.f32: is \d+ bytes, expected/],
        [(m: any) => { delete m.files.labels; }, /"files" must name points and labels/],
        [(m: any) => { m.router.nprobe = -1; }, /"router.nprobe" must be an integer >= 0 or "all" \(0 and "all" = exact search\), got -1/],
        [(m: any) => { m.router.nprobe = 2.5; }, /"router.nprobe" must be an integer >= 0 or "all".*got 2.5/],
        [(m: any) => { m.router.nprobe = 'some'; }, /"router.nprobe" must be an integer >= 0 or "all".*got "some"/],
        [(m: any) => { m.router.nprobe = null; }, /"router.nprobe" must be an integer >= 0 or "all".*got null/],
      ] as const) {
        const m = structuredClone(manifest);
        edit(m);
        writeFileSync(join(dir, 'profile.json'), JSON.stringify(m));
        assert.throws(() => loadProfile(dir), msg);
      }
      for (const nprobe of [0, 3, 'all']) {
        writeFileSync(join(dir, 'profile.json'), JSON.stringify({ ...manifest, router: { ...manifest.router, nprobe } }));
        assert.deepEqual((loadProfile(dir).manifest.router as { nprobe?: unknown }).nprobe, nprobe);
      }
      writeFileSync(join(dir, 'profile.json'), JSON.stringify(manifest));
      const bad = readFileSync(join(dir, 'labels.f32'));
      bad[0] ^= 0xff;
      writeFileSync(join(dir, 'labels.f32'), bad);
      assert.throws(() => loadProfile(dir), /labels.f32: sha256 does not match/);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
