/**
 * Session context for /v1/auto/suggest and /v1/auto/route (issue 10): the
 * earlier prompts of a `session_id` nudge the classification toward the
 * session's task, so a follow-up like "make it shorter" stays with the code
 * model that wrote the function.
 *
 * Storage: the store's SessionStore (issue 9's session_messages table), under
 * the session id "greatrouter:" + session_id so Feather's sessions and these
 * never mix, in the caller's organisation (issue 11: the same session_id in
 * another organisation is another session). One row per routed prompt: role
 * "greatrouter:<task>" (the task the prompt was finally routed as), content
 * the prompt's first 2,000 characters, tokens 1, so `recent(..., MAX_PROMPTS)`
 * returns exactly the newest MAX_PROMPTS prompts. Only /v1/auto/route appends; suggest reads.
 *
 * The boost: with k = how many of the newest MAX_PROMPTS prompts had the
 * session's most frequent task T,
 *
 *   contextual_boost = min(MAX_BOOST, BOOST_PER_PROMPT × k)      (0.1 per prompt, at most 0.3)
 *
 * is added to the confidence of T. When T is the prompt's own task its
 * confidence rises (capped at 1). When it is another task:
 *   - a prompt with no evidence of its own (the classifier's fallback class
 *     `text`, or no regex pattern matched: "make it shorter", "and in
 *     German?") follows the session: task T, confidence 0.5 + boost;
 *   - otherwise T wins only if its boosted confidence (1 − the winner's
 *     confidence, plus the boost) beats the winner's.
 * A switch says decision "session". A `task` hint or feedback is never
 * overridden (boost reported as 0). Cost: one indexed SQLite read of
 * at most 10 short rows (a few µs) per request that names a session.
 */
import { DEFAULT_ORG } from '../store/types.ts';
import { confidenceOf, type GrClassification } from './auto-classify.ts';
import { isRouterTask, type RouterTask } from './catalog.ts';
import type { Engine } from './engine.ts';

export const MAX_PROMPTS = 10;
export const BOOST_PER_PROMPT = 0.1;
export const MAX_BOOST = 0.3;
/** Rows kept per session (older ones are deleted on append). */
const KEEP = 50;
const PREFIX = 'greatrouter:';
const ROLE = 'greatrouter:';

export interface SessionContext {
  /** Earlier prompts read (at most MAX_PROMPTS). */
  prompts: number;
  task: RouterTask | null;
  /** Prompts of `task` among them. */
  count: number;
}

export const NO_SESSION: SessionContext = Object.freeze({ prompts: 0, task: null, count: 0 });

export async function readSession(engine: Engine, sessionId: string, org: string = DEFAULT_ORG): Promise<SessionContext> {
  const rows = await engine.store.sessions.recent(org, PREFIX + sessionId, MAX_PROMPTS);
  const counts = new Map<RouterTask, number>();
  for (const r of rows) {
    const t = r.role.startsWith(ROLE) ? r.role.slice(ROLE.length) : '';
    if (isRouterTask(t)) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  let task: RouterTask | null = null, count = 0;
  for (const [t, n] of counts) if (n > count) { task = t; count = n; }
  return { prompts: rows.length, task, count };
}

/** The classification after the session's boost, and the boost applied. */
export function applySession(c: GrClassification, s: SessionContext): { classification: GrClassification; boost: number } {
  if (s.task === null || c.decision === 'hint' || c.decision === 'feedback') return { classification: c, boost: 0 };
  const boost = Math.min(MAX_BOOST, BOOST_PER_PROMPT * s.count);
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  if (s.task === c.task) return { classification: { ...c, confidence: r3(Math.min(1, c.confidence + boost)) }, boost };
  const ambiguous = c.subtask === 'text' || (c.decision === 'regex' && c.confidence < 0.9);
  const boosted = ambiguous ? 0.5 + boost : confidenceOf(c, s.task) + boost;
  if (!ambiguous && boosted <= c.confidence) return { classification: c, boost };
  return {
    classification: { ...c, task: s.task, confidence: r3(Math.min(1, boosted)), decision: 'session', reasoning: `Session context: ${s.count} of the last ${s.prompts} prompts were ${s.task} (${c.reasoning})` },
    boost,
  };
}

/** Records a routed prompt (route awaits it before answering); a store failure goes to the caller's catch, never to the client (the answer is already computed). */
export function appendSession(engine: Engine, sessionId: string, task: RouterTask, prompt: string, org: string = DEFAULT_ORG): Promise<void> {
  return engine.store.sessions.append(org, PREFIX + sessionId, [{ role: ROLE + task, content: prompt.slice(0, 2000), tokens: 1 }], Date.now(), KEEP);
}
