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
 * held-out half (`npm run calibrate-signals`; re-run it after any change here
 * or in text-scan.ts), mean |error| / 95th percentile:
 *   cl100k_base: whole prompts 0.9% / 2.0%; paragraphs 2.7% / 7.7%
 *   o200k_base:  whole prompts 1.0% / 2.3%; paragraphs 2.7% / 7.3%
 * Plain ceil(chars / 4) (providers/cost.ts) is 4.2% / 27% on the same
 * prompts and 9.4% / 29% on the paragraphs.
 *
 * What can go wrong: the data is English prose, multiple choice and short
 * Python tasks. Other scripts (CJK, Cyrillic) and dense code are outside it;
 * the 90 hand-written fixtures (test/routing/fixtures: short questions, code,
 * a few Chinese and Spanish lines) measure that: 6.7% / 20% (cl100k), 6.6% /
 * 20% (o200k), worst 29%.
 *
 * Why not the tokenizer itself: bench/micro.ts measured 2.3 µs p50 for this
 * and 5.4 µs for gpt-tokenizer's cl100k count at 200 characters (a loaded
 * machine; the BPE figure is with its merge cache warm on the bench's small
 * vocabulary, so unusual text costs it more), and inside rules.ts the scan is
 * shared with complexity and the classifier, so the count adds ~nothing.
 * gpt-tokenizer also loads a vocabulary of ~100k-200k entries per encoding.
 * Use it where an exact count matters (billing, context limits).
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
