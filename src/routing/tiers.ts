/**
 * Price tiers of models, from their per-million-token prices.
 *
 * One number per model, the blended price: USD per 1M tokens at 3 input
 * tokens to 1 output token (the mix most public price comparisons use; a chat
 * prompt with history is input-heavy),
 *
 *   blended = 0.75 · input_per_1m + 0.25 · output_per_1m
 *
 * Two scales, each a list of upper bounds (inclusive), blended USD per 1M:
 *
 *   tier (issue 9, smart routing)      economy ≤ 1 < standard ≤ 5 < premium
 *   price_tier (issue 10, catalog)     economy ≤ 0.5 < standard ≤ 2 < balanced ≤ 5
 *                                      < premium ≤ 15 < flagship
 *
 * For scale, at 2024 list prices: gpt-4o-mini (0.15 / 0.60) blends to 0.26,
 * mixtral-8x7b (0.6 / 0.6) 0.6, gpt-3.5-turbo (1 / 2) 1.25, gpt-4o (2.5 / 10)
 * 4.4, claude-3.5-sonnet (3 / 15) 6, gpt-4-turbo (10 / 30) 15, claude-3-opus
 * (15 / 75) 30. Both scales' bounds are configurable (validateThresholds says
 * what is accepted). A model with no pricing has no tier (null), rather than
 * a guessed one: callers show it as unknown.
 */

export type Tier = 'economy' | 'standard' | 'premium';
export type PriceTier = 'economy' | 'standard' | 'balanced' | 'premium' | 'flagship';
export const TIERS: readonly Tier[] = ['economy', 'standard', 'premium'];
export const PRICE_TIERS: readonly PriceTier[] = ['economy', 'standard', 'balanced', 'premium', 'flagship'];

/** Share of input tokens in the blended price. */
export const BLEND_INPUT_SHARE = 0.75;

/** Upper bounds (inclusive) of every tier but the last, blended USD per 1M tokens, ascending. */
export interface TierThresholds { economy: number; standard: number }
export interface PriceTierThresholds { economy: number; standard: number; balanced: number; premium: number }

export const DEFAULT_TIER_THRESHOLDS: Readonly<TierThresholds> = Object.freeze({ economy: 1, standard: 5 });
export const DEFAULT_PRICE_TIER_THRESHOLDS: Readonly<PriceTierThresholds> = Object.freeze({ economy: 0.5, standard: 2, balanced: 5, premium: 15 });

/** Either pricing shape the project has: providers config (prompt/completion) or a router profile (input/output). */
export type PriceLike =
  | { prompt_per_1m: number; completion_per_1m: number }
  | { input_per_1m: number; output_per_1m: number };

/** Blended USD per 1M tokens, or NaN when the prices are missing or not finite numbers >= 0. */
export function blendedPrice(p: PriceLike | null | undefined): number {
  if (p == null) return NaN;
  const i = 'prompt_per_1m' in p ? p.prompt_per_1m : p.input_per_1m;
  const o = 'prompt_per_1m' in p ? p.completion_per_1m : p.output_per_1m;
  if (!(typeof i === 'number' && typeof o === 'number' && i >= 0 && o >= 0 && Number.isFinite(i) && Number.isFinite(o))) return NaN;
  return BLEND_INPUT_SHARE * i + (1 - BLEND_INPUT_SHARE) * o;
}

export function tierOf(p: PriceLike | null | undefined, t: TierThresholds = DEFAULT_TIER_THRESHOLDS): Tier | null {
  const b = blendedPrice(p);
  if (b !== b) return null;
  return b <= t.economy ? 'economy' : b <= t.standard ? 'standard' : 'premium';
}

export function priceTierOf(p: PriceLike | null | undefined, t: PriceTierThresholds = DEFAULT_PRICE_TIER_THRESHOLDS): PriceTier | null {
  const b = blendedPrice(p);
  if (b !== b) return null;
  return b <= t.economy ? 'economy' : b <= t.standard ? 'standard' : b <= t.balanced ? 'balanced' : b <= t.premium ? 'premium' : 'flagship';
}

/**
 * Problems with a thresholds object, each naming the field (`${at}.standard`):
 * exactly the expected keys, each a finite number >= 0, strictly ascending.
 * Empty when valid.
 */
export function validateThresholds(t: unknown, keys: readonly string[], at: string): string[] {
  if (typeof t !== 'object' || t === null || Array.isArray(t)) return [`${at}: must be an object with keys ${keys.join(', ')}`];
  const o = t as Record<string, unknown>;
  const out: string[] = [];
  for (const k of Object.keys(o)) if (!keys.includes(k)) out.push(`${at}.${k}: unknown field (expected ${keys.join(', ')})`);
  let prev = -Infinity, prevKey = '';
  for (const k of keys) {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) { out.push(`${at}.${k}: must be a finite number >= 0 (blended USD per 1M tokens)`); continue; }
    if (v <= prev) out.push(`${at}.${k}: must be greater than ${at}.${prevKey} (${prev})`);
    prev = v; prevKey = k;
  }
  return out;
}

export const TIER_THRESHOLD_KEYS = ['economy', 'standard'] as const;
export const PRICE_TIER_THRESHOLD_KEYS = ['economy', 'standard', 'balanced', 'premium'] as const;

/** Tier of every named model (null = no pricing). */
export function modelTiers(models: readonly { name: string; pricing?: PriceLike | null }[], t: TierThresholds = DEFAULT_TIER_THRESHOLDS): Map<string, Tier | null> {
  return new Map(models.map((m) => [m.name, tierOf(m.pricing, t)]));
}
