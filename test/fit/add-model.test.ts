import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { addModel, parseModelRows, RowsError, type ModelRows } from '../../src/fit/add-model.ts';
import { fitProfile, DEFAULT_FIT } from '../../src/fit/fit.ts';
import { mulberry32 } from '../../src/fit/kmeans.ts';
import type { LabelledData } from '../../src/fit/dataset.ts';
import { fitNativeTables, NativeEmbedder, saveNativeEmbedder } from '../../src/routing/embedders/native.ts';
import { Router } from '../../src/routing/router.ts';
import { NeighbourRouter } from '../../src/routing/neighbours.ts';
import { loadProfile, saveProfile } from '../../src/routing/profile.ts';

const COOK = ['bake', 'pasta', 'oven', 'garlic', 'simmer', 'sauce', 'recipe', 'flour', 'butter', 'roast', 'onion', 'salt'];
const CODE = ['python', 'function', 'array', 'recursion', 'compile', 'integer', 'string', 'loop', 'variable', 'class', 'return', 'list'];

function prompt(r: () => number, cooking: boolean): string {
  const pick = (ws: string[]) => Array.from({ length: 8 }, () => ws[Math.floor(r() * ws.length)]).join(' ');
  return cooking ? `How do I ${pick(COOK)}?` : `Write code: ${pick(CODE)}`;
}

/** Two topics, two fitted models (cheap: good at cooking; dear: good at both). */
function base(n: number, seed: number): LabelledData {
  const r = mulberry32(seed);
  const prompts: string[] = [], groups: string[] = [], score: number[] = [], cost: number[] = [];
  for (let i = 0; i < n; i++) {
    const cooking = i % 2 === 0;
    prompts.push(prompt(r, cooking)); groups.push(cooking ? 'cook' : 'code');
    score.push(r() < (cooking ? 0.9 : 0.1) ? 1 : 0, r() < 0.95 ? 1 : 0);
    cost.push(0.0001, 0.01);
  }
  return { models: ['cheap', 'dear'], prompts, groups, score: Float32Array.from(score), cost: Float64Array.from(cost) };
}

/** The new model "coder": right on 95% of code prompts, 30% of cooking ones; 0.001 USD a call. */
function coderRows(n: number, seed: number): ModelRows {
  const r = mulberry32(seed);
  const prompts: string[] = [], score: number[] = [], cost: number[] = [];
  for (let i = 0; i < n; i++) {
    const cooking = r() < 0.5;
    prompts.push(prompt(r, cooking));
    score.push(r() < (cooking ? 0.3 : 0.95) ? 1 : 0);
    cost.push(0.001);
  }
  return { prompts, score: Float64Array.from(score), cost: Float64Array.from(cost) };
}

describe('parseModelRows: one model only, bad rows named', () => {
  it('reads both row forms', () => {
    const rows = parseModelRows('{"prompt":"a","score":1,"cost_usd":0.002}\n\n{"prompt":"b","scores":{"new":0.5},"cost_usd":{"new":0.001}}\n{"prompt":"c","score":0}\n', 'new', 'f.jsonl');
    assert.deepEqual(rows.prompts, ['a', 'b', 'c']);
    assert.deepEqual([...rows.score], [1, 0.5, 0]);
    assert.deepEqual([...rows.cost].map(String), ['0.002', '0.001', 'NaN']);
  });

  it('refuses bad rows naming the line and the field', () => {
    for (const [line, re] of [
      ['not json', /f.jsonl:2: not JSON/],
      ['[1]', /f.jsonl:2: expected an object/],
      ['{"score":1}', /f.jsonl:2: "prompt" must be a non-empty string/],
      ['{"prompt":"x","score":2}', /f.jsonl:2: "score" must be a number in \[0, 1\]/],
      ['{"prompt":"x","score":1,"cost_usd":-1}', /f.jsonl:2: "cost_usd" must be a finite number >= 0/],
      ['{"prompt":"x","scores":{"new":1,"other":0}}', /f.jsonl:2: "scores" has "other"; the rows must be of "new" only/],
      ['{"prompt":"x","scores":{"other":1}}', /f.jsonl:2: "scores" has "other"/],
      ['{"prompt":"x","scores":{"new":"1"}}', /f.jsonl:2: "scores"\["new"\] must be a number/],
    ] as const) {
      assert.throws(() => parseModelRows(`{"prompt":"ok","score":1}\n${line}`, 'new', 'f.jsonl'), (e: Error) => e instanceof RowsError && re.test(e.message), line);
    }
  });
});

