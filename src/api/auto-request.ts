/**
 * GreatRouter request bodies (issue 10): raw JSON -> typed request for
 * /v1/auto/suggest, /v1/auto/route, /v1/models/price-comparison, and the
 * steps they share before ranking (classify, session boost, the prompt's
 * expected error per model, token counts). Each failure is a 400 naming the
 * field; unknown fields are refused (a misspelt `budget_dollar` must not
 * silently mean "no budget").
 */
import { withOrg, type CompiledOrg } from './org-state.ts';
import { correctTask, withOrgDefaults } from './auto-org.ts';
import { ApiError, invalid } from '../errors.ts';
import { NoCandidateError } from '../routing/router.ts';
import { estimateTokens } from '../routing/tokens.ts';
import { TOKENS_PER_MESSAGE } from '../providers/cost.ts';
import { CLASSIFY_MODES, CONTENT_MODES, classifyPrompt, type ClassifyMode, type ContentMode, type GrClassification } from './auto-classify.ts';
import { OPTIMIZATIONS, type Optimization } from './auto-rank.ts';
import { applySession, NO_SESSION, readSession, type SessionContext } from './auto-session.ts';
import { ROUTER_TASKS, catalogOf, type CatalogEntry, type RouterTask } from './catalog.ts';
import { poolSearch, type Engine, type Ready } from './engine.ts';
import { describe, parseJsonObject, rejectUnknownFields, type Json } from './validate.ts';

export interface AutoRequest {
  prompt: string | undefined;
  input: Json | undefined;
  task: RouterTask | undefined;
  contentMode: ContentMode | undefined;
  optimization: Optimization;
  mode: ClassifyMode;
  limit: number;
  sessionId: string | undefined;
  budget: number | undefined;
  taxonomy: string | undefined;
  provider: string | undefined;
  family: string | undefined;
  model: CatalogEntry | undefined;
  feedback: { correct: boolean; suggested_task: RouterTask | undefined } | undefined;
  /** The caller's organisation's compiled preferences and task memory (issue 11, auto-org.ts); set by the handler. */
  org?: CompiledOrg;
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(o: Json, k: string, max: number): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw invalid(k, `must be a non-empty string, got ${describe(v)}`);
  if (v.length > max) throw invalid(k, `is ${v.length} characters, over the limit of ${max}`);
  return v;
}

function oneOf<T extends string>(o: Json, k: string, allowed: readonly T[]): T | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw invalid(k, `must be one of ${allowed.join(', ')}, got ${describe(v)}`);
  return v as T;
}

export function budgetOf(o: Json, k = 'budget_dollars'): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw invalid(k, `must be a number of USD >= 0, got ${describe(v)}`);
  return v;
}

export function modelOf(engine: Engine, v: string | undefined): CatalogEntry | undefined {
  if (v === undefined) return undefined;
  const e = catalogOf(engine).find(v);
  if (e === undefined) throw new ApiError('model_not_found', `No catalog model ${JSON.stringify(v.slice(0, 256))} (ids are provider/model: GET /v1/models/query lists them).`, 'model');
  return e;
}

const FIELDS = {
  suggest: new Set(['prompt', 'input', 'task', 'content_mode', 'optimization', 'mode', 'limit', 'session_id', 'budget_dollars', 'taxonomy', 'provider', 'catalog_family', 'model']),
  route: new Set(['prompt', 'input', 'task', 'content_mode', 'optimization', 'mode', 'session_id', 'budget_dollars', 'taxonomy', 'provider', 'catalog_family', 'model', 'feedback']),
  compare: new Set(['prompt', 'task', 'optimization', 'budget_dollars', 'mode']),
} as const;

/** One of the three bodies; `kind` picks the fields allowed and which are required. */
/**
 * The prologue every /v1/auto/* and price-comparison handler shares: parse the
 * body, fill what it leaves out from the caller's organisation (when there is
 * one: its compiled preferences, loaded once per change), then hand on.
 */
export function withAutoRequest<T>(body: Buffer, engine: Engine, org: string | undefined, kind: keyof typeof FIELDS, f: (req: AutoRequest, c?: CompiledOrg) => T): T | Promise<Awaited<T>> {
  const o = parseJsonObject(body);
  if (org === undefined) return f(parseAutoRequest(o, engine, kind));
  return withOrg(engine, org, (c) => f(parseAutoRequest(withOrgDefaults(o, c), engine, kind), c));
}

