/**
 * The routing decision (UniRoute): for the prompt's cluster(s), pick the
 * candidate model minimising  expected_error + lambda * cost_norm.
 * Transport-free: plain typed input and output, callable from a test, a
 * script, a worker or the server alike.
 */
import type { Profile } from './profile.ts';
import type { NearestIndex } from './nearest.ts';
import { bruteForceIndex } from './nearest.ts';

export interface RouteOptions {
  /** lambda >= 0; undefined = the profile's default. */
  costWeight?: number;
  /** Candidate mask by model index (1 = allowed); undefined = every model. */
  allowed?: Uint8Array;
  /**
   * Where to write Decision.scores (length >= the model count): lets a caller
   * that consumes the decision synchronously (the /v1/route handler) reuse one
   * buffer instead of allocating per call. Omitted: a fresh array, which the
   * caller may keep.
   */
  scores?: Float64Array;
  /**
   * Observed answers per cluster (an organisation's feedback, issue 11): when
   * the prompt's nearest cluster has evidence for a model, that model's
   * estimate for this prompt (the profile's, mixed over the nearest clusters)
   * becomes the prior of a Beta-style update:
   *   err = (priorStrength x err + errSum) / (priorStrength + n)
   * A model unknown in this cluster (NaN) stays unknown.
   */
  feedback?: ReadonlyMap<number, FeedbackEvidence> | null;
  /** Pseudo-observations behind the profile's estimate in that update; default 10. */
  priorStrength?: number;
  /** Added to each model's score (a preferred provider's bonus is negative); undefined/null = none. */
  bias?: Float64Array | null;
}

/** Per model index: answers scored and the sum of their errors (1 - score). */
export interface FeedbackEvidence {
  readonly n: Float64Array;
  readonly errSum: Float64Array;
}

export interface Decision {
  modelIndex: number;
  model: string;
  /** Nearest cluster. */
  clusterId: number;
  /** Predicted error of the selected model (soft-weighted when assignment is soft). */
  expectedError: number;
  /** expected_error + lambda * cost_norm of the selected model. */
  score: number;
  /** Score of every model; NaN for models not among the candidates or unknown in this cluster. */
  scores: Float64Array;
  costWeight: number;
}

export class NoCandidateError extends Error {
  override name = 'NoCandidateError';
}

export class Router {
  readonly models: string[];
  readonly modelIndex: ReadonlyMap<string, number>;
  /**
   * How many nearest clusters a decision reads: assignment.top when soft, 1
   * when hard. A caller that searches elsewhere (the route pool) asks for this
   * many and hands them to routeFrom.
   */
  readonly top: number;
  private readonly ids: Int32Array;
  private readonly sims: Float32Array;
  private readonly err: Float64Array;
  private readonly weights: Float64Array;

  constructor(readonly profile: Profile, readonly index: NearestIndex = bruteForceIndex(profile.centroids, profile.k, profile.dim)) {
    this.models = profile.models;
    this.modelIndex = new Map(profile.models.map((m, i) => [m, i]));
    const top = profile.manifest.assignment.mode === 'soft' ? profile.manifest.assignment.top : 1;
    this.top = top;
    this.ids = new Int32Array(top);
    this.sims = new Float32Array(top);
    this.err = new Float64Array(profile.models.length);
    this.weights = new Float64Array(top);
  }

  /** Candidate mask from names; throws with the unknown name. */
  mask(names: readonly string[]): Uint8Array {
    const m = new Uint8Array(this.models.length);
    for (const n of names) {
      const i = this.modelIndex.get(n);
      if (i === undefined) throw new NoCandidateError(`unknown model "${n}"`);
      m[i] = 1;
    }
    return m;
  }

  /** Nearest search on this thread (this.index), then routeFrom. */
  route(embedding: Float32Array, opts: RouteOptions = {}): Decision {
    const got = this.index.search(embedding, this.top, this.ids, this.sims);
    return this.routeFrom(this.ids, this.sims, got, opts);
  }

