/**
 * Heuristic prompt complexity in [0, 1] (the 2Signal "complexity" signal):
 * deterministic, no model, one text scan (text-scan.ts) and a weighted sum.
 *
 *   score = sum_i  w_i * f_i,   f_i in [0, 1],  w_i >= 0,  sum_i w_i = 1
 *
 * Features (each saturates, so no one of them can dominate by size alone):
 *   length      ln(1 + words) / ln(1 + 500), capped at 1: 500 words and more = 1.
 *   vocabulary  half Guiraud's lexical richness distinct / sqrt(words), mapped
 *               1 -> 0 and 12 -> 1; half the share of words of 9+ letters
 *               (0.25 -> 1). Diversity per sqrt(words), not per word, because
 *               the plain type/token ratio is highest for the shortest texts.
 *   structure   half the mean sentence length (30 words -> 1), half the
 *               subordinating conjunctions per sentence (although, unless, if,
 *               because, ...; 2 -> 1).
 *   technical   1 - exp(-x / 3), x = technical + mathematics words + half the
 *               reasoning words (lexicon.ts TECH, MATH, REASON).
 *   code        1 - exp(-x / 3), x = programming words + 2 per ``` fence +
 *               { } [ ] ; / 4 + operators / 8.
 *   multistep   1 - exp(-x / 2), x = step markers (first, then, finally, ...)
 *               + list items + question marks beyond the first.
 *
 * Weights: DEFAULT_WEIGHTS, fitted by `npm run calibrate-signals` on the shared
 * RouterBench data to predict that the cheapest model (mistral-7b-chat) answers
 * wrong: a logistic regression with weights >= 0, shrunk toward the hand-set
 * PRIOR_WEIGHTS, then scaled to sum to 1 (the intercept is dropped: a monotone
 * map does not change the ranking). RouterBench holds three tasks (science
 * multiple choice, commonsense fill-in, Python); the fit knows nothing of other
 * kinds of prompt, which is why it is blended with the prior instead of used raw.
 *
 * Measured (5-fold CV, AUC for "mistral-7b-chat answers wrong", 2,217 prompts;
 * docs/routing-signals.md): shipped procedure 0.46, pure fit 0.60 (it keeps
 * only structure and code), the router profile's expected error re-fitted per
 * fold 0.60. So on this data the score does NOT predict the cheap model's
 * failures: longer, more technical prompts there are the few-shot science
 * questions the cheap model gets right most often. It is a description of the
 * prompt for rules to threshold, not a quality predictor; use the router's
 * expected error for that.
 *
 * Cost: one scan plus ~20 flops; bench/micro.ts "complexity, 200 chars"
 * measured 2.5 µs p50 (target 5 µs) on a 2-core machine at load average 12-16.
 */
import { scanText, type TextScan } from './text-scan.ts';

export const FEATURES = ['length', 'vocabulary', 'structure', 'technical', 'code', 'multistep'] as const;
export type ComplexityFeature = (typeof FEATURES)[number];
export type ComplexityWeights = Readonly<Record<ComplexityFeature, number>>;

/** Hand-set before looking at any data: what the calibration is shrunk toward. */
export const PRIOR_WEIGHTS: ComplexityWeights = { length: 0.15, vocabulary: 0.1, structure: 0.15, technical: 0.2, code: 0.2, multistep: 0.2 };

/**
 * The pure RouterBench fit (prior share 0): structure and code only, because
 * on that data the other four features go with the cheap model answering
 * RIGHT (long few-shot science questions are easier for it than short Python
 * tasks; a composition effect of three tasks). Cross-validated AUC 0.60 vs
 * 0.46 for DEFAULT_WEIGHTS (docs/routing-signals.md). Pass it as
 * `complexityWeights` to rank like that data; it ignores length, vocabulary,
 * technical terms and multi-step instructions.
 */
export const ROUTERBENCH_WEIGHTS: ComplexityWeights = { length: 0, vocabulary: 0, structure: 0.684, technical: 0, code: 0.316, multistep: 0 };

