/**
 * The model catalog (issue 10): every configured model with its GreatRouter
 * metadata, built once per Engine (per HTTP thread) from the frozen config and
 * kept for the process's life. Everything a request would otherwise compute
 * per model is computed here: catalog id, price tier, pricing in USD per
 * token, the router tasks it serves, the summary JSON GreatRouter's answers
 * embed, lower-cased search text, compiled input/output validators. With 50
 * models that is ~50 small objects; a suggest request then only reads them.
 *
 * Router tasks (GreatRouter's `task`: text, image, video, music, speech,
 * code, web_search) come from the registry `task_type` (TASKS_OF_TYPE). Only
 * chat task types can be called through the chat gateway (/v1/auto/route
 * answers complete chat responses), so `routable` = a chat task type, and not
 * catalog_visibility long_tail (GreatRouter's routable_only hides those).
 */
import type { ValidateFunction } from 'ajv';
import { CHAT_INPUT_SCHEMA, CHAT_OUTPUT_SCHEMA, catalogAjv, catalogId, type CatalogConfig, type ModelType, type Visibility } from '../config/catalog.ts';
import type { ProviderModelConfig } from '../config/schema.ts';
import { blendedPrice, priceTierOf, type PriceTier } from '../routing/tiers.ts';
import type { Engine } from './engine.ts';

export const ROUTER_TASKS = ['text', 'image', 'video', 'music', 'speech', 'code', 'web_search'] as const;
export type RouterTask = (typeof ROUTER_TASKS)[number];
export const isRouterTask = (x: unknown): x is RouterTask => typeof x === 'string' && (ROUTER_TASKS as readonly string[]).includes(x);

/** Registry task types -> the router tasks a model of that type serves. Unknown types serve none (listed, never suggested). */
export const TASKS_OF_TYPE: Readonly<Record<string, readonly RouterTask[]>> = {
  text_generation: ['text', 'code'], chat: ['text', 'code'], code_generation: ['code', 'text'],
  translation: ['text'], summarization: ['text'],
  image_generation: ['image'], text_to_image: ['image'], image_editing: ['image'],
  video_generation: ['video'], text_to_video: ['video'],
  music_generation: ['music'], audio_generation: ['music'],
  text_to_speech: ['speech'], speech_generation: ['speech'],
  web_search: ['web_search'],
};
/** Task types the chat gateway can call (a chat completion in, a chat completion out). */
const CHAT_TYPES: ReadonlySet<string> = new Set(['text_generation', 'chat', 'code_generation', 'translation', 'summarization']);

export interface CatalogEntry {
  /** Position in providers.models. */
  readonly index: number;
  /** The configured (routing) name: what the gateway and the router know. */
  readonly name: string;
  readonly id: string;
  readonly provider: string;
  readonly displayName: string;
  readonly description: string;
  readonly taskType: string;
  readonly category: string;
  readonly capabilities: readonly string[];
  readonly tags: readonly string[];
  readonly family: string;
  readonly visibility: Visibility;
  readonly type: ModelType;
  readonly contextWindow: number | null;
  /** USD per token (per 1M / 1e6); NaN without pricing. */
  readonly inPerToken: number;
  readonly outPerToken: number;
  readonly blended: number;
  readonly priceTier: PriceTier | null;
  readonly tasks: readonly RouterTask[];
  readonly routable: boolean;
  /** GreatRouter's model object: {id, name, provider, task_type, category, capabilities, pricing}. */
  readonly summary: Readonly<Record<string, unknown>>;
  readonly summaryJson: string;
  /** Lower-cased name, id, description, provider: `text` search. */
  readonly searchText: string;
  readonly config: Readonly<CatalogConfig>;
  readonly inputSchema: Readonly<Record<string, unknown>>;
  readonly outputSchema: Readonly<Record<string, unknown>>;
}

export class Catalog {
  readonly entries: readonly CatalogEntry[];
  readonly byId: ReadonlyMap<string, CatalogEntry>;
  readonly byName: ReadonlyMap<string, CatalogEntry>;
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly ajv = catalogAjv();

  constructor(models: readonly ProviderModelConfig[]) {
    this.entries = models.map((m, i) => entryOf(m, i));
    this.byId = new Map(this.entries.map((e) => [e.id, e]));
    this.byName = new Map(this.entries.map((e) => [e.name, e]));
  }

