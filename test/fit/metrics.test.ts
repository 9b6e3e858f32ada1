import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aiq, bestAccuracyWithin, costToReach, lambdaGrid, paretoFrontier } from '../../src/fit/metrics.ts';
import { report } from '../../src/fit/evaluate.ts';
import type { LabelledData } from '../../src/fit/dataset.ts';

describe('metrics', () => {
  const pts = [{ cost: 1, accuracy: 0.5 }, { cost: 2, accuracy: 0.7 }, { cost: 3, accuracy: 0.6 }, { cost: 4, accuracy: 0.9 }];

  it('bestAccuracyWithin takes the best affordable point', () => {
    assert.equal(bestAccuracyWithin(pts, 0.5), 0);
    assert.equal(bestAccuracyWithin(pts, 1), 0.5);
    assert.equal(bestAccuracyWithin(pts, 3.5), 0.7);
    assert.equal(bestAccuracyWithin(pts, 10), 0.9);
  });

  it('AIQ on a hand-computed example', () => {
    // 4 steps over [1, 4]: costs 1, 2, 3, 4 -> best 0.5, 0.7, 0.7, 0.9 -> mean 0.7
    assert.ok(Math.abs(aiq(pts, 1, 4, 4) - 0.7) < 1e-12);
    // 7 steps: costs 1, 1.5, 2, 2.5, 3, 3.5, 4 -> 0.5 0.5 0.7 0.7 0.7 0.7 0.9 = 4.7 / 7
    assert.ok(Math.abs(aiq(pts, 1, 4, 7) - 4.7 / 7) < 1e-12);
    assert.throws(() => aiq(pts, 1, 4, 1));
  });

  it('costToReach and the frontier', () => {
    assert.equal(costToReach(pts, 0.7), 2);
    assert.equal(costToReach(pts, 0.95), null);
    assert.deepEqual(paretoFrontier(pts).map((p) => p.cost), [1, 2, 4]);
  });

  it('lambda grid: 0 then log-spaced', () => {
    const g = lambdaGrid(41, -4, 2);
    assert.equal(g.length, 42);
    assert.equal(g[0], 0);
    assert.ok(Math.abs(g[1] - 1e-4) < 1e-18 && Math.abs(g[41] - 100) < 1e-9);
  });

  it('report: singles, router at each single cost, match cost and oracle on a 2-model example', () => {
    // two prompts, two models: cheap c (cost 1) right on prompt 0 only; dear d (cost 3) right on both.
    const d: LabelledData = {
      models: ['c', 'd'], prompts: ['p0', 'p1'], groups: ['g', 'g'],
      score: Float32Array.from([1, 1, 0, 1]), cost: Float64Array.from([1, 3, 1, 3]),
    };
    // router points: all-cheap (1, 0.5), mixed (2, 1.0), all-dear (3, 1.0)
    const points = [{ cost: 1, accuracy: 0.5 }, { cost: 2, accuracy: 1 }, { cost: 3, accuracy: 1 }];
    const r = report(d, points);
    assert.equal(r.best.model, 'd');
    assert.equal(r.cheapest.model, 'c');
    assert.equal(r.singles[0].routerAccuracyAtCost, 0.5);
    assert.equal(r.singles[1].routerAccuracyAtCost, 1);
    assert.equal(r.matchBest.cost, 2);
    assert.ok(Math.abs(r.matchBest.fractionOfBestCost! - 2 / 3) < 1e-12);
    // oracle at lambda 0: both prompts right; cost: ties broken toward the first (cheap) model on p0
    assert.equal(r.oracle.accuracy, 1);
    assert.equal(r.oracle.cost, 2);
    // singles AIQ over [1, 3]: steps at costs 1..3 -> 0.5 until cost 3 then 1
    assert.ok(Math.abs(r.aiqSingle - (199 * 0.5 + 1) / 200) < 1e-12);
  });
});
