/**
 * Writes the tiny deterministic random-weight BERT test model (model.onnx,
 * tokenizer.json, tokenizer_config.json, config.json) for trying the ONNX
 * embedder without a download. Its vectors carry no meaning.
 *
 *   npm run make-test-onnx -- [DIR]    (default native-models/test-tiny-bert)
 */
import { resolve } from 'node:path';
import { makeTestOnnxModel } from '../src/routing/embedders/onnx-testmodel.ts';

const arg = process.argv[2];
if (arg === '-h' || arg === '--help') {
  process.stdout.write('Usage: npm run make-test-onnx -- [DIR]  (default native-models/test-tiny-bert)\n');
  process.exit(0);
}
const dir = resolve(arg ?? 'native-models/test-tiny-bert');
const m = await makeTestOnnxModel(dir);
const c = m.config;
process.stdout.write(
  `wrote ${dir}: model.onnx ${(m.modelBytes / 1024).toFixed(0)} KiB, hidden ${c.hidden}, ${c.layers} layers, ` +
  `${c.heads} heads, vocab ${c.vocabSize}, max_length ${c.maxLength}\n`,
);