export function parseAutoRequest(o: Json, engine: Engine, kind: keyof typeof FIELDS): AutoRequest {
  rejectUnknownFields(o, FIELDS[kind]);
  const maxChars = engine.config.limits.input_chars;
  const prompt = str(o, 'prompt', maxChars);
  if (prompt === undefined && kind !== 'compare') throw invalid('prompt', 'is required (a non-empty string)');
  let input: Json | undefined;
  if (o.input !== undefined && o.input !== null) {
    if (!isObj(o.input)) throw invalid('input', `must be an object ({messages, parameters}), got ${describe(o.input)}`);
    input = o.input;
  } else if (kind === 'route') throw invalid('input', 'is required ({messages: [...], parameters?: {...}})');
  let limit = 5;
  if (o.limit !== undefined && o.limit !== null) {
    if (typeof o.limit !== 'number' || !Number.isInteger(o.limit) || o.limit < 1 || o.limit > 20) throw invalid('limit', `must be an integer from 1 to 20, got ${describe(o.limit)}`);
    limit = o.limit;
  }
  const sessionId = str(o, 'session_id', 128);
  let feedback: AutoRequest['feedback'];
  if (o.feedback !== undefined && o.feedback !== null) {
    const f = o.feedback;
    if (!isObj(f)) throw invalid('feedback', `must be an object {correct, suggested_task?}, got ${describe(f)}`);
    if (typeof f.correct !== 'boolean') throw invalid('feedback.correct', `must be a boolean, got ${describe(f.correct)}`);
    feedback = { correct: f.correct, suggested_task: oneOf(f, 'suggested_task', ROUTER_TASKS) };
  }
  return {
    prompt, input,
    task: oneOf(o, 'task', ROUTER_TASKS) ?? (kind === 'compare' && prompt === undefined ? 'text' : undefined),
    contentMode: oneOf(o, 'content_mode', CONTENT_MODES),
    optimization: oneOf(o, 'optimization', OPTIMIZATIONS) ?? 'balanced',
    mode: oneOf(o, 'mode', CLASSIFY_MODES) ?? 'auto',
    limit, sessionId,
    budget: budgetOf(o),
    taxonomy: str(o, 'taxonomy', 128), provider: str(o, 'provider', 128), family: str(o, 'catalog_family', 256),
    model: modelOf(engine, str(o, 'model', 512)),
    feedback,
  };
}

/** Estimated prompt tokens: the input's messages when given (what is sent upstream), else the prompt. */
export function inputTokens(req: Pick<AutoRequest, 'prompt' | 'input'>): number {
  const msgs = req.input?.messages;
  if (Array.isArray(msgs)) {
    let n = 0;
    for (const m of msgs) {
      const c = isObj(m) ? m.content : undefined;
      if (typeof c === 'string') n += estimateTokens(c);
      else if (Array.isArray(c)) for (const p of c) if (isObj(p) && typeof p.text === 'string') n += estimateTokens(p.text);
      n += TOKENS_PER_MESSAGE;
    }
    return n;
  }
  return req.prompt === undefined ? 0 : estimateTokens(req.prompt) + TOKENS_PER_MESSAGE;
}

/** input.parameters.max_tokens (or max_completion_tokens) when a positive integer: the cap on expected output tokens. */
export function maxTokensOf(input: Json | undefined): number | undefined {
  const p = input?.parameters;
  if (!isObj(p)) return undefined;
  const v = p.max_completion_tokens ?? p.max_tokens;
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : undefined;
}

/**
 * The prompt's expected error per profile model (Router.route at λ = 0: its
 * scores are then the expected errors), inline or after the route pool's
 * search; all NaN when no model has an estimate in the cluster.
 */
export function expectedErrors(r: Ready, text: string): Float64Array | Promise<Float64Array> {
  const out = new Float64Array(r.router.models.length);
  const decide = (v: Float32Array, near: { ids: Int32Array; sims: Float32Array } | undefined): Float64Array => {
    try { r.router.routeNear(v, near, { costWeight: 0, scores: out }); } catch (e) {
      if (!(e instanceof NoCandidateError)) throw e;
      out.fill(NaN);
    }
    return out;
  };
  const after = (v: Float32Array) => {
    const nb = poolSearch(r, v);
    return nb === undefined ? decide(v, undefined) : nb.then((n) => decide(v, n));
  };
  if (r.source.kind === 'sync') return after(r.source.embedder.embedSync(text, r.scratch));
  return r.source.backend.embed(text).then(after);
}

export interface Prepared {
  classification: GrClassification;
  session: SessionContext;
  boost: number;
  classificationMs: number;
}

/** Classification with the session's boost and the feedback override: sync unless a session must be read. */
export function prepare(engine: Engine, req: AutoRequest): Prepared | Promise<Prepared> {
  const t0 = performance.now();
  let c = classifyPrompt(req.prompt ?? '', req.mode, req.task, req.contentMode);
  // Feedback saying the classifier was wrong, with the right task: route as that task (issue 11 will learn from it).
  if (req.feedback?.correct === false && req.feedback.suggested_task !== undefined && req.task === undefined) {
    c = { ...c, task: req.feedback.suggested_task, confidence: 1, decision: 'feedback', reasoning: `Task corrected by feedback ("${req.feedback.suggested_task}")` };
  } else if (req.org !== undefined && req.task === undefined) c = correctTask(engine, req.org, req.prompt ?? '', c);
  if (req.sessionId === undefined) return { classification: c, session: NO_SESSION, boost: 0, classificationMs: performance.now() - t0 };
  return readSession(engine, req.sessionId, req.org?.org).then((s) => {
    const a = applySession(c, s);
    return { classification: a.classification, session: s, boost: a.boost, classificationMs: performance.now() - t0 };
  });
}
