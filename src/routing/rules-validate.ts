/**
 * Validation of router configs (rules.ts) as a pure function: a list of
 * errors, each naming the field as a path (`rules[2].condition.operator`),
 * empty when the config is valid. The admin API turns them into 400s, the
 * YAML loader into start-up errors; neither needs to know the schema.
 *
 * Two layers: a JSON schema compiled once by ajv (types, required and unknown
 * fields, operators, ranges; the condition's `type` picks its branch with
 * ajv's discriminator, so an error names the field of that branch instead of
 * "must match exactly one schema"), then the checks a schema cannot make:
 * models known to the server, cluster ids within the profile, names unique
 * among configs and not shaped like a UUID (a config is addressed by id or
 * name on one path).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { TASKS } from './classifier.ts';
import { CONDITION_TYPES, OPERATORS, type RouterConfig } from './rules.ts';

export interface FieldError { field: string; message: string }

export interface ValidateOptions {
  /** Model names a rule, default_model or candidate may name; omitted = not checked. */
  knownModels?: ReadonlySet<string>;
  /** Clusters in the router profile (ids 0..clusterCount-1); omitted = only >= 0 is checked. */
  clusterCount?: number;
  /** Names of the other configs (not this one), for the duplicate check. */
  otherNames?: ReadonlySet<string>;
  /** Prefix for every field, e.g. "routing.configs[1]"; default none. */
  at?: string;
}

export const MAX_RULES = 1000;
export const MAX_KEYWORDS = 1000;
const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const operator = { type: 'string', enum: OPERATORS };
const branch = (type: string, properties: Record<string, unknown>, required: string[]) => ({
  type: 'object', additionalProperties: false,
  required: ['type', ...required],
  properties: { type: { const: type }, ...properties },
});

export const ROUTER_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'default_model', 'rules'],
  properties: {
    id: { type: 'string', pattern: UUID.source },
    name: { type: 'string', pattern: NAME_PATTERN },
    default_model: { type: 'string', minLength: 1 },
    candidates: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true, maxItems: 1000 },
    cost_weight: { type: 'number', minimum: 0, maximum: 1e6 },
    version: { type: 'integer', minimum: 1 },
    rules: {
      type: 'array',
      maxItems: MAX_RULES,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['priority', 'condition', 'model'],
        properties: {
          name: { type: 'string', maxLength: 200 },
          priority: { type: 'integer', minimum: -1e9, maximum: 1e9 },
          model: { type: 'string', minLength: 1 },
          condition: {
            type: 'object',
            required: ['type'],
            properties: { type: { type: 'string' } },
            discriminator: { propertyName: 'type' },
            oneOf: [
              branch('complexity', { operator, value: { type: 'number', minimum: 0, maximum: 1 } }, ['operator', 'value']),
              branch('token_count', { operator, value: { type: 'number', minimum: 0, maximum: 1e9 } }, ['operator', 'value']),
              branch('keyword', {
                keywords: { type: 'array', minItems: 1, maxItems: MAX_KEYWORDS, items: { type: 'string', minLength: 1, maxLength: 200 } },
                match: { type: 'string', enum: ['any', 'all'] },
                case_sensitive: { type: 'boolean' },
                whole_word: { type: 'boolean' },
              }, ['keywords']),
              branch('always', {}, []),
              branch('task', { tasks: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: TASKS } } }, ['tasks']),
              branch('cluster', { clusters: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'integer', minimum: 0 } } }, ['clusters']),
            ],
          },
        },
      },
    },
  },
} as const;

// allErrors: every problem of a config in one answer, not one per round trip.
// Compiled on first use, not at import: ~90 ms (measured, loaded 2-core machine) that every HTTP
// thread would otherwise pay at boot for a check only config loading and admin writes run.
let compiled: ValidateFunction | undefined;
const schemaCheck = (): ValidateFunction => (compiled ??= new Ajv({ allErrors: true, strict: true, discriminator: true }).compile(ROUTER_CONFIG_SCHEMA));

/** "/rules/2/condition/operator" -> "rules[2].condition.operator". */
function fieldOf(instancePath: string, at: string): string {
  let f = at;
  for (const seg of instancePath.split('/').slice(1)) {
    const s = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    f += /^\d+$/.test(s) ? `[${s}]` : f === '' ? s : `.${s}`;
  }
  return f;
}

