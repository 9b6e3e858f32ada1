/**
 * The GreatRouter endpoints that rank without calling a model (issue 10):
 *
 *   POST /v1/auto/suggest             suggestions for a prompt (auto-rank.ts scores)
 *   POST /v1/models/price-comparison  every candidate of a task with its estimate
 *   POST /v1/models/recommend         models ranked by how close their description is to the prompt
 *
 * Hot path (suggest, price-comparison): parse, classify (~5 µs), embed and
 * route the prompt at λ = 0 (the native embedder and K=100: ~20-40 µs), rank
 * the candidates (auto-rank.ts, a few µs), one JSON.stringify. The per-model
 * data all comes precomputed from catalog.ts. The embedding is skipped when
 * no candidate is a model of the router profile (an image task: the profile
 * knows chat models only), and without a prompt (price-comparison).
 */
import type { CompiledOrg } from './org-state.ts';
import { ApiError, invalid } from '../errors.ts';
import { candidatesOf, priceComparison, priorErrors, rank, type Ranked, type Ranking, type RankInput, OPTIMIZATIONS, type Optimization } from './auto-rank.ts';
import { expectedErrors, inputTokens, maxTokensOf, prepare, withAutoRequest, type AutoRequest, type Prepared } from './auto-request.ts';
import { catalogOf, isRouterTask, type Catalog, type CatalogEntry } from './catalog.ts';
import type { Engine, Ready } from './engine.ts';
import { describe, parseJsonObject, rejectUnknownFields, type Json } from './validate.ts';

export function rankInput(req: AutoRequest, prep: Prepared, routableOnly: boolean): RankInput {
  return {
    task: prep.classification.task, optimization: req.optimization, errors: null,
    inputTokens: inputTokens(req), maxTokens: maxTokensOf(req.input), budget: req.budget, routableOnly,
    taxonomy: req.taxonomy, provider: req.provider, family: req.family, model: req.model,
  };
}

/**
 * Candidates ranked for the request: the prompt's expected errors when a
 * prompt is given and some candidate is in the profile, the profile's prior
 * otherwise. Sync with the inline embedder and search.
 */
export function rankFor(engine: Engine, r: Ready, req: AutoRequest, q: RankInput): { cands: CatalogEntry[]; ranking: Ranking | Promise<Ranking> } {
  let cands = candidatesOf(catalogOf(engine), q);
  // The organisation's exclusions (issue 11): never ranked.
  const ex = req.org?.excludedModels;
  if (ex !== undefined && ex.size > 0) cands = cands.filter((e) => !ex.has(e.name) && !ex.has(e.id));
  const idx = r.router.modelIndex;
  const run = (errors: Float64Array) => rank(cands, { ...q, errors }, idx, r.defaultCostWeight);
  if (req.prompt === undefined || !cands.some((e) => idx.has(e.name))) return { cands, ranking: run(priorErrors(r)) };
  const errs = expectedErrors(r, req.prompt);
  return { cands, ranking: errs instanceof Float64Array ? run(errs) : errs.then(run) };
}

function then<T, U>(x: T | Promise<T>, f: (t: T) => U | Promise<U>): U | Promise<U> {
  return x instanceof Promise ? x.then(f) : f(x);
}

function validateAgainst(engine: Engine, e: CatalogEntry, input: unknown): { model: string; valid: boolean; errors: unknown[] } {
  const v = catalogOf(engine).validator(e, 'input');
  const valid = v(input) === true;
  return { model: e.id, valid, errors: valid ? [] : (v.errors ?? []).slice(0, 100).map((x) => ({ path: `input${x.instancePath.replaceAll('/', '.')}`, keyword: x.keyword, message: x.message ?? 'is invalid' })) };
}

function suggestion(x: Ranked, routableOnly: boolean): Record<string, unknown> {
  const s: Record<string, unknown> = {
    model: x.entry.summary, cost_tier: x.entry.priceTier, estimated_cost: x.cost, estimated_cost_dollars: x.cost,
    score: x.score, expected_error: Math.round(x.expectedError * 1e4) / 1e4,
  };
  if (!routableOnly) s.routable = x.entry.routable;
  return s;
}

