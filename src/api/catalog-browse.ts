/**
 * Catalog browsing (issue 10): one model's full metadata, its input/output
 * schemas and their validation, tags, price tiers, the taxonomy and model
 * families. Config and shared memory only: all answer before the router
 * profile has loaded.
 *
 *   GET  /v1/models/{provider}/{model}                  full metadata (+ OpenAI's Model fields)
 *   GET  /v1/models/{provider}/{model}/input-schema     {model, schema}
 *   GET  /v1/models/{provider}/{model}/output-schema
 *   POST /v1/models/{provider}/{model}/validate-input   body {input}  -> {model, valid, errors}
 *   POST /v1/models/{provider}/{model}/validate-output  body {output} -> {model, valid, errors}
 *   GET  /v1/models/tags, /v1/models/price-tiers, /v1/catalog/taxonomy
 *   GET  /v1/catalog/families?taxonomy&offset&limit&routable_only&q, /v1/catalog/families/{id}
 *
 * Precedence with OpenAI's GET /v1/models/{id}: a raw two-segment path
 * (/v1/models/meta/llama-2-70b-chat) reaches the {provider}/{model} route
 * (uWS: `:param` segments beat the `*id` rest); an id it does not know as a
 * catalog id falls back to the OpenAI lookup of the whole "provider/model"
 * string, so a configured name with a slash keeps working both ways. The
 * openai SDK sends "%2F", one segment: it always reaches `*id`.
 */
import { ApiError, invalid } from '../errors.ts';
import { DEFAULT_PRICE_TIER_THRESHOLDS, PRICE_TIERS, BLEND_INPUT_SHARE } from '../routing/tiers.ts';
import { catalogOf, entryJson, type CatalogEntry } from './catalog.ts';
import { handleModel } from './models.ts';
import { describe, parseJsonObject, rejectUnknownFields } from './validate.ts';
import type { Engine } from './engine.ts';

function entryFor(engine: Engine, provider: string, model: string): CatalogEntry {
  const e = catalogOf(engine).byId.get(`${provider}/${model}`);
  if (e === undefined) throw new ApiError('model_not_found', `No catalog model ${JSON.stringify(`${provider}/${model}`.slice(0, 256))} (ids are provider/model: GET /v1/models/query lists them).`, 'model');
  return e;
}

/** GET /v1/models/{provider}/{model}. */
export function handleCatalogModel(provider: string, model: string, engine: Engine): string {
  const e = catalogOf(engine).byId.get(`${provider}/${model}`);
  if (e === undefined) return handleModel(`${provider}/${model}`, engine);
  const rt = engine.gateway;
  const out = entryJson(e, rt.created);
  out.input_schema = e.inputSchema;
  out.output_schema = e.outputSchema;
  if (e.config.provenance !== undefined) out.provenance = e.config.provenance;
  if (e.config.benchmarks !== undefined) out.benchmarks = e.config.benchmarks;
  // One window of the health tracker (issue 5): the rolling window the breaker itself reads.
  const h = rt.health.snapshot([e.name])[0];
  if (h !== undefined) {
    const x = h.health_entry;
    out.performance_timeseries = [{
      window: 'current', at: new Date().toISOString(), successes: x.successes, failures: x.failures,
      success_rate: x.successes + x.failures > 0 ? x.successes / (x.successes + x.failures) : null,
      avg_latency_ms: x.avgLatencyMs, avg_ttfb_ms: x.avgTtfbMs, degraded: h.degraded, latency_penalty: h.latency_penalty,
    }];
  }
  return JSON.stringify(out);
}

export function handleSchema(provider: string, model: string, which: 'input' | 'output', engine: Engine): string {
  const e = entryFor(engine, provider, model);
  return JSON.stringify({ model: e.id, schema: which === 'input' ? e.inputSchema : e.outputSchema });
}

const VALIDATE_FIELDS = { input: new Set(['input']), output: new Set(['output']) } as const;

/** POST .../validate-input|output: `{input: ...}` or `{output: ...}` checked by ajv; every error listed. */
export function handleValidate(provider: string, model: string, which: 'input' | 'output', body: Buffer, engine: Engine): string {
  const e = entryFor(engine, provider, model);
  const o = parseJsonObject(body);
  rejectUnknownFields(o, VALIDATE_FIELDS[which]);
  if (!(which in o)) throw invalid(which, `is required: the ${which} to validate against ${e.id}'s ${which} schema`);
  const v = catalogOf(engine).validator(e, which);
  const valid = v(o[which]) === true;
  const errors = valid ? [] : (v.errors ?? []).slice(0, 100).map((x) => ({ path: `${which}${x.instancePath.replaceAll('/', '.')}`, keyword: x.keyword, message: x.message ?? 'is invalid', params: x.params }));
  return JSON.stringify({ model: e.id, valid, errors });
}

/** GET /v1/models/tags: every tag with its model count, by name. */
export function handleTags(engine: Engine): string {
  const counts = new Map<string, number>();
  for (const e of catalogOf(engine).entries) for (const t of e.tags) counts.set(t, (counts.get(t) ?? 0) + 1);
  const data = [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([tag, count]) => ({ tag, count }));
  return JSON.stringify({ object: 'list', data });
}

