/**
 * The router-config admin API (issue 9), persisted in the store:
 *
 *   GET    /v1/router-configs              {object: "list", data: [config...], default_config}
 *   POST   /v1/router-configs              create: 201 with the config (id generated, version 1)
 *   GET    /v1/router-configs/{id|name}    one config
 *   PUT    /v1/router-configs/{id|name}    replace the whole config
 *   PATCH  /v1/router-configs/{id|name}    merge: top-level fields given replace the stored ones, null removes an optional one
 *   DELETE /v1/router-configs/{id|name}    {id, object: "router_config", deleted: true}; the default config: 409
 *
 * Concurrency: every stored config has a `version` that the store increases by
 * one per change. PUT, PATCH and DELETE accept the version the client read
 * (`version` in the body, or `?version=` on DELETE): when it is no longer the
 * stored one the answer is 409 config_version_conflict and nothing changes.
 * Without a version, PUT and PATCH still lose no write: the handler reads the
 * current version, applies the change to what it read, and writes on the
 * condition that the version is unchanged, retrying from a fresh read when
 * another writer got there first (so two concurrent PATCHes of different
 * fields both land). The condition is checked in the store's one writer
 * (src/store/sqlite-routing-ops.ts), where no other write can interleave.
 *
 * Validation (400 invalid_request naming the first field, `errors` listing
 * all): src/routing/rules-validate.ts plus the models this server knows
 * (providers.models, the profile's, routing.extra_models), clusters within the
 * profile, unique names. Writes need the profile loaded (503 before).
 *
 * After a committed change the registry's generation counter moves
 * (router-config-registry.ts): every HTTP thread uses the new config from its
 * next request on.
 */
import { randomUUID } from 'node:crypto';
import { ApiError, invalid } from '../errors.ts';
import { validateRouterConfig } from '../routing/rules-validate.ts';
import type { RouterConfig } from '../routing/rules.ts';
import { DEFAULT_ORG, type RouterConfigWrite, type StoredRouterConfig } from '../store/types.ts';
import { storeFailure } from './responses-read.ts';
import { describe, parseJsonObject, type Json } from './validate.ts';
import { compiledOf, configBody, entryOf, knownModels, registryOf } from './router-config-registry.ts';
import type { Engine } from './engine.ts';
import type { ResponseSink } from './sink.ts';

/** Attempts of an unconditional PUT/PATCH before giving up with 409 (each lost race means another write landed). */
const MAX_ATTEMPTS = 32;

function view(row: StoredRouterConfig, defaultName: string | null): Record<string, unknown> {
  const body = JSON.parse(row.config) as Json;
  return {
    object: 'router_config', id: row.id, name: row.name, version: row.version,
    default_model: body.default_model, candidates: body.candidates ?? null, cost_weight: body.cost_weight ?? null, rules: body.rules,
    is_default: row.name === defaultName, source: row.source,
    created_at: Math.floor(row.createdAt / 1000), updated_at: Math.floor(row.updatedAt / 1000),
  };
}

function notFound(ref: string): ApiError {
  return new ApiError('router_config_not_found', `No router config ${JSON.stringify(ref.length > 200 ? `${ref.slice(0, 200)}...` : ref)} exists.`);
}

function conflict(current: number | undefined, sent: number): ApiError {
  return new ApiError('config_version_conflict', `The router config is at version ${current ?? '?'}, not ${sent}; read it again and retry.`, 'version', { current_version: current ?? null });
}

async function current(engine: Engine, org: string, ref: string): Promise<StoredRouterConfig> {
  const row = await engine.store.routerConfigs.get(org, ref).catch(storeFailure);
  if (!row) throw notFound(ref);
  return row;
}

