/**
 * Which models POST /v1/model-router/invoke tries, best first: by a router
 * config's rules, or by smart routing. Transport-free apart from the Engine.
 *
 * Rules (smart_routing false): the config (router_config_id, else the
 * default) evaluates the routing text; the chain is the chosen model, then
 * the config's `candidates` (config_overrides.candidates replaces them) in
 * their order. config_overrides.default_model replaces the config's default.
 *
 * Smart routing: the cluster router (UniRoute: expected_error + λ·cost_norm
 * over the prompt's cluster) recommends, with the complexity score folded
 * into λ: λ_eff = λ · (1 − complexity), so a harder prompt weighs price less
 * and leans to stronger models (λ = config_overrides.cost_weight, else the
 * config's cost_weight, else router.default_cost_weight / the profile's).
 * Candidates are the profile's models with a backend, restricted to
 * config_overrides.candidates (a name the profile does not know: 400), else
 * to the config's `candidates` that the profile knows; the chain is every
 * candidate in score order.
 *   classifier_tier        the recommended model's price tier (routing/tiers.ts,
 *                          routing.tiers bounds) from providers pricing; a model
 *                          without pricing is tiered by its normalised cost in
 *                          the profile (≤ 1/3 economy, ≤ 2/3 standard, else premium)
 *   classifier_confidence  1 − exp(−margin / 0.05), margin = second-best score −
 *                          best score (scores are expected error + λ_eff·cost, so
 *                          a margin of 0.05 is five points of error rate): 0 for
 *                          a tie, 0.63 at 0.05, 0.95 at 0.15; 1 with one candidate
 *   classifier_model       "switchyard-router/<profile name>"
 */
import { checkExplicit, PRIOR_STRENGTH, type CompiledOrg } from './org-state.ts';
import { ApiError, invalid } from '../errors.ts';
import { NoCandidateError } from '../routing/router.ts';
import { complexity as complexityOf } from '../routing/complexity.ts';
import { tierOf, type Tier } from '../routing/tiers.ts';
import type { MatchedRule, Signals } from '../routing/rules.ts';
import { compiledOf, knownModels, type ConfigEntry } from './router-config-registry.ts';
import { clusterOfText } from './route-cluster.ts';
import { poolSearch, type Engine } from './engine.ts';
import type { Overrides } from './invoke-validate.ts';

/** Margin (in score units) at which confidence reaches 1 − 1/e. */
export const CONFIDENCE_SCALE = 0.05;

export interface SmartMeta {
  classifier_model: string;
  classifier_tier: Tier;
  classifier_confidence: number;
  recommended_model: string;
  /** Filled in once a model answered. */
  executed_model: string;
  candidate_chain: string[];
  reason: string;
}

export interface InvokePlan {
  candidates: string[];
  /** Rules: the config used. */
  config: ConfigEntry | null;
  matchedRule: MatchedRule | null;
  signals: Signals;
  smart: SmartMeta | null;
  clusterId: number | null;
  costWeight: number | null;
  /** Models the rules or candidates named that have no backend here (left out of the chain). */
  skipped: string[];
}

function backedOnly(engine: Engine, chain: string[], field: string): { chain: string[]; skipped: string[] } {
  const routes = engine.gateway.routes;
  const out: string[] = [], skipped: string[] = [];
  for (const m of chain) (routes.has(m) ? out : skipped).push(m);
  if (out.length === 0) throw new ApiError('no_backend', `None of the models this request may use (${chain.slice(0, 10).join(', ')}) has a configured backend (providers.models).`, field);
  return { chain: out, skipped };
}

/**
 * The client's own model names in config_overrides: a name that no configured provider, the profile or
 * routing.extra_models knows is a typo, a 400 naming it. Unchecked, it was silently passed over when a rule
 * matched or a candidate had a backend (another model answered), else a 503 no_backend. A known model without
 * a backend is left out of the chain, as the config's own are (backedOnly).
 */
function checkOverrideModels(engine: Engine, ov: Overrides): void {
  if (ov.default_model === undefined && ov.candidates === undefined) return;
  const known = knownModels(engine);
  const check = (field: string, m: string) => {
    if (!known.has(m)) throw invalid(field, `names ${JSON.stringify(m.slice(0, 200))}, which is not a model this server knows (providers.models, the router profile, routing.extra_models)`);
  };
  if (ov.default_model !== undefined) check('config_overrides.default_model', ov.default_model);
  ov.candidates?.forEach((m, i) => check(`config_overrides.candidates[${i}]`, m));
}

export function rulePlan(engine: Engine, e: ConfigEntry, text: string, ov: Overrides, org?: CompiledOrg): InvokePlan | Promise<InvokePlan> {
  checkOverrideModels(engine, ov);
  const compiled = compiledOf(e);
  const finish = (given: Signals | undefined): InvokePlan => {
    const d = compiled.evaluate(text, { want: ['complexity', 'tokens'], given });
    const model = d.matchedRule === null && ov.default_model !== undefined ? ov.default_model : d.model;
    const chain = [model];
    for (const m of ov.candidates ?? e.config.candidates ?? []) if (!chain.includes(m)) chain.push(m);
    let { chain: candidates, skipped } = backedOnly(engine, chain, d.matchedRule === null ? 'config_overrides.default_model' : 'router_config_id');
    // The organisation's exclusions (issue 11): dropped from the chain; a chain of excluded models only is refused, not served.
    if (org !== undefined && org.excludedModels.size > 0) {
      const kept = candidates.filter((m) => !org.excludedModels.has(m));
      if (kept.length === 0) checkExplicit(org, candidates[0]);
      candidates = kept;
    }
    return { candidates, config: e, matchedRule: d.matchedRule, signals: d.signals, smart: null, clusterId: d.signals.cluster ?? null, costWeight: null, skipped };
  };
  if (!compiled.needs.has('cluster')) return finish(undefined);
  const c = clusterOfText(engine, text);
  return typeof c === 'number' ? finish({ cluster: c }) : c.then((k) => finish({ cluster: k }));
}