const join = (base: string, key: string) => (base === '' || base === '(root)' ? key : `${base}.${key}`);

function fromAjv(e: ErrorObject, at: string): FieldError {
  const field = fieldOf(e.instancePath, at) || '(root)';
  const p = e.params as Record<string, any>;
  switch (e.keyword) {
    case 'additionalProperties': return { field: join(field, p.additionalProperty), message: 'unknown field' };
    case 'required': return { field: join(field, p.missingProperty), message: 'is required' };
    case 'enum': return { field, message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'discriminator':
      return p.error === 'mapping'
        ? { field: join(field, 'type'), message: `must be one of ${CONDITION_TYPES.map((t) => `"${t}"`).join(', ')}` }
        : { field: join(field, 'type'), message: 'must be a string' };
    case 'pattern':
      return { field, message: field.endsWith('name') ? 'must be 1-128 characters of letters, digits, ".", "_" or "-", starting with a letter or digit' : 'must be a UUID' };
    default: return { field, message: e.message ?? 'is invalid' };
  }
}

/** Problems with one config; empty when valid. */
export function validateRouterConfig(cfg: unknown, opts: ValidateOptions = {}): FieldError[] {
  const at = opts.at ?? '';
  const check = schemaCheck();
  if (!check(cfg)) {
    // ajv reports a failed oneOf branch's errors plus "must match exactly one schema"; the branch errors say more.
    // The discriminator's own error repeats what "type" already says when that field has an error of its own.
    const raw = (check.errors ?? []).filter((e) => e.keyword !== 'oneOf');
    const errs = raw.filter((e) => e.keyword !== 'discriminator').map((e) => fromAjv(e, at));
    const fields = new Set(errs.map((e) => e.field));
    for (const e of raw) if (e.keyword === 'discriminator') { const d = fromAjv(e, at); if (!fields.has(d.field)) { errs.push(d); fields.add(d.field); } }
    const seen = new Set<string>();
    return errs.filter((e) => { const k = `${e.field}\u0000${e.message}`; if (seen.has(k)) return false; seen.add(k); return true; });
  }
  const c = cfg as RouterConfig;
  const out: FieldError[] = [];
  const f = (k: string) => join(at, k);
  if (UUID.test(c.name)) out.push({ field: f('name'), message: 'must not be a UUID (configs are addressed by id or name)' });
  if (opts.otherNames?.has(c.name)) out.push({ field: f('name'), message: `duplicates the name of another config ("${c.name}")` });
  const known = opts.knownModels;
  const checkModel = (field: string, m: string) => { if (known && !known.has(m)) out.push({ field, message: `unknown model "${m}"` }); };
  checkModel(f('default_model'), c.default_model);
  c.candidates?.forEach((m, i) => checkModel(`${f('candidates')}[${i}]`, m));
  c.rules.forEach((r, i) => {
    checkModel(`${f('rules')}[${i}].model`, r.model);
    if (r.condition.type === 'cluster' && opts.clusterCount !== undefined) {
      r.condition.clusters.forEach((k, j) => {
        if (k >= opts.clusterCount!) out.push({ field: `${f('rules')}[${i}].condition.clusters[${j}]`, message: `cluster ${k} does not exist (the profile has clusters 0..${opts.clusterCount! - 1})` });
      });
    }
  });
  return out;
}

/** Problems with a list of configs (the YAML `routing.configs`): each one, plus duplicate names, fields as `${at}[i].…`. */
export function validateRouterConfigs(list: unknown, opts: Omit<ValidateOptions, 'otherNames'> = {}): FieldError[] {
  const at = opts.at ?? '';
  if (!Array.isArray(list)) return [{ field: at || '(root)', message: 'must be an array of router configs' }];
  const out: FieldError[] = [];
  const first = new Map<string, number>();
  list.forEach((cfg, i) => {
    const here = `${at}[${i}]`;
    out.push(...validateRouterConfig(cfg, { ...opts, at: here }));
    const name = (cfg as { name?: unknown } | null)?.name;
    if (typeof name !== 'string') return;
    const j = first.get(name);
    if (j !== undefined) out.push({ field: `${here}.name`, message: `duplicates the name of ${at}[${j}] ("${name}")` });
    else first.set(name, i);
  });
  return out;
}
