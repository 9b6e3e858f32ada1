/**
 * Labelled routing data: prompts x models with a quality score in [0, 1]
 * (1 = correct) and the USD cost of each call. NaN means unknown, never 0:
 * a missing label must not count as a failure when fitting.
 *
 * Two input formats:
 *  - RouterBench CSV (see ../shared/data/README.md): one column per model with
 *    correctness, `<model>|total_cost` with the cost, `prompt`, `eval_name`.
 *  - JSONL, one object per line:
 *      {"prompt": "...", "scores": {"model-a": 1, "model-b": 0.4},
 *       "cost_usd": {"model-a": 0.0021, "model-b": 0.0003}, "group": "optional tag"}
 *    Models absent from a line are unknown for that prompt.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse } from 'csv-parse/sync';

export interface LabelledData {
  models: string[];
  prompts: string[];
  /** Task or source tag per prompt (RouterBench eval_name); used for reporting only. */
  groups: string[];
  /** n x m row-major scores in [0, 1]; NaN = unknown. */
  score: Float32Array;
  /** n x m row-major USD cost per call; NaN = unknown. */
  cost: Float64Array;
}

const NON_MODEL = new Set(['', 'sample_id', 'prompt', 'eval_name', 'oracle_model_to_route_to']);

/** Decodes a prompt stored as a Python list literal (`['a', "b"]`) into its joined text. */
export function decodePythonListPrompt(s: string): string {
  const t = s.trim();
  if (!(t.startsWith("['") || t.startsWith('["')) || !t.endsWith(']')) return s;
  const parts: string[] = [];
  let i = 1;
  const ESC: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0' };
  while (i < t.length) {
    while (i < t.length && (t[i] === ' ' || t[i] === ',' || t[i] === '\n')) i++;
    if (t[i] === ']') return parts.join('\n');
    const q = t[i];
    if (q !== "'" && q !== '"') return s; // not a list of plain string literals: keep verbatim
    i++;
    let cur = '';
    while (i < t.length && t[i] !== q) {
      if (t[i] === '\\' && i + 1 < t.length) {
        const e = t[i + 1];
        if (e === 'x' || e === 'u') {
          const len = e === 'x' ? 2 : 4;
          cur += String.fromCharCode(parseInt(t.slice(i + 2, i + 2 + len), 16));
          i += 2 + len;
          continue;
        }
        cur += ESC[e] ?? '\\' + e;
        i += 2;
        continue;
      }
      cur += t[i++];
    }
    if (i >= t.length) return s;
    parts.push(cur);
    i++;
  }
  return s;
}

function parseNum(v: string | undefined): number {
  if (v === undefined || v.trim() === '') return NaN;
  const x = Number(v);
  return Number.isFinite(x) ? x : NaN;
}

export function loadRouterBenchCsv(files: readonly string[]): LabelledData {
  let models: string[] | null = null;
  const prompts: string[] = [];
  const groups: string[] = [];
  const score: number[] = [];
  const cost: number[] = [];
  for (const file of files) {
    const rows: Record<string, string>[] = parse(readFileSync(file), { columns: true, relax_quotes: false, skip_empty_lines: true });
    if (rows.length === 0) continue;
    const cols = Object.keys(rows[0]);
    const ms = cols.filter((c) => !NON_MODEL.has(c) && !c.includes('|'));
    if (!cols.includes('prompt')) throw new Error(`${file}: no "prompt" column`);
    if (ms.length === 0) throw new Error(`${file}: no model columns`);
    if (models === null) models = ms;
    else if (ms.join('\u0000') !== models.join('\u0000')) throw new Error(`${file}: model columns differ from the first file's`);
    for (const r of rows) {
      prompts.push(decodePythonListPrompt(r.prompt));
      groups.push(r.eval_name || basename(file, '.csv'));
      for (const m of ms) {
        const s = parseNum(r[m]);
        if (!Number.isNaN(s) && (s < 0 || s > 1)) throw new Error(`${file}: score ${s} for ${m} is outside [0, 1]`);
        score.push(s);
        cost.push(parseNum(r[`${m}|total_cost`]));
      }
    }
  }
  if (models === null) throw new Error('no rows in the RouterBench files');
  return { models, prompts, groups, score: Float32Array.from(score), cost: Float64Array.from(cost) };
}