function tierByCost(norm: number): Tier {
  return norm <= 1 / 3 ? 'economy' : norm <= 2 / 3 ? 'standard' : 'premium';
}

export function smartPlan(engine: Engine, e: ConfigEntry | null, text: string, ov: Overrides, org?: CompiledOrg): InvokePlan | Promise<InvokePlan> {
  const r = engine.require();
  const rt = engine.gateway;
  const models = r.router.models;
  let only = ov.candidates;
  if (only) for (let i = 0; i < only.length; i++) {
    if (!r.router.modelIndex.has(only[i])) throw invalid(`config_overrides.candidates[${i}]`, `names ${JSON.stringify(only[i])}, which the router profile does not know (smart routing chooses among the profile's models)`);
  } else if (e?.config.candidates) {
    // A config's candidates are its rules' fallbacks and may be models only rules can name (routing.extra_models,
    // a provider model outside the profile): the profile cannot score those, so they are left out here, and a
    // config none of whose candidates the profile knows does not restrict smart routing. Refusing them would
    // make every smart call with that config a 400, the default config's included (no router_config_id sent).
    const known = e.config.candidates.filter((m) => r.router.modelIndex.has(m));
    if (known.length > 0) only = known;
  }
  const allowed = new Uint8Array(models.length);
  let n = 0;
  for (let i = 0; i < models.length; i++) {
    if (rt.routes.has(models[i]) && (!only || only.includes(models[i])) && (!org?.allowed || org.allowed[i] === 1)) { allowed[i] = 1; n++; }
  }
  if (n === 0) throw new ApiError('no_backend', 'Smart routing found no model of the router profile with a configured backend (providers.models)' + (only ? ' among the candidates.' : '.'), 'smart_routing');
  const complexity = complexityOf(text);
  const lambda = ov.cost_weight ?? e?.config.cost_weight ?? org?.costWeight ?? r.defaultCostWeight;
  // The organisation's feedback evidence and preferred-provider bonus (issue 11, org-state.ts).
  const extra = org?.routingEffect ? { feedback: org.feedbackEvidence, priorStrength: PRIOR_STRENGTH, bias: org.bias } : undefined;
  const costWeight = lambda * (1 - complexity);

  const decide = (v: Float32Array, nb: { ids: Int32Array; sims: Float32Array } | undefined): InvokePlan => {
    let d;
    try {
      d = r.router.routeNear(v, nb, { costWeight, allowed, ...extra });
    } catch (err) {
      if (err instanceof NoCandidateError) throw new ApiError('no_candidate', 'No model with a backend has an error estimate for this prompt\'s cluster.', 'messages');
      throw err;
    }
    const ranked: { m: string; s: number; i: number }[] = [];
    for (let i = 0; i < models.length; i++) if (allowed[i] === 1 && d.scores[i] === d.scores[i]) ranked.push({ m: models[i], s: d.scores[i], i });
    ranked.sort((a, b) => a.s - b.s);
    const chain = ranked.map((x) => x.m);
    const margin = ranked.length > 1 ? ranked[1].s - ranked[0].s : Infinity;
    const confidence = ranked.length > 1 ? 1 - Math.exp(-margin / CONFIDENCE_SCALE) : 1;
    const top = ranked[0];
    const tier = tierOf(rt.pricing(top.m), engine.config.routing.tiers) ?? tierByCost(r.profile.costNorm[top.i]);
    const reason = `cluster ${d.clusterId}: lowest expected_error + λ·cost among ${ranked.length} model${ranked.length === 1 ? '' : 's'} `
      + `(score ${top.s.toFixed(3)}${ranked.length > 1 ? `, next ${ranked[1].m} ${ranked[1].s.toFixed(3)}` : ''}); `
      + `complexity ${complexity.toFixed(2)} set λ ${lambda} → ${costWeight.toFixed(3)}`;
    return {
      candidates: chain, config: e, matchedRule: null, signals: { complexity, cluster: d.clusterId }, clusterId: d.clusterId, costWeight, skipped: [],
      smart: {
        classifier_model: `switchyard-router/${r.profile.manifest.name}`, classifier_tier: tier, classifier_confidence: Math.round(confidence * 1e4) / 1e4,
        recommended_model: top.m, executed_model: top.m, candidate_chain: chain, reason,
      },
    };
  };
  const route = (v: Float32Array): InvokePlan | Promise<InvokePlan> => {
    const nb = poolSearch(r, v);
    return nb === undefined ? decide(v, undefined) : nb.then((x) => decide(v, x));
  };
  // The scratch buffer is reused per request: decide() runs before any other request can embed into it (sync path) or gets a fresh vector (async).
  if (r.source.kind === 'sync') return route(r.source.embedder.embedSync(text, r.scratch));
  return r.source.backend.embed(text).then(route);
}
