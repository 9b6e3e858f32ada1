/**
 * npm run eval -- [data files...] [--folds N | --profile DIR] [--json FILE] [--svg FILE] [fit options]
 *
 * --folds N: N-fold cross-validation (fit on N-1 folds, evaluate on the held-out
 *   one; the embedder's IDF is fitted on the training folds too).
 * otherwise: evaluates the profile in DIR (default: the shipped one) on the data,
 *   which is in-sample when the data is what it was fitted on; said in the output.
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { loadLabelled, completeRows, subset } from '../src/fit/dataset.ts';
import { crossValidate, emptySweep, report, sweepPoints, sweepRouter, type Report } from '../src/fit/evaluate.ts';
import { lambdaGrid } from '../src/fit/metrics.ts';
import { FIT_FLAGS, FIT_HELP, fitOptionsFrom, dataFiles, DEFAULT_PROFILE_DIR, UsageError } from '../src/fit/options.ts';
import { costAccuracySvg } from '../src/fit/svg.ts';
import { loadNativeTables, NativeEmbedder } from '../src/routing/embedders/native.ts';
import { loadProfile } from '../src/routing/profile.ts';
import { Router } from '../src/routing/router.ts';

const HELP = `usage: npm run eval -- [files...] [--folds N] [--profile DIR] [--lambdas N] [--json FILE] [--svg FILE]
  --folds N      cross-validate with N folds (fit options below apply)
  --profile DIR  evaluate a fitted profile instead (default ${DEFAULT_PROFILE_DIR})
  --lambdas N    log-spaced cost weights in 1e-4..1e2, plus 0 (default 120)
  --json FILE    write the full report as JSON ("-" for stdout)
  --svg FILE     write the cost-accuracy plot
${FIT_HELP}`;

const pct = (x: number) => (100 * x).toFixed(1);
const usd = (x: number) => (1000 * x).toFixed(3);

function printReport(title: string, r: Report, perFold?: Report[]): void {
  console.log(`\n${title}  (${r.prompts} prompts with every label; cost in USD per 1,000 prompts)`);
  const foldAiq = perFold?.map((f) => f.aiq);
  const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
  const sd = (a: number[]) => Math.sqrt(mean(a.map((x) => (x - mean(a)) ** 2)));
  console.log(`  AIQ router          ${r.aiq.toFixed(4)}${foldAiq ? `   (per fold ${mean(foldAiq).toFixed(4)} +- ${sd(foldAiq).toFixed(4)})` : ''}`);
  console.log(`  AIQ single models   ${r.aiqSingle.toFixed(4)}${perFold ? `   (per fold ${mean(perFold.map((f) => f.aiqSingle)).toFixed(4)})` : ''}`);
  console.log(`  AIQ oracle          ${r.aiqOracle.toFixed(4)}   oracle accuracy ${pct(r.oracle.accuracy)}% at ${usd(r.oracle.cost)}`);
  const m = r.matchBest;
  console.log(`  matches ${r.best.model} (${pct(r.best.accuracy)}%) at ${m.cost === null ? 'never' : `${usd(m.cost)} = ${pct(m.fractionOfBestCost!)}% of its cost`}`);
  console.log('\n  model                                   cost   accuracy   router at that cost   gain');
  for (const s of [...r.singles].sort((a, b) => a.cost - b.cost)) {
    console.log(`  ${s.model.padEnd(38)} ${usd(s.cost).padStart(6)}   ${pct(s.accuracy).padStart(6)}%   ${pct(s.routerAccuracyAtCost).padStart(6)}%              ${(100 * (s.routerAccuracyAtCost - s.accuracy)).toFixed(1).padStart(5)} pts`);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { ...FIT_FLAGS, folds: { type: 'string' }, profile: { type: 'string' }, lambdas: { type: 'string' }, json: { type: 'string' }, svg: { type: 'string' }, 'fold-seed': { type: 'string' } },
    allowPositionals: true,
  });
  if (values.help) { console.log(HELP); return; }
  const files = dataFiles(positionals);
  const data = loadLabelled(files);
  const nl = values.lambdas ? Number(values.lambdas) : 120;
  if (!Number.isInteger(nl) || nl < 40) throw new UsageError('--lambdas must be an integer >= 40');
  const lambdas = lambdaGrid(nl);
  let title: string, result: Report, perFold: Report[] | undefined;
  if (values.folds) {
    const folds = Number(values.folds);
    if (!Number.isInteger(folds) || folds < 2) throw new UsageError('--folds must be an integer >= 2');
    const fit = fitOptionsFrom(values, 'cv');
    const cv = await crossValidate(data, folds, fit, lambdas, values['fold-seed'] ? Number(values['fold-seed']) : 7, (s) => console.error(s));
    title = `${folds}-fold cross-validation, K=${fit.k}, coarse K=${fit.coarseK}, alpha=${fit.alpha}, ${fit.assignment.mode} assignment${fit.assignment.mode === 'soft' ? ` (T=${fit.assignment.temperature}, top ${fit.assignment.top})` : ''}`;
    result = cv.pooled; perFold = cv.perFold;
  } else {
    const dir = values.profile ?? DEFAULT_PROFILE_DIR;
    const embedder = new NativeEmbedder(loadNativeTables(dir));
    const router = new Router(loadProfile(dir, embedder));
    const test = subset(data, completeRows(data));
    const s = emptySweep(lambdas);
    await sweepRouter(router, embedder, test, s);
    result = report(test, sweepPoints(s), lambdas);
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
    const out = JSON.stringify({ title, files, lambdas: lambdas.length, ...result, perFold: perFold?.map(({ points, ...rest }) => rest) }, null, 2);
    if (values.json === '-') console.log(out); else { writeFileSync(values.json, out + '\n'); console.error(`wrote ${values.json}`); }
  }
}

main().catch((e) => {
  console.error(e instanceof UsageError ? `eval: ${e.message}\n\n${HELP}` : `eval: ${(e as Error).stack}`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
