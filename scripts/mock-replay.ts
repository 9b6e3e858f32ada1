/**
 * Recorded answers for the mock upstream's replay mode: RouterBench rows hold
 * each model's real response to each prompt in `<model>|model_response`.
 * Kept apart from src/fit/dataset.ts, which loads scores and costs for fitting
 * and has no use for megabytes of answer text.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { decodePythonListPrompt } from '../src/fit/dataset.ts';

const SUFFIX = '|model_response';

export interface RecordedResponses {
  models: string[];
  /** prompt text -> model -> recorded answer. Indexed by the decoded prompt, its raw CSV form, and both trimmed. */
  byPrompt: Map<string, Map<string, string>>;
  rows: number;
}

export function loadRecordedResponses(files: readonly string[]): RecordedResponses {
  const byPrompt = new Map<string, Map<string, string>>();
  const models = new Set<string>();
  let rows = 0;
  for (const file of files) {
    const recs: Record<string, string>[] = parse(readFileSync(file), { columns: true, skip_empty_lines: true });
    if (recs.length === 0) continue;
    const cols = Object.keys(recs[0]).filter((c) => c.endsWith(SUFFIX));
    for (const c of cols) models.add(c.slice(0, -SUFFIX.length));
    for (const r of recs) {
      if (typeof r.prompt !== 'string') continue;
      rows++;
      const answers = new Map<string, string>();
      for (const c of cols) {
        const v = r[c];
        if (v !== undefined && v !== '') answers.set(c.slice(0, -SUFFIX.length), v);
      }
      const decoded = decodePythonListPrompt(r.prompt);
      for (const key of new Set([decoded, r.prompt, decoded.trim(), r.prompt.trim()])) if (!byPrompt.has(key)) byPrompt.set(key, answers);
    }
  }
  return { models: [...models], byPrompt, rows };
}

/** Every RouterBench CSV in `dir`. */
export function loadRecordedResponsesDir(dir: string): RecordedResponses {
  const files = readdirSync(dir).filter((f) => f.endsWith('.csv')).sort().map((f) => join(dir, f));
  if (files.length === 0) throw new Error(`no .csv files in ${dir}`);
  return loadRecordedResponses(files);
}
