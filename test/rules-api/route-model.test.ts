/**
 * POST /api/v1/route-model (2Signal) contract: the 200 body's fields and
 * types, rule evaluation through the server (priority, keyword, complexity,
 * default, cluster), every error status in 2Signal's dialect.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { call, CHEAP, MID, STRONG, echoModels, routeModel, startEcho, startRig, type Echo, type Rig } from './helpers.ts';

let echo: Echo;
let rig: Rig;
before(async () => {
  echo = await startEcho();
  rig = await startRig(echoModels(echo), { limits: { input_chars: 5000 } });
});
after(async () => { await rig.close(); await echo.close(); });

function assertAnswer(j: any): void {
  assert.equal(typeof j.model, 'string');
  assert.equal(typeof j.configName, 'string');
  assert.equal(typeof j.complexity, 'number');
  assert.ok(j.complexity >= 0 && j.complexity <= 1);
  assert.ok(j.matchedRule === null || (typeof j.matchedRule.index === 'number' && typeof j.matchedRule.priority === 'number' && typeof j.matchedRule.type === 'string'));
  assert.ok(Number.isInteger(j.tokenCount) && j.tokenCount >= 0);
  assert.match(j.configId, /^[0-9a-f-]{36}$/);
  assert.ok(Number.isInteger(j.configVersion) && j.configVersion >= 1);
  assert.equal(typeof j.routingMs, 'number');
}

describe('200', () => {
  it('the default config (the first YAML config) when configName is omitted; a keyword rule matches', async () => {
    const r = await routeModel(rig.base, { input: 'What is your refund policy?' });
    assert.equal(r.status, 200, r.text);
    assertAnswer(r.json);
    assert.equal(r.json.model, MID);
    assert.equal(r.json.configName, 'production-router');
    assert.deepEqual(r.json.matchedRule, { index: 1, name: 'refunds', priority: 5, type: 'keyword' });
    assert.equal(r.json.configVersion, 1);
  });

  it('no rule matches: the default model, matchedRule null', async () => {
    const r = await routeModel(rig.base, { input: 'hi' });
    assert.equal(r.status, 200);
    assert.equal(r.json.model, CHEAP);
    assert.equal(r.json.matchedRule, null);
  });

  it('priority: the complexity rule (10) wins over the keyword rule (5) when both hold', async () => {
    const hard = 'First, derive the asymptotic complexity of the algorithm; then, because the refund ledger is distributed, prove that the consensus protocol terminates although nodes may fail, and finally implement it in Python with `def settle(ledger): ...` and unit tests. Explain each step.';
    const r = await routeModel(rig.base, { input: hard });
    assert.equal(r.status, 200);
    assert.ok(r.json.complexity > 0.45, `complexity ${r.json.complexity}`);
    assert.equal(r.json.model, STRONG);
    assert.equal(r.json.matchedRule.name, 'hard');
  });

  it('configName picks another config; its models may be labels (routing.extra_models)', async () => {
    const r = await routeModel(rig.base, { input: 'write python code', configName: 'labels' });
    assert.equal(r.status, 200);
    assert.equal(r.json.model, 'gpt-4o');
    assert.equal(r.json.configName, 'labels');
  });

  it('configName may be the config id; null is the same as omitted; an empty input is routed', async () => {
    const list = await call(rig.base, 'GET', '/v1/router-configs');
    const id = list.json.data.find((c: any) => c.name === 'labels').id;
    assert.equal((await routeModel(rig.base, { input: 'code', configName: id })).json.configName, 'labels');
    assert.equal((await routeModel(rig.base, { input: 'hi', configName: null })).json.configName, 'production-router');
    const e = await routeModel(rig.base, { input: '' });
    assert.equal(e.status, 200);
    assert.equal(e.json.complexity, 0);
    assert.equal(e.json.tokenCount, 0);
  });

  it('a cluster rule: the answer carries the prompt\'s cluster and the rule matches it', async () => {
    const probe = 'Prove that the square root of 2 is irrational.';
    const route = await call(rig.base, 'POST', '/v1/route', { prompt: probe });
    const k = route.json.cluster_id as number;
    const c = await call(rig.base, 'POST', '/v1/router-configs', { name: 'by-cluster', default_model: CHEAP, rules: [{ priority: 1, condition: { type: 'cluster', clusters: [k] }, model: STRONG }] });
    assert.equal(c.status, 201, c.text);
    const r = await routeModel(rig.base, { input: probe, configName: 'by-cluster' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.cluster, k);
    assert.equal(r.json.model, STRONG);
  });
});

describe('errors in 2Signal\'s dialect: {error: message, code, field?}', () => {
  const cases: [string, unknown, number, string, string | undefined][] = [
    ['input missing', {}, 400, 'invalid_request', 'input'],
    ['input a number', { input: 42 }, 400, 'invalid_request', 'input'],
    ['input null', { input: null }, 400, 'invalid_request', 'input'],
    ['input an array', { input: ['a'] }, 400, 'invalid_request', 'input'],
    ['input over limits.input_chars', { input: 'x'.repeat(5001) }, 400, 'invalid_request', 'input'],
    ['configName a number', { input: 'x', configName: 3 }, 400, 'invalid_request', 'configName'],
    ['configName empty', { input: 'x', configName: '' }, 400, 'invalid_request', 'configName'],
    ['an unknown field', { input: 'x', config: 'labels' }, 400, 'invalid_request', 'config'],
    ['not JSON', '{"input": ', 400, 'invalid_request', 'body'],
    ['a JSON array', '[1]', 400, 'invalid_request', 'body'],
    ['unknown config name', { input: 'x', configName: 'nope' }, 404, 'router_config_not_found', 'configName'],
    ['unknown config id', { input: 'x', configName: '00000000-0000-4000-8000-000000000000' }, 404, 'router_config_not_found', 'configName'],
  ];
  for (const [name, body, status, code, field] of cases) {
    it(`${status} ${code}: ${name}`, async () => {
      const r = await routeModel(rig.base, body);
      assert.equal(r.status, status, r.text);
      assert.equal(typeof r.json.error, 'string');
      assert.equal(r.json.code, code);
      assert.equal(r.json.field, field);
    });
  }

  it('405 on GET, in the same dialect', async () => {
    const r = await call(rig.base, 'GET', '/api/v1/route-model');
    assert.equal(r.status, 405);
    assert.equal(r.json.code, 'method_not_allowed');
  });
});

describe('401 with server.api_keys', () => {
  let keyed: Rig;
  before(async () => { keyed = await startRig(echoModels(echo), { server: { api_keys: ['ts_good_key'] } }); });
  after(async () => { await keyed.close(); });

  it('no Authorization: 401 {error, code: "unauthorized"}', async () => {
    const r = await routeModel(keyed.base, { input: 'x' });
    assert.equal(r.status, 401);
    assert.equal(r.json.code, 'unauthorized');
    assert.equal(typeof r.json.error, 'string');
  });
  it('a wrong Bearer key: 401; the right one: 200', async () => {
    assert.equal((await routeModel(keyed.base, { input: 'x' }, { authorization: 'Bearer ts_wrong' })).status, 401);
    assert.equal((await routeModel(keyed.base, { input: 'x' }, { authorization: 'Bearer ts_good_key' })).status, 200);
  });
  it('auth comes before validation: a bad body without a key is still 401', async () => {
    assert.equal((await routeModel(keyed.base, {})).status, 401);
  });
});