export function loadJsonl(files: readonly string[]): LabelledData {
  const records: { prompt: string; scores: Record<string, number>; cost: Record<string, number>; group: string }[] = [];
  const modelSet = new Map<string, number>();
  for (const file of files) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      const where = `${file}:${i + 1}`;
      let o: unknown;
      try { o = JSON.parse(line); } catch (e) { throw new Error(`${where}: not JSON (${(e as Error).message})`); }
      if (typeof o !== 'object' || o === null) throw new Error(`${where}: expected an object`);
      const r = o as Record<string, unknown>;
      if (typeof r.prompt !== 'string') throw new Error(`${where}: "prompt" must be a string`);
      if (typeof r.scores !== 'object' || r.scores === null || Array.isArray(r.scores)) throw new Error(`${where}: "scores" must be an object of model -> number in [0, 1]`);
      const scores = r.scores as Record<string, unknown>;
      for (const [m, v] of Object.entries(scores)) {
        if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`${where}: scores["${m}"] must be a number in [0, 1]`);
        if (!modelSet.has(m)) modelSet.set(m, modelSet.size);
      }
      const costIn = (r.cost_usd ?? {}) as Record<string, unknown>;
      if (typeof costIn !== 'object' || Array.isArray(costIn)) throw new Error(`${where}: "cost_usd" must be an object of model -> USD`);
      for (const [m, v] of Object.entries(costIn)) {
        if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new Error(`${where}: cost_usd["${m}"] must be a finite number >= 0`);
      }
      if (r.group !== undefined && typeof r.group !== 'string') throw new Error(`${where}: "group" must be a string`);
      records.push({ prompt: r.prompt, scores: scores as Record<string, number>, cost: costIn as Record<string, number>, group: (r.group as string) ?? basename(file) });
    });
  }
  const models = [...modelSet.keys()];
  const m = models.length;
  const score = new Float32Array(records.length * m).fill(NaN);
  const cost = new Float64Array(records.length * m).fill(NaN);
  records.forEach((r, i) => {
    for (const [name, v] of Object.entries(r.scores)) score[i * m + modelSet.get(name)!] = v;
    for (const [name, v] of Object.entries(r.cost)) { const j = modelSet.get(name); if (j !== undefined) cost[i * m + j] = v; }
  });
  return { models, prompts: records.map((r) => r.prompt), groups: records.map((r) => r.group), score, cost };
}

/** Loads a mix of .csv (RouterBench) and .jsonl files; all must name the same models. */
export function loadLabelled(files: readonly string[]): LabelledData {
  const csv = files.filter((f) => f.endsWith('.csv'));
  const jsonl = files.filter((f) => f.endsWith('.jsonl') || f.endsWith('.json'));
  const other = files.filter((f) => !csv.includes(f) && !jsonl.includes(f));
  if (other.length) throw new Error(`unknown data file type (want .csv or .jsonl): ${other.join(', ')}`);
  if (csv.length && jsonl.length) throw new Error('mixing CSV and JSONL inputs in one fit is not supported; convert one to the other');
  if (files.length === 0) throw new Error('no data files given');
  return csv.length ? loadRouterBenchCsv(csv) : loadJsonl(jsonl);
}

/** Rows whose every model has a known score (evaluation leaves out prompts with a missing label). */
export function completeRows(d: LabelledData): number[] {
  const m = d.models.length;
  const rows: number[] = [];
  for (let i = 0; i < d.prompts.length; i++) {
    let ok = true;
    for (let j = 0; j < m; j++) if (Number.isNaN(d.score[i * m + j]) || Number.isNaN(d.cost[i * m + j])) { ok = false; break; }
    if (ok) rows.push(i);
  }
  return rows;
}

export function subset(d: LabelledData, rows: readonly number[]): LabelledData {
  const m = d.models.length;
  const score = new Float32Array(rows.length * m);
  const cost = new Float64Array(rows.length * m);
  rows.forEach((r, i) => { score.set(d.score.subarray(r * m, r * m + m), i * m); cost.set(d.cost.subarray(r * m, r * m + m), i * m); });
  return { models: d.models, prompts: rows.map((r) => d.prompts[r]), groups: rows.map((r) => d.groups[r]), score, cost };
}
