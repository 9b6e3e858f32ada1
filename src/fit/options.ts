/** Command-line options shared by scripts/fit.ts and scripts/eval.ts. */
import { parseArgs } from 'node:util';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_FIT, DEFAULT_NEIGHBOURS, type FitOptions } from './fit.ts';
import { DEFAULT_NPROBE } from '../routing/neighbours.ts';
import { DEFAULT_MIN_CHARS, DEFAULT_SEPARATOR, type TextSelection } from '../routing/text-select.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_DATA_DIR = resolve(ROOT, '../shared/data/routerbench');
export const DEFAULT_PROFILE_DIR = join(ROOT, 'native-models/routerbench-default');

export const FIT_FLAGS = {
  k: { type: 'string' }, 'coarse-k': { type: 'string' }, alpha: { type: 'string' }, 'alpha-coarse': { type: 'string' },
  seed: { type: 'string' }, assign: { type: 'string' }, temperature: { type: 'string' }, top: { type: 'string' },
  'cost-weight': { type: 'string' }, name: { type: 'string' }, pricing: { type: 'string' }, quiet: { type: 'boolean' },
  router: { type: 'string' }, 'neighbours-k': { type: 'string' }, 'neighbours-alpha': { type: 'string' }, nprobe: { type: 'string' },
  select: { type: 'string' }, 'select-separator': { type: 'string' }, 'select-min-chars': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const FIT_HELP = `  --k N              clusters (default ${DEFAULT_FIT.k})
  --coarse-k N       parent clusters for shrinkage; 1 = shrink to the global error (default ${DEFAULT_FIT.coarseK})
  --alpha X          prior strength toward the parent (default ${DEFAULT_FIT.alpha})
  --alpha-coarse X   prior strength of the parent toward the global error (default ${DEFAULT_FIT.alphaCoarse})
  --seed N           K-means seed (default ${DEFAULT_FIT.seed})
  --assign MODE      hard | soft (default ${DEFAULT_FIT.assignment.mode})
  --temperature X    soft assignment temperature (default ${DEFAULT_FIT.assignment.temperature})
  --top N            clusters blended in soft assignment (default ${DEFAULT_FIT.assignment.top})
  --cost-weight X    default lambda stored in the profile (default ${DEFAULT_FIT.defaultCostWeight})
  --pricing FILE     JSON {"model": {"input_per_1m": x, "output_per_1m": y}}
  --router KIND      clusters | neighbours (k nearest labelled prompts; default clusters)
  --neighbours-k N   neighbours read per prompt (default ${DEFAULT_NEIGHBOURS.k})
  --neighbours-alpha X  prior strength of the clusters' estimate (default ${DEFAULT_NEIGHBOURS.alpha})
  --nprobe N|all     clusters whose labelled prompts a decision scans (inverted file; written as router.nprobe;
                     default: not written, the router's default ${DEFAULT_NPROBE}; 0 or all = exact search)
  --select MODE      text embedded: full | last_question (default full; see README "Fitting")
  --select-separator RE   last_question: block separator, a RegExp source (default ${JSON.stringify(DEFAULT_SEPARATOR)})
  --select-min-chars N    last_question: prepend earlier blocks until this long (default ${DEFAULT_MIN_CHARS})
  --quiet            no progress on stderr`;

function num(v: string | undefined, flag: string, dflt: number, int = false): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isFinite(x) || (int && !Number.isInteger(x)) || x < 0) throw new UsageError(`--${flag} must be a ${int ? 'non-negative integer' : 'non-negative number'}, got "${v}"`);
  return x;
}

export class UsageError extends Error {}

