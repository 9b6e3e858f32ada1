/**
 * Organisations (issue 11) on the rule-routing endpoints: each organisation
 * has its own router configs, sessions and route decisions; the default
 * organisation's configs (the YAML ones) are shared: another organisation
 * routes with them unless it has a config of that name (which shadows the
 * shared one for it alone), and cannot change them.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CHEAP, MID, STRONG, call, echoModels, invoke, routeModel, startEcho, startRig, user, type Echo, type Rig } from './helpers.ts';

const KEY_A = 'rules-org-a-key-0123456789', KEY_B = 'rules-org-b-key-0123456789', KEY_DEFAULT = 'rules-default-key-0123456789';
process.env.RULES_ORG_A_KEY = KEY_A;
process.env.RULES_ORG_B_KEY = KEY_B;
const A = { authorization: `Bearer ${KEY_A}` }, B = { authorization: `Bearer ${KEY_B}` }, D = { authorization: `Bearer ${KEY_DEFAULT}` };

let echo: Echo;
let rig: Rig;
before(async () => {
  echo = await startEcho();
  rig = await startRig(echoModels(echo), {
    server: { api_keys: [KEY_DEFAULT] },
    tenants: [{ id: 'org_a', keys_env: ['RULES_ORG_A_KEY'] }, { id: 'org_b', keys_env: ['RULES_ORG_B_KEY'] }],
  });
});
after(async () => { await rig.close(); await echo.close(); });

const cfg = (name: string, model: string) => ({ name, default_model: model, rules: [] });

describe('router configs per organisation', () => {
  it('a config made by org_a is org_a\'s alone', async () => {
    assert.equal((await call(rig.base, 'POST', '/v1/router-configs', cfg('mine', STRONG), A)).status, 201);
    assert.equal((await routeModel(rig.base, { input: 'hi', configName: 'mine' }, A)).json.model, STRONG);
    assert.equal((await routeModel(rig.base, { input: 'hi', configName: 'mine' }, B)).status, 404);
    assert.equal((await routeModel(rig.base, { input: 'hi', configName: 'mine' }, D)).status, 404);
    assert.equal((await call(rig.base, 'GET', '/v1/router-configs/mine', undefined, B)).status, 404);
    assert.deepEqual((await call(rig.base, 'GET', '/v1/router-configs', undefined, A)).json.data.map((c: any) => c.name), ['mine']);
  });

  it('the shared (default organisation\'s) configs route for every organisation, which cannot change them', async () => {
    const r = await routeModel(rig.base, { input: 'hi' }, B);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.configName, 'production-router');
    assert.equal(r.json.model, CHEAP);
    assert.equal((await call(rig.base, 'PATCH', '/v1/router-configs/labels', { default_model: MID }, B)).status, 404);
    assert.equal((await call(rig.base, 'DELETE', '/v1/router-configs/labels', undefined, B)).status, 404);
  });

  it('a config of the default\'s name shadows the shared one for its organisation only, and may be deleted', async () => {
    assert.equal((await call(rig.base, 'POST', '/v1/router-configs', cfg('production-router', STRONG), B)).status, 201);
    assert.equal((await routeModel(rig.base, { input: 'hi' }, B)).json.model, STRONG);
    assert.equal((await routeModel(rig.base, { input: 'hi' }, A)).json.model, CHEAP);
    assert.equal((await routeModel(rig.base, { input: 'hi' }, D)).json.model, CHEAP);
    const d = await call(rig.base, 'DELETE', '/v1/router-configs/production-router', undefined, B);
    assert.equal(d.status, 200, d.text);
    assert.equal((await routeModel(rig.base, { input: 'hi' }, B)).json.model, CHEAP);
    assert.equal((await call(rig.base, 'DELETE', '/v1/router-configs/production-router', undefined, D)).status, 409, 'the default organisation\'s default stays protected');
  });
});

describe('sessions and route decisions per organisation', () => {
  it('one session id in two organisations: two sessions', async () => {
    const s = randomUUID();
    await invoke(rig.base, { messages: user('org a secret'), session_id: s }, A);
    await invoke(rig.base, { messages: user('hello'), session_id: s }, B);
    assert.deepEqual(echo.requests.at(-1).messages.map((m: any) => m.content), ['hello']);
    await invoke(rig.base, { messages: user('again'), session_id: s }, A);
    assert.equal(echo.requests.at(-1).messages[0].content, 'org a secret');
  });

  it('a route decision is read by its organisation only', async () => {
    const r = await invoke(rig.base, { messages: user('hi') }, A);
    assert.equal(r.status, 200, r.text);
    const id = r.json.route_decision_id;
    assert.equal((await call(rig.base, 'GET', `/v1/route-decisions/${id}`, undefined, A)).status, 200);
    const b = await call(rig.base, 'GET', `/v1/route-decisions/${id}`, undefined, B);
    assert.equal(b.status, 404);
    assert.equal(b.json.error, 'route_decision_not_found');
  });
});
