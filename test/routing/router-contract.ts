/**
 * Contract suite both routers pass (clusters: src/routing/router.ts;
 * neighbours: src/routing/neighbours.ts). Call
 * `routerContract(name, factory)` from a *.test.ts file; the factory builds a
 * router whose prediction for a prompt on axis k (unit(8, k)) is errors[k]
 * (K regions on the first K axes, M models with the given costs per 1k).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NoCandidateError } from '../../src/routing/router.ts';
import type { AnyRouter } from '../../src/routing/neighbours.ts';
import type { ProfileManifest } from '../../src/routing/profile.ts';
import { unit } from './helpers.ts';
import { mulberry32 } from '../../src/fit/kmeans.ts';

export type RouterFactory = (errors: number[][], costPer1k: number[], opts?: Partial<ProfileManifest>) => AnyRouter;

// Costs 1, 10, 100 per 1k -> cost_norm 0, 0.5, 1.
const errors = [
  [0.5, 0.3, 0.1], // region 0: the dear model is best
  [0.2, 0.2, 0.19], // region 1: all about equal
];
const costs = [1, 10, 100];
const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;

export function routerContract(name: string, make: RouterFactory): void {
  describe(`router contract: ${name}`, () => {
    const r = make(errors, costs);

    it('names the models and maps names to indices', () => {
      assert.deepEqual(r.models, ['m0', 'm1', 'm2']);
      assert.equal(r.modelIndex.get('m2'), 2);
    });

    it('lambda 0 picks the lowest predicted error; cluster_id is the nearest centroid', () => {
      const d = r.route(unit(8, 0), { costWeight: 0 });
      assert.equal(d.model, 'm2');
      assert.equal(d.modelIndex, 2);
      assert.equal(d.clusterId, 0);
      assert.ok(near(d.expectedError, 0.1), `expected error ${d.expectedError}`);
      assert.equal(r.route(unit(8, 1), { costWeight: 0 }).clusterId, 1);
    });

    it('scores are predicted error + lambda * cost_norm for every model', () => {
      const d = r.route(unit(8, 0), { costWeight: 0.3 });
      const expect = [0.5, 0.3 + 0.15, 0.1 + 0.3];
      for (let m = 0; m < 3; m++) assert.ok(near(d.scores[m], expect[m]), `model ${m}: ${d.scores[m]}`);
      assert.equal(d.model, 'm2');
      assert.ok(near(d.score, 0.4));
      assert.equal(d.costWeight, 0.3);
      assert.equal(r.route(unit(8, 0), { costWeight: 0.5 }).model, 'm0');
    });

    it('large lambda is cheapest first; a region where all are equal goes cheap at small lambda', () => {
      assert.equal(r.route(unit(8, 0), { costWeight: 5 }).model, 'm0');
      assert.equal(r.route(unit(8, 1), { costWeight: 0.05 }).model, 'm0');
    });

    it('as lambda grows the chosen model never gets dearer', () => {
      const rnd = mulberry32(5);
      let cheaper = 0;
      for (let t = 0; t < 50; t++) {
        const q = unit(8, t % 2, 1 - (t % 2), rnd());
        let last = Infinity;
        for (const lam of [0, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 2]) {
          const c = costs[r.route(q, { costWeight: lam }).modelIndex];
          assert.ok(c <= last, `t=${t} lambda=${lam}: cost ${c} after ${last}`);
          if (c < last && last !== Infinity) cheaper++;
          last = c;
        }
      }
      assert.ok(cheaper > 0, 'a larger cost weight moved some query to a cheaper model (else the check above is vacuous)');
    });

    it('restricts candidates, NaN scores for the excluded, and refuses an empty or unknown set', () => {
      const d = r.route(unit(8, 0), { costWeight: 0, allowed: r.mask(['m0', 'm1']) });
      assert.equal(d.model, 'm1');
      assert.ok(Number.isNaN(d.scores[2]));
      assert.throws(() => r.mask(['nope']), NoCandidateError);
      assert.throws(() => r.route(unit(8, 0), { allowed: new Uint8Array(3) }), NoCandidateError);
    });

    it('writes scores into the buffer it is given', () => {
      const buf = new Float64Array(3);
      const d = r.route(unit(8, 0), { costWeight: 0, scores: buf });
      assert.equal(d.scores, buf);
      assert.ok(near(buf[2], 0.1));
    });

    it('a model unknown everywhere (NaN) is never selected', () => {
      const rr = make([[0.5, NaN, 0.4], [0.5, NaN, 0.4]], [1, 2, 3]);
      assert.equal(rr.route(unit(8, 0), { costWeight: 0 }).model, 'm2');
      assert.throws(() => rr.route(unit(8, 0), { allowed: rr.mask(['m1']) }), NoCandidateError);
    });

    it('uses the profile default cost weight when none is given', () => {
      const rr = make(errors, costs, { default_cost_weight: 5 });
      const d = rr.route(unit(8, 0));
      assert.equal(d.costWeight, 5);
      assert.equal(d.model, 'm0');
    });

    it('is deterministic', () => {
      const q = unit(8, 0, 1, 0.7);
      const a = r.route(q, { costWeight: 0.1 }), b = r.route(q, { costWeight: 0.1 });
      assert.equal(a.model, b.model);
      assert.deepEqual([...a.scores], [...b.scores]);
    });
  });
}
