/**
 * Measures the per-organisation task memory (src/routing/task-memory.ts) on a
 * held-out split of generated feedback: `npm run eval:task-memory` (or
 * node --import tsx scripts/task-memory-eval.ts [--seed N]).
 *
 * Feedback is generated from RouterBench's prompts (../shared/data/routerbench,
 * read, never copied): the organisation's "true" task of a prompt is its
 * source (ARC-Challenge: reasoning; MBPP: code; Winogrande: classification, an
 * organisation's own convention the classifier cannot know), and for each
 * training prompt it submits what POST /v1/auto/feedback carries:
 * classified_task = the heuristic classifier's answer, correct = whether it
 * matched, suggested_task = the true task. The memory holds the training
 * half; the other half is held out (shuffled with a seeded PRNG, split per
 * source so each half has the same mix). Printed per threshold:
 *   classifier   accuracy of the classifier alone on the held-out half
 *   memory+cls   accuracy when the memory answers where it fires
 *   fires        share of held-out prompts where the memory answered
 *   precision    accuracy of the memory where it fired
 *   control      share of unrelated prompts (hand-written, other kinds of
 *                task) on which the memory fired at all: its false-fire rate
 */
import { loadConfig } from '../src/config/load.ts';
import { createEmbedSource } from '../src/api/embed-source.ts';
import { loadRouterBenchCsv } from '../src/fit/dataset.ts';
import { classify } from '../src/routing/classifier.ts';
import { TaskMemory, MEMORY_DEFAULTS } from '../src/routing/task-memory.ts';
import { mulberry32 } from '../src/seeded-random.ts';

const DATA = new URL('../../shared/data/routerbench/', import.meta.url).pathname;
// Winogrande as `classification`: this organisation's own convention (pick one of two options), which no
// general classifier can know: the case feedback exists for. ARC and MBPP keep the classes the classifier gives.
const SOURCES: [string, string][] = [['arc_challenge_train.csv', 'reasoning'], ['mbpp_train.csv', 'code'], ['winograde_train.csv', 'classification']];
const CONTROL = [
  'What is the capital of Australia?', 'Write a haiku about autumn leaves.', 'Summarise the causes of the First World War in three sentences.',
  'Translate "good morning" into French.', 'Extract every date from this paragraph: the meeting moved from 3 May to 9 June.',
  'Is this review positive or negative? "The food was cold and the staff rude."', 'Tell me a joke about penguins.',
  'Draft a polite email declining a meeting invitation.', 'What are the health benefits of green tea?', 'Compose a limerick about a cat.',
  'Summarize this article about climate policy in two bullet points.', 'Classify these tickets by urgency: printer broken, server down, new mouse.',
  'Translate this sentence into German: the train leaves at noon.', 'Write a short story about a lighthouse keeper.',
  'Give me three slogans for a bakery.', 'Hello! How are you today?',
];

const seedArg = process.argv.indexOf('--seed');
const rand = mulberry32(seedArg > 0 ? Number(process.argv[seedArg + 1]) : 11);
const config = loadConfig({ env: {}, overrides: {} });
const source = await createEmbedSource(config);
if (source.kind !== 'sync') throw new Error('the task memory is measured with the native embedder');
const embedder = source.embedder;

const train: { prompt: string; task: string }[] = [];
const test: { prompt: string; task: string }[] = [];
for (const [file, task] of SOURCES) {
  const d = loadRouterBenchCsv([DATA + file]);
  const idx = d.prompts.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [idx[i], idx[j]] = [idx[j], idx[i]]; }
  const half = Math.floor(idx.length / 2);
  for (let k = 0; k < idx.length; k++) (k < half ? train : test).push({ prompt: d.prompts[idx[k]], task });
}

const vecs = new Map<string, Float32Array>();
const vec = (p: string) => { let v = vecs.get(p); if (!v) { v = embedder.embedSync(p); vecs.set(p, v); } return v; };
const clsTest = test.map((t) => classify(t.prompt).task as string);
const clsAcc = clsTest.filter((c, i) => c === test[i].task).length / test.length;
const trainWrong = train.filter((t) => classify(t.prompt).task !== t.task).length;

console.log(`train ${train.length} feedbacks (${trainWrong} corrections, ${train.length - trainWrong} confirmations), held out ${test.length}, control ${CONTROL.length}`);
console.log('threshold  k  classifier  memory+cls  fires   precision  control-fires');
const rows: unknown[] = [];
for (const threshold of [0.3, 0.4, 0.5, MEMORY_DEFAULTS.threshold, 0.6, 0.7, 0.8]) {
  const m = new TaskMemory(embedder.dim, { ...MEMORY_DEFAULTS, threshold, capacity: train.length });
  for (const t of train) m.add(vec(t.prompt), t.task);
  let right = 0, fires = 0, fireRight = 0;
  for (let i = 0; i < test.length; i++) {
    const hit = m.lookup(vec(test[i].prompt));
    const answer = hit ? hit.task : clsTest[i];
    if (hit) { fires++; if (hit.task === test[i].task) fireRight++; }
    if (answer === test[i].task) right++;
  }
  const control = CONTROL.filter((p) => m.lookup(vec(p)) !== undefined).length;
  const r = { threshold, k: MEMORY_DEFAULTS.k, classifier: clsAcc, memory: right / test.length, fires: fires / test.length, precision: fires ? fireRight / fires : null, controlFires: control / CONTROL.length };
  rows.push(r);
  const f = (x: number | null) => (x === null ? '   -  ' : x.toFixed(3));
  console.log(`${threshold.toFixed(2).padStart(9)}  ${r.k}  ${f(r.classifier).padStart(10)}  ${f(r.memory).padStart(10)}  ${f(r.fires).padStart(5)}   ${f(r.precision).padStart(9)}  ${f(r.controlFires).padStart(13)}`);
}
console.log(JSON.stringify({ seed: seedArg > 0 ? Number(process.argv[seedArg + 1]) : 11, rows }));
