/**
 * The neighbour router (issue 13, item 3): a profile with router.kind
 * "neighbours" predicts a model's error on a prompt from the k labelled
 * prompts nearest to it (cosine over the same embedding), shrunk toward the
 * cluster router's estimate for the prompt:
 *
 *   err[m] = (sum over the k nearest with a known label of e[j][m] + alpha * prior[m])
 *            / (known_m + alpha)
 *   prior  = what the profile's cluster router predicts (soft assignment)
 *
 * then picks argmin err[m] + lambda * cost_norm[m] exactly as Router does
 * (same RouteOptions, same Decision; cluster_id is still the nearest
 * centroid). A model unknown on every neighbour keeps the prior, so a model
 * added to the profile later (src/fit/add-model.ts, cluster tables only) is
 * routed on its cluster estimates.
 *
 * Search is exact (a scan of N x dim: 2,200 x 384 multiply-adds ~ 0.3 ms on
 * one core). That is fine offline and at RouterBench's size; for a large
 * labelled set it wants the HNSW index in the route pool. The server does not
 * serve this router yet (src/api/engine.ts refuses a neighbours profile with
 * that reason): the route pool, the decision cache and /v1/route's handlers
 * are written against Router.
 */
import type { Profile } from './profile.ts';
import { Router, NoCandidateError, selectModel, type Decision, type RouteOptions } from './router.ts';

export class NeighbourRouter {
  readonly models: string[];
  readonly modelIndex: ReadonlyMap<string, number>;
  /** The cluster router: the prior, and cluster_id. */
  readonly clusters: Router;
  private readonly k: number;
  private readonly alpha: number;
  private readonly n: number;
  private readonly points: Float32Array;
  private readonly labels: Float32Array;
  private readonly nearIds: Int32Array;
  private readonly nearSims: Float64Array;
  private readonly err: Float64Array;

  constructor(readonly profile: Profile) {
    const spec = profile.manifest.router;
    if (spec?.kind !== 'neighbours' || !profile.points || !profile.labels) throw new Error('NeighbourRouter: the profile is not a neighbours profile (router.kind, points, labels)');
    this.clusters = new Router(profile);
    this.models = profile.models;
    this.modelIndex = this.clusters.modelIndex;
    this.k = Math.min(spec.k, spec.samples);
    this.alpha = spec.alpha;
    this.n = spec.samples;
    this.points = profile.points;
    this.labels = profile.labels;
    this.nearIds = new Int32Array(this.k);
    this.nearSims = new Float64Array(this.k);
    this.err = new Float64Array(profile.models.length);
  }

  mask(names: readonly string[]): Uint8Array { return this.clusters.mask(names); }

  /** Indices of the k labelled prompts nearest to `q` (exact), best first; returns how many. */
  nearest(q: Float32Array, ids: Int32Array = this.nearIds, sims: Float64Array = this.nearSims): number {
    const { points, n } = this;
    const dim = q.length, k = Math.min(this.k, ids.length);
    let got = 0;
    for (let j = 0; j < n; j++) {
      let s = 0;
      const o = j * dim;
      for (let d = 0; d < dim; d++) s += q[d] * points[o + d];
      if (got === k && s <= sims[k - 1]) continue;
      // Insertion into the sorted top-k (k ~ 50: cheaper than a heap at this size).
      let t = got < k ? got++ : k - 1;
      while (t > 0 && sims[t - 1] < s) { sims[t] = sims[t - 1]; ids[t] = ids[t - 1]; t--; }
      sims[t] = s; ids[t] = j;
    }
    return got;
  }

  /**
   * Predicted error per model for `q` (into `out`), and the cluster decision
   * that gave the prior. Prior: the cluster router's soft estimate (its
   * scores at lambda 0, no mask, no bias), with the caller's errorOverride.
   */
  estimate(q: Float32Array, opts: RouteOptions = {}, out: Float64Array = this.err): { err: Float64Array; cluster: Decision } {
    const M = this.models.length;
    // Everything the caller gave the cluster router (an errorOverride, say) except what changes the arithmetic of the prior.
    const cluster = this.clusters.route(q, { ...opts, costWeight: 0, allowed: undefined, scores: undefined, bias: undefined } as RouteOptions);
    const prior = cluster.scores;
    const got = this.nearest(q);
    const { labels, nearIds, alpha } = this;
    for (let m = 0; m < M; m++) {
      let sum = 0, cnt = 0;
      for (let t = 0; t < got; t++) { const e = labels[nearIds[t] * M + m]; if (e === e) { sum += e; cnt++; } }
      const p = prior[m];
      out[m] = p === p ? (sum + alpha * p) / (cnt + alpha) : cnt > 0 ? sum / cnt : NaN;
    }
    return { err: out, cluster };
  }

  route(embedding: Float32Array, opts: RouteOptions = {}): Decision {
    const M = this.models.length;
    const { err, cluster } = this.estimate(embedding, opts);
    const lambda = opts.costWeight ?? this.profile.manifest.default_cost_weight;
    const costNorm = this.profile.costNorm;
    const scores = opts.scores ?? new Float64Array(M);
    const best = selectModel(M, err, costNorm, lambda, opts, scores);
    if (best < 0) throw new NoCandidateError('no candidate model has a known error estimate for this prompt');
    return { modelIndex: best, model: this.models[best], clusterId: cluster.clusterId, expectedError: err[best], score: scores[best], scores, costWeight: lambda };
  }
}

/** What fit/eval/tests need of either router. */
export interface AnyRouter {
  readonly profile: Profile;
  readonly models: string[];
  readonly modelIndex: ReadonlyMap<string, number>;
  mask(names: readonly string[]): Uint8Array;
  route(embedding: Float32Array, opts?: RouteOptions): Decision;
}

/** The router a profile asks for (router.kind). */
export function routerFor(profile: Profile): AnyRouter {
  return profile.manifest.router?.kind === 'neighbours' ? new NeighbourRouter(profile) : new Router(profile);
}
