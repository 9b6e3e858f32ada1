/**
 * An organisation's preferences and task feedback on GreatRouter's
 * /v1/auto/* endpoints (issue 11):
 *
 *   content_mode_default, default_optimization   fill `content_mode` and
 *       `optimization` when the request leaves them out
 *   task                                         when the request gives no
 *       `task` hint: the organisation's task memory (prompts it corrected
 *       through POST /v1/auto/feedback, routing/task-memory.ts) answers
 *       first; else default_task acts as the hint; else the classifier
 *   excluded_models / excluded_providers          never ranked (auto-rank
 *       sees them as unavailable)
 */
import type { Json } from './validate.ts';
import type { CompiledOrg } from './org-state.ts';
import type { Engine } from './engine.ts';
import { isRouterTask, type RouterTask } from './catalog.ts';
import type { GrClassification } from './auto-classify.ts';
import { isTask } from '../routing/classifier.ts';

/** The request object with the organisation's defaults where it set nothing (a shallow copy when anything changes). */
export function withOrgDefaults(o: Json, c: CompiledOrg): Json {
  const p = c.prefs;
  const fill: Json = {};
  if ((o.content_mode === undefined || o.content_mode === null) && p.content_mode_default !== null) fill.content_mode = p.content_mode_default;
  if ((o.optimization === undefined || o.optimization === null) && p.default_optimization !== 'balanced') fill.optimization = p.default_optimization;
  return Object.keys(fill).length === 0 ? o : { ...o, ...fill };
}

/** The classification after the organisation's memory and default_task (only when the request gave no task hint). */
export function correctTask(engine: Engine, c: CompiledOrg, prompt: string, cls: GrClassification): GrClassification {
  const r = engine.ready;
  if (c.memory !== null && r !== undefined && r.source.kind === 'sync' && prompt !== '') {
    const hit = c.memory.lookup(r.source.embedder.embedSync(prompt));
    if (hit !== undefined) {
      const task: RouterTask = isRouterTask(hit.task) ? hit.task : hit.task === 'code' ? 'code' : 'text';
      return {
        ...cls, task, confidence: Math.round(hit.confidence * 1000) / 1000, decision: 'feedback',
        reasoning: `This organisation's feedback: ${hit.neighbours} similar corrected prompt(s), nearest at cosine ${hit.similarity.toFixed(3)}, say ${hit.task}`,
        subtask: isTask(hit.task) ? hit.task : cls.subtask,
      } as GrClassification;
    }
  }
  const d = c.prefs.default_task;
  if (d !== null && isRouterTask(d)) return { ...cls, task: d, confidence: 1, decision: 'hint', reasoning: `This organisation's default_task preference ("${d}")` } as GrClassification;
  return cls;
}
