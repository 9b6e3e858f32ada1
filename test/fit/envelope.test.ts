import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lowerEnvelope, ExactSweep } from '../../src/fit/envelope.ts';
import { aiq, lambdaGrid } from '../../src/fit/metrics.ts';
import { mulberry32 } from '../../src/fit/kmeans.ts';

/** argmin e + lam c by brute force, ties to the lower c then the lower index (Router's rule). */
function brute(e: number[], c: number[], lam: number): number {
  let best = -1;
  for (let m = 0; m < e.length; m++) {
    if (e[m] !== e[m]) continue;
    if (best < 0) { best = m; continue; }
    const s = e[m] + lam * c[m], b = e[best] + lam * c[best];
    if (s < b || (s === b && c[m] < c[best])) best = m;
  }
  return best;
}

function at(env: { from: number[]; models: number[] }, lam: number): number {
  let i = 0;
  while (i + 1 < env.from.length && env.from[i + 1] <= lam) i++;
  return env.models[i];
}

describe('lowerEnvelope', () => {
  it('hand example: three lines, two switches at the crossings', () => {
    // e = 0.1, 0.3, 0.5 at c = 1, 0.5, 0: m0 -> m1 at 0.4, m1 -> m2 at 0.4 as well? no: m1 -> m2 at (0.5-0.3)/0.5 = 0.4
    const env = lowerEnvelope([0.1, 0.3, 0.6], [1, 0.5, 0])!;
    // m0 vs m1 cross at 0.2/0.5 = 0.4; m1 vs m2 at 0.3/0.5 = 0.6
    assert.deepEqual(env.models, [0, 1, 2]);
    assert.ok(Math.abs(env.from[1] - 0.4) < 1e-12 && Math.abs(env.from[2] - 0.6) < 1e-12);
  });

  it('skips a model that is never the lowest, honours NaN and the mask', () => {
    const env = lowerEnvelope([0.1, 0.45, 0.5], [1, 0.5, 0])!; // m1 would cross m0 at 0.7, m2 crosses m0 at 0.4 first
    assert.deepEqual(env.models, [0, 2]);
    assert.deepEqual(lowerEnvelope([NaN, 0.2], [0, 1])!.models, [1]);
    assert.deepEqual(lowerEnvelope([0.1, 0.2], [1, 0], [0, 1])!.models, [1]);
    assert.equal(lowerEnvelope([NaN, NaN], [0, 1]), null);
  });

  it('agrees with brute force at every lambda on random lines (ties included)', () => {
    const r = mulberry32(11);
    for (let t = 0; t < 300; t++) {
      const M = 2 + Math.floor(r() * 6);
      const e = Array.from({ length: M }, () => (r() < 0.1 ? NaN : Math.round(r() * 10) / 10));
      const c = Array.from({ length: M }, () => Math.round(r() * 4) / 4);
      const env = lowerEnvelope(e, c);
      if (e.every((x) => x !== x)) { assert.equal(env, null); continue; }
      // Exactly at a crossing float rounding of e + lam c decides; just either side, the envelope must agree.
      const probes = [0, ...env!.from.map((x) => x * (1 + 1e-9) + 1e-12), ...env!.from.slice(1).map((x) => x * (1 - 1e-9)), 0.05, 0.5, 3, 100];
      for (const lam of probes) assert.equal(c[at(env!, lam)], c[brute(e, c, lam)], `t=${t} lam=${lam} e=${e} c=${c}`);
    }
  });
});

describe('the exact lambda sweep (issue 13 item 5)', () => {
  // A two-model dataset: "small" (cheap) and "large" (dear), each prompt with
  // its own predicted errors, as a router's would be; true labels drawn from them.
  function twoModels(n: number, seed: number) {
    const r = mulberry32(seed);
    const sweep = new ExactSweep();
    const rows: { e: number[]; cost: number[]; score: number[] }[] = [];
    for (let i = 0; i < n; i++) {
      const eS = 0.1 + 0.8 * r(), eL = eS * (0.2 + 0.6 * r());
      const score = [r() < 1 - eS ? 1 : 0, r() < 1 - eL ? 1 : 0];
      const cost = [0.0002 * (0.5 + r()), 0.004 * (0.5 + r())];
      rows.push({ e: [eS, eL], cost, score });
      sweep.add(lowerEnvelope([eS, eL], [0, 1])!, cost, score);
    }
    return { sweep, rows };
  }
  const bounds = (rows: { cost: number[] }[]) => {
    const avg = (m: number) => rows.reduce((s, x) => s + x.cost[m], 0) / rows.length;
    return [avg(0), avg(1)] as const;
  };

  it('every operating point equals routing each prompt at that lambda', () => {
    const { sweep, rows } = twoModels(300, 3);
    const pts = sweep.points();
    assert.ok(pts.length > 100, `${pts.length} points`);
    for (const p of pts.filter((_, i) => i % 17 === 0)) {
      let c = 0, a = 0;
      for (const r of rows) { const m = brute(r.e, [0, 1], p.lambda!); c += r.cost[m]; a += r.score[m]; }
      assert.ok(Math.abs(c / rows.length - p.cost) < 1e-12 && Math.abs(a / rows.length - p.accuracy) < 1e-12, `lambda ${p.lambda}`);
    }
  });

  it('doubling the grid (every midpoint added) changes AIQ by < 0.001; the fixed 120-point grid does not resolve the curve', () => {
    const { sweep, rows } = twoModels(400, 9);
    const [cmin, cmax] = bounds(rows);
    const exact = aiq(sweep.points(), cmin, cmax);
    const bp = sweep.breakpoints();
    const doubled = [...bp, ...bp.slice(1).map((x, i) => (x + bp[i]) / 2), bp[bp.length - 1] * 2];
    assert.ok(Math.abs(aiq(sweep.pointsAt(doubled), cmin, cmax) - exact) < 0.001);
    // and against a very fine fixed grid
    assert.ok(Math.abs(aiq(sweep.pointsAt(lambdaGrid(20000, -4, 2)), cmin, cmax) - exact) < 0.001);
    // the old default (0 + 120 log-spaced values) is coarser here: the reason for the exact sweep
    const coarse = aiq(sweep.pointsAt(lambdaGrid(120)), cmin, cmax);
    assert.ok(exact - coarse > 0.001, `exact ${exact} vs 120-grid ${coarse}`);
  });

  it('merging sweeps pools their prompts', () => {
    const a = twoModels(50, 1).sweep, b = twoModels(70, 2).sweep;
    const pooled = new ExactSweep();
    pooled.merge(a); pooled.merge(b);
    assert.equal(pooled.n, 120);
    const lam = 0.3;
    const pa = a.pointsAt([lam])[0], pb = b.pointsAt([lam])[0], pp = pooled.pointsAt([lam])[0];
    assert.ok(Math.abs(pp.accuracy - (50 * pa.accuracy + 70 * pb.accuracy) / 120) < 1e-12);
  });
});
