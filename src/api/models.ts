/**
 * GET /v1/models (OpenAI's list format: the configured models, plus `auto`;
 * GreatRouter's catalog filters and metadata, src/api/catalog-list.ts),
 * GET /v1/models/{id} (one Model object: a router alias or a configured
 * model; ids may hold slashes, e.g. "meta/llama-2-70b-chat", sent raw by curl
 * and as %2F by the openai SDK, both decoded by the registry) and
 * GET /v1/model-health?models=a,b (the health tracker's snapshot, the same
 * state on every HTTP thread). Config and shared memory only: all answer
 * before the router profile has loaded.
 */
import { ApiError, invalid } from '../errors.ts';
import { ROUTER_ALIASES } from '../config/schema.ts';
import type { Engine } from './engine.ts';
import { catalogOf, listMetadata } from './catalog.ts';
import { filterFromQuery, matches } from './catalog-list.ts';

export function handleModels(query: string, engine: Engine): string {
  const rt = engine.gateway;
  // GreatRouter's list filters (catalog-list.ts); with any filter the `auto` entry is left out (it has no catalog metadata).
  const filter = filterFromQuery(query);
  const filtered = Object.keys(filter).length > 0;
  const catalog = catalogOf(engine);
  const data: Record<string, unknown>[] = filtered ? [] : [{
    id: ROUTER_ALIASES[0], object: 'model', created: rt.created, owned_by: 'switchyard',
    // Models `auto` can pick: configured and in the profile (null until the profile has loaded).
    // profile_models: every model the router profile scores (an added one included, POST /v1/router/models), configured or not.
    switchyard: { aliases: ROUTER_ALIASES, routable: engine.ready ? rt.models.filter((m) => engine.ready!.router.modelIndex.has(m)) : null, profile_models: engine.ready ? engine.ready.router.models : null },
  }];
  for (const m of rt.config.models) {
    const e = catalog.byName.get(m.name)!;
    if (filtered && !matches(e, filter)) continue;
    const entry: Record<string, unknown> = { id: m.name, object: 'model', created: rt.created, owned_by: m.api_format };
    if (m.pricing) entry.pricing = { currency: m.pricing.currency ?? 'USD', prompt_per_1m: m.pricing.prompt_per_1m, completion_per_1m: m.pricing.completion_per_1m };
    Object.assign(entry, listMetadata(e));
    data.push(entry);
  }
  return JSON.stringify({ object: 'list', data });
}

/** One Model object (OpenAI's: id, object, created, owned_by), or 404 model_not_found in OpenAI's shape with param "model". */
export function handleModel(id: string, engine: Engine): string {
  const rt = engine.gateway;
  if (ROUTER_ALIASES.includes(id)) return JSON.stringify({ id, object: 'model', created: rt.created, owned_by: 'switchyard' });
  const m = rt.config.models.find((x) => x.name === id);
  if (m === undefined) {
    const known = rt.models.length <= 20 ? ` (configured: ${[...ROUTER_ALIASES, ...rt.models].join(', ')})` : '';
    throw new ApiError('model_not_found', `The model ${JSON.stringify(id.slice(0, 256))} does not exist${known}.`, 'model');
  }
  return JSON.stringify({ id: m.name, object: 'model', created: rt.created, owned_by: m.api_format });
}

/** `models` is a comma-separated list of configured model names; omitted = all of them. */
export function handleModelHealth(query: string, engine: Engine): string {
  const rt = engine.gateway;
  const raw = new URLSearchParams(query).get('models');
  let models: readonly string[] = rt.models;
  let asked: readonly string[] | undefined;
  if (raw !== null) {
    const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (names.length === 0) throw invalid('models', 'must list at least one model name (comma-separated), or be omitted for all');
    // GreatRouter's SDK sends catalog ids (provider/model): resolved to the configured name, and answered
    // under the id asked for (GreatRouter's model_id), so the client finds its models in the answer.
    asked = names.slice();
    const catalog = catalogOf(engine);
    for (let i = 0; i < names.length; i++) names[i] = catalog.byId.get(names[i])?.name ?? names[i];
    for (const n of names) if (!rt.routes.has(n)) throw invalid('models', `names ${JSON.stringify(n.slice(0, 200))}, which is not a configured model (configured: ${rt.models.join(', ') || 'none'})`);
    models = names;
  }
  const health = rt.health.snapshot(models);
  if (asked !== undefined) for (let i = 0; i < health.length; i++) health[i].model_id = asked[i];
  return JSON.stringify({ health });
}
