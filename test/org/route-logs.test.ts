/**
 * Issue 11 gaps: the routing endpoints without an upstream call are in the
 * activity log too (POST /v1/route with its decision-cache hits,
 * /api/v1/route-model, and the GreatRouter /v1/auto/route and
 * /v1/models/route that call one), each row scoped by organisation; and
 * POST /api/v1/route-model applies the organisation's preferences (an
 * excluded rule model is replaced down the config's candidates, a preferred
 * provider's first; all excluded = 400 model_excluded), other organisations
 * untouched. With state.logs.decisions off, the decision-only endpoints are
 * left out and the rest is still logged.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEY_A, KEY_B, ROUTABLE, call, eventually, startOrgGateway, type OrgGateway } from './helpers.ts';

const STRONG = 'gpt-4-1106-preview', CHEAP = 'mistralai/mistral-7b-chat', CLAUDE = 'claude-v2';
/** Keyword rule -> STRONG; fallbacks CHEAP then CLAUDE; default CHEAP. */
const CONFIG = {
  name: 'prefs-router', default_model: CHEAP, candidates: [CHEAP, CLAUDE],
  rules: [{ name: 'code', priority: 10, condition: { type: 'keyword', keywords: ['python'] }, model: STRONG }],
};

let g: OrgGateway;
let base: string;
before(async () => { g = await startOrgGateway({ routing: { configs: [CONFIG] } }); base = g.gw.base; });
after(async () => { await g.close(); });

const rows = (key: string) => call(base, key, 'GET', '/v1/org/logs?limit=10000').then((r) => r.json.data as any[]);
const rowOf = (key: string, id: string) => eventually(async () => (await rows(key)).find((x) => x.request_id === id), `log row ${id}`);

describe('activity log: routing endpoints', () => {
  it('POST /v1/route is logged with model, cluster, latency, status and the decision cache hit', async () => {
    const body = { prompt: 'Summarise the causes of the French revolution in three lines.', available_models: ROUTABLE };
    const first = await call(base, KEY_A, 'POST', '/v1/route', body, { 'x-request-id': 'route-log-1' });
    assert.equal(first.status, 200, first.text);
    const again = await call(base, KEY_A, 'POST', '/v1/route', body, { 'x-request-id': 'route-log-2' });
    assert.equal(again.json.cache_hit, true, 'the same prompt is a decision-cache hit');
    const r1 = await rowOf(KEY_A, 'route-log-1');
    assert.equal(r1.endpoint, '/v1/route');
    assert.equal(r1.model_selected, first.json.selected_model);
    assert.equal(r1.model_executed, null, 'nothing was called');
    assert.equal(r1.cluster_id, first.json.cluster_id);
    assert.equal(r1.status, 200);
    assert.equal(r1.cache_hit, false);
    assert.equal(r1.routing_reason, 'routed');
    assert.ok(r1.latency_ms >= 0);
    const r2 = await rowOf(KEY_A, 'route-log-2');
    assert.equal(r2.cache_hit, true);
    assert.equal(r2.model_selected, first.json.selected_model, 'the model is read back from the cached decision');
    assert.equal(r2.cluster_id, first.json.cluster_id);
    assert.equal((await rows(KEY_B)).find((x) => x.request_id.startsWith('route-log-')), undefined, 'another organisation never sees the rows');
  });

  it('a routing failure (422 no_candidate) is a row; a 400 refused before routing is not', async () => {
    await call(base, KEY_A, 'PUT', '/v1/preferences/excluded_models', { value: ROUTABLE });
    try {
      const r = await call(base, KEY_A, 'POST', '/v1/route', { prompt: 'hello there', available_models: ROUTABLE }, { 'x-request-id': 'route-log-422' });
      assert.equal(r.status, 422, r.text);
      const row = await rowOf(KEY_A, 'route-log-422');
      assert.equal(row.status, 422);
      assert.equal(row.model_selected, null);
    } finally {
      await call(base, KEY_A, 'DELETE', '/v1/preferences/excluded_models');
    }
    const bad = await call(base, KEY_A, 'POST', '/v1/route', { prompt: 42 }, { 'x-request-id': 'route-log-400' });
    assert.equal(bad.status, 400);
    // A later row proves the 400's would have been flushed by now.
    await call(base, KEY_A, 'POST', '/v1/route', { prompt: 'a later prompt' }, { 'x-request-id': 'route-log-after' });
    await rowOf(KEY_A, 'route-log-after');
    assert.equal((await rows(KEY_A)).find((x) => x.request_id === 'route-log-400'), undefined);
  });

  it('POST /api/v1/route-model is logged with the rule, the model and its config', async () => {
    const r = await call(base, KEY_B, 'POST', '/api/v1/route-model', { input: 'write python to sort a list' }, { 'x-request-id': 'rm-log-1' });
    assert.equal(r.status, 200, r.text);
    const row = await rowOf(KEY_B, 'rm-log-1');
    assert.equal(row.endpoint, '/api/v1/route-model');
    assert.equal(row.model_selected, STRONG);
    assert.equal(row.routing_reason, 'rule');
    assert.equal(row.model_executed, null);
    const d = await call(base, KEY_B, 'POST', '/api/v1/route-model', { input: 'hello' }, { 'x-request-id': 'rm-log-2' });
    assert.equal((await rowOf(KEY_B, 'rm-log-2')).routing_reason, 'default');
    assert.equal(d.json.model, CHEAP);
  });

  it('POST /v1/auto/route and /v1/models/route are logged with the model that answered', async () => {
    const a = await call(base, KEY_A, 'POST', '/v1/auto/route', { prompt: 'Explain photosynthesis briefly.', input: { messages: [{ role: 'user', content: 'Explain photosynthesis briefly.' }] } }, { 'x-request-id': 'auto-log-1' });
    assert.equal(a.status, 200, a.text);
    const ra = await rowOf(KEY_A, 'auto-log-1');
    assert.equal(ra.endpoint, '/v1/auto/route');
    assert.equal(ra.status, 200);
    assert.ok(ra.model_executed, 'the model that answered');
    assert.deepEqual(ra.fallback_chain, a.json.fallback_chain.map((x: any) => x.model));
    const m = await call(base, KEY_A, 'POST', '/v1/models/route', { query: 'text', input: { messages: [{ role: 'user', content: 'Say hi.' }] } }, { 'x-request-id': 'models-route-log-1' });
    assert.equal(m.status, 200, m.text);
    const rm = await rowOf(KEY_A, 'models-route-log-1');
    assert.equal(rm.endpoint, '/v1/models/route');
    assert.ok(rm.model_executed);
  });
});

