/**
 * npm run eval -- [data files...] [--folds N | --profile DIR] [--json FILE] [--svg FILE] [fit options]
 *
 * --folds N: N-fold cross-validation (fit on N-1 folds, evaluate on the held-out
 *   one; the embedder's IDF is fitted on the training folds too). Without
 *   --router / --select it runs all four variants (clusters | neighbours x
 *   full text | last question) on the same folds and prints them side by side.
 * --add-model-curve NAME: holds NAME out of the fit, adds it back from
 *   50 / 200 / 1,000 of its labelled training prompts per fold
 *   (src/fit/add-model.ts), and prints the AIQ of each against the profile
 *   fitted with and without it.
 * otherwise: evaluates the profile in DIR (default: the shipped one) on the data,
 *   which is in-sample when the data is what it was fitted on; said in the output.
 * λ is swept exactly (every switch point, src/fit/envelope.ts) unless --lambdas N.
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { loadLabelled, completeRows, subset, type LabelledData } from '../src/fit/dataset.ts';
import { crossValidate, report, sweepCurve, sweepRouter, type CvResult, type Report } from '../src/fit/evaluate.ts';
import { ExactSweep } from '../src/fit/envelope.ts';
import { addModel } from '../src/fit/add-model.ts';
import { lambdaGrid } from '../src/fit/metrics.ts';
import { DEFAULT_NEIGHBOURS, type FitOptions } from '../src/fit/fit.ts';
import { mulberry32 } from '../src/fit/kmeans.ts';
import { FIT_FLAGS, FIT_HELP, fitOptionsFrom, selectionFrom, dataFiles, DEFAULT_PROFILE_DIR, UsageError } from '../src/fit/options.ts';
import { costAccuracySvg } from '../src/fit/svg.ts';
import { loadNativeTables, NativeEmbedder } from '../src/routing/embedders/native.ts';
import { loadProfile } from '../src/routing/profile.ts';
import { routerFor } from '../src/routing/neighbours.ts';
import { lastQuestion, type TextSelection } from '../src/routing/text-select.ts';

const HELP = `usage: npm run eval -- [files...] [--folds N] [--profile DIR] [--lambdas N] [--json FILE] [--svg FILE]
  --folds N      cross-validate with N folds (fit options below apply); without --router/--select,
                 all four variants (clusters|neighbours x full|last_question) side by side;
                 --router neighbours --nprobe 0,4,8: one variant per value (exact, IVF at 4, 8)
  --add-model-curve NAME   hold NAME out, add it back from --curve-sizes of its labels per fold (default --folds 5)
  --curve-sizes LIST       comma-separated label counts (default 50,200,1000)
  --prior coarse|regression   what the added model's clusters shrink toward (src/fit/add-model.ts; default coarse)
  --profile DIR  evaluate a fitted profile instead (default ${DEFAULT_PROFILE_DIR})
  --lambdas N    read the curve at 0 plus N log-spaced cost weights in 1e-4..1e2 (default: exact, every switch point)
  --json FILE    write the full report as JSON ("-" for stdout)
  --svg FILE     write the cost-accuracy plot
${FIT_HELP}`;

const pct = (x: number) => (100 * x).toFixed(1);
const usd = (x: number) => (1000 * x).toFixed(3);
const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
const sd = (a: number[]) => Math.sqrt(mean(a.map((x) => (x - mean(a)) ** 2)));

function printReport(title: string, r: Report, perFold?: Report[]): void {
  console.log(`\n${title}  (${r.prompts} prompts with every label; cost in USD per 1,000 prompts)`);
  const foldAiq = perFold?.map((f) => f.aiq);
  console.log(`  AIQ router          ${r.aiq.toFixed(4)}${foldAiq ? `   (per fold ${mean(foldAiq).toFixed(4)} +- ${sd(foldAiq).toFixed(4)})` : ''}   (${r.points.length} operating points)`);
  console.log(`  AIQ single models   ${r.aiqSingle.toFixed(4)}${perFold ? `   (per fold ${mean(perFold.map((f) => f.aiqSingle)).toFixed(4)})` : ''}`);
  console.log(`  AIQ oracle          ${r.aiqOracle.toFixed(4)}   oracle accuracy ${pct(r.oracle.accuracy)}% at ${usd(r.oracle.cost)}`);
  const m = r.matchBest;
  console.log(`  matches ${r.best.model} (${pct(r.best.accuracy)}%) at ${m.cost === null ? 'never' : `${usd(m.cost)} = ${pct(m.fractionOfBestCost!)}% of its cost`}`);
  console.log('\n  model                                   cost   accuracy   router at that cost   gain');
  for (const s of [...r.singles].sort((a, b) => a.cost - b.cost)) {
    console.log(`  ${s.model.padEnd(38)} ${usd(s.cost).padStart(6)}   ${pct(s.accuracy).padStart(6)}%   ${pct(s.routerAccuracyAtCost).padStart(6)}%              ${(100 * (s.routerAccuracyAtCost - s.accuracy)).toFixed(1).padStart(5)} pts`);
  }
}

const GPT35 = 'gpt-3.5-turbo-1106';
function gainAt(r: Report, model: string): string {
  const s = r.singles.find((x) => x.model === model);
  return s ? `${(100 * (s.routerAccuracyAtCost - s.accuracy)) >= 0 ? '+' : ''}${(100 * (s.routerAccuracyAtCost - s.accuracy)).toFixed(1)}` : 'n/a';
}

interface Variant { name: string; fit: FitOptions; select: TextSelection | undefined }

async function compare(data: LabelledData, folds: number, variants: Variant[], grid: number[] | undefined, foldSeed: number): Promise<{ v: Variant; cv: CvResult }[]> {
  const out: { v: Variant; cv: CvResult }[] = [];
  for (const v of variants) {
    const t0 = performance.now();
    const cv = await crossValidate(data, folds, v.fit, grid ?? 'exact', foldSeed, (s) => console.error(`  [${v.name}] ${s}`), { select: v.select });
    console.error(`  [${v.name}] AIQ ${cv.pooled.aiq.toFixed(4)} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    out.push({ v, cv });
  }
  console.log(`\n${folds}-fold cross-validation, fold seed ${foldSeed}, λ ${grid ? `grid of ${grid.length}` : 'exact (every switch point)'}`);
  const w = Math.max(32, ...out.map(({ v }) => v.name.length));
  console.log(`  ${'variant'.padEnd(w)} AIQ      per fold          pts at ${GPT35}'s cost   λ switch points`);
  for (const { v, cv } of out) {
    const f = cv.perFold.map((r) => r.aiq);
    console.log(`  ${v.name.padEnd(w)} ${cv.pooled.aiq.toFixed(4)}   ${mean(f).toFixed(4)} +- ${sd(f).toFixed(4)}   ${gainAt(cv.pooled, GPT35).padStart(6)}                     ${cv.breakpoints}`);
  }
  return out;
}

/** The add-model curve: NAME held out of every fold's fit, then added from n of the fold's training labels. */
async function addModelCurve(data: LabelledData, name: string, folds: number, sizes: number[], fit: FitOptions, select: TextSelection | undefined, foldSeed: number, prior: 'coarse' | 'regression'): Promise<void> {
  const j = data.models.indexOf(name);
  if (j < 0) throw new UsageError(`--add-model-curve: no model "${name}" in the data (${data.models.join(', ')})`);
  const M = data.models.length;
  const log = (s: string) => console.error(`  ${s}`);
  const rows: { label: string; cv: CvResult }[] = [];
  rows.push({ label: `fitted with all its labels`, cv: await crossValidate(data, folds, fit, 'exact', foldSeed, log, { select }) });
  rows.push({ label: `without ${name}`, cv: await crossValidate(data, folds, fit, 'exact', foldSeed, log, { select, dropModels: [name] }) });
  for (const size of sizes) {
    const cv = await crossValidate(data, folds, fit, 'exact', foldSeed, log, {
      select, dropModels: [name],
      transform: async (p, train, embedder, f) => {
        // n random training prompts with a label for NAME (seeded per fold and size).
        const have = [];
        for (let i = 0; i < train.prompts.length; i++) if (train.score[i * M + j] === train.score[i * M + j] && train.cost[i * M + j] === train.cost[i * M + j]) have.push(i);
        const r = mulberry32(1000 * size + f);
        for (let i = have.length - 1; i > 0; i--) { const t = Math.floor(r() * (i + 1)); [have[i], have[t]] = [have[t], have[i]]; }
        const pick = have.slice(0, size);
        const res = await addModel(p, embedder, name, {
          prompts: pick.map((i) => train.prompts[i]),
          score: Float64Array.from(pick, (i) => train.score[i * M + j]),
          cost: Float64Array.from(pick, (i) => train.cost[i * M + j]),
        }, { prior });
        return res.profile;
      },
    });
    rows.push({ label: `added from ${size} labelled prompts`, cv });
  }
  const full = rows[0].cv.pooled.aiq, without = rows[1].cv.pooled.aiq;
  console.log(`\nadd-model curve for ${name}: ${folds}-fold cross-validation, fold seed ${foldSeed}, text ${select?.mode ?? 'full'}, ${fit.router?.kind ?? 'clusters'}, prior ${prior}`);
  console.log(`  profile                                  AIQ      share of the gain   pts at ${GPT35}'s cost`);
  for (const { label, cv } of rows) {
    const share = full - without !== 0 ? `${pct((cv.pooled.aiq - without) / (full - without))}%` : 'n/a';
    console.log(`  ${label.padEnd(40)} ${cv.pooled.aiq.toFixed(4)}   ${share.padStart(8)}            ${gainAt(cv.pooled, GPT35)}`);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      ...FIT_FLAGS, folds: { type: 'string' }, profile: { type: 'string' }, lambdas: { type: 'string' }, json: { type: 'string' }, svg: { type: 'string' }, 'fold-seed': { type: 'string' },
      'add-model-curve': { type: 'string' }, 'curve-sizes': { type: 'string' }, prior: { type: 'string' },
    },
    allowPositionals: true,
  });
  if (values.help) { console.log(HELP); return; }
  const files = dataFiles(positionals);
  const data = loadLabelled(files);
  let grid: number[] | undefined;
  if (values.lambdas !== undefined) {
    const nl = Number(values.lambdas);
    if (!Number.isInteger(nl) || nl < 40) throw new UsageError('--lambdas must be an integer >= 40');
    grid = lambdaGrid(nl);
  }
  const foldSeed = values['fold-seed'] ? Number(values['fold-seed']) : 7;
  if (values['add-model-curve'] !== undefined) {
    const sizes = (values['curve-sizes'] ?? '50,200,1000').split(',').map(Number);
    if (sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new UsageError('--curve-sizes must be positive integers separated by commas');
    const prior = values.prior ?? 'coarse';
    if (prior !== 'coarse' && prior !== 'regression') throw new UsageError(`--prior must be coarse or regression, got "${prior}"`);
    await addModelCurve(data, values['add-model-curve'], Number(values.folds ?? 5), sizes, fitOptionsFrom(values, 'cv'), selectionFrom(values), foldSeed, prior);
    return;
  }
  let title: string, result: Report, perFold: Report[] | undefined;
  if (values.folds) {
    const folds = Number(values.folds);
    if (!Number.isInteger(folds) || folds < 2) throw new UsageError('--folds must be an integer >= 2');
    // --nprobe 0,4,8: one neighbours variant per value (each a full cross-validation; the fit is the same, the search differs).
    const probes = values.nprobe?.split(',');
    const fit = fitOptionsFrom({ ...values, nprobe: probes?.[0] }, 'cv');
    const explicit = values.router !== undefined || values.select !== undefined;
    const name = (f: FitOptions) => `${f.router?.kind ?? 'clusters'} / ${selectionFrom(values)?.mode ?? 'full'}${f.router?.kind === 'neighbours' && f.router.nprobe !== undefined ? ` / nprobe ${f.router.nprobe}` : ''}`;
    const variants: Variant[] = explicit
      ? (probes ?? [undefined]).map((p) => fitOptionsFrom({ ...values, nprobe: p }, 'cv')).map((f) => ({ name: name(f), fit: f, select: selectionFrom(values) }))
      : (['clusters', 'neighbours'] as const).flatMap((kind) => [undefined, lastQuestion()].map((select) => ({
        name: `${kind} / ${select ? 'last question' : 'full text'}`,
        fit: { ...fit, router: kind === 'clusters' ? { kind } : { ...DEFAULT_NEIGHBOURS } },
        select,
      })));
    const all = await compare(data, folds, variants, grid, foldSeed);
    const best = all.reduce((a, b) => (b.cv.pooled.aiq > a.cv.pooled.aiq ? b : a));
    title = `${folds}-fold cross-validation, best variant: ${best.v.name}, K=${fit.k}, coarse K=${fit.coarseK}, alpha=${fit.alpha}, ${fit.assignment.mode} assignment${fit.assignment.mode === 'soft' ? ` (T=${fit.assignment.temperature}, top ${fit.assignment.top})` : ''}`;
    result = best.cv.pooled; perFold = best.cv.perFold;
  } else {
    const dir = values.profile ?? DEFAULT_PROFILE_DIR;
    const embedder = new NativeEmbedder(loadNativeTables(dir));
    const router = routerFor(loadProfile(dir, embedder));
    const test = subset(data, completeRows(data));
    const s = new ExactSweep();
    await sweepRouter(router, embedder, test, s);
    result = report(test, sweepCurve(s, grid));
    title = `profile ${dir} (in-sample if fitted on this data)`;
  }
  printReport(title, result, perFold);
  if (values.svg) {
    const svg = costAccuracySvg(`Switchyard router: ${title.split(',')[0]}`, [
      { label: `router (AIQ ${result.aiq.toFixed(3)})`, points: result.points, color: '#d62728' },
    ], result.singles.map((s) => ({ label: s.model, cost: s.cost, accuracy: s.accuracy })));
    writeFileSync(values.svg, svg);
    console.error(`wrote ${values.svg}`);
  }
  if (values.json) {
    const out = JSON.stringify({ title, files, lambdas: grid ? grid.length : 'exact', ...result, perFold: perFold?.map(({ points, ...rest }) => rest) }, null, 2);
    if (values.json === '-') console.log(out); else { writeFileSync(values.json, out + '\n'); console.error(`wrote ${values.json}`); }
  }
}

main().catch((e) => {
  console.error(e instanceof UsageError ? `eval: ${e.message}\n\n${HELP}` : `eval: ${(e as Error).stack}`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
