/**
 * Ranking catalog models for a prompt (issue 10): the one computation behind
 * /v1/auto/suggest, /v1/auto/route, /v1/models/price-comparison and
 * /v1/models/route. Transport-free: typed in, typed out.
 *
 * Per candidate model m (catalog models serving the task, after filters):
 *
 *   err(m)   the router profile's expected error of m for the prompt's
 *            cluster(s): Router.route with λ = 0 gives exactly that per
 *            model. Without a prompt (price-comparison may omit it): m's
 *            count-weighted mean error over all clusters. A model the
 *            profile does not know (or has no estimate for in this cluster)
 *            gets the worst known error among the candidates (no evidence
 *            must not outrank evidence), 0.5 when no candidate has one.
 *   cost(m)  estimated USD = input tokens × input price + expected output
 *            tokens × output price (expectedOutputTokens below).
 *   c(m)     ln(cost / cheapest) / ln(dearest / cheapest) over the
 *            candidates with a price, in [0, 1]; 0 when all cost the same;
 *            1 for a model without pricing (it cannot be shown to be cheap).
 *   score    1 − (err + λ·c) / (1 + λ), in [0, 1], higher is better.
 *
 * λ by optimization: output-optimized 0 (quality alone), balanced the
 * server's default λ (router.default_cost_weight, else the profile's
 * default_cost_weight: 0.1 for the shipped profile, the same λ `model: auto`
 * uses), price-optimized max(1, 2 × balanced). Because c is monotone in the
 * cost of this very prompt and λ(price) ≥ λ(output), price-optimized never
 * picks a dearer model than output-optimized (exchange argument: if a is best
 * at λ0 and b at λ1 > λ0, adding the two optimality inequalities gives
 * (λ1 − λ0)(c_b − c_a) ≤ 0). Exact ties go to the cheaper model.
 *
 * budget_dollars drops every candidate whose estimate is above it, and every
 * candidate without pricing (its cost is unknown).
 *
 * Cost per request: O(candidates) arithmetic, one Math.log each, one sort:
 * ~2-5 µs for 50 models. Embedding + routing of the prompt is the caller's.
 */
import { DEFAULT_COMPLETION_TOKENS } from '../providers/cost.ts';
import type { Ready } from './engine.ts';
import type { Catalog, CatalogEntry, RouterTask } from './catalog.ts';

export const OPTIMIZATIONS = ['price-optimized', 'balanced', 'output-optimized'] as const;
export type Optimization = (typeof OPTIMIZATIONS)[number];

export function lambdaOf(o: Optimization, balanced: number): number {
  return o === 'output-optimized' ? 0 : o === 'balanced' ? balanced : Math.max(1, 2 * balanced);
}

/**
 * Expected output tokens: the running mean of completion tokens this HTTP
 * thread has seen from the model through /v1/auto/route and /v1/models/route
 * once it has MIN_SAMPLES of them, else DEFAULT_COMPLETION_TOKENS (256, the
 * gateway's own default); capped by the request's max_tokens when it sets one.
 * Per thread and in memory: a restart starts again from the default.
 */
export const MIN_SAMPLES = 5;
const outputStats = new Map<string, { n: number; mean: number }>();

export function recordOutputTokens(model: string, tokens: number): void {
  if (!(Number.isFinite(tokens) && tokens >= 0)) return;
  let s = outputStats.get(model);
  if (s === undefined) { s = { n: 0, mean: 0 }; outputStats.set(model, s); }
  // Capped count: an exponential average after 1,000 samples, so the mean follows a model whose answers change.
  if (s.n < 1000) s.n++;
  s.mean += (tokens - s.mean) / s.n;
}

export function expectedOutputTokens(model: string, maxTokens: number | undefined): number {
  const s = outputStats.get(model);
  const e = s !== undefined && s.n >= MIN_SAMPLES ? Math.round(s.mean) : DEFAULT_COMPLETION_TOKENS;
  return maxTokens !== undefined && maxTokens < e ? maxTokens : e;
}

export interface RankInput {
  task: RouterTask;
  optimization: Optimization;
  /** Expected error per profile model index (NaN = unknown); null = no prompt (the prior). */
  errors: Float64Array | null;
  inputTokens: number;
  maxTokens: number | undefined;
  budget: number | undefined;
  /** Only models the chat gateway can call (route); suggest lists every catalog model of the task. */
  routableOnly: boolean;
  taxonomy?: string;
  provider?: string;
  family?: string;
  /** Explicit model: the only candidate, whatever its task. */
  model?: CatalogEntry;
}

export interface Ranked {
  entry: CatalogEntry;
  expectedError: number;
  /** USD; null without pricing. */
  cost: number | null;
  /** Rounded to 4 decimals for the answer; `raw` orders the ranking. */
  score: number;
  raw: number;
}

export interface PriceComparison {
  cheapest_model: string | null;
  best_value_model: string | null;
  best_quality_model: string | null;
  estimated_cost_dollars?: number;
  savings_vs_highest_pct: number;
}

export interface Ranking {
  /** Best first, within the budget. */
  ranked: Ranked[];
  /** Candidates before the budget filter. */
  candidates: number;
  /** The cheapest candidate the budget dropped (for the 400 naming it), or null. */
  cheapestDropped: Ranked | null;
  lambda: number;
}