  /** route() when `near` is undefined, else routeFrom over the neighbours found elsewhere (the route pool's answer). */
  routeNear(embedding: Float32Array, near: { ids: Int32Array; sims: Float32Array } | undefined, opts: RouteOptions = {}): Decision {
    return near === undefined ? this.route(embedding, opts) : this.routeFrom(near.ids, near.sims, near.ids.length, opts);
  }

  /**
   * The decision from neighbours found elsewhere: `ids` / `sims` hold the
   * nearest `got` clusters best first, as NearestIndex.search writes them (the
   * route pool's SearchResult, with got = ids.length). Reads the first
   * min(got, this.top); got must be >= 1. Same arithmetic as route(), so the
   * same neighbours give a bit-identical decision.
   */
  routeFrom(ids: Int32Array, sims: Float32Array, got: number, opts: RouteOptions = {}): Decision {
    const p = this.profile;
    const M = this.models.length;
    const lambda = opts.costWeight ?? p.manifest.default_cost_weight;
    const a = p.manifest.assignment;
    if (got > this.top) got = this.top;
    const err = this.err;
    const { errors, costNorm } = p;
    if (got === 1 || a.mode === 'hard') {
      const row = ids[0] * M;
      for (let m = 0; m < M; m++) err[m] = errors[row + m];
    } else {
      // Softmax over the nearest clusters' similarities; a cluster's NaN cell
      // (model unknown there) drops that cluster's weight for that model only.
      const w = this.weights;
      const s0 = sims[0];
      for (let t = 0; t < got; t++) w[t] = Math.exp((sims[t] - s0) / a.temperature);
      for (let m = 0; m < M; m++) {
        let num = 0, den = 0;
        for (let t = 0; t < got; t++) {
          const e = errors[ids[t] * M + m];
          if (e === e) { num += w[t] * e; den += w[t]; }
        }
        err[m] = den > 0 ? num / den : NaN;
      }
    }
    const fb = opts.feedback?.get(ids[0]);
    if (fb !== undefined) {
      const k = opts.priorStrength ?? 10;
      for (let m = 0; m < M; m++) if (fb.n[m] > 0) err[m] = (k * err[m] + fb.errSum[m]) / (k + fb.n[m]);
    }
    const scores = opts.scores ?? new Float64Array(M);
    const best = selectModel(M, err, costNorm, lambda, opts, scores);
    if (best < 0) throw new NoCandidateError('no candidate model has a known error estimate in this cluster');
    return { modelIndex: best, model: this.models[best], clusterId: ids[0], expectedError: err[best], score: scores[best], scores, costWeight: lambda };
  }
}

/**
 * UniRoute's choice, shared by the cluster and neighbour routers: fills
 * `scores[m]` (m < M) = err[m] + λ·costNorm[m] (+ bias[m]) for every allowed model
 * (NaN for the others, and for models with no estimate, since NaN never
 * compares below) and returns the index of the lowest, or -1 if none.
 */
export function selectModel(M: number, err: ArrayLike<number>, costNorm: ArrayLike<number>, lambda: number, opts: Pick<RouteOptions, 'allowed' | 'bias'>, scores: Float64Array): number {
  const bias = opts.bias, allowed = opts.allowed;
  let best = -1, bestScore = Infinity;
  for (let m = 0; m < M; m++) {
    if (allowed && allowed[m] === 0) { scores[m] = NaN; continue; }
    const s = bias ? err[m] + lambda * costNorm[m] + bias[m] : err[m] + lambda * costNorm[m];
    scores[m] = s;
    // Ties go to the cheaper model: same predicted quality, lower bill.
    if (s < bestScore || (s === bestScore && best >= 0 && costNorm[m] < costNorm[best])) { bestScore = s; best = m; }
  }
  return best;
}
