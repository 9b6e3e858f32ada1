/**
 * The model catalog's config (issue 10, the GreatRouter API): one optional
 * `catalog` mapping per providers.models entry, its JSON schema (mounted into
 * CONFIG_SCHEMA by schema.ts) and the checks a schema cannot express (ids
 * unique, provider known, the input/output JSON schemas compile).
 *
 * A model's catalog id is `provider/model`: the configured name itself when it
 * has a slash ("mistralai/mixtral-8x7b-chat"), else `catalog.provider` + "/" +
 * name ("openai" + "gpt-4-1106-preview"). A model without a `catalog` mapping
 * is still in the catalog with defaults (catalogDefaults below), so a config
 * written before the catalog existed works unchanged with the /v1/auto/*
 * endpoints; its provider is then the name's prefix, or its api_format.
 */
import { Ajv } from 'ajv';

export const VISIBILITIES = ['featured', 'standard', 'long_tail'] as const;
export type Visibility = (typeof VISIBILITIES)[number];
export const MODEL_TYPES = ['hosted', 'proxied'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

export interface CatalogConfig {
  /** Provider slug ("openai", "meta"): the id's prefix when the name has no slash. */
  provider?: string;
  /** Display name; default: the model part of the id. */
  name?: string;
  description?: string;
  /** Registry task type ("text_generation", "image_generation", ...); default text_generation. */
  task_type?: string;
  /** Catalog category, the taxonomy branch ("llm", "image-generation", "translation"); default llm. */
  category?: string;
  capabilities?: string[];
  tags?: string[];
  /** Model line id (taxonomy/provider--family); default `${category}/${provider}--${model}`. */
  catalog_family?: string;
  /** Default standard; long_tail models are listed but not routable (routable_only hides them). */
  catalog_visibility?: Visibility;
  /** hosted (served by this operator) or proxied (an upstream API); default proxied. */
  type?: ModelType;
  context_window?: number;
  /** JSON schemas (ajv, draft-07) for GET .../input-schema and POST .../validate-input; default: a chat input / a chat completion. */
  input_schema?: Record<string, unknown>;
  output_schema?: Record<string, unknown>;
  /** Creator, license, source: shown as `provenance` by GET /v1/models/{provider}/{model}. */
  provenance?: Record<string, unknown>;
  /** Published benchmark scores by name. */
  benchmarks?: Record<string, number>;
}

const SLUG = '^[a-z0-9][a-z0-9._-]{0,63}$';
const LABEL = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._ -]*$' } as const;

export const CATALOG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    provider: { type: 'string', pattern: SLUG },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string', maxLength: 4000 },
    task_type: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' },
    category: { type: 'string', pattern: SLUG },
    capabilities: { type: 'array', uniqueItems: true, maxItems: 64, items: LABEL },
    tags: { type: 'array', uniqueItems: true, maxItems: 64, items: LABEL },
    catalog_family: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*--[A-Za-z0-9][A-Za-z0-9._-]*$' },
    catalog_visibility: { enum: VISIBILITIES },
    type: { enum: MODEL_TYPES },
    context_window: { type: 'integer', minimum: 1, maximum: 100_000_000 },
    input_schema: { type: 'object' },
    output_schema: { type: 'object' },
    provenance: { type: 'object' },
    benchmarks: { type: 'object', additionalProperties: { type: 'number' } },
  },
} as const;

/** Input schema of a chat model when the catalog names none: what POST /v1/auto/route's `input` must hold. */
export const CHAT_INPUT_SCHEMA: Readonly<Record<string, unknown>> = Object.freeze({
  type: 'object',
  required: ['messages'],
  properties: {
    messages: {
      type: 'array', minItems: 1,
      items: { type: 'object', required: ['role', 'content'], properties: { role: { type: 'string' }, content: { type: ['string', 'array'] } } },
    },
    parameters: { type: 'object' },
  },
});

/** Output schema of a chat model when the catalog names none: auto/route's `result`. */
export const CHAT_OUTPUT_SCHEMA: Readonly<Record<string, unknown>> = Object.freeze({
  type: 'object',
  required: ['choices'],
  properties: {
    choices: { type: 'array', items: { type: 'object', required: ['message'], properties: { message: { type: 'object', required: ['role'] } } } },
    usage: { type: 'object' },
  },
});

/** `provider/model` of a configured model (see the header). */
export function catalogId(name: string, c: CatalogConfig | undefined, apiFormat: string): { id: string; provider: string; model: string } {
  const slash = name.indexOf('/');
  if (slash > 0) return { id: name, provider: name.slice(0, slash), model: name.slice(slash + 1) };
  const provider = c?.provider ?? apiFormat;
  return { id: `${provider}/${name}`, provider, model: name };
}

/**
 * An ajv for one catalog's schemas (strict off: operators' schemas use
 * keywords ajv's strict mode flags, e.g. "examples"). One per catalog, not per
 * process: ajv refuses a second schema with an `$id` it has seen, and a
 * process loads configs more than once (tests, each HTTP thread's Engine).
 */
export function catalogAjv(): Ajv {
  return new Ajv({ allErrors: true, strict: false });
}

/**
 * Problems naming `providers.models[i].catalog.<field>`: ids unique across
 * the catalog, a slashed name's provider agreeing with catalog.provider, the
 * JSON schemas compiling. Empty when valid.
 */
export function catalogProblems(models: readonly { name: string; api_format: string; catalog?: CatalogConfig }[]): string[] {
  const out: string[] = [];
  const ids = new Map<string, number>();
  const ajv = catalogAjv();
  models.forEach((m, i) => {
    const at = `providers.models[${i}].catalog`;
    const c = m.catalog;
    const { id, provider } = catalogId(m.name, c, m.api_format);
    if (c?.provider !== undefined && m.name.includes('/') && c.provider !== provider) {
      out.push(`"${at}.provider" is "${c.provider}" but the name "${m.name}" already names provider "${provider}" (the catalog id is the name when it has a slash)`);
    }
    if ((id.match(/\//g) ?? []).length !== 1) out.push(`"providers.models[${i}].name": catalog id "${id}" must be provider/model with exactly one slash`);
    const first = ids.get(id);
    if (first !== undefined) out.push(`"${at}": catalog id "${id}" repeats providers.models[${first}]'s`);
    else ids.set(id, i);
    // The family's taxonomy is the category: /v1/catalog/* browse by one, the auto endpoints' `taxonomy` filters by the other.
    if (c?.catalog_family !== undefined && c.catalog_family.slice(0, c.catalog_family.indexOf('/')) !== (c.category ?? 'llm')) {
      out.push(`"${at}.catalog_family" must start with the category ("${c.category ?? 'llm'}/"), got "${c.catalog_family}"`);
    }
    for (const k of ['input_schema', 'output_schema'] as const) {
      if (c?.[k] === undefined) continue;
      try { ajv.compile(c[k]!); } catch (e) { out.push(`"${at}.${k}" is not a valid JSON schema: ${(e as Error).message}`); }
    }
  });
  return out;
}
