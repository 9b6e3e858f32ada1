/**
 * GreatRouter's classification (issue 10), shared by /v1/auto/suggest,
 * /v1/auto/route, /v1/models/price-comparison and /v1/models/route:
 *
 *   {task, confidence, reasoning, decision, content_mode, complexity_tier, complexity_score, subtask}
 *
 * `mode` (GreatRouter's "classification mode"):
 *   regex  only the patterns below, in order image, video, music, speech,
 *          web_search, code; the first that matches wins (confidence 0.9),
 *          none = text (confidence 0.6). decision "regex".
 *   auto   (default) the same patterns for the media tasks and web_search
 *          (no classifier here knows them); otherwise the rules issue's
 *          classifier (src/routing/classifier.ts, nine classes): its `code`
 *          is `code`, every other class is `text`, with the confidence the
 *          classifier's share of evidence for code (text: 1 - that share).
 *          decision "classifier"; `subtask` is the classifier's own class.
 * A `task` hint wins over both: confidence 1, decision "hint".
 *
 * content_mode: the hint, else "edit" when the prompt asks to edit / modify /
 * rewrite ..., "combine" for combine / merge / blend ..., else "generate".
 * complexity_score: src/routing/complexity.ts; complexity_tier its
 * SIMPLE / MEDIUM / COMPLEX cut (0.2 / 0.4).
 *
 * Cost: one text scan shared by the classifier and the complexity score, and
 * at most eight regex tests over the first 2,000 characters (~3-6 µs for a
 * chat-sized prompt).
 */
import { scanText } from '../routing/text-scan.ts';
import { classifyScan, type Task } from '../routing/classifier.ts';
import { complexityOfScan, complexityTier, type ComplexityTier } from '../routing/complexity.ts';
import type { RouterTask } from './catalog.ts';

export const CONTENT_MODES = ['generate', 'edit', 'combine'] as const;
export type ContentMode = (typeof CONTENT_MODES)[number];
export const CLASSIFY_MODES = ['auto', 'regex'] as const;
export type ClassifyMode = (typeof CLASSIFY_MODES)[number];

export interface GrClassification {
  task: RouterTask;
  confidence: number;
  reasoning: string;
  decision: 'hint' | 'regex' | 'classifier' | 'session' | 'feedback';
  content_mode: ContentMode;
  complexity_tier: ComplexityTier;
  complexity_score: number;
  /** The nine-class classifier's answer (auto mode), else null. */
  subtask: Task | null;
}

/** Pattern scan window: the instruction is at the start; a pasted document after it must not decide the task. */
const HEAD = 2_000;
const MEDIA = '(?:image|picture|photo|photograph|illustration|drawing|painting|logo|icon|artwork|wallpaper|portrait|poster)';
const PATTERNS: readonly (readonly [RouterTask, RegExp, string])[] = [
  ['image', new RegExp(`\\b(?:generate|create|make|draw|design|render|paint|produce|edit)\\b[^.?!\\n]{0,40}\\b${MEDIA}s?\\b|\\b${MEDIA}s? of\\b|\\bdraw (?:me )?an?\\b`, 'i'), 'Prompt requests image generation'],
  ['video', /\b(?:generate|create|make|produce|render|animate)\b[^.?!\n]{0,40}\b(?:video|clip|animation|movie)s?\b|\bvideo of\b/i, 'Prompt requests video generation'],
  ['music', /\b(?:compose|generate|create|make|produce|write)\b[^.?!\n]{0,40}\b(?:song|music|melody|beat|soundtrack|jingle|tune)s?\b(?![^.?!\n]{0,20}\blyrics\b)/i, 'Prompt requests music generation'],
  ['speech', /\b(?:text[- ]to[- ]speech|read (?:this|it|the following) (?:out )?aloud|voice-?over|narrate|speak (?:this|the following)|tts)\b/i, 'Prompt requests speech synthesis'],
  ['web_search', /\b(?:search the web|web search|look (?:it )?up online|latest news|news today|current (?:price|weather|stock)|search online)\b/i, 'Prompt needs a web search'],
  ['code', /```|\b(?:function|python|javascript|typescript|java|rust|golang|sql|regex|compile|refactor|debug|stack trace|unit test|source code)\b/i, 'Prompt is about code'],
];
const EDIT = /\b(?:edit|modify|change|fix|rewrite|revise|retouch|remove|replace|recolou?r|improve)\b/i;
const COMBINE = /\b(?:combine|merge|blend|mix|composite|splice)\b/i;

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function contentModeOf(head: string): ContentMode {
  return COMBINE.test(head) ? 'combine' : EDIT.test(head) ? 'edit' : 'generate';
}

/** Classifies `text`; `hint` (an already validated router task) and `contentMode` override. */
export function classifyPrompt(text: string, mode: ClassifyMode, hint?: RouterTask, contentMode?: ContentMode): GrClassification {
  const head = text.length > HEAD ? text.slice(0, HEAD) : text;
  const scan = scanText(text);
  const score = complexityOfScan(scan);
  const base = { content_mode: contentMode ?? contentModeOf(head), complexity_tier: complexityTier(score), complexity_score: round3(score) };
  if (hint !== undefined) return { task: hint, confidence: 1, reasoning: `Task given by the request ("${hint}")`, decision: 'hint', subtask: null, ...base };
  for (const [task, re, why] of PATTERNS) {
    // In auto mode `code` is the classifier's call: a prompt that merely mentions "python" may be a text question.
    if (mode === 'auto' && task === 'code') break;
    if (re.test(head)) return { task, confidence: 0.9, reasoning: why, decision: 'regex', subtask: null, ...base };
  }
  if (mode === 'regex') return { task: 'text', confidence: 0.6, reasoning: 'No pattern matched: a general text prompt', decision: 'regex', subtask: null, ...base };
  const c = classifyScan(scan, text);
  const code = c.task === 'code';
  const confidence = round3(code ? c.scores.code : 1 - c.scores.code);
  const reasoning = code ? 'Classifier: the prompt asks for code' : `Classifier: a ${c.task} prompt, served by text models`;
  return { task: code ? 'code' : 'text', confidence, reasoning, decision: 'classifier', subtask: c.task, ...base };
}

/** Confidence of `task` under a classification (what the session boost is added to): the winner's, else its complement spread. */
export function confidenceOf(c: GrClassification, task: RouterTask): number {
  return c.task === task ? c.confidence : round3(1 - c.confidence);
}