/** GET /v1/models/price-tiers: the five tiers with their blended-price bounds (src/routing/tiers.ts) and member ids. */
export function handlePriceTiers(engine: Engine): string {
  const t = DEFAULT_PRICE_TIER_THRESHOLDS;
  const bounds = [t.economy, t.standard, t.balanced, t.premium, null];
  const entries = catalogOf(engine).entries;
  const data = PRICE_TIERS.map((tier, i) => {
    const models = entries.filter((e) => e.priceTier === tier).map((e) => e.id);
    return { tier, min_blended_per_million: i === 0 ? 0 : bounds[i - 1], max_blended_per_million: bounds[i], model_count: models.length, models };
  });
  return JSON.stringify({ object: 'list', data, blend: { input_share: BLEND_INPUT_SHARE, output_share: 1 - BLEND_INPUT_SHARE, unit: 'USD per 1M tokens' }, unpriced: entries.filter((e) => e.priceTier === null).map((e) => e.id) });
}

interface Family { id: string; name: string; taxonomy: string; provider: string; members: CatalogEntry[] }

const VIS_RANK = { featured: 0, standard: 1, long_tail: 2 } as const;

function familiesOf(engine: Engine): Family[] {
  const out = new Map<string, Family>();
  for (const e of catalogOf(engine).entries) {
    let f = out.get(e.family);
    if (f === undefined) {
      const slash = e.family.indexOf('/');
      const sep = e.family.indexOf('--', slash);
      f = { id: e.family, taxonomy: e.family.slice(0, slash), provider: sep > 0 ? e.family.slice(slash + 1, sep) : e.provider, name: sep > 0 ? e.family.slice(sep + 2) : e.family.slice(slash + 1), members: [] };
      out.set(e.family, f);
    }
    f.members.push(e);
  }
  return [...out.values()];
}

function familyJson(f: Family): Record<string, unknown> {
  const vis = f.members.reduce((a, e) => (VIS_RANK[e.visibility] < VIS_RANK[a] ? e.visibility : a), 'long_tail' as CatalogEntry['visibility']);
  return {
    id: f.id, name: f.name, taxonomy: f.taxonomy, provider: f.provider, catalog_visibility: vis,
    routable: f.members.some((e) => e.routable), model_count: f.members.length, models: f.members.map((e) => e.id),
  };
}

/** GET /v1/catalog/taxonomy: each taxonomy branch (catalog category) with its counts. */
export function handleTaxonomy(engine: Engine): string {
  const byTax = new Map<string, { models: number; families: Set<string>; providers: Set<string>; task_types: Set<string> }>();
  for (const e of catalogOf(engine).entries) {
    const tax = e.family.slice(0, e.family.indexOf('/'));
    let b = byTax.get(tax);
    if (b === undefined) { b = { models: 0, families: new Set(), providers: new Set(), task_types: new Set() }; byTax.set(tax, b); }
    b.models++; b.families.add(e.family); b.providers.add(e.provider); b.task_types.add(e.taskType);
  }
  const data = [...byTax].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([id, b]) => ({
    id, model_count: b.models, family_count: b.families.size, providers: [...b.providers].sort(), task_types: [...b.task_types].sort(),
  }));
  return JSON.stringify({ object: 'list', data });
}

const FAMILY_PARAMS = ['taxonomy', 'offset', 'limit', 'routable_only', 'q'];

function intParam(k: string, v: string, min: number, max: number): number {
  if (!/^\d{1,10}$/.test(v) || Number(v) < min || Number(v) > max) throw invalid(k, `must be an integer from ${min} to ${max}, got ${describe(v)}`);
  return Number(v);
}

/** GET /v1/catalog/families: paginated (limit ≤ 100, default 24), by family id. */
export function handleFamilies(query: string, engine: Engine): string {
  let taxonomy: string | undefined, q: string | undefined, routableOnly = false, offset = 0, limit = 24;
  for (const [k, v] of new URLSearchParams(query)) {
    switch (k) {
      case 'taxonomy': taxonomy = v; break;
      case 'q': q = v.toLowerCase(); break;
      case 'offset': offset = intParam(k, v, 0, 1_000_000_000); break;
      case 'limit': limit = intParam(k, v, 1, 100); break;
      case 'routable_only':
        if (v !== 'true' && v !== 'false') throw invalid(k, `must be true or false, got ${describe(v)}`);
        routableOnly = v === 'true'; break;
      default: throw invalid(k.slice(0, 64), `is not a known query parameter (known: ${FAMILY_PARAMS.join(', ')})`);
    }
  }
  const hits = familiesOf(engine)
    .filter((f) => (taxonomy === undefined || f.taxonomy === taxonomy)
      && (!routableOnly || f.members.some((e) => e.routable))
      && (q === undefined || f.id.toLowerCase().includes(q) || f.members.some((e) => e.displayName.toLowerCase().includes(q))))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const data = hits.slice(offset, offset + limit).map(familyJson);
  return JSON.stringify({ object: 'list', data, total: hits.length, offset, limit, has_more: offset + data.length < hits.length });
}

/** GET /v1/catalog/families/{id} (ids hold a slash: the route takes the rest of the path). */
export function handleFamily(id: string, engine: Engine): string {
  const f = familiesOf(engine).find((x) => x.id === id);
  if (f === undefined) throw new ApiError('not_found', `No catalog family ${JSON.stringify(id.slice(0, 256))} (GET /v1/catalog/families lists them).`, 'id');
  const out = familyJson(f);
  out.variants = f.members.map((e) => entryJson(e, engine.gateway.created));
  return JSON.stringify(out);
}