/** POST /v1/auto/suggest. */
export function handleSuggest(body: Buffer, engine: Engine, org?: string): string | Promise<string> {
  return withAutoRequest(body, engine, org, 'suggest', (req, c) => suggest(req, engine, c));
}

/** Classify (and read the session), then rank every candidate: what suggest and price-comparison both answer from. */
function ranked(req: AutoRequest, engine: Engine, org: CompiledOrg | undefined, f: (prep: Prepared, ranking: Ranking) => string): string | Promise<string> {
  req.org = org;
  const r = engine.require();
  return then(prepare(engine, req), (prep) => then(rankFor(engine, r, req, rankInput(req, prep, false)).ranking, (ranking) => f(prep, ranking)));
}

function suggest(req: AutoRequest, engine: Engine, org?: CompiledOrg): string | Promise<string> {
  return ranked(req, engine, org, (prep, ranking) => {
    const out: Record<string, unknown> = {
      classification: prep.classification,
      optimization: req.optimization,
      lambda: ranking.lambda,
      suggestions: ranking.ranked.slice(0, req.limit).map((x) => suggestion(x, false)),
      price_comparison: priceComparison(ranking.ranked),
      context: { session_prompts: prep.session.prompts, contextual_boost: prep.boost },
    };
    // GreatRouter's "input for schema validation": with an explicit model, the input checked against its input schema.
    if (req.input !== undefined && req.model !== undefined) out.input_validation = validateAgainst(engine, req.model, req.input);
    return JSON.stringify(out);
  });
}

/** POST /v1/models/price-comparison: every candidate of the task (`task` default text), ranked. */
export function handlePriceComparison(body: Buffer, engine: Engine, org?: string): string | Promise<string> {
  return withAutoRequest(body, engine, org, 'compare', (req, c) => compare(req, engine, c));
}

function compare(req: AutoRequest, engine: Engine, org?: CompiledOrg): string | Promise<string> {
  return ranked(req, engine, org, (prep, ranking) => JSON.stringify({
    classification: prep.classification,
    optimization: req.optimization,
    lambda: ranking.lambda,
    suggestions: ranking.ranked.map((x) => ({
      model_id: x.entry.id, name: x.entry.displayName, provider: x.entry.provider, task_type: x.entry.taskType,
      cost_tier: x.entry.priceTier, score: x.score, estimated_cost_dollars: x.cost, routable: x.entry.routable,
    })),
    price_comparison: priceComparison(ranking.ranked),
  }));
}

/** Description vectors of a catalog, per loaded profile (the embedder's space), computed on the first recommend and kept. */
const descriptionVectors = new WeakMap<Ready, Promise<Float32Array[]>>();

function descriptionText(e: CatalogEntry): string {
  return `${e.displayName}. ${e.description} ${e.capabilities.join(' ')} ${e.tags.join(' ')} ${e.taskType.replace(/_/g, ' ')}`;
}

function unit(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] * inv;
  return out;
}

function vectorsOf(r: Ready, catalog: Catalog): Promise<Float32Array[]> {
  let p = descriptionVectors.get(r);
  if (p === undefined) {
    const src = r.source;
    p = src.kind === 'sync'
      ? Promise.resolve(catalog.entries.map((e) => unit(src.embedder.embedSync(descriptionText(e)))))
      : Promise.all(catalog.entries.map((e) => src.backend.embed(descriptionText(e)).then(unit)));
    // A failed batch (embedder closing) must not poison later calls.
    p.catch(() => descriptionVectors.delete(r));
    descriptionVectors.set(r, p);
  }
  return p;
}

const RECOMMEND_FIELDS: ReadonlySet<string> = new Set(['task', 'prompt', 'limit', 'optimization']);
/** Share of the recommend score given to cheapness, by optimization (the rest is description similarity). */
export const RECOMMEND_PRICE_WEIGHT: Readonly<Record<Optimization, number>> = { 'output-optimized': 0, balanced: 0.2, 'price-optimized': 0.5 };

