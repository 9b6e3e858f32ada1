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
import { invalid } from '../errors.ts';
import type { Signals } from '../routing/rules.ts';
import { describe, parseJsonObject, rejectUnknownFields } from './validate.ts';
import { compiledOf, registryOf, type ConfigEntry } from './router-config-registry.ts';
import { DEFAULT_ORG } from '../store/types.ts';
import { clusterOfText } from './route-cluster.ts';
import type { Engine } from './engine.ts';

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

function answer(e: ConfigEntry, input: string, given: Signals | undefined, t0: number): string {
  const d = compiledOf(e).evaluate(input, { want: ['complexity', 'tokens'], given });
  const m = d.matchedRule;
  return JSON.stringify({
    model: d.model,
    configName: e.config.name,
    complexity: d.signals.complexity,
    matchedRule: m && { index: m.index, name: m.name, priority: m.priority, type: m.type },
    tokenCount: d.signals.tokens,
    configId: e.config.id,
    configVersion: e.config.version,
    ...(d.signals.cluster !== undefined ? { cluster: d.signals.cluster } : {}),
    routingMs: Math.round((performance.now() - t0) * 1000) / 1000,
  });
}

function decide(e: ConfigEntry, engine: Engine, req: RouteModelRequest, t0: number): string | Promise<string> {
  if (!compiledOf(e).needs.has('cluster')) return answer(e, req.input, undefined, t0);
  const c = clusterOfText(engine, req.input);
  return typeof c === 'number' ? answer(e, req.input, { cluster: c }, t0) : c.then((k) => answer(e, req.input, { cluster: k }, t0));
}

/**
 * The body is parsed synchronously (it may be uWS's buffer); a string answer
 * when everything ran inline. `org`: the caller's organisation; its own
 * configs first, then the default organisation's (router-config-registry.ts).
 */
export function handleRouteModel(body: Buffer, engine: Engine, org: string = DEFAULT_ORG): string | Promise<string> {
  const t0 = performance.now();
  const req = parseRouteModelRequest(body, engine.config.limits.input_chars);
  const e = registryOf(engine).resolve(org, req.configName, 'configName');
  return e instanceof Promise ? e.then((x) => decide(x, engine, req, t0)) : decide(e, engine, req, t0);
}
