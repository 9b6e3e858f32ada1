/**
 * GreatRouter's preferences (issue 11): GET /v1/preferences,
 * PUT /v1/preferences/{key} {"value": ...}, DELETE /v1/preferences/{key},
 * GET /v1/preferences/suggestions. Per organisation (the caller's); a
 * write bumps the process-wide generation (org-state.ts) so every HTTP
 * thread routes with the change from its next request.
 *
 * GET on a failing store answers the safe defaults (balanced, nothing
 * excluded) with `x-switchyard-preferences: defaults` (and a `warning`
 * member), as GreatRouter does, instead of failing: a dashboard keeps
 * working. Writes on a failing store are 503 store_unavailable.
 */
import { ApiError, invalid } from '../errors.ts';
import { StoreError } from '../store/types.ts';
import type { Engine } from './engine.ts';
import type { ResponseSink } from './sink.ts';
import { parseJsonObject, rejectUnknownFields } from './validate.ts';
import { PREFERENCE_KEYS, checkPreference, fromRows, isPreferenceKey, safeDefaults, type Preferences } from './preferences-schema.ts';
import { knownOf, orgStates, posterior, priorError } from './org-state.ts';
import { catalogOf } from './catalog.ts';

function storeFailure(e: unknown): never {
  if (e instanceof StoreError) throw new ApiError('store_unavailable', `The preference store is unavailable: ${e.message}`);
  throw e;
}

function keyOf(key: string): (typeof PREFERENCE_KEYS)[number] {
  if (!isPreferenceKey(key)) throw invalid('key', `${JSON.stringify(key.slice(0, 100))} is not a preference key; keys are ${PREFERENCE_KEYS.join(', ')}`);
  return key;
}

export async function handleGetPreferences(engine: Engine, org: string, sink: ResponseSink): Promise<void> {
  let rows;
  try {
    rows = await engine.store.org.preferences(org);
  } catch (e) {
    if (!(e instanceof StoreError)) throw e;
    sink.send(200, JSON.stringify({ object: 'preferences', organization: org, preferences: safeDefaults(), set: [], warning: 'The preference store is unavailable: these are the safe defaults.' }),
      [['x-switchyard-preferences', 'defaults']]);
    return;
  }
  const { prefs, skipped } = fromRows(rows, knownOf(engine));
  const set = rows.filter((r) => !skipped.includes(r.key)).map((r) => r.key);
  const body: Record<string, unknown> = { object: 'preferences', organization: org, preferences: prefs, set };
  if (skipped.length) body.ignored = skipped;
  sink.send(200, JSON.stringify(body), [['x-switchyard-preferences', 'stored']]);
}

export async function handlePutPreference(engine: Engine, org: string, rawKey: string, body: Buffer): Promise<string> {
  const key = keyOf(rawKey);
  const o = parseJsonObject(body);
  rejectUnknownFields(o, new Set(['value']));
  if (!('value' in o)) throw invalid('value', 'is required: {"value": ...}');
  const value = checkPreference(key, o.value, knownOf(engine));
  const at = Date.now();
  await engine.store.org.setPreference(org, key, JSON.stringify(value), at).catch(storeFailure);
  orgStates(engine).bump(org);
  return JSON.stringify({ object: 'preference', key, value, updated_at: at });
}

export async function handleDeletePreference(engine: Engine, org: string, rawKey: string): Promise<string> {
  const key = keyOf(rawKey);
  const gone = await engine.store.org.deletePreference(org, key).catch(storeFailure);
  if (!gone) throw new ApiError('preference_not_found', `The preference ${key} is not set for this organisation.`, 'key');
  orgStates(engine).bump(org);
  return JSON.stringify({ object: 'preference', key, deleted: true, value: (safeDefaults() as unknown as Record<string, unknown>)[key] });
}

