/**
 * The router's admin endpoints (issue 13), Switchyard's error shape:
 *
 *   POST /v1/router/reload   {"profile": "<dir>"} or no body: load a profile
 *                            directory and swap it in on every HTTP thread
 *                            (and, through the bus, every replica)
 *   POST /v1/router/models   labelled rows of ONE new model: estimated per
 *                            cluster, persisted as a new profile version,
 *                            swapped in as a reload is
 *
 * Both are authenticated like every endpoint and, when the caller's
 * organisation defines roles (tenants: roles / keys[].roles), need the admin
 * role (the registry hook requireAdmin, src/edge/auth.ts, before the body is
 * read); flat server.api_keys (and no keys at all) keep full rights. The work
 * happens in src/api/profile-control.ts (Engine.control); this file turns a
 * body into its input and the result into JSON.
 *
 * Rows, as `npm run fit -- --add-model` reads them (src/fit/add-model.ts):
 *   {"prompt": "...", "score": 0..1, "cost_usd": 0.0012}
 * (or {"prompt", "scores": {NAME: 1}, "cost_usd": {NAME: 0.0012}}). Sent as
 *   - application/json: {"name", "rows": [row, ...], "cost_per_1k"?, "pricing"?, "prior"?}
 *   - JSON lines (application/x-ndjson, application/jsonl, application/x-jsonlines):
 *     one row per line; name, cost_per_1k, input_per_1m, output_per_1m, prior
 *     in the query string.
 * A bad row is 400 invalid_request naming it: `rows[3]` (JSON) or `line 4`.
 */
import { ApiError, invalid } from '../errors.ts';
import { parseModelRows, RowsError, type ModelRows } from '../fit/add-model.ts';
import { describe, parseJsonObject, rejectUnknownFields, type Json } from './validate.ts';
import type { Engine } from './engine.ts';
import type { AddModelInput, ProfileControl } from './profile-control.ts';

const RELOAD_FIELDS = new Set(['profile']);
const MODEL_FIELDS = new Set(['name', 'rows', 'cost_per_1k', 'pricing', 'prior']);
const QUERY_FIELDS = new Set(['name', 'cost_per_1k', 'input_per_1m', 'output_per_1m', 'prior']);
const JSONL_TYPES = ['application/x-ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/jsonlines'];
/** A model name as the profile, /v1/route and the gateway see it. */
const NAME_MAX = 200;

function control(engine: Engine): ProfileControl {
  engine.require();
  if (engine.control === undefined) throw new ApiError('internal_error', 'This server has no profile control (an Engine built outside startServer).');
  return engine.control;
}

export async function handleReload(body: Buffer, engine: Engine): Promise<string> {
  let dir: string | undefined;
  if (body.length > 0 && body.toString('utf8').trim() !== '') {
    const o = parseJsonObject(body);
    rejectUnknownFields(o, RELOAD_FIELDS);
    if (o.profile !== undefined) {
      if (typeof o.profile !== 'string' || o.profile.trim() === '' || o.profile.length > 4096) throw invalid('profile', `must be a profile directory path (a non-empty string), got ${describe(o.profile)}`);
      dir = o.profile;
    }
  }
  const r = await control(engine).reload(dir);
  return JSON.stringify({ object: 'router.profile', status: 'reloaded', ...r });
}

export async function handleAddModel(body: Buffer, query: string, contentType: string, engine: Engine): Promise<string> {
  const ctl = control(engine);
  const input = JSONL_TYPES.some((t) => contentType.toLowerCase().startsWith(t)) ? fromJsonLines(body, query) : fromJson(parseJsonObject(body));
  const r = await ctl.addModel(input);
  const withLabels = r.clusters.filter((c) => c.n > 0).length;
  return JSON.stringify({
    object: 'router.model', model: r.model, samples: r.samples, global_error: r.global_error, cost_per_1k: r.cost_per_1k,
    clusters_with_labels: withLabels,
    // Per cluster: the labels behind the estimate, the estimate, its posterior sd (confidence).
    clusters: r.clusters.map((c) => ({ cluster: c.cluster, labels: c.n, error: c.err, sd: c.sd })),
    profile: r.reload,
  });
}

function modelName(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.trim() === '' || v.length > NAME_MAX || /[\u0000-\u001f]/.test(v)) throw invalid(field, `must be a model name (1-${NAME_MAX} characters, no control characters), got ${describe(v)}`);
  return v;
}