describe('POST /api/v1/route-model applies the organisation\'s preferences', () => {
  const rm = (key: string, input: string) => call(base, key, 'POST', '/api/v1/route-model', { input });

  it('an excluded rule model is replaced by the first candidate not excluded; other organisations keep the rule\'s model', async () => {
    await call(base, KEY_A, 'PUT', '/v1/preferences/excluded_models', { value: [STRONG] });
    try {
      const a = await rm(KEY_A, 'write python to sort a list');
      assert.equal(a.status, 200, a.text);
      assert.equal(a.json.model, CHEAP);
      assert.deepEqual(a.json.excludedByPreferences, [STRONG]);
      assert.equal(a.json.matchedRule.name, 'code', 'the rule still matched');
      const b = await rm(KEY_B, 'write python to sort a list');
      assert.equal(b.json.model, STRONG);
      assert.equal(b.json.excludedByPreferences, undefined);
    } finally {
      await call(base, KEY_A, 'DELETE', '/v1/preferences/excluded_models');
    }
    assert.equal((await rm(KEY_A, 'write python to sort a list')).json.model, STRONG, 'the removal holds at once');
  });

  it('an excluded provider excludes its models; a preferred provider\'s candidate is taken first', async () => {
    await call(base, KEY_A, 'PUT', '/v1/preferences/excluded_providers', { value: ['openai'] });
    await call(base, KEY_A, 'PUT', '/v1/preferences/preferred_providers', { value: ['anthropic'] });
    try {
      const a = await rm(KEY_A, 'write python to sort a list');
      assert.equal(a.status, 200, a.text);
      // STRONG (openai) is out; of CHEAP (mistralai) and CLAUDE (anthropic), the preferred provider's comes first.
      assert.equal(a.json.model, CLAUDE);
    } finally {
      await call(base, KEY_A, 'DELETE', '/v1/preferences/excluded_providers');
      await call(base, KEY_A, 'DELETE', '/v1/preferences/preferred_providers');
    }
  });

  it('every model of the chain excluded: 400 model_excluded in 2Signal\'s shape, never an excluded model', async () => {
    await call(base, KEY_A, 'PUT', '/v1/preferences/excluded_models', { value: [STRONG, CHEAP, CLAUDE] });
    try {
      const a = await rm(KEY_A, 'write python to sort a list');
      assert.equal(a.status, 400, a.text);
      assert.equal(a.json.code, 'model_excluded');
      assert.equal(typeof a.json.error, 'string');
      assert.equal(a.json.field, 'configName');
    } finally {
      await call(base, KEY_A, 'DELETE', '/v1/preferences/excluded_models');
    }
  });
});

describe('activity log: state.logs.decisions off', () => {
  let h: OrgGateway;
  const dir = mkdtempSync(join(tmpdir(), 'sy-log-decisions-'));
  before(async () => { h = await startOrgGateway({ routing: { configs: [CONFIG] }, state: { dir, logs: { decisions: 'off' } } }); });
  after(async () => { await h.close(); rmSync(dir, { recursive: true, force: true }); });

  it('/v1/route and /api/v1/route-model are not logged; a chat completion (a model is called) still is', async () => {
    const hRows = () => call(h.gw.base, KEY_A, 'GET', '/v1/org/logs?limit=10000').then((r) => r.json.data as any[]);
    const route = await call(h.gw.base, KEY_A, 'POST', '/v1/route', { prompt: 'Which planet is largest?', available_models: ROUTABLE }, { 'x-request-id': 'dec-off-route' });
    assert.equal(route.status, 200, route.text);
    const rm = await call(h.gw.base, KEY_A, 'POST', '/api/v1/route-model', { input: 'write python please' }, { 'x-request-id': 'dec-off-rm' });
    assert.equal(rm.status, 200, rm.text);
    const chat = await call(h.gw.base, KEY_A, 'POST', '/v1/chat/completions', { model: 'auto', messages: [{ role: 'user', content: 'hi' }] }, { 'x-request-id': 'dec-off-chat' });
    assert.equal(chat.status, 200, chat.text);
    // The chat row arriving means everything logged before it was flushed too.
    await eventually(async () => (await hRows()).find((x) => x.request_id === 'dec-off-chat'), 'the chat row');
    const ids = (await hRows()).map((x) => x.request_id);
    assert.ok(!ids.includes('dec-off-route') && !ids.includes('dec-off-rm'), `decision rows absent: ${ids.join(' ')}`);
  });
});
