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
 * Search here is an inverted file (nearest-ivf.ts): the labelled prompts are
 * filed under their nearest centroid, and a decision scans the lists of the
 * nearest `nprobe` clusters (router.nprobe, default DEFAULT_NPROBE), the ones
 * the cluster router's search already found, instead of all N (an exact scan
 * of 2,200 x 384 multiply-adds in the WebAssembly SIMD kernel cost ~82 µs a
 * decision; the scalar JS loop before it ~1.1 ms). router.nprobe 0 or "all"
 * keeps the exact scan. The server serves it (issue 13): the Engine builds one per
 * HTTP thread (`servedRouter`); its `routeNear` takes what was found before
 * the decision (src/api/engine.ts poolSearch): the clusters' neighbours from
 * the route pool when the profile's K searches there, and the labelled
 * prompts from a second route pool when N does (the centroids' dispatch
 * policy with K = N; HNSW from HNSW_MIN_K), or from a scan made before the
 * await (`searchPoints`), never from an embedding buffer read afterwards.
 */
import type { Profile } from './profile.ts';
import { bruteForceIndex, type NearestIndex } from './nearest.ts';
import { InvertedFile } from './nearest-ivf.ts';
import { Router, NoCandidateError, selectModel, type Decision, type RouteOptions } from './router.ts';

/**
 * Neighbours found before deciding: the nearest clusters (`ids`, `sims`, as
 * Router.routeNear takes them) and, for the neighbour router, the nearest
 * labelled prompts (`points`, best first). src/api/engine.ts poolSearch
 * builds it; with `points` the decision never reads the embedding again.
 */
export interface NearFound { ids: Int32Array; sims: Float32Array; points?: { ids: Int32Array; sims: Float32Array } }

/**
 * Clusters whose labelled prompts a decision scans when the manifest gives no
 * router.nprobe. Chosen from 5-fold cross-validation on RouterBench (K=100,
 * k=50, last_question; docs/fitting.md): see the table there.
 */
export const DEFAULT_NPROBE = 8;

/** router.nprobe as a count: 0 = exact (absent = DEFAULT_NPROBE; "all", or at least every cluster, = 0). */
export function nprobeOf(spec: { nprobe?: number | 'all' }, clusters: number): number {
  const n = spec.nprobe ?? DEFAULT_NPROBE;
  return n === 'all' || n >= clusters ? 0 : n;
}

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
  private ivf: InvertedFile | undefined;
  private readonly nearSims: Float32Array;
  /** Clusters whose lists a decision scans (router.nprobe); 0 = exact scan of every labelled prompt. */
  readonly nprobe: number;
  /** Clusters the inline search finds: the cluster router's `top`, or nprobe when larger (one search serves both). */
  readonly depth: number;
  private readonly clusterIds: Int32Array;
  private readonly clusterSims: Float32Array;

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
    this.nprobe = nprobeOf(spec, profile.k);
    this.depth = Math.min(profile.k, Math.max(this.top, this.nprobe));
    this.clusterIds = new Int32Array(this.depth);
    this.clusterSims = new Float32Array(this.depth);
  }

  mask(names: readonly string[]): Uint8Array { return this.clusters.mask(names); }

  /** How many labelled prompts a decision reads (router.k, at most the samples): what a search elsewhere (the route pool) must return. */
  get neighbours(): number { return this.k; }

  /**
   * nearest() into fresh arrays, for a caller that decides later (after an
   * await, when `q` may be a reused buffer). Exact: its caller
   * (src/api/engine.ts poolSearch) has the clusters only after the await.
   */
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
   * With the inverted file on (nprobe > 0) it scans the file's copy, every
   * list: the same answer, and one copy of the points per thread, not two.
   */
  nearest(q: Float32Array, ids: Int32Array = this.nearIds, sims: Float32Array = this.nearSims): number {
    const top = Math.min(this.k, ids.length, sims.length);
    if (this.nprobe > 0) return this.files().exact(q, top, ids, sims);
    this.pointIndex ??= bruteForceIndex(this.points, this.n, q.length);
    return this.pointIndex.search(q, top, ids, sims);
  }

  /**
   * The k labelled prompts nearest to `q` among those filed under the
   * nearest `nprobe` of `clusters[0..got)` (best first, as the clusters'
   * search writes them): InvertedFile.search, which adds clusters past nprobe
   * until it has k prompts and is exact when they run out. Exact when nprobe is 0.
   */
  nearestIn(q: Float32Array, clusters: Int32Array, got: number, ids: Int32Array = this.nearIds, sims: Float32Array = this.nearSims): number {
    if (this.nprobe === 0) return this.nearest(q, ids, sims);
    return this.files().search(q, clusters, got, this.nprobe, Math.min(this.k, ids.length, sims.length), ids, sims);
  }

  /**
   * Builds now what a decision's inline prompt search uses (the inverted
   * file, or the exact index when nprobe is 0), so the first request does not
   * pay for it: 17-28 ms for the inverted file at N = 2,225, K = 100 on the
   * 2-core dev machine (one-off runs, shared machine). For a caller that
   * searches the prompts on its own thread (src/api/engine.ts with no route
   * pool for the prompts: inline, or searchPoints before the clusters' await).
   */
  prepare(): void {
    if (this.nprobe > 0) this.files();
    else this.pointIndex ??= bruteForceIndex(this.points, this.n, this.profile.dim);
  }

  /**
   * The inverted file, built on first use (files every labelled prompt under
   * its nearest centroid: N x K dot products; 17-28 ms at 2,225 x 100, see
   * prepare()), so a
   * profile whose prompts search in the route pool never builds it. Its own
   * centroid search: `this.index` may be the route pool's remoteIndex.
   */
  files(): InvertedFile {
    return this.ivf ??= InvertedFile.over(this.points, this.n, this.profile.dim, this.profile.centroids, this.profile.k);
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
    // The clusters found elsewhere (the route pool), else searched here, `depth` deep: the prior reads the
    // first `top` (the same first `top` a search of `top` finds), the inverted file the first nprobe or more.
    let cIds: Int32Array, cSims: Float32Array, cGot: number;
    if (near !== undefined) { cIds = near.ids; cSims = near.sims; cGot = near.ids.length; } else {
      cIds = this.clusterIds; cSims = this.clusterSims;
      cGot = this.index.search(q, this.depth, cIds, cSims);
    }
    const cluster = this.clusters.routeFrom(cIds, cSims, cGot, { ...opts, costWeight: 0, allowed: undefined, scores: this.prior, bias: undefined } as RouteOptions);
    const prior = cluster.scores;
    // The labelled prompts found elsewhere (the route pool, or a search made before an await), else scanned now.
    const found = near?.points;
    const got = found ? found.ids.length : this.nearestIn(q, cIds, cGot);
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
   * prompts are `near.points` when given, else scanned on this thread (the
   * inverted file over `near`'s clusters or the ones searched here).
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