function nonNegative(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw invalid(field, `must be a finite number >= 0, got ${describe(v)}`);
  return v;
}

function prior(v: unknown, field: string): AddModelInput['prior'] {
  if (v !== 'coarse' && v !== 'regression') throw invalid(field, `must be "coarse" or "regression", got ${describe(v)}`);
  return v;
}

/** RowsError "rows:4: ..." -> 400 naming rows[3] (JSON) or line 4 (JSON lines). */
function rows(text: string, name: string, asJsonArray: boolean): ModelRows {
  let parsed: ModelRows;
  try {
    parsed = parseModelRows(text, name, 'rows');
  } catch (e) {
    if (!(e instanceof RowsError)) throw e;
    const m = /^rows:(\d+): (.*)$/s.exec(e.message);
    if (m === null) throw invalid('rows', e.message);
    const line = Number(m[1]);
    const field = asJsonArray ? `rows[${line - 1}]` : `line ${line}`;
    throw invalid(field, m[2]);
  }
  if (parsed.prompts.length === 0) throw invalid(asJsonArray ? 'rows' : 'body', `holds no labelled rows for ${JSON.stringify(name)}`);
  return parsed;
}

function costCheck(input: AddModelInput, costField: string): AddModelInput {
  if (input.costPer1k === undefined && !input.rows.cost.some((c) => c === c)) throw invalid(costField, 'is required when no row gives "cost_usd" (the model\'s cost per 1,000 requests, USD)');
  return input;
}

function fromJson(o: Json): AddModelInput {
  rejectUnknownFields(o, MODEL_FIELDS);
  const name = modelName(o.name, 'name');
  if (!Array.isArray(o.rows) || o.rows.length === 0) throw invalid('rows', `must be a non-empty array of labelled rows, got ${describe(o.rows)}`);
  o.rows.forEach((r, i) => { if (typeof r !== 'object' || r === null || Array.isArray(r)) throw invalid(`rows[${i}]`, `must be an object, got ${describe(r)}`); });
  const input: AddModelInput = { name, rows: rows(o.rows.map((r) => JSON.stringify(r)).join('\n'), name, true) };
  if (o.cost_per_1k !== undefined) input.costPer1k = nonNegative(o.cost_per_1k, 'cost_per_1k');
  if (o.pricing !== undefined && o.pricing !== null) {
    const p = o.pricing as Json;
    if (typeof p !== 'object' || Array.isArray(p)) throw invalid('pricing', `must be {"input_per_1m", "output_per_1m"} (USD per 1M tokens), got ${describe(o.pricing)}`);
    rejectUnknownFields(p, new Set(['input_per_1m', 'output_per_1m']));
    input.pricing = { input_per_1m: nonNegative(p.input_per_1m, 'pricing.input_per_1m'), output_per_1m: nonNegative(p.output_per_1m, 'pricing.output_per_1m') };
  }
  if (o.prior !== undefined) input.prior = prior(o.prior, 'prior');
  return costCheck(input, 'cost_per_1k');
}

function fromJsonLines(body: Buffer, query: string): AddModelInput {
  const q = new URLSearchParams(query);
  for (const k of q.keys()) if (!QUERY_FIELDS.has(k)) throw invalid(k.slice(0, 64), `is not a known query parameter (known: ${[...QUERY_FIELDS].join(', ')})`);
  const num = (k: string) => { const v = q.get(k); return v === null ? undefined : nonNegative(v.trim() === '' ? NaN : Number(v), k); };
  const name = modelName(q.get('name') ?? undefined, 'name');
  const input: AddModelInput = { name, rows: rows(body.toString('utf8'), name, false) };
  input.costPer1k = num('cost_per_1k');
  const i = num('input_per_1m'), o = num('output_per_1m');
  if ((i === undefined) !== (o === undefined)) throw invalid(i === undefined ? 'input_per_1m' : 'output_per_1m', 'is required with the other price (both input_per_1m and output_per_1m, USD per 1M tokens)');
  if (i !== undefined) input.pricing = { input_per_1m: i, output_per_1m: o! };
  if (q.get('prior') !== null) input.prior = prior(q.get('prior'), 'prior');
  return costCheck(input, 'cost_per_1k');
}