  /** A catalog id or a configured name. */
  find(idOrName: string): CatalogEntry | undefined {
    return this.byId.get(idOrName) ?? this.byName.get(idOrName);
  }

  /** The compiled validator of an entry's input or output schema (compiled on first use, then kept). */
  validator(e: CatalogEntry, which: 'input' | 'output'): ValidateFunction {
    const key = `${which}\0${e.id}`;
    let v = this.validators.get(key);
    if (v === undefined) {
      v = this.ajv.compile(which === 'input' ? e.inputSchema : e.outputSchema);
      this.validators.set(key, v);
    }
    return v;
  }
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

function entryOf(m: ProviderModelConfig, index: number): CatalogEntry {
  const c: CatalogConfig = m.catalog ?? {};
  const { id, provider, model } = catalogId(m.name, c, m.api_format);
  const taskType = c.task_type ?? 'text_generation';
  const category = c.category ?? 'llm';
  const visibility = c.catalog_visibility ?? 'standard';
  const p = m.pricing;
  const pricing = p ? { input_per_million_tokens: p.prompt_per_1m, output_per_million_tokens: p.completion_per_1m } : null;
  const displayName = c.name ?? model;
  const capabilities = c.capabilities ?? (CHAT_TYPES.has(taskType) ? ['text_generation'] : [taskType]);
  const summary = { id, name: displayName, provider, task_type: taskType, category, capabilities, pricing };
  const description = c.description ?? '';
  return {
    index, name: m.name, id, provider, displayName, description, taskType, category, capabilities,
    tags: c.tags ?? [],
    family: c.catalog_family ?? `${category}/${provider}--${model.toLowerCase().replace(/[^a-z0-9._-]/g, '-')}`,
    visibility, type: c.type ?? 'proxied', contextWindow: c.context_window ?? null,
    inPerToken: p ? p.prompt_per_1m / 1e6 : NaN,
    outPerToken: p ? p.completion_per_1m / 1e6 : NaN,
    blended: p ? round6(blendedPrice(p)) : NaN,
    priceTier: priceTierOf(p),
    tasks: TASKS_OF_TYPE[taskType] ?? [],
    routable: CHAT_TYPES.has(taskType) && visibility !== 'long_tail',
    summary, summaryJson: JSON.stringify(summary),
    searchText: `${displayName}\n${id}\n${description}\n${provider}`.toLowerCase(),
    config: c,
    inputSchema: c.input_schema ?? CHAT_INPUT_SCHEMA,
    outputSchema: c.output_schema ?? CHAT_OUTPUT_SCHEMA,
  };
}

const catalogs = new WeakMap<Engine, Catalog>();

/** The Engine's catalog, built on first use (config only: available before the router profile loads). */
export function catalogOf(engine: Engine): Catalog {
  let c = catalogs.get(engine);
  if (c === undefined) {
    c = new Catalog(engine.config.providers.models);
    catalogs.set(engine, c);
  }
  return c;
}

/** The catalog view of an entry: GreatRouter's metadata, plus OpenAI's Model fields so either client can read it. */
export function entryJson(e: CatalogEntry, created: number): Record<string, unknown> {
  return {
    id: e.id, object: 'model', created, owned_by: e.provider,
    name: e.displayName, provider: e.provider, description: e.description,
    task_type: e.taskType, category: e.category, capabilities: e.capabilities, tags: e.tags,
    catalog_family: e.family, catalog_visibility: e.visibility, type: e.type,
    context_window: e.contextWindow, pricing: e.summary.pricing, price_tier: e.priceTier,
    routable: e.routable, routing_name: e.name,
  };
}

/** What GET /v1/models adds to each OpenAI Model entry (whose `id` stays the configured name, callable as `model`). */
export function listMetadata(e: CatalogEntry): Record<string, unknown> {
  return {
    catalog_id: e.id, name: e.displayName, provider: e.provider, description: e.description,
    task_type: e.taskType, category: e.category, capabilities: e.capabilities, tags: e.tags,
    catalog_family: e.family, catalog_visibility: e.visibility, type: e.type,
    context_window: e.contextWindow, price_tier: e.priceTier, routable: e.routable,
  };
}
