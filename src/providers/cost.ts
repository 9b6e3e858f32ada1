/**
 * USD cost of a call: actual from the upstream's usage, estimated before the
 * call for budgets and headers.
 *
 * The estimate counts ~4 characters per token (OpenAI's rule of thumb for
 * English; code and non-Latin scripts use more tokens per character, so it
 * under-estimates those by up to ~2x) plus a few tokens of per-message framing.
 * Completion tokens are `max_completion_tokens` / `max_tokens` when given
 * (an upper bound: the model may stop early), else a default expectation.
 * Good enough to rank and cap; not an invoice.
 */
import type { ChatRequest, Pricing, Usage } from './types.ts';

export const CHARS_PER_TOKEN = 4;
/** Role markers and separators each message costs in chat formats (OpenAI documents ~3-4). */
export const TOKENS_PER_MESSAGE = 4;
export const DEFAULT_COMPLETION_TOKENS = 256;

const isCount = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER;

/**
 * An upstream's `usage`, if the token counts a cost is computed from are
 * counts (numbers from 0 to 2^53), else null: a string, a negative or a
 * 1e308 from a broken upstream must not become a NaN, negative or
 * exponent-notation cost.
 */
export function validUsage(u: unknown): Usage | null {
  if (u === null || typeof u !== 'object') return null;
  const o = u as Record<string, unknown>;
  return isCount(o.prompt_tokens) && isCount(o.completion_tokens) ? u as Usage : null;
}

/** A token count from an upstream, or 0 when it is not one (see validUsage). */
export function tokenCount(v: unknown): number {
  return isCount(v) ? v : 0;
}

export function costUsd(usage: Pick<Usage, 'prompt_tokens' | 'completion_tokens'>, pricing: Pricing): number {
  return (usage.prompt_tokens * pricing.prompt_per_1m + usage.completion_tokens * pricing.completion_per_1m) / 1e6;
}

/** Characters of text in the messages; image parts count as nothing (their price depends on pixels). */
export function promptChars(req: Pick<ChatRequest, 'messages'>): number {
  let n = 0;
  for (const m of req.messages) {
    const c = m.content;
    if (typeof c === 'string') n += c.length;
    else if (Array.isArray(c)) for (const p of c) if (p.type === 'text' && typeof (p as { text?: unknown }).text === 'string') n += (p as { text: string }).text.length;
  }
  return n;
}

export function estimatePromptTokens(req: Pick<ChatRequest, 'messages'>): number {
  return Math.ceil(promptChars(req) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * req.messages.length;
}

export interface CostEstimate { prompt_tokens: number; completion_tokens: number; usd: number }

export function estimateCost(
  req: Pick<ChatRequest, 'messages' | 'max_tokens' | 'max_completion_tokens'>,
  pricing: Pricing,
  defaultCompletionTokens = DEFAULT_COMPLETION_TOKENS,
): CostEstimate {
  const prompt_tokens = estimatePromptTokens(req);
  const completion_tokens = req.max_completion_tokens ?? req.max_tokens ?? defaultCompletionTokens;
  return { prompt_tokens, completion_tokens, usd: costUsd({ prompt_tokens, completion_tokens }, pricing) };
}