describe('addModel', async () => {
  const data = base(600, 1);
  const embedder = new NativeEmbedder(fitNativeTables([...data.prompts, ...coderRows(200, 99).prompts]));
  const profile = await fitProfile(data, embedder, { ...DEFAULT_FIT, k: 8, coarseK: 2, name: 'two' });
  const codeQ = embedder.embedSync('Write code: python function that returns a list of integer values in a loop');
  const cookQ = embedder.embedSync('How do I roast garlic and onion with butter in the oven?');

  it('from a few thousand rows: per-cluster errors near the true rates, routed where it is good and cheap', async () => {
    const r = await addModel(profile, embedder, 'coder', coderRows(3000, 2));
    assert.deepEqual(r.profile.models, ['cheap', 'dear', 'coder']);
    assert.equal(r.samples, 3000);
    assert.ok(Math.abs(r.costPer1k - 1) < 1e-9);
    const router = new Router(r.profile);
    const dc = router.route(codeQ, { costWeight: 0 });
    const M = 3;
    const hard = new Router({ ...r.profile, manifest: { ...r.profile.manifest, assignment: { mode: 'hard', temperature: 0.05, top: 1 } } });
    const kc = hard.route(codeQ, { costWeight: 0 }).clusterId, kk = hard.route(cookQ, { costWeight: 0 }).clusterId;
    assert.ok(Math.abs(r.profile.errors[kc * M + 2] - 0.05) < 0.06, `coder on code ${r.profile.errors[kc * M + 2]}`);
    assert.ok(Math.abs(r.profile.errors[kk * M + 2] - 0.7) < 0.1, `coder on cooking ${r.profile.errors[kk * M + 2]}`);
    assert.ok(dc.scores[2] < 0.15);
    // code at a moderate lambda: coder (good, 100x cheaper than dear); cooking: cheap
    assert.equal(router.route(codeQ, { costWeight: 0.2 }).model, 'coder');
    assert.equal(router.route(cookQ, { costWeight: 0.2 }).model, 'cheap');
    // the other models' cells are untouched
    for (let k = 0; k < profile.k; k++) for (let m = 0; m < 2; m++) assert.equal(r.profile.errors[k * M + m], profile.errors[k * 2 + m]);
    // confidence: every cluster reports its labels and a posterior sd that shrinks with them
    const withMost = [...r.clusters].sort((a, b) => b.n - a.n)[0];
    assert.equal(r.clusters.reduce((s, c) => s + c.n, 0), 3000);
    assert.ok(withMost.sd < 0.05, `sd ${withMost.sd}`);
  });

  it('from 50 rows: clusters with few labels stay near the shrunk parent / global rate', async () => {
    const rows = coderRows(50, 3);
    const r = await addModel(profile, embedder, 'coder', rows);
    const g = 1 - rows.score.reduce((s, x) => s + x, 0) / 50;
    assert.ok(Math.abs(r.globalError - g) < 1e-12);
    for (const c of r.clusters) {
      assert.ok(c.err >= 0 && c.err <= 1);
      if (c.n === 0) assert.ok(Math.abs(c.err - g) < 0.4, `empty cluster ${c.cluster}: ${c.err} vs global ${g}`);
    }
    const sdEmpty = r.clusters.find((c) => c.n === 0)?.sd;
    if (sdEmpty !== undefined) assert.ok(sdEmpty > 0.1);
  });

  it('the regression prior reads a cluster difficulty from the other models, even where it has no label', async () => {
    // "clone" fails where cheap fails (code) and succeeds where it succeeds (cooking): 40 rows.
    const r = mulberry32(8);
    const prompts: string[] = [], score: number[] = [];
    for (let i = 0; i < 40; i++) { const cooking = i % 2 === 0; prompts.push(prompt(r, cooking)); score.push(r() < (cooking ? 0.9 : 0.1) ? 1 : 0); }
    const rows = { prompts, score: Float64Array.from(score), cost: new Float64Array(40).fill(0.0002) };
    const reg = await addModel(profile, embedder, 'clone', rows, { prior: 'regression', alpha: 20 });
    const coarse = await addModel(profile, embedder, 'clone', rows, { alpha: 20 });
    const dist = (p: typeof reg.profile) => {
      let d = 0;
      for (let k = 0; k < p.k; k++) d += Math.abs(p.errors[k * 3 + 2] - p.errors[k * 3 + 0]);
      return d / p.k;
    };
    // With a strong prior (alpha 20) the estimates are mostly prior: the regression's follows cheap's errors per cluster.
    assert.ok(dist(reg.profile) < 0.1, `regression prior: mean |clone - cheap| ${dist(reg.profile)}`);
    assert.ok(dist(reg.profile) < dist(coarse.profile), `regression ${dist(reg.profile)} vs coarse ${dist(coarse.profile)}`);
    assert.equal((reg.profile.manifest.fit.added as { prior: string }[])[0].prior, 'regression');
  });

  it('refuses a model the profile has, no rows, and rows without a cost (unless one is given)', async () => {
    await assert.rejects(addModel(profile, embedder, 'dear', coderRows(50, 4)), /already has a model "dear"/);
    await assert.rejects(addModel(profile, embedder, 'coder', { prompts: [], score: new Float64Array(), cost: new Float64Array() }), /no labelled rows/);
    const noCost = { ...coderRows(60, 5), cost: new Float64Array(60).fill(NaN) };
    await assert.rejects(addModel(profile, embedder, 'coder', noCost), /no row gives "cost_usd"/);
    const r = await addModel(profile, embedder, 'coder', noCost, { costPer1k: 2 });
    assert.equal(r.profile.manifest.models[2].cost_per_1k, 2);
  });

  it('a neighbours profile gets the column with NaN labels; the neighbour router uses the cluster estimate for it', async () => {
    const nb = await fitProfile(data, embedder, { ...DEFAULT_FIT, k: 8, coarseK: 2, name: 'nb', router: { kind: 'neighbours', k: 10, alpha: 5 } });
    const r = await addModel(nb, embedder, 'coder', coderRows(2000, 6));
    assert.equal(r.profile.labels!.length, 600 * 3);
    assert.ok(Number.isNaN(r.profile.labels![2]));
    const d = new NeighbourRouter(r.profile).route(codeQ, { costWeight: 0.2 });
    assert.equal(d.model, 'coder');
  });

  it('npm run fit -- --add-model writes a loadable profile and names a bad row', () => {
    const dir = mkdtempSync(join(tmpdir(), 'add-model-'));
    const out = `${dir}-out`;
    try {
      saveNativeEmbedder(dir, embedder.tables);
      saveProfile(dir, profile);
      const rows = coderRows(200, 7);
      const file = join(dir, 'coder.jsonl');
      writeFileSync(file, rows.prompts.map((p, i) => JSON.stringify({ prompt: p, score: rows.score[i], cost_usd: rows.cost[i] })).join('\n') + '\n');
      const ok = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/fit.ts', '--add-model', 'coder', '--labels', file, '--profile', dir, '--out', out], { encoding: 'utf8' });
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(ok.stdout, /added "coder" to .*: 200 labelled prompts/);
      const back = loadProfile(out, new NativeEmbedder(embedder.tables));
      assert.deepEqual(back.models, ['cheap', 'dear', 'coder']);
      assert.equal((back.manifest.fit.added as { name: string; samples: number }[])[0].samples, 200);
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8')).models.length, 2, 'the source profile is left alone with --out');
      writeFileSync(file, '{"prompt":"a","score":1,"cost_usd":0.001}\n{"prompt":"b","score":"yes"}\n');
      const bad = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/fit.ts', '--add-model', 'coder', '--labels', file, '--profile', dir, '--out', out], { encoding: 'utf8' });
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /coder.jsonl:2: "score" must be a number in \[0, 1\]/);
    } finally { rmSync(dir, { recursive: true, force: true }); rmSync(out, { recursive: true, force: true }); }
  });
});
