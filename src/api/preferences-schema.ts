/**
 * The preference keys of GreatRouter's /v1/preferences, their validation and
 * their safe defaults. A value is checked against the configured models and
 * providers (catalog.ts), so a typo is a 400 naming the key and the value,
 * not a silent no-op.
 */
import { invalid } from '../errors.ts';
import { describe } from './validate.ts';
import { ROUTER_TASKS } from './catalog.ts';
import { CONTENT_MODES } from './auto-classify.ts';

export const OPTIMIZATIONS = ['balanced', 'price-optimized', 'output-optimized'] as const;
export type Optimization = (typeof OPTIMIZATIONS)[number];

export const PREFERENCE_KEYS = ['default_optimization', 'default_task', 'excluded_providers', 'excluded_models', 'preferred_providers', 'content_mode_default', 'default_cost_weight'] as const;
export type PreferenceKey = (typeof PREFERENCE_KEYS)[number];
export const isPreferenceKey = (k: string): k is PreferenceKey => (PREFERENCE_KEYS as readonly string[]).includes(k);

export interface Preferences {
  default_optimization: Optimization;
  default_task: string | null;
  excluded_providers: string[];
  excluded_models: string[];
  preferred_providers: string[];
  content_mode_default: string | null;
  default_cost_weight: number | null;
}

/** What GET answers for an organisation that set nothing, and when the store fails. */
export function safeDefaults(): Preferences {
  return { default_optimization: 'balanced', default_task: null, excluded_providers: [], excluded_models: [], preferred_providers: [], content_mode_default: null, default_cost_weight: null };
}

/**
 * How default_optimization moves λ when neither the request nor
 * default_cost_weight sets it: balanced keeps the profile's default,
 * price-optimized multiplies it by 4, output-optimized makes it 0 (quality only).
 */
export const OPTIMIZATION_LAMBDA: Readonly<Record<Optimization, number>> = { 'balanced': 1, 'price-optimized': 4, 'output-optimized': 0 };

/** What a value is checked against. */
export interface Known {
  models: ReadonlySet<string>;
  providers: ReadonlySet<string>;
}

const MAX_LIST = 200;

function list(key: string, v: unknown, known: ReadonlySet<string>, what: string): string[] {
  if (!Array.isArray(v)) throw invalid(`value`, `${key} must be an array of ${what} names, got ${describe(v)}`);
  if (v.length > MAX_LIST) throw invalid('value', `${key} holds at most ${MAX_LIST} names, got ${v.length}`);
  const out: string[] = [];
  for (let i = 0; i < v.length; i++) {
    const s = v[i];
    if (typeof s !== 'string' || !known.has(s)) {
      const shown = typeof s === 'string' ? JSON.stringify(s.slice(0, 200)) : describe(s);
      const list = known.size <= 30 ? ` (known: ${[...known].join(', ')})` : '';
      throw invalid(`value[${i}]`, `${key}: ${shown} is not a configured ${what}${list}`);
    }
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

function oneOf(key: string, v: unknown, allowed: readonly string[]): string {
  if (typeof v !== 'string' || !allowed.includes(v)) throw invalid('value', `${key} must be one of ${allowed.join(', ')}, got ${describe(v)}`);
  return v;
}

/** The checked value of `key` (normalised: lists deduplicated). Throws 400 invalid_request naming the key. */
export function checkPreference(key: PreferenceKey, v: unknown, known: Known): unknown {
  switch (key) {
    case 'default_optimization': return oneOf(key, v, OPTIMIZATIONS);
    case 'default_task': return oneOf(key, v, ROUTER_TASKS);
    case 'content_mode_default': return oneOf(key, v, CONTENT_MODES);
    case 'excluded_models': return list(key, v, known.models, 'model');
    case 'excluded_providers':
    case 'preferred_providers': return list(key, v, known.providers, 'provider');
    case 'default_cost_weight':
      if (typeof v !== 'number' || !(v >= 0 && v <= 1e6)) throw invalid('value', `default_cost_weight must be a number in [0, 1e6], got ${describe(v)}`);
      return v;
  }
}

/** Stored rows -> Preferences over the defaults; a row that no longer passes (a model removed from the config) is skipped. */
export function fromRows(rows: readonly { key: string; value: string }[], known: Known): { prefs: Preferences; skipped: string[] } {
  const prefs = safeDefaults() as unknown as Record<string, unknown>;
  const skipped: string[] = [];
  for (const r of rows) {
    if (!isPreferenceKey(r.key)) { skipped.push(r.key); continue; }
    try { prefs[r.key] = checkPreference(r.key, JSON.parse(r.value), known); } catch { skipped.push(r.key); }
  }
  return { prefs: prefs as unknown as Preferences, skipped };
}
