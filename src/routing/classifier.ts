/**
 * Task classifier: which kind of job a prompt asks for, with a confidence.
 * Deterministic, no model: weighted evidence from the one text scan
 * (text-scan.ts, lexicon.ts) plus four phrase patterns, a few µs per prompt.
 *
 * Classes (TASKS):
 *   text            general questions, chat, small talk (the fallback class)
 *   code            writing, fixing, explaining or converting programs
 *   math            arithmetic, algebra, calculus, proofs
 *   reasoning       logic, explanation, comparison, multiple choice, puzzles
 *   creative        stories, poems, lyrics, slogans, brainstorming
 *   extraction      pulling fields, entities or values out of given text
 *   summarization   condensing given text
 *   translation     between natural languages
 *   classification  labelling, categorising, sentiment
 *
 * Evidence per class (EVIDENCE below): lexicon hits, where a hit among the
 * first 24 words (where an instruction usually is) counts 1.5x and hits
 * further on count 0.5x each, at most 8 of them, so a long pasted document
 * does not outvote its one-line instruction; plus structural counts (code
 * fences, braces, option lines "A) ...", digit-operator-digit). `text` has a
 * constant base of 0.8, so a prompt with no evidence is `text`.
 *
 *   scores[c]  = evidence[c] / sum of all evidence   (sums to 1)
 *   task       = argmax (ties: TASKS order)
 *   confidence = scores[task], in (0, 1]
 *
 * The confidence is a share of evidence, not a calibrated probability: 0.9
 * does not mean right 9 times in 10. Measured accuracy, on hand-written
 * prompts and on RouterBench's three tasks (which only shows that multiple
 * choice and Python tasks are told apart), is in docs/routing-signals.md.
 * English only (the lexicon is English).
 *
 * TaskClassifier is the interface later layers wrap: a per-organisation
 * nearest-neighbour memory of corrected prompts (issue 11) can answer first
 * and fall back to this one; rules.ts takes any TaskClassifier.
 */
import { scanText, type TextScan } from './text-scan.ts';

export const TASKS = ['text', 'code', 'math', 'reasoning', 'creative', 'extraction', 'summarization', 'translation', 'classification'] as const;
export type Task = (typeof TASKS)[number];
const TASK_SET: ReadonlySet<string> = new Set(TASKS);
export const isTask = (x: unknown): x is Task => typeof x === 'string' && TASK_SET.has(x);

export interface Classification {
  task: Task;
  /** scores[task]: the winning share of evidence, in (0, 1]. */
  confidence: number;
  /** Share of evidence per class; sums to 1. */
  scores: Record<Task, number>;
}

export interface TaskClassifier {
  /** Names the classifier in decisions and logs ("heuristic-v1", or a wrapper's own id). */
  readonly id: string;
  classify(text: string): Classification;
}

// Category bit positions in TextScan.cat / catHead (lexicon.ts CAT).
const TECH = 0, CODE = 1, MATH = 3, REASON = 4, CREATIVE = 5, EXTRACT = 6, SUMMARY = 7, TRANSLATE = 8, LANGUAGE = 9, CLASSIFY = 10, QUESTION = 11, GREETING = 13;

/** Lexicon evidence for a category: head hits 1.5x, later hits 0.5x, at most 8 later hits. */
function lex(s: TextScan, c: number): number {
  const head = s.catHead[c];
  return 1.5 * head + 0.5 * Math.min(8, s.cat[c] - head);
}

// Phrase cues a word lexicon cannot see. Run on the first PATTERN_CHARS only, so a huge prompt costs no more than a long one.
const PATTERN_CHARS = 2000;
const RE_CODE = /\bdef \w+\(|\bfunction\s*\w*\s*\(|=>|#include|\bconsole\.log\b|\bSELECT\b[\s\S]*\bFROM\b|\bimport \w+/;
// '-' and '/' only with spaces around them: 2024-03-02 and 03/01 are dates, not sums.
const RE_ARITH = /\d\s*[+*^×÷=]\s*\(?\d|\d\s[-/]\s\(?\d|\d\s*%|\bx\s*[+=-]|\^\d/;
const RE_REASON = /\bstep[- ]by[- ]step\b|\bwhich of the following\b|\btrue or false\b|\bwhat is wrong with\b|\bwho is the \w+est\b/i;
const RE_SUMMARY = /\btl;?dr\b|\bkey (?:points|takeaways|action items)\b|\bin (?:one|two|three|a few) sentences\b|\bmain points\b/i;
const RE_TRANSLATE = /\bhow do (?:you|i) say\b|\btradu[cz]|\b[üÜ]bersetz|\bin (?:formal |informal )?(?:french|spanish|german|italian|japanese|korean|chinese|russian|portuguese|arabic|english)\b/i;

/** Evidence weights: what each class is credited per signal; the docs list them. */
export const EVIDENCE = {
  textBase: 0.8, greeting: 0.8, question: 0.15,
  code: 1.2, fence: 3, blockSym: 0.25, codePattern: 2,
  math: 1.2, arithmetic: 2, numbers: 0.1,
  reason: 0.9, option: 0.6, reasonPattern: 2.5,
  creative: 1.6, extraction: 1.8, summary: 2.2, summaryPattern: 2.5,
  translate: 2.5, language: 0.8, translatePattern: 2.5,
  classify: 1.6, tech: 0.2,
} as const;

const ev = new Float64Array(TASKS.length);

export function classifyScan(s: TextScan, text: string): Classification {
  const E = EVIDENCE;
  const head = text.length > PATTERN_CHARS ? text.slice(0, PATTERN_CHARS) : text;
  ev[0] = E.textBase + E.greeting * lex(s, GREETING) + E.question * lex(s, QUESTION);
  ev[1] = E.code * lex(s, CODE) + E.fence * Math.min(2, s.fences) + E.blockSym * Math.min(12, s.blockSym) + (RE_CODE.test(head) ? E.codePattern : 0) + E.tech * lex(s, TECH);
  ev[2] = E.math * lex(s, MATH) + (RE_ARITH.test(head) ? E.arithmetic : 0) + E.numbers * Math.min(10, s.numbers);
  ev[3] = E.reason * lex(s, REASON) + E.option * Math.min(5, s.optionLines) + (RE_REASON.test(head) ? E.reasonPattern : 0);
  ev[4] = E.creative * lex(s, CREATIVE);
  ev[5] = E.extraction * lex(s, EXTRACT);
  ev[6] = E.summary * lex(s, SUMMARY) + (RE_SUMMARY.test(head) ? E.summaryPattern : 0);
  ev[7] = E.translate * lex(s, TRANSLATE) + E.language * lex(s, LANGUAGE) + (RE_TRANSLATE.test(head) ? E.translatePattern : 0);
  ev[8] = E.classify * lex(s, CLASSIFY);
  let sum = 0, best = 0;
  for (let i = 0; i < ev.length; i++) { sum += ev[i]; if (ev[i] > ev[best]) best = i; }
  const scores = {} as Record<Task, number>;
  for (let i = 0; i < ev.length; i++) scores[TASKS[i]] = ev[i] / sum;
  return { task: TASKS[best], confidence: ev[best] / sum, scores };
}

export function classify(text: string): Classification {
  return classifyScan(scanText(text), text);
}

/** The built-in classifier as a TaskClassifier. */
export const heuristicClassifier: TaskClassifier = { id: 'heuristic-v1', classify };