const roundUsd = (x: number) => Math.round(x * 1e10) / 1e10;
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** Per profile: count-weighted mean error of each model over all clusters (the prior without a prompt). */
const priors = new WeakMap<Ready, Float64Array>();
export function priorErrors(r: Ready): Float64Array {
  let p = priors.get(r);
  if (p !== undefined) return p;
  const { errors, counts, k, models } = r.profile;
  const M = models.length;
  p = new Float64Array(M);
  for (let m = 0; m < M; m++) {
    let num = 0, den = 0;
    for (let c = 0; c < k; c++) {
      const e = errors[c * M + m];
      const n = counts[c * M + m];
      if (e === e && n > 0) { num += n * e; den += n; }
    }
    p[m] = den > 0 ? num / den : NaN;
  }
  priors.set(r, p);
  return p;
}

export function candidatesOf(catalog: Catalog, q: RankInput): CatalogEntry[] {
  if (q.model !== undefined) return [q.model];
  const out: CatalogEntry[] = [];
  for (const e of catalog.entries) {
    if (!e.tasks.includes(q.task)) continue;
    if (q.routableOnly && !e.routable) continue;
    if (q.taxonomy !== undefined && e.category !== q.taxonomy) continue;
    if (q.provider !== undefined && e.provider !== q.provider) continue;
    if (q.family !== undefined && e.family !== q.family) continue;
    out.push(e);
  }
  return out;
}

/** Ranks `cands` (see the header); `modelIndex` maps a configured name to its profile index. */
export function rank(cands: readonly CatalogEntry[], q: RankInput, modelIndex: ReadonlyMap<string, number> | null, balancedLambda: number): Ranking {
  const lambda = lambdaOf(q.optimization, balancedLambda);
  const n = cands.length;
  const err = new Float64Array(n);
  const cost = new Float64Array(n);
  let worst = -Infinity, lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const e = cands[i];
    const idx = modelIndex?.get(e.name);
    const x = idx !== undefined && q.errors !== null ? q.errors[idx] : NaN;
    err[i] = x;
    if (x === x && x > worst) worst = x;
    const c = e.inPerToken * q.inputTokens + e.outPerToken * expectedOutputTokens(e.name, q.maxTokens);
    cost[i] = c;
    if (c === c) { if (c < lo) lo = c; if (c > hi) hi = c; }
  }
  const fallback = worst === -Infinity ? 0.5 : worst;
  // Log-range needs a positive floor: a free model (price 0) would make ln(cost / 0) infinite.
  const floor = lo > 0 ? lo : hi > 0 ? hi * 1e-6 : 0;
  const span = hi > floor && floor > 0 ? Math.log(hi / floor) : 0;
  const all: Ranked[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const e = err[i] === err[i] ? err[i] : fallback;
    const c = cost[i];
    const norm = c !== c ? 1 : span === 0 ? 0 : Math.log(Math.max(c, floor) / floor) / span;
    const raw = 1 - (e + lambda * norm) / (1 + lambda);
    all[i] = { entry: cands[i], expectedError: e, cost: c === c ? roundUsd(c) : null, score: round4(raw), raw };
  }
  all.sort(byScore);
  let ranked = all;
  let cheapestDropped: Ranked | null = null;
  if (q.budget !== undefined) {
    const budget = q.budget;
    ranked = [];
    for (const r of all) {
      if (r.cost !== null && r.cost <= budget) ranked.push(r);
      else if (r.cost !== null && (cheapestDropped === null || r.cost < cheapestDropped.cost!)) cheapestDropped = r;
    }
  }
  return { ranked, candidates: n, cheapestDropped, lambda };
}

function byScore(a: Ranked, b: Ranked): number {
  if (a.raw !== b.raw) return b.raw - a.raw;
  const ca = a.cost ?? Infinity, cb = b.cost ?? Infinity;
  if (ca !== cb) return ca - cb;
  return a.entry.index - b.entry.index;
}

/**
 * GreatRouter's price_comparison over the ranked (in-budget) models:
 * cheapest_model the lowest estimate; best_quality_model the lowest expected
 * error (ties: cheaper); best_value_model the most quality per dollar,
 * (1 − err) / cost; estimated_cost_dollars the top suggestion's estimate;
 * savings_vs_highest_pct how much cheaper the top suggestion is than the
 * dearest ranked model, in whole percent.
 */
export function priceComparison(ranked: readonly Ranked[]): PriceComparison {
  let cheap: Ranked | null = null, quality: Ranked | null = null, value: Ranked | null = null, dear: Ranked | null = null;
  let bestValue = -Infinity;
  for (const r of ranked) {
    if (r.cost !== null) {
      if (cheap === null || r.cost < cheap.cost!) cheap = r;
      if (dear === null || r.cost > dear.cost!) dear = r;
      const v = r.cost > 0 ? (1 - r.expectedError) / r.cost : Infinity;
      if (v > bestValue) { bestValue = v; value = r; }
    }
    if (quality === null || r.expectedError < quality.expectedError
      || (r.expectedError === quality.expectedError && (r.cost ?? Infinity) < (quality.cost ?? Infinity))) quality = r;
  }
  const top = ranked[0];
  const out: PriceComparison = {
    cheapest_model: cheap?.entry.id ?? null,
    best_value_model: value?.entry.id ?? null,
    best_quality_model: quality?.entry.id ?? null,
    savings_vs_highest_pct: top?.cost != null && dear !== null && dear.cost! > 0 ? Math.round(100 * (1 - top.cost / dear.cost!)) : 0,
  };
  if (top?.cost != null) out.estimated_cost_dollars = top.cost;
  return out;
}
