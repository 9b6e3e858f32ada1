/**
 * POST /v1/router/models (issue 13): labelled rows of one new model ->
 * per-cluster estimates with confidence, a new profile version written under
 * router.versions_dir, hot-swapped on every thread; the model then appears in
 * /v1/route's scores and /v1/models, and survives a restart (current.json).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertError, get, post, startTestServer, type TestServer } from './helpers.ts';
import { mulberry32 } from '../../src/fit/kmeans.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/fit/options.ts';
import { loadProfile } from '../../src/routing/profile.ts';

const root = mkdtempSync(join(tmpdir(), 'router-models-'));
after(() => rmSync(root, { recursive: true, force: true }));

const TOPICS = ['sort a list in Python', 'the capital of Peru', 'prove that 17 is prime', 'translate "thank you" into Italian', 'summarise the plot of Hamlet', 'write a SQL join', 'explain photosynthesis', 'a limerick about cats'];

/** n labelled rows of a synthetic model: code prompts answered well, the rest at `rate`. */
function rows(n: number, seed = 1, rate = 0.4): { prompt: string; score: number; cost_usd: number }[] {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const t = TOPICS[i % TOPICS.length];
    const code = /Python|SQL/.test(t);
    return { prompt: `Question ${i}: ${t}, variant ${Math.floor(rnd() * 1e6)}`, score: rnd() < (code ? 0.95 : rate) ? 1 : 0, cost_usd: 0.0004 + rnd() * 0.0002 };
  });
}

async function start(stateDir: string, threads = 1): Promise<TestServer> {
  return startTestServer({ state: { dir: stateDir }, server: { threads, body_limit: 8 * 1024 * 1024 } });
}

describe('POST /v1/router/models: validation', () => {
  let s: TestServer;
  it('starts', async () => { s = await start(mkdtempSync(join(root, 'v-'))); });
  after(async () => { await s?.close(); });

  it('names the field or the row at fault', async () => {
    const p = (b: unknown, h: Record<string, string> = {}, path = '/v1/router/models') => post(s.base, path, b, h);
    assertError(await p({ rows: rows(3) }), 'invalid_request', 'name');
    assertError(await p({ name: '', rows: rows(3) }), 'invalid_request', 'name');
    assertError(await p({ name: 'x', rows: [] }), 'invalid_request', 'rows');
    assertError(await p({ name: 'x', rows: 'nope' }), 'invalid_request', 'rows');
    assertError(await p({ name: 'x', rows: [...rows(2), 7] }), 'invalid_request', 'rows[2]');
    const bad = rows(4); (bad[2] as any).score = 1.5;
    const r = await p({ name: 'x', rows: bad });
    assertError(r, 'invalid_request', 'rows[2]');
    assert.match(r.json.error.message, /"score" must be a number in \[0, 1\]/);
    const noPrompt = rows(2); (noPrompt[1] as any).prompt = '';
    assertError(await p({ name: 'x', rows: noPrompt }), 'invalid_request', 'rows[1]');
    assertError(await p({ name: 'x', rows: rows(2).map(({ prompt, score }) => ({ prompt, score })) }), 'invalid_request', 'cost_per_1k');
    assertError(await p({ name: 'x', rows: rows(2), cost_per_1k: -1 }), 'invalid_request', 'cost_per_1k');
    assertError(await p({ name: 'x', rows: rows(2), pricing: { input_per_1m: 1 } }), 'invalid_request', 'pricing.output_per_1m');
    assertError(await p({ name: 'x', rows: rows(2), prior: 'magic' }), 'invalid_request', 'prior');
    assertError(await p({ name: 'x', rows: rows(2), extra: 1 }), 'invalid_request', 'extra');
    assertError(await p({ name: 'gpt-4-1106-preview', rows: rows(3) }), 'model_exists', 'name');
    // JSON lines: the line number.
    const lines = rows(3).map((x) => JSON.stringify(x));
    lines[2] = '{"prompt": "p", "score": "high"}';
    const jl = await p(lines.join('\n'), { 'content-type': 'application/x-ndjson' }, '/v1/router/models?name=x');
    assertError(jl, 'invalid_request', 'line 3');
    lines[2] = 'not json';
    assertError(await p(lines.join('\n'), { 'content-type': 'application/x-ndjson' }, '/v1/router/models?name=x'), 'invalid_request', 'line 3');
    assertError(await p(lines.slice(0, 2).join('\n'), { 'content-type': 'application/x-ndjson' }, '/v1/router/models'), 'invalid_request', 'name');
    assertError(await p(lines.slice(0, 2).join('\n'), { 'content-type': 'application/x-ndjson' }, '/v1/router/models?name=x&input_per_1m=2'), 'invalid_request', 'output_per_1m');
    assertError(await p(lines.slice(0, 2).join('\n'), { 'content-type': 'application/x-ndjson' }, '/v1/router/models?name=x&bogus=1'), 'invalid_request', 'bogus');
    // Nothing was added.
    const h = (await get(s.base, '/health')).json;
    assert.equal(h.profile_version, 1);
    assert.equal(h.models.length, 11);
  });
});

