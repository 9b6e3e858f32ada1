/**
 * npm run fit -- [data files...] [--out DIR] [fit options]
 * Fits the native embedder's IDF and a router profile on labelled data
 * (RouterBench CSV or JSONL; see src/fit/dataset.ts) and writes both to DIR.
 *
 * npm run fit -- --add-model NAME --labels FILE --profile DIR [--out DIR] [--cost-per-1k X] [--pricing FILE]
 * Adds one model to a fitted profile from its labelled prompts only
 * (src/fit/add-model.ts); writes DIR in place unless --out is given.
 */
import { parseArgs } from 'node:util';
import { cpSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadLabelled } from '../src/fit/dataset.ts';
import { fitProfile } from '../src/fit/fit.ts';
import { addModel, loadModelRows, RowsError } from '../src/fit/add-model.ts';
import { FIT_FLAGS, FIT_HELP, fitOptionsFrom, selectionFrom, dataFiles, DEFAULT_PROFILE_DIR, UsageError } from '../src/fit/options.ts';
import { DEFAULT_NATIVE_PARAMS, fitNativeTables, loadNativeTables, NativeEmbedder, saveNativeEmbedder } from '../src/routing/embedders/native.ts';
import { loadProfile, saveProfile, ProfileError } from '../src/routing/profile.ts';

const HELP = `usage: npm run fit -- [files.csv|files.jsonl ...] [--out DIR] [options]
       npm run fit -- --add-model NAME --labels FILE --profile DIR [--out DIR] [--cost-per-1k X] [--pricing FILE]
Default data: ../shared/data/routerbench/*.csv; default --out: native-models/routerbench-default
${FIT_HELP}
Adding a model (the clusters are kept; the model's error per cluster is measured on FILE):
  --add-model NAME   the model's name (must be new to the profile)
  --labels FILE      JSON lines {"prompt": "...", "score": 0..1, "cost_usd": x} of that model only
                     (or {"prompt", "scores": {"NAME": s}, "cost_usd": {"NAME": c}})
  --profile DIR      the fitted profile (native embedder) to add to
  --cost-per-1k X    USD per 1,000 requests, when the rows carry no cost_usd
  --alpha, --alpha-coarse, --coarse-k   shrinkage (default: the profile's own)
  --prior coarse|regression   what each cluster shrinks toward: the coarse parent (default), or a ridge
                     regression on the other models' errors in the cluster (src/fit/add-model.ts)`;

async function addModelMain(values: Record<string, unknown>): Promise<void> {
  const v = values as Record<string, string | undefined>;
  const name = v['add-model']!;
  if (!v.labels) throw new UsageError('--add-model needs --labels FILE');
  if (!v.profile) throw new UsageError('--add-model needs --profile DIR');
  const dir = v.profile, out = v.out ?? dir;
  const tables = loadNativeTables(dir);
  const embedder = new NativeEmbedder(tables);
  const profile = loadProfile(dir, embedder);
  const rows = loadModelRows(v.labels, name);
  let pricing = null;
  if (v.pricing) {
    try { pricing = JSON.parse(readFileSync(v.pricing, 'utf8'))[name] ?? null; } catch (e) { throw new UsageError(`--pricing ${v.pricing}: ${(e as Error).message}`); }
  }
  const cost = v['cost-per-1k'] === undefined ? undefined : Number(v['cost-per-1k']);
  if (cost !== undefined && !(cost >= 0 && Number.isFinite(cost))) throw new UsageError(`--cost-per-1k must be a number >= 0, got "${v['cost-per-1k']}"`);
  const optNum = (f: string) => (v[f] === undefined ? undefined : Number(v[f]));
  const prior = v.prior ?? 'coarse';
  if (prior !== 'coarse' && prior !== 'regression') throw new UsageError(`--prior must be coarse or regression, got "${prior}"`);
  const r = await addModel(profile, embedder, name, rows, { costPer1k: cost, pricing, prior, alpha: optNum('alpha'), alphaCoarse: optNum('alpha-coarse'), coarseK: optNum('coarse-k') });
  if (resolve(out) !== resolve(dir)) cpSync(dir, out, { recursive: true });
  saveProfile(out, r.profile);
  const withLabels = r.clusters.filter((c) => c.n > 0);
  console.log(`added "${name}" to ${out}: ${r.samples} labelled prompts, global error ${r.globalError.toFixed(3)}, cost ${r.costPer1k.toFixed(4)} USD per 1k; ${withLabels.length} of ${r.clusters.length} clusters have labels`);
  console.log('cluster   labels   error    sd (posterior)');
  for (const c of [...r.clusters].sort((a, b) => b.n - a.n)) console.log(`${String(c.cluster).padStart(7)}   ${String(c.n).padStart(6)}   ${c.err.toFixed(3)}   ${c.sd.toFixed(3)}`);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { ...FIT_FLAGS, out: { type: 'string' }, 'add-model': { type: 'string' }, labels: { type: 'string' }, profile: { type: 'string' }, 'cost-per-1k': { type: 'string' }, prior: { type: 'string' } },
    allowPositionals: true,
  });
  if (values.help) { console.log(HELP); return; }
  if (values['add-model'] !== undefined) { await addModelMain(values); return; }
  if (values.labels || values.profile || values['cost-per-1k']) throw new UsageError('--labels / --profile / --cost-per-1k go with --add-model');
  const files = dataFiles(positionals);
  const opts = fitOptionsFrom(values, 'routerbench-default');
  const select = selectionFrom(values);
  const out = values.out ?? DEFAULT_PROFILE_DIR;
  const t0 = performance.now();
  const data = loadLabelled(files);
  console.error(`loaded ${data.prompts.length} prompts x ${data.models.length} models from ${files.length} file(s)`);
  const tables = fitNativeTables(data.prompts, { ...DEFAULT_NATIVE_PARAMS, select });
  const embedder = new NativeEmbedder(tables);
  const profile = await fitProfile(data, embedder, opts);
  saveNativeEmbedder(out, tables);
  saveProfile(out, profile);
  console.log(`wrote ${join(out)}: ${opts.router?.kind ?? 'clusters'}, K=${profile.k}, ${profile.models.length} models, text ${select?.mode ?? 'full'}, embedder ${embedder.id} ${embedder.hash.slice(0, 12)}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  const usage = e instanceof UsageError;
  const known = usage || e instanceof RowsError || e instanceof ProfileError;
  console.error(usage ? `fit: ${e.message}\n\n${HELP}` : known ? `fit: ${e.message}` : `fit: ${(e as Error).message}`);
  process.exit(usage ? 2 : 1);
});
