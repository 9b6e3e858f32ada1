/**
 * The router-config admin API: CRUD, validation naming the field, optimistic
 * concurrency (concurrent updates lose no write; a stale version is a 409),
 * the default config protected, persistence across a restart with the YAML
 * seeding rules (YAML wins for its names, API-created configs are kept,
 * unchanged YAML configs keep their version).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import diagnostics_channel from 'node:diagnostics_channel';
import { CHANNEL_NAMES } from '../../src/diagnostics.ts';
import { call, CHEAP, MID, PRODUCTION, STRONG, echoModels, routeModel, startEcho, startRig, type Echo, type Rig } from './helpers.ts';

let echo: Echo;
let rig: Rig;
before(async () => {
  echo = await startEcho();
  rig = await startRig(echoModels(echo));
});
after(async () => { await rig.close(); await echo.close(); });

const cfg = (name: string, extra: Record<string, unknown> = {}) => ({ name, default_model: CHEAP, rules: [{ priority: 1, condition: { type: 'always' }, model: MID }], ...extra });

describe('CRUD', () => {
  it('GET lists the YAML configs (seeded, version 1, source yaml) and names the default', async () => {
    const r = await call(rig.base, 'GET', '/v1/router-configs');
    assert.equal(r.status, 200);
    assert.equal(r.json.object, 'list');
    assert.equal(r.json.default_config, 'production-router');
    const p = r.json.data.find((c: any) => c.name === 'production-router');
    assert.equal(p.version, 1);
    assert.equal(p.source, 'yaml');
    assert.equal(p.is_default, true);
    assert.deepEqual(p.rules, PRODUCTION.rules);
  });

  it('POST creates (201, UUID id, version 1); GET by id and by name; PUT replaces (version 2); DELETE removes', async () => {
    const c = await call(rig.base, 'POST', '/v1/router-configs', cfg('crud-a'));
    assert.equal(c.status, 201, c.text);
    assert.match(c.json.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(c.json.version, 1);
    assert.equal(c.json.source, 'api');
    assert.equal((await call(rig.base, 'GET', `/v1/router-configs/${c.json.id}`)).json.name, 'crud-a');
    assert.equal((await call(rig.base, 'GET', '/v1/router-configs/crud-a')).json.id, c.json.id);
    const p = await call(rig.base, 'PUT', '/v1/router-configs/crud-a', cfg('crud-a', { default_model: STRONG, cost_weight: 0.2 }));
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json.version, 2);
    assert.equal(p.json.default_model, STRONG);
    assert.equal((await routeModel(rig.base, { input: 'x', configName: 'crud-a' })).json.configVersion, 2);
    const d = await call(rig.base, 'DELETE', `/v1/router-configs/${c.json.id}`);
    assert.equal(d.status, 200);
    assert.deepEqual(d.json, { id: c.json.id, object: 'router_config', deleted: true });
    assert.equal((await call(rig.base, 'GET', '/v1/router-configs/crud-a')).status, 404);
    assert.equal((await routeModel(rig.base, { input: 'x', configName: 'crud-a' })).status, 404);
  });

  it('PATCH merges top-level fields; null removes an optional one; a rename keeps the id', async () => {
    const c = await call(rig.base, 'POST', '/v1/router-configs', cfg('patch-a', { cost_weight: 0.5, candidates: [MID] }));
    const p = await call(rig.base, 'PATCH', '/v1/router-configs/patch-a', { cost_weight: null, name: 'patch-b' });
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json.id, c.json.id);
    assert.equal(p.json.name, 'patch-b');
    assert.equal(p.json.cost_weight, null);
    assert.deepEqual(p.json.candidates, [MID]);
    assert.equal(p.json.version, 2);
  });
});

describe('validation: 400 naming the field', () => {
  const cases: [string, () => [string, string, unknown], string][] = [
    ['unknown model', () => ['POST', '/v1/router-configs', cfg('v1', { default_model: 'gpt-17' })], 'default_model'],
    ['bad operator', () => ['POST', '/v1/router-configs', cfg('v2', { rules: [{ priority: 1, condition: { type: 'complexity', operator: 'bigger', value: 0.5 }, model: MID }] })], 'rules[0].condition.operator'],
    ['value out of range', () => ['POST', '/v1/router-configs', cfg('v3', { rules: [{ priority: 1, condition: { type: 'complexity', operator: 'gt', value: 1.5 }, model: MID }] })], 'rules[0].condition.value'],
    ['unknown field', () => ['POST', '/v1/router-configs', cfg('v4', { weight: 3 })], 'weight'],
    ['duplicate name', () => ['POST', '/v1/router-configs', cfg('labels')], 'name'],
    ['a cluster beyond the profile', () => ['POST', '/v1/router-configs', cfg('v5', { rules: [{ priority: 1, condition: { type: 'cluster', clusters: [100000] }, model: MID }] })], 'rules[0].condition.clusters[0]'],
    ['id on create', () => ['POST', '/v1/router-configs', { ...cfg('v6'), id: '00000000-0000-4000-8000-000000000000' }], 'id'],
    ['rename onto another config (PATCH)', () => ['PATCH', '/v1/router-configs/labels', { name: 'production-router' }], 'name'],
    ['a required field removed (PATCH null)', () => ['PATCH', '/v1/router-configs/labels', { rules: null }], 'rules'],
    ['a bad version', () => ['PATCH', '/v1/router-configs/labels', { version: 'one' }], 'version'],
  ];
  for (const [name, make, field] of cases) {
    it(`${name} -> ${field}`, async () => {
      const [m, path, body] = make();
      const r = await call(rig.base, m, path, body);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error.code, 'invalid_request');
      assert.equal(r.json.error.field, field);
    });
  }
  it('404 for an unknown config on GET, PUT, PATCH, DELETE', async () => {
    for (const m of ['GET', 'PUT', 'PATCH', 'DELETE']) {
      const r = await call(rig.base, m, '/v1/router-configs/no-such', m === 'PUT' || m === 'PATCH' ? cfg('no-such') : undefined);
      assert.equal(r.status, 404, `${m}: ${r.text}`);
      assert.equal(r.json.error.code, 'router_config_not_found');
    }
  });
});

describe('the default config', () => {
  it('DELETE is refused with 409 default_config_protected, by name or id', async () => {
    const list = await call(rig.base, 'GET', '/v1/router-configs');
    const id = list.json.data.find((c: any) => c.is_default).id;
    for (const ref of ['production-router', id]) {
      const r = await call(rig.base, 'DELETE', `/v1/router-configs/${ref}`);
      assert.equal(r.status, 409);
      assert.equal(r.json.error.code, 'default_config_protected');
    }
    assert.equal((await call(rig.base, 'GET', '/v1/router-configs/production-router')).status, 200);
  });
  it('a rename is refused too (the default is named by routing.default_config)', async () => {
    const r = await call(rig.base, 'PATCH', '/v1/router-configs/production-router', { name: 'other' });
    assert.equal(r.status, 409);
    assert.equal(r.json.error.code, 'default_config_protected');
  });
});

describe('optimistic concurrency', () => {
  it('concurrent PATCHes of different fields without a version: every one lands, the version counts them', async () => {
    const c = await call(rig.base, 'POST', '/v1/router-configs', cfg('race-a'));
    const patches = [
      { cost_weight: 0.7 }, { candidates: [STRONG] }, { default_model: MID },
      { rules: [{ priority: 2, condition: { type: 'keyword', keywords: ['zebra'] }, model: STRONG }] },
    ];
    const rs = await Promise.all(patches.map((p) => call(rig.base, 'PATCH', '/v1/router-configs/race-a', p)));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    const g = await call(rig.base, 'GET', `/v1/router-configs/${c.json.id}`);
    assert.equal(g.json.version, 1 + patches.length);
    assert.equal(g.json.cost_weight, 0.7);
    assert.deepEqual(g.json.candidates, [STRONG]);
    assert.equal(g.json.default_model, MID);
    assert.deepEqual(g.json.rules[0].condition.keywords, ['zebra']);
    assert.deepEqual(rs.map((r) => r.json.version).sort(), [2, 3, 4, 5]);
  });

  it('concurrent PUTs naming the same version: exactly one wins, the others get 409 config_version_conflict with the current version', async () => {
    await call(rig.base, 'POST', '/v1/router-configs', cfg('race-b'));
    const rs = await Promise.all([0.1, 0.2, 0.3, 0.4, 0.5].map((w) => call(rig.base, 'PUT', '/v1/router-configs/race-b', cfg('race-b', { cost_weight: w, version: 1 }))));
    const ok = rs.filter((r) => r.status === 200);
    const lost = rs.filter((r) => r.status === 409);
    assert.equal(ok.length, 1, rs.map((r) => r.text).join('\n'));
    assert.equal(lost.length, 4);
    for (const r of lost) { assert.equal(r.json.error.code, 'config_version_conflict'); assert.equal(r.json.error.current_version, 2); }
    assert.equal((await call(rig.base, 'GET', '/v1/router-configs/race-b')).json.cost_weight, ok[0].json.cost_weight);
  });

  it('a stale version on PATCH and DELETE (?version=) is a 409 and changes nothing', async () => {
    await call(rig.base, 'POST', '/v1/router-configs', cfg('race-c'));
    await call(rig.base, 'PATCH', '/v1/router-configs/race-c', { cost_weight: 1 });
    const p = await call(rig.base, 'PATCH', '/v1/router-configs/race-c', { cost_weight: 2, version: 1 });
    assert.equal(p.status, 409);
    const d = await call(rig.base, 'DELETE', '/v1/router-configs/race-c?version=1');
    assert.equal(d.status, 409);
    const g = await call(rig.base, 'GET', '/v1/router-configs/race-c');
    assert.equal(g.json.cost_weight, 1);
    assert.equal((await call(rig.base, 'DELETE', '/v1/router-configs/race-c?version=2')).status, 200);
  });
});

describe('restart: persisted, YAML seeding', () => {
  it('API configs survive; a YAML config changed through the API is reset to the YAML (version + 1); an unchanged one keeps its version', async () => {
    const e = await startEcho();
    const a = await startRig(echoModels(e));
    const dir = a.dir;
    try {
      const made = await call(a.base, 'POST', '/v1/router-configs', cfg('kept'));
      await call(a.base, 'PATCH', '/v1/router-configs/production-router', { cost_weight: 9 }); // v2, source api
      const labelsBefore = (await call(a.base, 'GET', '/v1/router-configs/labels')).json;
      await a.close({ keepDir: true });

      const seeded: any[] = [];
      const onSeed = (m: unknown) => { seeded.push(m); };
      diagnostics_channel.subscribe(CHANNEL_NAMES.routerConfigsSeeded, onSeed);
      const b = await startRig(echoModels(e), {}, dir).finally(() => diagnostics_channel.unsubscribe(CHANNEL_NAMES.routerConfigsSeeded, onSeed));
      // The log line's source: which stored configs the YAML replaced.
      assert.deepEqual(seeded, [{ created: [], updated: ['production-router'], unchanged: ['labels'] }]);
      try {
        const kept = await call(b.base, 'GET', '/v1/router-configs/kept');
        assert.equal(kept.status, 200);
        assert.equal(kept.json.id, made.json.id);
        const p = (await call(b.base, 'GET', '/v1/router-configs/production-router')).json;
        assert.equal(p.version, 3);
        assert.equal(p.cost_weight, null);
        assert.equal(p.source, 'yaml');
        const labels = (await call(b.base, 'GET', '/v1/router-configs/labels')).json;
        assert.equal(labels.version, labelsBefore.version);
        assert.equal(labels.id, labelsBefore.id);
        assert.equal((await routeModel(b.base, { input: 'x', configName: 'kept' })).status, 200);
      } finally { await b.close({ keepDir: true }); }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await e.close();
    }
  });

  it('a YAML config naming an unknown model fails the start, naming routing.configs[i].field', async () => {
    await assert.rejects(startRig(echoModels(echo), { routing: { configs: [PRODUCTION, { ...PRODUCTION, name: 'bad', default_model: 'gpt-17' }] } }), /routing\.configs\[1\]\.default_model.*unknown model/);
  });

  it('a structurally bad YAML config is a config error naming the field', async () => {
    await assert.rejects(startRig(echoModels(echo), { routing: { configs: [{ ...PRODUCTION, rules: [{ priority: 1, condition: { type: 'sometimes' }, model: MID }] }] } }), /routing\.configs\[0\]\.rules\[0\]\.condition\.type/);
  });
});