describe('POST /v1/router/models: add, route, persist, restart', () => {
  const stateDir = mkdtempSync(join(root, 's-'));
  let s: TestServer | undefined;
  after(async () => { await s?.close(); });

  it('adds a model from 80 rows: per-cluster estimates with confidence; it routes and is listed; the version is on disk', async () => {
    s = await start(stateDir);
    const data = rows(80);
    const r = await post(s.base, '/v1/router/models', { name: 'coder-x', rows: data, pricing: { input_per_1m: 0.5, output_per_1m: 1.5 } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const j = r.json;
    assert.equal(j.object, 'router.model');
    assert.equal(j.model, 'coder-x');
    assert.equal(j.samples, 80);
    const meanCost = data.reduce((a, x) => a + x.cost_usd, 0) / data.length;
    assert.ok(Math.abs(j.cost_per_1k - 1000 * meanCost) < 1e-9);
    const meanErr = data.reduce((a, x) => a + 1 - x.score, 0) / data.length;
    assert.ok(Math.abs(j.global_error - meanErr) < 1e-12);
    assert.equal(j.clusters.length, 100);
    assert.equal(j.clusters.reduce((a: number, c: any) => a + c.labels, 0), 80);
    assert.equal(j.clusters_with_labels, j.clusters.filter((c: any) => c.labels > 0).length);
    for (const c of j.clusters) {
      assert.ok(c.error >= 0 && c.error <= 1);
      assert.ok(c.sd > 0 && c.sd < 0.5);
    }
    // Confidence: the posterior sd with the profile's own alpha, so more labels give a tighter estimate.
    const alpha = (loadProfile(DEFAULT_PROFILE_DIR).manifest.fit as { alpha: number }).alpha;
    for (const c of j.clusters) assert.ok(Math.abs(c.sd - Math.sqrt((c.error * (1 - c.error)) / (c.labels + alpha + 1))) < 1e-12, JSON.stringify(c));
    assert.equal(j.profile.version, 2);
    assert.ok(j.profile.models.includes('coder-x'));
    assert.match(j.profile.dir, /profiles\/routerbench-default-v1$/);

    const d = await post(s.base, '/v1/route', { prompt: 'sort a list in Python, please', cost_weight: 0 });
    assert.equal(d.status, 200);
    assert.equal(typeof d.json.all_scores['coder-x'], 'number');
    const only = await post(s.base, '/v1/route', { prompt: 'sort a list in Python', available_models: ['coder-x'] });
    assert.equal(only.json.selected_model, 'coder-x');
    const models = (await get(s.base, '/v1/models')).json;
    const auto = models.data.find((m: any) => m.id === 'auto');
    assert.ok(auto.switchyard.profile_models.includes('coder-x'));
    const h = (await get(s.base, '/health')).json;
    assert.equal(h.profile_version, 2);
    assert.ok(h.models.includes('coder-x'));

    const dir = join(stateDir, 'profiles', 'routerbench-default-v1');
    const manifest = JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8'));
    assert.equal(manifest.models.at(-1).name, 'coder-x');
    assert.deepEqual(manifest.models.at(-1).pricing, { input_per_1m: 0.5, output_per_1m: 1.5, estimated: false });
    assert.ok(existsSync(join(dir, 'embedder.json')));
    assert.equal(JSON.parse(readFileSync(join(stateDir, 'profiles', 'current.json'), 'utf8')).dir, dir);
    assert.deepEqual(readdirSync(join(stateDir, 'profiles')).filter((f) => f.startsWith('.')), [], 'no temporary left behind');
  });

  it('two additions at once both land, one after the other (v2, v3); JSON lines with query parameters', async () => {
    const a = post(s!.base, '/v1/router/models', { name: 'writer-y', rows: rows(40, 2, 0.7), cost_per_1k: 2 });
    const body = rows(30, 3).map((x) => JSON.stringify(x)).join('\n');
    const b = post(s!.base, '/v1/router/models?name=cheap-z&cost_per_1k=0.05&input_per_1m=0.1&output_per_1m=0.2', body, { 'content-type': 'application/x-ndjson' });
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.status, 200, JSON.stringify(ra.json));
    assert.equal(rb.status, 200, JSON.stringify(rb.json));
    assert.deepEqual([ra.json.profile.version, rb.json.profile.version].sort(), [3, 4]);
    assert.equal(rb.json.cost_per_1k, 0.05);
    const h = (await get(s!.base, '/health')).json;
    for (const m of ['coder-x', 'writer-y', 'cheap-z']) assert.ok(h.models.includes(m), m);
    assert.match(h.profile_dir, /routerbench-default-v3$/);
  });

  it('after a restart on the same state directory the added models are still there', async () => {
    await s!.close();
    s = await start(stateDir);
    const h = (await get(s.base, '/health')).json;
    for (const m of ['coder-x', 'writer-y', 'cheap-z']) assert.ok(h.models.includes(m), m);
    assert.match(h.profile_dir, /routerbench-default-v3$/);
    assert.equal(h.profile_version, 1);
    const d = await post(s.base, '/v1/route', { prompt: 'hello', available_models: ['cheap-z'] });
    assert.equal(d.json.selected_model, 'cheap-z');
    // Its decisions fit the decision cache (sized at start for the version's model names): the second is a hit.
    assert.equal((await post(s.base, '/v1/route', { prompt: 'hello', available_models: ['cheap-z'] })).json.cache_hit, true);
    // A reload without a body stays on the newest version.
    const r = await post(s.base, '/v1/router/reload', {});
    assert.match(r.json.dir, /routerbench-default-v3$/);
  });
});

describe('POST /v1/router/models with two HTTP threads', () => {
  let s: TestServer | undefined;
  after(async () => { await s?.close(); });

  it('the main thread adds it once and every thread serves it', async () => {
    s = await start(mkdtempSync(join(root, 't-')), 2);
    const r = await post(s.base, '/v1/router/models', { name: 'threaded-m', rows: rows(50, 4) });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${s.base}/health`, { headers: { connection: 'close' } });
      const h = await res.json() as any;
      assert.ok(h.models.includes('threaded-m'), `thread ${h.thread}`);
      assert.equal(h.profile_version, 2);
    }
    assertError(await post(s.base, '/v1/router/models', { name: 'threaded-m', rows: rows(5) }), 'model_exists', 'name');
    const bad = rows(3); (bad[1] as any).score = -1;
    assertError(await post(s.base, '/v1/router/models', { name: 'q', rows: bad }), 'invalid_request', 'rows[1]');
  });
});