/** Calibrated (scripts/calibrate-signals.ts, see the header): half the RouterBench fit, half PRIOR_WEIGHTS; sum 1. */
export const DEFAULT_WEIGHTS: ComplexityWeights = { length: 0.075, vocabulary: 0.05, structure: 0.417, technical: 0.1, code: 0.258, multistep: 0.1 };

// Category bit positions in TextScan.cat (lexicon.ts CAT).
const TECH = 0, CODE = 1, STEP = 2, MATH = 3, REASON = 4, CLAUSE = 12;
const LN_LEN_SAT = Math.log(1 + 500);

/** The six features, in FEATURES order, written into `out` (length >= 6). */
export function complexityFeatures(s: TextScan, out: Float64Array = new Float64Array(6)): Float64Array {
  const w = s.words;
  if (w === 0) { out.fill(0); return out; }
  const c = s.cat;
  out[0] = Math.min(1, Math.log(1 + w) / LN_LEN_SAT);
  const guiraud = s.distinct / Math.sqrt(s.wordsAtCap);
  out[1] = 0.5 * Math.min(1, Math.max(0, guiraud - 1) / 11) + 0.5 * Math.min(1, s.longWords / w / 0.25);
  const sent = s.sentences > 0 ? s.sentences : 1;
  out[2] = 0.5 * Math.min(1, w / sent / 30) + 0.5 * Math.min(1, c[CLAUSE] / sent / 2);
  out[3] = 1 - Math.exp(-(c[TECH] + c[MATH] + 0.5 * c[REASON]) / 3);
  out[4] = 1 - Math.exp(-(c[CODE] + 2 * s.fences + s.blockSym / 4 + s.ops / 8) / 3);
  out[5] = 1 - Math.exp(-(c[STEP] + s.listItems + Math.max(0, s.questionMarks - 1)) / 2);
  return out;
}

const feats = new Float64Array(6);

/** Score of an already scanned text (rules.ts shares one scan between signals). */
export function complexityOfScan(s: TextScan, w: ComplexityWeights = DEFAULT_WEIGHTS): number {
  const f = complexityFeatures(s, feats);
  const x = w.length * f[0] + w.vocabulary * f[1] + w.structure * f[2] + w.technical * f[3] + w.code * f[4] + w.multistep * f[5];
  // Weights sum to 1 and features are in [0, 1]; the clamp only absorbs rounding.
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

export function complexity(text: string, w: ComplexityWeights = DEFAULT_WEIGHTS): number {
  return complexityOfScan(scanText(text), w);
}

/**
 * Issue 10's complexity_tier: SIMPLE below `medium`, COMPLEX from `complex`
 * up, MEDIUM between. Defaults 0.2 / 0.4, read off the shipped weights' spread:
 * on the hand-written fixture prompts the median score is ~0.13 and the 95th
 * percentile ~0.31, RouterBench prompts (few-shot, long) sit at 0.27-0.38, and
 * a long multi-step technical design question scores ~0.5.
 */
export type ComplexityTier = 'SIMPLE' | 'MEDIUM' | 'COMPLEX';
export const DEFAULT_COMPLEXITY_TIERS: Readonly<{ medium: number; complex: number }> = Object.freeze({ medium: 0.2, complex: 0.4 });
export function complexityTier(score: number, t: { medium: number; complex: number } = DEFAULT_COMPLEXITY_TIERS): ComplexityTier {
  return score >= t.complex ? 'COMPLEX' : score >= t.medium ? 'MEDIUM' : 'SIMPLE';
}

/** Scales non-negative weights to sum 1; throws on a negative, non-finite or all-zero set. */
export function normaliseWeights(w: Record<ComplexityFeature, number>): ComplexityWeights {
  let sum = 0;
  for (const k of FEATURES) {
    const v = w[k];
    if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`complexity weight "${k}" must be a finite number >= 0, got ${v}`);
    sum += v;
  }
  if (!(sum > 0)) throw new RangeError('complexity weights must not all be 0');
  return Object.fromEntries(FEATURES.map((k) => [k, w[k] / sum])) as ComplexityWeights;
}