/** Suggestion rules (docs/org.md): thresholds in one place. */
export const SUGGEST = {
  /** Usage window read from the activity log. */
  windowDays: 30,
  /** A model answering at least this many requests with this share of failures (5xx, client gone) is suggested for exclusion. */
  failMinRequests: 20, failShare: 0.25,
  /** A model with this many scored answers (POST /v1/feedback) whose mean posterior error is this high is suggested for exclusion. */
  badMinRatings: 5, badError: 0.6,
  /** A provider serving this share of at least failMinRequests requests is suggested as preferred. */
  preferShare: 0.7,
  /** This many task feedbacks with one corrected task holding this share suggest it as default_task (router tasks only). */
  taskMin: 5, taskShare: 0.6,
} as const;

interface Suggestion { key: string; value: unknown; reason: string; evidence: Record<string, unknown> }

export async function handleSuggestions(engine: Engine, org: string): Promise<string> {
  const s = engine.store.org;
  const [rows, usage, fb, tasks] = await Promise.all([
    s.preferences(org), s.usage(org, Date.now() - SUGGEST.windowDays * 86_400_000), s.modelFeedback(org), s.taskFeedback(org, 500),
  ]).catch(storeFailure);
  const prefs: Preferences = fromRows(rows, knownOf(engine)).prefs;
  const cat = catalogOf(engine);
  const out: Suggestion[] = [];
  const exclude = new Map<string, { reason: string; evidence: Record<string, unknown> }>();

  for (const u of usage) {
    if (u.requests >= SUGGEST.failMinRequests && u.errors / u.requests >= SUGGEST.failShare && !prefs.excluded_models.includes(u.model)) {
      exclude.set(u.model, { reason: `${u.model} failed ${u.errors} of ${u.requests} requests in ${SUGGEST.windowDays} days`, evidence: { requests: u.requests, failures: u.errors } });
    }
  }
  const r = engine.ready;
  if (r) {
    const byModel = new Map<string, { n: number; err: number }>();
    for (const f of fb) {
      const m = r.router.modelIndex.get(f.model);
      if (m === undefined) continue;
      const a = byModel.get(f.model) ?? { n: 0, err: 0 };
      a.n += f.n;
      a.err += posterior(priorError(r, f.cluster, m), f.n, f.errSum) * f.n;
      byModel.set(f.model, a);
    }
    for (const [model, a] of byModel) {
      const mean = a.err / a.n;
      if (a.n >= SUGGEST.badMinRatings && mean >= SUGGEST.badError && !prefs.excluded_models.includes(model) && !exclude.has(model)) {
        exclude.set(model, { reason: `${model}'s answers were scored badly: posterior error ${mean.toFixed(2)} over ${a.n} ratings`, evidence: { ratings: a.n, posterior_error: mean } });
      }
    }
  }
  for (const [model, e] of exclude) out.push({ key: 'excluded_models', value: [...prefs.excluded_models, model], ...e });

  const total = usage.reduce((n, u) => n + u.requests, 0);
  if (total >= SUGGEST.failMinRequests) {
    const byProvider = new Map<string, number>();
    for (const u of usage) { const p = cat.find(u.model)?.provider; if (p) byProvider.set(p, (byProvider.get(p) ?? 0) + u.requests); }
    for (const [p, n] of byProvider) {
      if (n / total >= SUGGEST.preferShare && !prefs.preferred_providers.includes(p)) {
        out.push({ key: 'preferred_providers', value: [...prefs.preferred_providers, p], reason: `${p} served ${n} of ${total} requests in ${SUGGEST.windowDays} days`, evidence: { requests: n, total } });
      }
    }
  }

  const corrected = new Map<string, number>();
  let nTasks = 0;
  for (const t of tasks) {
    const task = t.correct ? t.classifiedTask : t.suggestedTask;
    if (task === null) continue;
    nTasks++;
    corrected.set(task, (corrected.get(task) ?? 0) + 1);
  }
  if (nTasks >= SUGGEST.taskMin) {
    for (const [task, n] of corrected) {
      if (n / nTasks >= SUGGEST.taskShare && prefs.default_task !== task) {
        try { checkPreference('default_task', task, knownOf(engine)); } catch { continue; }
        out.push({ key: 'default_task', value: task, reason: `${n} of ${nTasks} task feedbacks name ${task}`, evidence: { feedback: n, total: nTasks } });
      }
    }
  }
  return JSON.stringify({ object: 'list', organization: org, data: out, rules: SUGGEST });
}
