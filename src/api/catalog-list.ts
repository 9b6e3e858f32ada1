/**
 * Catalog filters (issue 10): GET /v1/models's query parameters and
 * POST /v1/models/query's body share one Filter and one matcher.
 *
 *   task_type, provider, category, type, catalog_family, catalog_visibility
 *       exact match
 *   capabilities   every one listed (comma-separated in a query string)
 *   routable_only  true: hide models /v1/auto/route cannot call (long_tail or not a chat type)
 *   price_tier     (query only) one of the five tiers
 *   tags           (query only) any of them
 *   text           (query only) substring of name, id, description, provider; case-insensitive
 *
 * A filter value outside its enum is a 400 naming it (a typo must not look
 * like "no such models"); values of open vocabularies (provider, task_type)
 * simply match nothing.
 */
import { invalid } from '../errors.ts';
import { MODEL_TYPES, VISIBILITIES } from '../config/catalog.ts';
import { PRICE_TIERS } from '../routing/tiers.ts';
import { catalogOf, entryJson, type CatalogEntry } from './catalog.ts';
import { describe, parseJsonObject, rejectUnknownFields, type Json } from './validate.ts';
import type { Engine } from './engine.ts';

export interface Filter {
  task_type?: string;
  provider?: string;
  category?: string;
  capabilities?: readonly string[];
  type?: string;
  catalog_family?: string;
  catalog_visibility?: string;
  routable_only?: boolean;
  price_tier?: string;
  tags?: readonly string[];
  text?: string;
}

export const LIST_FILTERS = ['task_type', 'provider', 'category', 'capabilities', 'type', 'catalog_family', 'catalog_visibility', 'routable_only'] as const;

export function matches(e: CatalogEntry, f: Filter): boolean {
  if (f.task_type !== undefined && e.taskType !== f.task_type) return false;
  if (f.provider !== undefined && e.provider !== f.provider) return false;
  if (f.category !== undefined && e.category !== f.category) return false;
  if (f.type !== undefined && e.type !== f.type) return false;
  if (f.catalog_family !== undefined && e.family !== f.catalog_family) return false;
  if (f.catalog_visibility !== undefined && e.visibility !== f.catalog_visibility) return false;
  if (f.routable_only === true && !e.routable) return false;
  if (f.price_tier !== undefined && e.priceTier !== f.price_tier) return false;
  if (f.capabilities !== undefined) for (const c of f.capabilities) if (!e.capabilities.includes(c)) return false;
  if (f.tags !== undefined && f.tags.length > 0 && !f.tags.some((t) => e.tags.includes(t))) return false;
  if (f.text !== undefined && !e.searchText.includes(f.text)) return false;
  return true;
}

function oneOf(field: string, v: string, allowed: readonly string[]): string {
  if (!allowed.includes(v)) throw invalid(field, `must be one of ${allowed.join(', ')}, got ${describe(v)}`);
  return v;
}

function bool(field: string, v: unknown): boolean {
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw invalid(field, `must be true or false, got ${describe(v)}`);
}

/** GET /v1/models's query string -> Filter (unknown parameters are a 400: a misspelt filter would otherwise list everything). */
export function filterFromQuery(query: string): Filter {
  const f: Filter = {};
  if (query === '') return f;
  for (const [k, v] of new URLSearchParams(query)) {
    switch (k) {
      case 'task_type': case 'provider': case 'category': case 'catalog_family': f[k] = v; break;
      case 'type': f.type = oneOf(k, v, MODEL_TYPES); break;
      case 'catalog_visibility': f.catalog_visibility = oneOf(k, v, VISIBILITIES); break;
      case 'capabilities': f.capabilities = v.split(',').map((s) => s.trim()).filter((s) => s !== ''); break;
      case 'routable_only': f.routable_only = bool(k, v); break;
      default: throw invalid(k.slice(0, 64), `is not a known query parameter (known: ${LIST_FILTERS.join(', ')})`);
    }
  }
  return f;
}

function str(o: Json, k: string, max = 256): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw invalid(k, `must be a non-empty string of at most ${max} characters, got ${describe(v)}`);
  return v;
}

function strList(o: Json, k: string): string[] | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!Array.isArray(v) || v.length > 64 || v.some((x) => typeof x !== 'string')) throw invalid(k, `must be an array of at most 64 strings, got ${describe(v)}`);
  return v as string[];
}

export function int(o: Json, k: string, min: number, max: number, dflt: number): number {
  const v = o[k];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(k, `must be an integer from ${min} to ${max}, got ${describe(v)}`);
  return v;
}

const QUERY_FIELDS: ReadonlySet<string> = new Set([...LIST_FILTERS, 'price_tier', 'tags', 'text', 'limit', 'offset']);

/** POST /v1/models/query's body -> Filter + page. */
export function parseQueryBody(o: Json): { filter: Filter; limit: number; offset: number } {
  rejectUnknownFields(o, QUERY_FIELDS);
  const f: Filter = {};
  for (const k of ['task_type', 'provider', 'category', 'catalog_family'] as const) { const v = str(o, k); if (v !== undefined) f[k] = v; }
  const type = str(o, 'type'); if (type !== undefined) f.type = oneOf('type', type, MODEL_TYPES);
  const vis = str(o, 'catalog_visibility'); if (vis !== undefined) f.catalog_visibility = oneOf('catalog_visibility', vis, VISIBILITIES);
  const tier = str(o, 'price_tier'); if (tier !== undefined) f.price_tier = oneOf('price_tier', tier, PRICE_TIERS);
  const caps = strList(o, 'capabilities'); if (caps !== undefined) f.capabilities = caps;
  const tags = strList(o, 'tags'); if (tags !== undefined) f.tags = tags;
  const text = str(o, 'text', 1000); if (text !== undefined) f.text = text.toLowerCase();
  if (o.routable_only !== undefined && o.routable_only !== null) f.routable_only = bool('routable_only', o.routable_only);
  return { filter: f, limit: int(o, 'limit', 1, 500, 100), offset: int(o, 'offset', 0, 1_000_000_000, 0) };
}

/** POST /v1/models/query: `{object: "list", data, total, limit, offset, has_more}` in catalog order. */
export function handleModelQuery(body: Buffer, engine: Engine): string {
  const { filter, limit, offset } = parseQueryBody(parseJsonObject(body));
  const hits = catalogOf(engine).entries.filter((e) => matches(e, filter));
  const created = engine.gateway.created;
  const data = hits.slice(offset, offset + limit).map((e) => entryJson(e, created));
  return JSON.stringify({ object: 'list', data, total: hits.length, limit, offset, has_more: offset + data.length < hits.length });
}
