/**
 * The admin role (issue 11): writes to shared configuration (router configs,
 * preferences, feedback resets) need `admin` when the caller's organisation
 * defines roles; reads do not. An organisation without roles, the flat
 * server.api_keys and a server without keys keep full rights. The 403 is
 * `forbidden`, in each family's error shape.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { call, KEY_B, KEY_FLAT, startOrgGateway, type OrgGateway } from '../org/helpers.ts';
import { requireAdmin, Tenancy } from '../../src/edge/auth.ts';
import { ApiError } from '../../src/errors.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const ADMIN_KEY = 'sk-admin-role-admin-0123456789';
const USER_KEY = 'sk-admin-role-user-0123456789a';
const TENANTS = [
  { id: 'org_a', keys: [{ id: 'ops', sha256: sha(ADMIN_KEY), roles: ['admin'] }, { id: 'app', sha256: sha(USER_KEY) }] },
  { id: 'org_b', key_sha256: [sha(KEY_B)] },
];
const cfg = (name: string) => ({ name, default_model: 'mistralai/mistral-7b-chat', rules: [] });

describe('requireAdmin (unit)', () => {
  const t = new Tenancy(['sk-flat-admin-unit-0123456789'], TENANTS as never);
  const who = (key: string) => t.check!(`Bearer ${key}`, '')!;

  it('a key without admin in an organisation that defines roles is refused with forbidden, naming the key, never the key itself', () => {
    assert.throws(() => requireAdmin({ caller: who(USER_KEY), method: 'put', path: '/v1/preferences/x' }), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, 'forbidden');
      assert.equal(e.status, 403);
      assert.match(e.message, /PUT \/v1\/preferences\/x/);
      assert.match(e.message, /app/);
      assert.ok(!e.message.includes(USER_KEY));
      return true;
    });
  });
  it('the admin key, an organisation without roles, the flat keys and a keyless server pass', () => {
    requireAdmin({ caller: who(ADMIN_KEY) });
    requireAdmin({ caller: who(KEY_B) });
    requireAdmin({ caller: who('sk-flat-admin-unit-0123456789') });
    requireAdmin({ caller: new Tenancy([], []).anonymous! });
    requireAdmin({ caller: Tenancy.PUBLIC });
  });
  it('roles on the organisation (tenants[].roles) make every key of it admin', () => {
    const t2 = new Tenancy([], [{ id: 'org_r', roles: ['admin'], key_sha256: [sha(USER_KEY)] }] as never);
    const c = t2.check!(`Bearer ${USER_KEY}`, '')!;
    assert.equal(c.rolesDefined, true);
    requireAdmin({ caller: c });
  });
});

describe('admin endpoints over HTTP', () => {
  let g: OrgGateway;
  let base: string;
  before(async () => { g = await startOrgGateway({ tenants: TENANTS }); base = g.gw.base; });
  after(async () => { await g.close(); });

  it('router-config writes: 403 forbidden in Switchyard\'s shape for a plain key, allowed for the admin key; reads for both', async () => {
    const denied = await call(base, USER_KEY, 'POST', '/v1/router-configs', cfg('admin-a'));
    assert.equal(denied.status, 403, denied.text);
    assert.equal(denied.json.error.code, 'forbidden');
    assert.equal(typeof denied.json.error.message, 'string');
    const made = await call(base, ADMIN_KEY, 'POST', '/v1/router-configs', cfg('admin-a'));
    assert.equal(made.status, 201, made.text);
    for (const [method, body] of [['PUT', cfg('admin-a')], ['PATCH', { cost_weight: 0.2 }], ['DELETE', undefined]] as const) {
      const r = await call(base, USER_KEY, method, '/v1/router-configs/admin-a', body);
      assert.equal(r.status, 403, `${method}: ${r.text}`);
      assert.equal(r.json.error.code, 'forbidden');
    }
    assert.equal((await call(base, USER_KEY, 'GET', '/v1/router-configs/admin-a')).status, 200);
    assert.equal((await call(base, USER_KEY, 'GET', '/v1/router-configs')).status, 200);
    assert.equal((await call(base, ADMIN_KEY, 'DELETE', '/v1/router-configs/admin-a')).status, 200);
  });

  it('preference writes: 403 in OpenAI\'s shape for a plain key; GET and suggestions stay open', async () => {
    const denied = await call(base, USER_KEY, 'PUT', '/v1/preferences/excluded_providers', { value: ['anthropic'] });
    assert.equal(denied.status, 403, denied.text);
    assert.equal(denied.json.error.code, 'forbidden');
    assert.equal(denied.json.error.param, null);
    assert.equal((await call(base, USER_KEY, 'GET', '/v1/preferences')).json.excluded_providers?.length ?? 0, 0, 'nothing was stored');
    assert.equal((await call(base, ADMIN_KEY, 'PUT', '/v1/preferences/excluded_providers', { value: ['anthropic'] })).status, 200);
    assert.equal((await call(base, USER_KEY, 'DELETE', '/v1/preferences/excluded_providers')).status, 403);
    assert.equal((await call(base, ADMIN_KEY, 'DELETE', '/v1/preferences/excluded_providers')).status, 200);
    assert.equal((await call(base, USER_KEY, 'GET', '/v1/preferences/suggestions')).status, 200);
  });

  it('feedback reset needs admin; rating an answer (POST /v1/feedback) does not', async () => {
    assert.equal((await call(base, USER_KEY, 'DELETE', '/v1/feedback')).status, 403);
    assert.equal((await call(base, ADMIN_KEY, 'DELETE', '/v1/feedback')).status, 200);
    const rate = await call(base, USER_KEY, 'POST', '/v1/feedback', { request_id: 'req_unknown', score: 'bad' });
    assert.equal(rate.status, 404, 'past the role check: the id is unknown');
  });

  it('an organisation without roles and the flat server.api_keys keep full rights', async () => {
    assert.equal((await call(base, KEY_B, 'PUT', '/v1/preferences/default_task', { value: 'code' })).status, 200);
    assert.equal((await call(base, KEY_B, 'POST', '/v1/router-configs', cfg('org-b-own'))).status, 201);
    assert.equal((await call(base, KEY_FLAT, 'PUT', '/v1/preferences/default_task', { value: 'code' })).status, 200);
    assert.equal((await call(base, KEY_FLAT, 'POST', '/v1/router-configs', cfg('flat-own'))).status, 201);
  });
});
