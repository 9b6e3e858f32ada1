import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NeighbourRouter, routerFor } from '../../src/routing/neighbours.ts';
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
      ] as const) {
        const m = structuredClone(manifest);
        edit(m);
        writeFileSync(join(dir, 'profile.json'), JSON.stringify(m));
        assert.throws(() => loadProfile(dir), msg);
      }
      writeFileSync(join(dir, 'profile.json'), JSON.stringify(manifest));
      const bad = readFileSync(join(dir, 'labels.f32'));
      bad[0] ^= 0xff;
      writeFileSync(join(dir, 'labels.f32'), bad);
      assert.throws(() => loadProfile(dir), /labels.f32: sha256 does not match/);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
