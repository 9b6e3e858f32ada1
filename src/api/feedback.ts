/**
 * Feedback (issue 11).
 *
 * POST /v1/feedback {request_id, score}: score in [0, 1] (1 = a good
 * answer) or "good" (1) / "bad" (0), on a request the gateway routed for
 * this organisation (found in its activity log: model executed, cluster).
 * Adds one observation of error 1 - score to that organisation's evidence
 * for (cluster, model); routing for that organisation, on a prompt whose
 * nearest cluster is that one, then uses
 *
 *   posterior = (PRIOR_STRENGTH x estimate + sum(1 - score)) / (PRIOR_STRENGTH + n)
 *
 * in place of the profile's estimate for the prompt (mixed over its nearest
 * clusters under soft assignment; org-state.ts, PRIOR_STRENGTH = 10).
 * Other organisations keep the profile's estimate. The answer's prior_error /
 * posterior_error use the cluster's own profile estimate as the prior.
 *
 * GET /v1/feedback: the organisation's evidence with prior and posterior.
 * DELETE /v1/feedback[?model=…&cluster=…]: resets all of it, one model's, or
 * one cell; routing goes back to the profile's estimates.
 *
 * POST /v1/auto/feedback (GreatRouter): {prompt, classified_task, correct,
 * confidence, suggested_task}: stored; prompts with a corrected (or
 * confirmed) task join the organisation's task memory (routing/task-memory.ts),
 * which /v1/auto/* consult before the classifier.
 */
import { ApiError, invalid } from '../errors.ts';
import { StoreError } from '../store/types.ts';
import { TASKS } from '../routing/classifier.ts';
import { ROUTER_TASKS } from './catalog.ts';
import type { Engine } from './engine.ts';
import { describe, parseJsonObject, rejectUnknownFields, text } from './validate.ts';
import { orgStates, posterior, priorError, PRIOR_STRENGTH } from './org-state.ts';

function storeFailure(e: unknown): never {
  if (e instanceof StoreError) throw new ApiError('store_unavailable', `The feedback store is unavailable: ${e.message}`);
  throw e;
}

const FEEDBACK_FIELDS = new Set(['request_id', 'score', 'comment']);

export function parseScore(v: unknown): number {
  if (v === 'good') return 1;
  if (v === 'bad') return 0;
  if (typeof v === 'number' && v >= 0 && v <= 1) return v;
  throw invalid('score', `must be a number in [0, 1] or "good" / "bad", got ${describe(v)}`);
}

export async function handleFeedback(engine: Engine, org: string, body: Buffer): Promise<string> {
  const o = parseJsonObject(body);
  rejectUnknownFields(o, FEEDBACK_FIELDS);
  if (typeof o.request_id !== 'string' || o.request_id === '' || o.request_id.length > 128) throw invalid('request_id', `must be the x-request-id of a routed request, got ${describe(o.request_id)}`);
  const score = parseScore(o.score);
  if (o.comment !== undefined && typeof o.comment !== 'string') throw invalid('comment', `must be a string, got ${describe(o.comment)}`);
  const r = engine.require();
  const row = await engine.store.org.logByRequest(org, o.request_id).catch(storeFailure);
  if (row === undefined) throw new ApiError('request_not_found', `No routed request ${JSON.stringify(o.request_id)} is in this organisation's activity log (it is written up to state.logs.flush_ms after the response).`, 'request_id');
  const model = row.modelExecuted;
  const m = model === null ? undefined : r.router.modelIndex.get(model);
  if (model === null || m === undefined || row.cluster === null || row.cluster < 0 || row.cluster >= r.profile.k) {
    throw invalid('request_id', `request ${o.request_id} was not answered by a routed model of the profile (model ${JSON.stringify(model)}, cluster ${row.cluster}): feedback updates per-cluster estimates of routed requests`);
  }
  const cell = await engine.store.org.addModelFeedback(org, row.cluster, model, 1 - score, Date.now()).catch(storeFailure);
  orgStates(engine).bump(org);
  const prior = priorError(r, row.cluster, m);
  return JSON.stringify({
    object: 'feedback', request_id: o.request_id, model, cluster_id: row.cluster, score,
    prior_error: prior, prior_strength: PRIOR_STRENGTH, ratings: cell.n, posterior_error: posterior(prior, cell.n, cell.errSum),
  });
}

