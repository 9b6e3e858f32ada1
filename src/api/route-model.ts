/**
 * POST /api/v1/route-model (the 2Signal API): `{input, configName?}` ->
 * `{model, configName, complexity}` from a router config's rules, with no
 * LLM call. Our extra fields: matchedRule ({index, name, priority, type} or
 * null when the default model answered), tokenCount (the calibrated cl100k
 * estimate, routing/tokens.ts), configId, configVersion (the version of the
 * config this answer used), cluster (only when a rule needed it) and
 * routingMs (server-side time of this handler, parse to answer).
 *
 * Hot path: the registry's snapshot is synchronous while no config changed
 * (an Atomics.load), the config is compiled once per thread and change, and
 * complexity + token count share one scan of the input (~3-5 µs at 200
 * characters). A config with a cluster rule embeds the input first (the
 * native embedder inline, ~20-40 µs; ONNX or a route-pool profile through a
 * Promise).
 *
 * Errors (dialect 'twosignal'): 400 invalid_request when input is missing or
 * not a string, configName not a string, an unknown field, or input over
 * limits.input_chars; 401 without a valid key when server.api_keys is set;
 * 404 router_config_not_found.
 */
import { ApiError, invalid } from '../errors.ts';
import { channels } from '../diagnostics.ts';
import type { Signals } from '../routing/rules.ts';
import { describe, parseJsonObject, rejectUnknownFields } from './validate.ts';
import { compiledOf, registryOf, type ConfigEntry } from './router-config-registry.ts';
import { DEFAULT_ORG } from '../store/types.ts';
import { clusterOfText } from './route-cluster.ts';
import type { Engine } from './engine.ts';
import { withOrg, type CompiledOrg } from './org-state.ts';
import { catalogOf } from './catalog.ts';
import { logRequest, logsDecisions, type RequestMeta } from './activity-log.ts';

const FIELDS = new Set(['input', 'configName']);

export interface RouteModelRequest { input: string; configName: string | undefined }

export function parseRouteModelRequest(body: Buffer, maxChars: number): RouteModelRequest {
  const o = parseJsonObject(body);
  rejectUnknownFields(o, FIELDS);
  const input = o.input;
  if (input === undefined) throw invalid('input', 'is required: the text to route');
  if (typeof input !== 'string') throw invalid('input', `must be a string, got ${describe(input)}`);
  if (input.length > maxChars) throw invalid('input', `is ${input.length} characters, over the limit of ${maxChars} (limits.input_chars)`);
  const c = o.configName;
  if (c !== undefined && c !== null && (typeof c !== 'string' || c === '')) throw invalid('configName', `must be a non-empty string (a router config name or id), got ${describe(c)}`);
  return { input, configName: (c as string | null | undefined) ?? undefined };
}

/** The rule's model, or (when the organisation excludes it) the replacement its preferences give; null = nothing excluded. */
interface Choice { model: string; skipped: string[] }

/**
 * The organisation's preferences on a rule's choice (issue 11; docs/org.md).
 * A rule names a model, it does not score one: an excluded model (excluded_models,
 * or a model of excluded_providers) is replaced by the first of the config's
 * `candidates` that is not excluded, a preferred provider's first (the
 * preferred-provider bonus, here an order since there are no scores); every
 * one excluded is 400 model_excluded (as /v1/model-router/invoke's rule
 * routing answers). default_cost_weight and default_optimization act on
 * scores, which rule routing has none of: they change nothing here.
 */
function choose(e: ConfigEntry, model: string, o: CompiledOrg | undefined, engine: Engine): Choice {
  if (o === undefined || o.excludedModels.size === 0 || !o.excludedModels.has(model)) return { model, skipped: [] };
  const chain = [model];
  for (const m of e.config.candidates ?? []) if (!chain.includes(m)) chain.push(m);
  const kept = chain.filter((m) => !o.excludedModels.has(m));
  const skipped = chain.filter((m) => o.excludedModels.has(m));
  if (kept.length === 0) {
    throw new ApiError('model_excluded', `Router config ${JSON.stringify(e.config.name)} chose ${JSON.stringify(model)}, and it and every fallback candidate (${chain.join(', ')}) are excluded by this organisation's preferences (excluded_models / excluded_providers).`, 'configName');
  }
  const preferred = new Set(o.prefs.preferred_providers);
  const cat = preferred.size > 0 ? catalogOf(engine) : undefined;
  const pick = (cat && kept.find((m) => { const p = cat.find(m)?.provider; return p !== undefined && preferred.has(p); })) ?? kept[0];
  return { model: pick, skipped };
}

function answer(e: ConfigEntry, engine: Engine, req: RouteModelRequest, given: Signals | undefined, t0: number, o: CompiledOrg | undefined, log: Log | undefined): string {
  const d = compiledOf(e).evaluate(req.input, { want: ['complexity', 'tokens'], given });
  const m = d.matchedRule;
  const c = choose(e, d.model, o, engine);
  const body = JSON.stringify({
    model: c.model,
    configName: e.config.name,
    complexity: d.signals.complexity,
    matchedRule: m && { index: m.index, name: m.name, priority: m.priority, type: m.type },
    tokenCount: d.signals.tokens,
    configId: e.config.id,
    configVersion: e.config.version,
    ...(d.signals.cluster !== undefined ? { cluster: d.signals.cluster } : {}),
    ...(c.skipped.length > 0 ? { excludedByPreferences: c.skipped } : {}),
    routingMs: Math.round((performance.now() - t0) * 1000) / 1000,
  });
  if (log !== undefined) {
    logRequest(engine, log, {
      endpoint: '/api/v1/route-model', requested: req.configName ?? null, selected: c.model, executed: null, reason: m !== null ? 'rule' : 'default',
      chain: c.skipped.length > 0 ? [...c.skipped, c.model].map((x) => ({ model: x })) : [], cluster: d.signals.cluster ?? null,
      usage: null, costUsd: null, status: 200, cacheHit: false, t0,
    });
  }
  return body;
}

type Log = RequestMeta;

function decide(e: ConfigEntry, engine: Engine, req: RouteModelRequest, t0: number, o: CompiledOrg | undefined, log: Log | undefined): string | Promise<string> {
  if (!compiledOf(e).needs.has('cluster')) return answer(e, engine, req, undefined, t0, o, log);
  const c = clusterOfText(engine, req.input);
  return typeof c === 'number' ? answer(e, engine, req, { cluster: c }, t0, o, log) : c.then((k) => answer(e, engine, req, { cluster: k }, t0, o, log));
}

/**
 * The body is parsed synchronously (it may be uWS's buffer); a string answer
 * when everything ran inline. `org`: the caller's organisation; its own
 * configs first, then the default organisation's (router-config-registry.ts),
 * and its preferences (choose()). `requestId`: the activity log's row (only
 * when the log is on; a refused request, 4xx, is not a row, as on the
 * gateway endpoints).
 */
export function handleRouteModel(body: Buffer, engine: Engine, org: string = DEFAULT_ORG, requestId?: string): string | Promise<string> {
  const t0 = performance.now();
  const req = parseRouteModelRequest(body, engine.config.limits.input_chars);
  const log = requestId !== undefined && channels.orgRequest.hasSubscribers && logsDecisions(engine) ? { org, requestId } : undefined;
  const e = registryOf(engine).resolve(org, req.configName, 'configName');
  const withPrefs = (x: ConfigEntry) => withOrg(engine, org, (o) => decide(x, engine, req, t0, o, log));
  return e instanceof Promise ? e.then(withPrefs) : withPrefs(e) as string | Promise<string>;
}