/**
 * POST /v1/models/recommend: `task` (a router task such as image, or a
 * registry task_type) filters; with `prompt`, models are ranked by
 * score = (1 − w) · cos(prompt, description) + w · (1 − c), c the log-range
 * price position (auto-rank.ts) and w RECOMMEND_PRICE_WEIGHT; without it by
 * the price-comparison score (the profile's prior).
 */
export async function handleRecommend(body: Buffer, engine: Engine): Promise<string> {
  const o: Json = parseJsonObject(body);
  rejectUnknownFields(o, RECOMMEND_FIELDS);
  const r = engine.require();
  const task = o.task ?? undefined;
  if (task !== undefined && task !== null && (typeof task !== 'string' || task.length === 0 || task.length > 64)) throw invalid('task', `must be a task name (text, image, ... or a task_type), got ${describe(task)}`);
  const prompt = o.prompt ?? undefined;
  if (prompt !== undefined && prompt !== null && (typeof prompt !== 'string' || prompt.length === 0 || prompt.length > engine.config.limits.input_chars)) {
    throw invalid('prompt', `must be a non-empty string of at most ${engine.config.limits.input_chars} characters, got ${describe(prompt)}`);
  }
  let limit = 5;
  if (o.limit !== undefined && o.limit !== null) {
    if (typeof o.limit !== 'number' || !Number.isInteger(o.limit) || o.limit < 1 || o.limit > 100) throw invalid('limit', `must be an integer from 1 to 100, got ${describe(o.limit)}`);
    limit = o.limit;
  }
  const optimization = (o.optimization ?? 'balanced') as Optimization;
  if (!OPTIMIZATIONS.includes(optimization)) throw invalid('optimization', `must be one of ${OPTIMIZATIONS.join(', ')}, got ${describe(o.optimization)}`);
  const catalog = catalogOf(engine);
  const t = typeof task === 'string' ? task : undefined;
  const fits = (e: CatalogEntry) => t === undefined || (isRouterTask(t) ? e.tasks.includes(t) : e.taskType === t);
  const cands = catalog.entries.filter(fits);
  // Prices and prior quality through the one ranking (λ per optimization), then similarity on top.
  const ranking = rank(cands, {
    task: 'text', optimization, errors: priorErrors(r), inputTokens: 0, maxTokens: undefined, budget: undefined, routableOnly: false,
  }, r.router.modelIndex, r.defaultCostWeight);
  if (typeof prompt !== 'string') {
    return JSON.stringify({ object: 'list', task: t ?? null, optimization, data: ranking.ranked.slice(0, limit).map((x) => ({ model: x.entry.summary, cost_tier: x.entry.priceTier, score: x.score, similarity: null })) });
  }
  if (cands.length === 0) return JSON.stringify({ object: 'list', task: t ?? null, optimization, data: [] });
  const vecs = await vectorsOf(r, catalog);
  const q = unit(r.source.kind === 'sync' ? r.source.embedder.embedSync(prompt) : await r.source.backend.embed(prompt));
  const w = RECOMMEND_PRICE_WEIGHT[optimization];
  const priced = ranking.ranked.filter((x) => x.cost !== null);
  const lo = Math.min(...priced.map((x) => x.entry.blended)), hi = Math.max(...priced.map((x) => x.entry.blended));
  const rows = cands.map((e) => {
    const v = vecs[e.index];
    if (v === undefined) throw new ApiError('internal_error');
    let sim = 0;
    for (let i = 0; i < v.length; i++) sim += v[i] * q[i];
    const c = !(e.blended === e.blended) ? 1 : hi > lo && lo > 0 ? Math.log(e.blended / lo) / Math.log(hi / lo) : 0;
    return { e, sim, score: (1 - w) * sim + w * (1 - c) };
  });
  rows.sort((a, b) => b.score - a.score || a.e.index - b.e.index);
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  return JSON.stringify({
    object: 'list', task: t ?? null, optimization,
    data: rows.slice(0, limit).map((x) => ({ model: x.e.summary, cost_tier: x.e.priceTier, score: r4(x.score), similarity: r4(x.sim) })),
  });
}
