/**
 * npm run fit -- [data files...] [--out DIR] [fit options]
 * Fits the native embedder's IDF and a router profile on labelled data
 * (RouterBench CSV or JSONL; see src/fit/dataset.ts) and writes both to DIR.
 */
import { parseArgs } from 'node:util';
import { loadLabelled } from '../src/fit/dataset.ts';
import { fitProfile } from '../src/fit/fit.ts';
import { FIT_FLAGS, FIT_HELP, fitOptionsFrom, dataFiles, DEFAULT_PROFILE_DIR, UsageError } from '../src/fit/options.ts';
import { fitNativeTables, NativeEmbedder, saveNativeEmbedder } from '../src/routing/embedders/native.ts';
import { saveProfile } from '../src/routing/profile.ts';

const HELP = `usage: npm run fit -- [files.csv|files.jsonl ...] [--out DIR] [options]
Default data: ../shared/data/routerbench/*.csv; default --out: native-models/routerbench-default
${FIT_HELP}`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { ...FIT_FLAGS, out: { type: 'string' } }, allowPositionals: true });
  if (values.help) { console.log(HELP); return; }
  const files = dataFiles(positionals);
  const opts = fitOptionsFrom(values, 'routerbench-default');
  const out = values.out ?? DEFAULT_PROFILE_DIR;
  const t0 = performance.now();
  const data = loadLabelled(files);
  console.error(`loaded ${data.prompts.length} prompts x ${data.models.length} models from ${files.length} file(s)`);
  const tables = fitNativeTables(data.prompts);
  const embedder = new NativeEmbedder(tables);
  const profile = await fitProfile(data, embedder, opts);
  saveNativeEmbedder(out, tables);
  saveProfile(out, profile);
  console.log(`wrote ${out}: K=${profile.k}, ${profile.models.length} models, embedder ${embedder.id} ${embedder.hash.slice(0, 12)}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(e instanceof UsageError ? `fit: ${e.message}\n\n${HELP}` : `fit: ${(e as Error).message}`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
