/**
 * Prompt token count by a calibrated ESTIMATE, not a tokenizer: a linear
 * function of counts from the one text scan (text-scan.ts),
 *
 *   tokens ≈ c0 + c1·words + c2·punctuation + c3·code symbols + c4·digits
 *            + c5·non-ASCII units + c6·newlines + c7·Σ max(0, word length − 6)
 *            + c8·capitals
 *
 * with coefficients per BPE vocabulary fitted by `npm run calibrate-signals`
 * (least squares on relative error, on a seeded half of the distinct shared
 * RouterBench prompts and paragraphs). Measured against gpt-tokenizer on the
 * held-out half (figures in docs/routing-signals.md; re-run the script after
 * any change here or in text-scan.ts):
 *   cl100k_base: whole prompts mean |error| ~1%, p95 ~2%; paragraphs ~2.6%, p95 ~8%
 *   o200k_base:  about the same.
 * Plain chars/4 (providers/cost.ts) is ~4.5% / p95 ~28% on the same prompts.
 *
 * What can go wrong: the data is English prose, multiple choice and short
 * Python tasks. Other scripts (CJK, Cyrillic) and dense code are outside it;
 * the hand-written fixtures (test/routing/fixtures) measure that, with larger
 * errors (see the docs). A real BPE tokenizer costs ~10-50 µs per 200
 * characters in JS; this costs nothing beyond the shared scan, which is why
 * routing uses it. Use gpt-tokenizer where an exact count matters (billing).
 */
import { scanText, type TextScan } from './text-scan.ts';

export const TOKEN_MODELS = ['cl100k_base', 'o200k_base'] as const;
export type TokenModel = (typeof TOKEN_MODELS)[number];

/** Coefficients for tokenFeatures' columns, from scripts/calibrate-signals.ts. */
export const TOKEN_COEFFICIENTS: Readonly<Record<TokenModel, readonly number[]>> = {
  cl100k_base: [0.1230, 0.9592, 0.8943, 0.1100, 0.5826, 0.5398, 0.3092, 0.0622, 0.4169],
  o200k_base: [0.1192, 0.9612, 0.8934, 0.0345, 0.6352, 0.5230, 0.2922, 0.0638, 0.3858],
};

/** The regression's columns (the first is the constant). */
export function tokenFeatures(s: TextScan): number[] {
  return [1, s.words, s.punct, s.codeSym, s.digits, s.nonAscii, s.newlines, s.wordExcess, s.upper];
}

/** Estimated tokens of an already scanned text: an integer >= 1 for a non-empty text, 0 for an empty one. */
export function tokensOfScan(s: TextScan, model: TokenModel = 'cl100k_base'): number {
  if (s.chars === 0) return 0;
  const c = TOKEN_COEFFICIENTS[model];
  const x = c[0] + c[1] * s.words + c[2] * s.punct + c[3] * s.codeSym + c[4] * s.digits + c[5] * s.nonAscii
    + c[6] * s.newlines + c[7] * s.wordExcess + c[8] * s.upper;
  return x < 1 ? 1 : Math.round(x);
}

export function estimateTokens(text: string, model: TokenModel = 'cl100k_base'): number {
  return tokensOfScan(scanText(text), model);
}