export async function handleListFeedback(engine: Engine, org: string): Promise<string> {
  const r = engine.require();
  const rows = await engine.store.org.modelFeedback(org).catch(storeFailure);
  const data = rows.map((f) => {
    const m = r.router.modelIndex.get(f.model);
    const prior = m === undefined ? null : priorError(r, f.cluster, m);
    return { model: f.model, cluster_id: f.cluster, ratings: f.n, mean_error: f.errSum / f.n, prior_error: prior, posterior_error: prior === null ? null : posterior(prior, f.n, f.errSum), updated_at: f.updatedAt };
  });
  return JSON.stringify({ object: 'list', organization: org, prior_strength: PRIOR_STRENGTH, data });
}

export async function handleResetFeedback(engine: Engine, org: string, query: string): Promise<string> {
  const q = new URLSearchParams(query);
  for (const k of q.keys()) if (k !== 'model' && k !== 'cluster') throw invalid(k, 'is not a parameter; use model and/or cluster');
  const model = q.get('model') ?? undefined;
  let cluster: number | undefined;
  const c = q.get('cluster');
  if (c !== null) {
    cluster = Number(c);
    if (!/^\d{1,9}$/.test(c)) throw invalid('cluster', `must be a cluster id (a non-negative integer), got ${JSON.stringify(c.slice(0, 50))}`);
  }
  const deleted = await engine.store.org.resetModelFeedback(org, model, cluster).catch(storeFailure);
  orgStates(engine).bump(org);
  return JSON.stringify({ object: 'feedback.reset', organization: org, model: model ?? null, cluster_id: cluster ?? null, deleted });
}

const AUTO_FIELDS = new Set(['prompt', 'classified_task', 'correct', 'confidence', 'suggested_task']);
const TASK_NAMES: readonly string[] = [...new Set<string>([...ROUTER_TASKS, ...TASKS])];

function task(v: unknown, field: string): string {
  if (typeof v !== 'string' || !TASK_NAMES.includes(v)) throw invalid(field, `must be one of ${TASK_NAMES.join(', ')}, got ${describe(v)}`);
  return v;
}

export async function handleAutoFeedback(engine: Engine, org: string, body: Buffer): Promise<string> {
  const o = parseJsonObject(body);
  rejectUnknownFields(o, AUTO_FIELDS);
  const prompt = text(o.prompt, 'prompt', engine.config.limits.input_chars);
  if (prompt.trim() === '') throw invalid('prompt', 'must hold some text');
  const classifiedTask = task(o.classified_task, 'classified_task');
  if (typeof o.correct !== 'boolean') throw invalid('correct', `must be true or false, got ${describe(o.correct)}`);
  let confidence: number | null = null;
  if (o.confidence !== undefined && o.confidence !== null) {
    if (typeof o.confidence !== 'number' || !(o.confidence >= 0 && o.confidence <= 1)) throw invalid('confidence', `must be a number in [0, 1], got ${describe(o.confidence)}`);
    confidence = o.confidence;
  }
  const suggestedTask = o.suggested_task === undefined || o.suggested_task === null ? null : task(o.suggested_task, 'suggested_task');
  await engine.store.org.addTaskFeedback(org, { prompt, classifiedTask, correct: o.correct, confidence, suggestedTask, createdAt: Date.now() }).catch(storeFailure);
  orgStates(engine).bump(org);
  const learned = o.correct || suggestedTask !== null;
  return JSON.stringify({ object: 'feedback', stored: true, learned, task: o.correct ? classifiedTask : suggestedTask });
}