/** The config a write would store, checked: 400 naming the first field (all of them in `errors`). */
async function checked(engine: Engine, org: string, cfg: Json, selfId: string | null): Promise<RouterConfig> {
  const r = engine.require();
  const rows = await engine.store.routerConfigs.list(org).catch(storeFailure);
  const otherNames = new Set(rows.filter((x) => x.id !== selfId).map((x) => x.name));
  const errors = validateRouterConfig(cfg, { knownModels: knownModels(engine, r.profile.models), clusterCount: r.profile.k, otherNames });
  if (errors.length) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''}: see "errors")` : '';
    throw new ApiError('invalid_request', `"${errors[0].field}" ${errors[0].message}${more}`, errors[0].field, { errors });
  }
  // A config that validates but cannot compile (a keyword the RegExp engine refuses) must fail here, as a 400, not on every request that uses it.
  try {
    compiledOf(entryOf({ org, id: selfId ?? '00000000-0000-4000-8000-000000000000', name: String(cfg.name), version: 1, config: configBody(cfg as unknown as RouterConfig), source: 'api', createdAt: 0, updatedAt: 0 }));
  } catch (e) {
    throw new ApiError('invalid_request', `"rules" cannot be compiled: ${(e as Error).message}`, 'rules');
  }
  return cfg as unknown as RouterConfig;
}

/** `version` from a body: the version the client read (optimistic concurrency), or undefined. */
function expectedVersion(o: Json): number | undefined {
  const v = o.version;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw invalid('version', `must be the integer version you read (>= 1), got ${describe(v)}`);
  return v;
}

function written(engine: Engine, w: RouterConfigWrite, ref: string, sent: number | undefined, name: string): StoredRouterConfig | null {
  if (w.ok) { registryOf(engine).changed(); return w.row; }
  if (w.reason === 'not_found') throw notFound(ref);
  if (w.reason === 'name_taken') throw invalid('name', `duplicates the name of another config ("${name}")`);
  if (sent !== undefined) throw conflict(w.current, sent);
  return null; // lost a race without a version: the caller retries from a fresh read
}

function protectDefault(engine: Engine, row: StoredRouterConfig, newName: string | null): void {
  // Only the default organisation's: another organisation's config of that name shadows it, and without it the shared one applies again.
  const def = registryOf(engine).defaultName();
  if (row.org !== DEFAULT_ORG || row.name !== def) return;
  if (newName === null) throw new ApiError('default_config_protected', `"${row.name}" is the default router config (routing.default_config); it cannot be deleted.`);
  if (newName !== row.name) throw new ApiError('default_config_protected', `"${row.name}" is the default router config (routing.default_config); it cannot be renamed.`, 'name');
}

export async function handleListConfigs(engine: Engine, org: string = DEFAULT_ORG): Promise<string> {
  const rows = await engine.store.routerConfigs.list(org).catch(storeFailure);
  const def = registryOf(engine).defaultName();
  return JSON.stringify({ object: 'list', data: rows.map((r) => view(r, def)), default_config: def });
}

export async function handleGetConfig(ref: string, engine: Engine, org: string = DEFAULT_ORG): Promise<string> {
  return JSON.stringify(view(await current(engine, org, ref), registryOf(engine).defaultName()));
}

export function handleCreateConfig(body: Buffer, engine: Engine, sink: ResponseSink, org: string = DEFAULT_ORG): Promise<void> {
  const o = parseJsonObject(body);
  if (o.id !== undefined) throw invalid('id', 'is assigned by the server; omit it');
  if (o.version !== undefined) throw invalid('version', 'is assigned by the server; omit it');
  return (async () => {
    const cfg = await checked(engine, org, o, null);
    const now = Date.now();
    const w = await engine.store.routerConfigs.create({ org, id: randomUUID(), name: cfg.name, config: configBody(cfg), source: 'api', createdAt: now }).catch(storeFailure);
    const row = written(engine, w, cfg.name, undefined, cfg.name)!;
    sink.send(201, JSON.stringify(view(row, registryOf(engine).defaultName())));
  })();
}

/** PUT and PATCH: `make` builds the new config from the stored one; retried on a lost race when no version was sent. */
async function update(ref: string, engine: Engine, org: string, sent: number | undefined, make: (row: StoredRouterConfig) => Json): Promise<string> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const row = await current(engine, org, ref);
    if (sent !== undefined && row.version !== sent) throw conflict(row.version, sent);
    const next = make(row);
    const cfg = await checked(engine, org, next, row.id);
    protectDefault(engine, row, cfg.name);
    const w = await engine.store.routerConfigs.update(org, row.id, row.version, cfg.name, configBody(cfg), 'api', Date.now()).catch(storeFailure);
    const out = written(engine, w, ref, sent, cfg.name);
    if (out) return JSON.stringify(view(out, registryOf(engine).defaultName()));
  }
  throw new ApiError('config_version_conflict', `The router config kept changing under this update (${MAX_ATTEMPTS} attempts); retry.`, 'version');
}

function stripIdentity(o: Json, row: StoredRouterConfig): Json {
  const { id, version: _v, ...rest } = o;
  if (id !== undefined && (typeof id !== 'string' || id.toLowerCase() !== row.id)) throw invalid('id', `must be this config's id ("${row.id}") or omitted; an id cannot be changed`);
  return rest;
}

export function handleReplaceConfig(ref: string, body: Buffer, engine: Engine, org: string = DEFAULT_ORG): Promise<string> {
  const o = parseJsonObject(body);
  const sent = expectedVersion(o);
  return update(ref, engine, org, sent, (row) => stripIdentity(o, row));
}

const PATCHABLE = new Set(['name', 'default_model', 'candidates', 'cost_weight', 'rules', 'version', 'id']);
const REQUIRED = new Set(['name', 'default_model', 'rules']);

export function handlePatchConfig(ref: string, body: Buffer, engine: Engine, org: string = DEFAULT_ORG): Promise<string> {
  const o = parseJsonObject(body);
  for (const k in o) {
    if (!PATCHABLE.has(k)) throw invalid(k.length > 64 ? `${k.slice(0, 64)}...` : k, `is not a field of a router config (fields: name, default_model, candidates, cost_weight, rules, version)`);
    if (o[k] === null && REQUIRED.has(k)) throw invalid(k, 'is required and cannot be removed (null)');
  }
  const sent = expectedVersion(o);
  return update(ref, engine, org, sent, (row) => {
    const merged: Json = { ...(JSON.parse(row.config) as Json) };
    for (const [k, v] of Object.entries(stripIdentity(o, row))) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    return merged;
  });
}

export async function handleDeleteConfig(ref: string, query: string, engine: Engine, org: string = DEFAULT_ORG): Promise<string> {
  const q = new URLSearchParams(query).get('version');
  let sent: number | undefined;
  if (q !== null) {
    sent = Number(q);
    if (!/^[1-9]\d{0,15}$/.test(q)) throw invalid('version', `must be the integer version you read (>= 1), got ${JSON.stringify(q.slice(0, 40))}`);
  }
  const row = await current(engine, org, ref);
  protectDefault(engine, row, null);
  const w = await engine.store.routerConfigs.delete(org, row.id, sent).catch(storeFailure);
  written(engine, w as RouterConfigWrite, ref, sent ?? row.version, row.name);
  return JSON.stringify({ id: row.id, object: 'router_config', deleted: true });
}