export function fitOptionsFrom(values: Record<string, unknown>, name: string): FitOptions {
  const v = values as Record<string, string | undefined>;
  const mode = v.assign ?? DEFAULT_FIT.assignment.mode;
  if (mode !== 'hard' && mode !== 'soft') throw new UsageError(`--assign must be hard or soft, got "${mode}"`);
  let pricing: FitOptions['pricing'];
  if (v.pricing) {
    try { pricing = JSON.parse(readFileSync(v.pricing, 'utf8')); } catch (e) { throw new UsageError(`--pricing ${v.pricing}: ${(e as Error).message}`); }
  }
  const k = num(v.k, 'k', DEFAULT_FIT.k, true);
  if (k < 1) throw new UsageError('--k must be >= 1');
  return {
    k,
    coarseK: Math.max(1, num(v['coarse-k'], 'coarse-k', DEFAULT_FIT.coarseK, true)),
    alpha: num(v.alpha, 'alpha', DEFAULT_FIT.alpha),
    alphaCoarse: num(v['alpha-coarse'], 'alpha-coarse', DEFAULT_FIT.alphaCoarse),
    seed: num(v.seed, 'seed', DEFAULT_FIT.seed, true),
    assignment: {
      mode,
      temperature: num(v.temperature, 'temperature', DEFAULT_FIT.assignment.temperature) || DEFAULT_FIT.assignment.temperature,
      top: Math.max(1, num(v.top, 'top', DEFAULT_FIT.assignment.top, true)),
    },
    defaultCostWeight: num(v['cost-weight'], 'cost-weight', DEFAULT_FIT.defaultCostWeight),
    name: (v.name as string) ?? name,
    pricing,
    router: routerFrom(v),
    onProgress: values.quiet ? undefined : progressPrinter(),
  };
}

function routerFrom(v: Record<string, string | undefined>): FitOptions['router'] {
  const kind = v.router ?? 'clusters';
  if (kind === 'clusters') {
    if (v['neighbours-k'] !== undefined || v['neighbours-alpha'] !== undefined || v.nprobe !== undefined) throw new UsageError('--neighbours-k / --neighbours-alpha / --nprobe need --router neighbours');
    return { kind };
  }
  if (kind !== 'neighbours') throw new UsageError(`--router must be clusters or neighbours, got "${kind}"`);
  const k = num(v['neighbours-k'], 'neighbours-k', DEFAULT_NEIGHBOURS.k, true);
  if (k < 1) throw new UsageError('--neighbours-k must be >= 1');
  const alpha = num(v['neighbours-alpha'], 'neighbours-alpha', DEFAULT_NEIGHBOURS.alpha);
  return v.nprobe === undefined ? { kind, k, alpha } : { kind, k, alpha, nprobe: nprobeFlag(v.nprobe) };
}

/** --nprobe: "all" or an integer >= 0 (0 = exact, as "all"). */
export function nprobeFlag(v: string): number | 'all' {
  const n = Number(v);
  if (v === 'all') return 'all';
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new UsageError(`--nprobe must be an integer >= 0 or "all", got "${v}"`);
  return n;
}

/** The text selection the flags ask for (undefined = the whole prompt). */
export function selectionFrom(values: Record<string, unknown>): TextSelection | undefined {
  const v = values as Record<string, string | undefined>;
  const mode = v.select ?? 'full';
  if (mode === 'full') {
    if (v['select-separator'] !== undefined || v['select-min-chars'] !== undefined) throw new UsageError('--select-separator / --select-min-chars need --select last_question');
    return undefined;
  }
  if (mode !== 'last_question') throw new UsageError(`--select must be full or last_question, got "${mode}"`);
  const separator = v['select-separator'] ?? DEFAULT_SEPARATOR;
  try { new RegExp(separator); } catch (e) { throw new UsageError(`--select-separator is not a valid RegExp: ${(e as Error).message}`); }
  return { mode, separator, min_chars: num(v['select-min-chars'], 'select-min-chars', DEFAULT_MIN_CHARS, true) };
}

/** Progress on stderr, at most ~5 lines a second, so long fits show they are alive. */
export function progressPrinter(): (stage: string, done: number, total: number) => void {
  let last = 0;
  return (stage, done, total) => {
    const now = Date.now();
    if (now - last < 200 && done < total) return;
    last = now;
    process.stderr.write(`  ${stage}: ${done}/${total}\n`);
  };
}

export function dataFiles(positionals: string[]): string[] {
  if (positionals.length) return positionals;
  return readdirSync(DEFAULT_DATA_DIR).filter((f) => f.endsWith('.csv')).sort().map((f) => join(DEFAULT_DATA_DIR, f));
}
