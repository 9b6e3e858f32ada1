import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Router, NoCandidateError } from '../../src/routing/router.ts';
import { handProfile, unit } from './helpers.ts';

// Two clusters, three models. Costs 1, 10, 100 per 1k -> cost_norm 0, 0.5, 1.
const errors = [
  [0.5, 0.3, 0.1], // cluster 0: the dear model is best
  [0.2, 0.2, 0.19], // cluster 1: all about equal
];
const costs = [1, 10, 100];

describe('Router.route', () => {
  const r = new Router(handProfile(errors, costs));

  it('lambda 0 picks the lowest expected error', () => {
    const d = r.route(unit(8, 0), { costWeight: 0 });
    assert.equal(d.model, 'm2');
    assert.equal(d.clusterId, 0);
    assert.ok(Math.abs(d.expectedError - 0.1) < 1e-6);
    assert.ok(Math.abs(d.score - 0.1) < 1e-6);
  });

  it('scores are error + lambda * cost_norm for every model', () => {
    const d = r.route(unit(8, 0), { costWeight: 0.3 });
    const expect = [0.5 + 0, 0.3 + 0.15, 0.1 + 0.3];
    for (let m = 0; m < 3; m++) assert.ok(Math.abs(d.scores[m] - expect[m]) < 1e-6, `model ${m}`);
    assert.equal(d.model, 'm2'); // 0.40 < 0.45 < 0.5
    assert.equal(r.route(unit(8, 0), { costWeight: 0.5 }).model, 'm0'); // 0.5 < 0.55 < 0.6
  });

  it('large lambda is cheapest first; cluster 1 goes cheap even at small lambda', () => {
    assert.equal(r.route(unit(8, 0), { costWeight: 5 }).model, 'm0');
    assert.equal(r.route(unit(8, 1), { costWeight: 0.05 }).model, 'm0');
  });

  it('restricts candidates and reports NaN scores for the excluded', () => {
    const d = r.route(unit(8, 0), { costWeight: 0, allowed: r.mask(['m0', 'm1']) });
    assert.equal(d.model, 'm1');
    assert.ok(Number.isNaN(d.scores[2]));
    assert.throws(() => r.mask(['nope']), NoCandidateError);
    assert.throws(() => r.route(unit(8, 0), { allowed: new Uint8Array(3) }), NoCandidateError);
  });

  it('an unknown (NaN) cell is never selected', () => {
    const rr = new Router(handProfile([[0.5, NaN, 0.4]], [1, 2, 3]));
    assert.equal(rr.route(unit(8, 0), { costWeight: 0 }).model, 'm2');
    assert.throws(() => rr.route(unit(8, 0), { allowed: rr.mask(['m1']) }), NoCandidateError);
  });

  it('uses the profile default cost weight when none is given', () => {
    const rr = new Router(handProfile(errors, costs, { default_cost_weight: 5 }));
    const d = rr.route(unit(8, 0));
    assert.equal(d.costWeight, 5);
    assert.equal(d.model, 'm0');
  });

  it('soft assignment blends the nearest clusters by softmax(similarity / T)', () => {
    const rr = new Router(handProfile(errors, costs, { assignment: { mode: 'soft', temperature: 0.1, top: 2 } }));
    const q = unit(8, 0, 1, 0.8); // closer to cluster 0 than 1
    const s0 = 1 / Math.hypot(1, 0.8), s1 = 0.8 / Math.hypot(1, 0.8);
    const w1 = Math.exp((s1 - s0) / 0.1), w0 = 1;
    const d = rr.route(q, { costWeight: 0 });
    for (let m = 0; m < 3; m++) {
      const e = (w0 * errors[0][m] + w1 * errors[1][m]) / (w0 + w1);
      assert.ok(Math.abs(d.scores[m] - e) < 1e-6, `model ${m}: ${d.scores[m]} vs ${e}`);
    }
    assert.equal(d.clusterId, 0);
  });
});
