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
 * Search here is exact (a scan of N x dim: 2,200 x 384 multiply-adds, in the
 * WebAssembly SIMD kernel of nearest-simd.ts; the scalar JS loop it replaced
 * took ~1.1 ms a decision). The server serves it (issue 13): the Engine builds one per
 * HTTP thread (`servedRouter`); its `routeNear` takes what was found before
 * the decision (src/api/engine.ts poolSearch): the clusters' neighbours from
 * the route pool when the profile's K searches there, and the labelled
 * prompts from a second route pool when N does (the centroids' dispatch
 * policy with K = N; HNSW from HNSW_MIN_K), or from a scan made before the
 * await (`searchPoints`), never from an embedding buffer read afterwards.
 */
import type { Profile } from './profile.ts';
import { bruteForceIndex, type NearestIndex } from './nearest.ts';
import { Router, NoCandidateError, selectModel, type Decision, type RouteOptions } from './router.ts';

/**
 * Neighbours found before deciding: the nearest clusters (`ids`, `sims`, as
 * Router.routeNear takes them) and, for the neighbour router, the nearest
 * labelled prompts (`points`, best first). src/api/engine.ts poolSearch
 * builds it; with `points` the decision never reads the embedding again.
 */
export interface NearFound { ids: Int32Array; sims: Float32Array; points?: { ids: Int32Array; sims: Float32Array } }

export class NeighbourRouter {
  readonly models: string[];
  readonly modelIndex: ReadonlyMap<string, number>;
  /** The cluster router: the prior, and cluster_id. */
  readonly clusters: Router;
  /** The clusters' search: how many nearest clusters a decision reads, and the index (Router's, for the server's handlers). */
  readonly top: number;
  readonly index: NearestIndex;
  private readonly k: number;
  private readonly alpha: number;
  private readonly n: number;
  private readonly points: Float32Array;
  private readonly labels: Float32Array;
  private readonly nearIds: Int32Array;
  private readonly err: Float64Array;
  private readonly prior: Float64Array;
  private pointIndex: NearestIndex | undefined;
  private readonly nearSims: Float32Array;

  /** `index`: the clusters' nearest index (default brute force; the server passes its own, or remoteIndex when the route pool searches). */
  constructor(readonly profile: Profile, index?: NearestIndex) {
    const spec = profile.manifest.router;
    if (spec?.kind !== 'neighbours' || !profile.points || !profile.labels) throw new Error('NeighbourRouter: the profile is not a neighbours profile (router.kind, points, labels)');
    this.clusters = new Router(profile, index);
    this.top = this.clusters.top;
    this.index = this.clusters.index;
    this.models = profile.models;
    this.modelIndex = this.clusters.modelIndex;
    this.k = Math.min(spec.k, spec.samples);
    this.alpha = spec.alpha;
    this.n = spec.samples;
    this.points = profile.points;
    this.labels = profile.labels;
    this.nearIds = new Int32Array(this.k);
    this.err = new Float64Array(profile.models.length);
    this.prior = new Float64Array(profile.models.length);
    this.nearSims = new Float32Array(this.k);
  }

  mask(names: readonly string[]): Uint8Array { return this.clusters.mask(names); }

  /** How many labelled prompts a decision reads (router.k, at most the samples): what a search elsewhere (the route pool) must return. */
  get neighbours(): number { return this.k; }

  /** nearest() into fresh arrays, for a caller that decides later (after an await, when `q` may be a reused buffer). */
  searchPoints(q: Float32Array): { ids: Int32Array; sims: Float32Array } {
    const ids = new Int32Array(this.k), sims = new Float32Array(this.k);
    const got = this.nearest(q, ids, sims);
    return { ids: ids.subarray(0, got), sims: sims.subarray(0, got) };
  }

  /** The clusters' nearest `top` into fresh arrays (inline index), for the same reason. */
  searchClusters(q: Float32Array): { ids: Int32Array; sims: Float32Array } {
    const ids = new Int32Array(this.top), sims = new Float32Array(this.top);
    const got = this.index.search(q, this.top, ids, sims);
    return { ids: ids.subarray(0, got), sims: sims.subarray(0, got) };
  }

  /**
   * Indices of the k labelled prompts nearest to `q` (exact), best first, and
   * their similarities; returns how many.
   * Exact search over every labelled prompt with the fastest exact index this
   * runtime has (bruteForceIndex: the WebAssembly SIMD kernel, else the
   * blocked JS loop), built on first use: a profile searched in the route pool
   * never copies its points into a per-thread index. At 2,205 x 384 the scalar
   * loop this replaced cost ~1.1 ms a decision (bench:latency, 2026-12-05).
   */
  nearest(q: Float32Array, ids: Int32Array = this.nearIds, sims: Float32Array = this.nearSims): number {
    this.pointIndex ??= bruteForceIndex(this.points, this.n, q.length);
    return this.pointIndex.search(q, Math.min(this.k, ids.length, sims.length), ids, sims);
  }

  /**
   * Predicted error per model for `q` (into `out`), and the cluster decision
   * that gave the prior. Prior: the cluster router's soft estimate (its
   * scores at lambda 0, no mask, no bias), with the caller's errorOverride.
   */
  estimate(q: Float32Array, opts: RouteOptions = {}, out: Float64Array = this.err, near?: NearFound): { err: Float64Array; cluster: Decision } {
    const M = this.models.length;
    // Everything the caller gave the cluster router (an organisation's feedback, say) except what changes the arithmetic of the prior.
    // The prior's scores go to scratch: consumed below, before this returns.
    const cluster = this.clusters.routeNear(q, near, { ...opts, costWeight: 0, allowed: undefined, scores: this.prior, bias: undefined } as RouteOptions);
    const prior = cluster.scores;
    // The labelled prompts found elsewhere (the route pool, or a search made before an await), else scanned now.
    const found = near?.points;
    const got = found ? found.ids.length : this.nearest(q);
    const nearIds = found ? found.ids : this.nearIds;
    const { labels, alpha } = this;
    for (let m = 0; m < M; m++) {
      let sum = 0, cnt = 0;
      for (let t = 0; t < got; t++) { const e = labels[nearIds[t] * M + m]; if (e === e) { sum += e; cnt++; } }
      const p = prior[m];
      out[m] = p === p ? (sum + alpha * p) / (cnt + alpha) : cnt > 0 ? sum / cnt : NaN;
    }
    return { err: out, cluster };
  }

  route(embedding: Float32Array, opts: RouteOptions = {}): Decision {
    return this.routeNear(embedding, undefined, opts);
  }

  /**
   * Router.routeNear's contract: `near` = the nearest clusters found elsewhere
   * (the route pool), undefined = search the clusters here. The labelled
   * prompts are scanned on this thread either way.
   */
  routeNear(embedding: Float32Array, near: NearFound | undefined, opts: RouteOptions = {}): Decision {
    const M = this.models.length;
    const { err, cluster } = this.estimate(embedding, opts, this.err, near);
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

/**
 * What the server's handlers use of a router (src/api/engine.ts Ready.router):
 * both routers, same contract. cluster_id is the nearest centroid with either.
 */
export type ServedRouter = Pick<Router, 'profile' | 'models' | 'modelIndex' | 'top' | 'index' | 'mask' | 'route' | 'routeNear'>;

/** The router the Engine serves for a profile, over the clusters' `index` (inline, or remoteIndex when the route pool searches). */
export function servedRouter(profile: Profile, index: NearestIndex): ServedRouter {
  return profile.manifest.router?.kind === 'neighbours' ? new NeighbourRouter(profile, index) : new Router(profile, index);
}
