/**
 * Organisations and keys (issue 11 item 1): keys from env vars and SHA-256
 * digests resolve to an organisation; the flat server.api_keys stay the
 * default organisation; a key never appears in what handlers see; and
 * organisation B never sees A's stored responses (GET, DELETE, input_items,
 * previous_response_id, item_reference), while A still does.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Tenancy, TenancyError, hasRole } from '../../src/edge/auth.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startServer } from '../../src/edge/server.ts';
import type { Gateway } from '../gateway/helpers.ts';
import { openaiModel, startMocks, startResponsesGateway, type Mocks } from '../responses/helpers.ts';

const KEY_A = 'sk-org-a-0123456789abcdef';
const KEY_A2 = 'sk-org-a-second-0123456789';
const KEY_B = 'sk-org-b-0123456789abcdef';
const KEY_FLAT = 'sk-flat-default-0123456789';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
process.env.SWITCHYARD_TEST_ORG_A_KEY = KEY_A;

const TENANTS = [
  { id: 'org_a', keys_env: ['SWITCHYARD_TEST_ORG_A_KEY'], keys: [{ id: 'a-admin', sha256: sha(KEY_A2), roles: ['admin'] }] },
  { id: 'org_b', key_sha256: [sha(KEY_B).toUpperCase()] },
];

describe('Tenancy: keys -> callers', () => {
  const t = new Tenancy([KEY_FLAT], TENANTS as never, { SWITCHYARD_TEST_ORG_A_KEY: KEY_A });
  const check = t.check!;

  it('an env key, a digest key (either case of hex) and a flat key resolve to their organisation and a key id, never the key', () => {
    assert.deepEqual([check(`Bearer ${KEY_A}`, '')?.org, check(`Bearer ${KEY_A}`, '')?.keyId], ['org_a', 'env:SWITCHYARD_TEST_ORG_A_KEY']);
    assert.deepEqual([check('', KEY_B)?.org, check('', KEY_B)?.keyId], ['org_b', `sha256:${sha(KEY_B).slice(0, 12)}`]);
    assert.deepEqual([check(`bearer ${KEY_FLAT}`, '')?.org, check(`bearer ${KEY_FLAT}`, '')?.keyId], ['default', 'server.api_keys[0]']);
    for (const k of [KEY_A, KEY_B, KEY_FLAT]) assert.ok(!JSON.stringify(check('', k)).includes(k));
    assert.equal(t.anonymous, null);
  });

  it('roles: per key; an unknown, empty or near-miss key is null', () => {
    const admin = check(`Bearer ${KEY_A2}`, '')!;
    assert.equal(admin.org, 'org_a');
    assert.equal(admin.keyId, 'a-admin');
    assert.ok(hasRole(admin, 'admin'));
    assert.ok(!hasRole(check(`Bearer ${KEY_A}`, '')!, 'admin'));
    for (const bad of ['', KEY_A.slice(0, -1), `${KEY_A}x`, KEY_A.toUpperCase()]) assert.equal(check(`Bearer ${bad}`, bad), null, bad);
    // A wrong Bearer with a right x-api-key: the x-api-key decides.
    assert.equal(check('Bearer nope-nope-nope', KEY_B)?.org, 'org_b');
  });

  it('start-up errors name the entry: unset env var, the same key twice, duplicate ids, an organisation without keys', () => {
    assert.throws(() => new Tenancy([], [{ id: 'x', keys_env: ['NOPE_UNSET_VAR'] }], {}), (e: Error) => e instanceof TenancyError && /tenants\[0\]\.keys_env\[0\].*NOPE_UNSET_VAR/.test(e.message));
    assert.throws(() => new Tenancy([KEY_B], [{ id: 'x', key_sha256: [sha(KEY_B)] }], {}), /tenants\[0\]\.key_sha256\[0\].*server\.api_keys\[0\]/);
    assert.throws(() => new Tenancy([], [{ id: 'x', key_sha256: [sha('a')] }, { id: 'x', key_sha256: [sha('b')] }], {}), /tenants\[1\]\.id/);
    assert.throws(() => new Tenancy([], [{ id: 'x' }], {}), /tenants\[0\].*no keys/);
    // Two variables holding the same key value are the same key.
    assert.throws(() => new Tenancy([], [{ id: 'x', keys_env: ['V1'] }, { id: 'y', keys_env: ['V2'] }], { V1: 'same-key-123', V2: 'same-key-123' }), /tenants\[1\]\.keys_env\[0\]/);
  });

  it('no keys at all: no check, every request is the default organisation (with its tenants entry\'s settings)', () => {
    const open = new Tenancy([], [{ id: 'default', guardrails: 'moderate', limits: { requests_per_minute: 5 } }], {});
    assert.equal(open.check, undefined);
    assert.equal(open.anonymous?.org, 'default');
    assert.equal(open.anonymous?.guardrails, 'moderate');
    assert.equal(open.budgets[open.anonymous!.orgBudget].requestsPerMinute, 5);
  });

  it('config: the schema refuses a key in plain text where a digest or a variable name belongs, and unknown keys', () => {
    const load = (tenants: unknown) => () => loadConfig({ env: {}, overrides: { tenants } });
    assert.throws(load([{ id: 'a', key_sha256: [KEY_A] }]), /tenants\.0\.key_sha256\.0/);
    assert.throws(load([{ id: 'a', keys_env: ['sk-live-abc'] }]), /tenants\.0\.keys_env\.0/);
    assert.throws(load([{ id: 'a', keys: [{ key: KEY_A }] }]), /tenants\.0\.keys\.0/);
    assert.throws(load([{ id: 'a b' }]), /tenants\.0\.id/);
    assert.doesNotThrow(load(TENANTS));
  });

  it('startServer refuses an unset key variable before serving', async () => {
    const config = loadConfig({ env: {}, overrides: { server: { host: '127.0.0.1', port: 0, threads: 1 }, tenants: [{ id: 'x', keys_env: ['SWITCHYARD_TEST_UNSET_KEY_VAR'] }] } });
    await assert.rejects(startServer(config), /SWITCHYARD_TEST_UNSET_KEY_VAR is not set/);
  });
});

describe('stored responses are scoped by organisation', () => {
  let mocks: Mocks;
  let gw: Gateway;
  before(async () => {
    mocks = await startMocks({ chunks: 2 });
    gw = await startResponsesGateway({ models: [openaiModel('gpt-4-1106-preview', mocks.oa)] }, { server: { api_keys: [KEY_FLAT], threads: 1 }, tenants: TENANTS });
  });
  after(async () => { await gw.close(); await mocks.close(); });

  const call = async (key: string, method: string, path: string, body?: unknown) => {
    const r = await fetch(gw.base + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, json: await r.json() as any };
  };

  it('B (and the default organisation) get 404 for A\'s response on GET, DELETE, input_items, previous_response_id and item_reference; A still has it', async () => {
    const created = await call(KEY_A, 'POST', '/v1/responses', { model: 'gpt-4-1106-preview', input: 'hello from A' });
    assert.equal(created.status, 200, JSON.stringify(created.json));
    const id: string = created.json.id;
    const msgId: string = created.json.output.find((o: any) => o.type === 'message').id;
    for (const other of [KEY_B, KEY_FLAT]) {
      for (const [method, path] of [['GET', `/v1/responses/${id}`], ['DELETE', `/v1/responses/${id}`], ['GET', `/v1/responses/${id}/input_items`]]) {
        const r = await call(other, method, path);
        assert.equal(r.status, 404, `${method} ${path}: ${JSON.stringify(r.json)}`);
        assert.equal(r.json.error.code, 'response_not_found');
      }
      const cont = await call(other, 'POST', '/v1/responses', { model: 'gpt-4-1106-preview', input: 'more', previous_response_id: id });
      assert.equal(cont.status, 404, JSON.stringify(cont.json));
      assert.equal(cont.json.error.code, 'response_not_found');
      const ref = await call(other, 'POST', '/v1/responses', { model: 'gpt-4-1106-preview', input: [{ type: 'item_reference', id: msgId }, { role: 'user', content: 'and?' }] });
      assert.equal(ref.status, 400, JSON.stringify(ref.json));
    }
    // The other key of the same organisation sees it; the row survived the DELETEs above.
    assert.equal((await call(KEY_A2, 'GET', `/v1/responses/${id}`)).status, 200);
    assert.equal((await call(KEY_A, 'GET', `/v1/responses/${id}/input_items`)).status, 200);
    const cont = await call(KEY_A, 'POST', '/v1/responses', { model: 'gpt-4-1106-preview', input: 'more', previous_response_id: id });
    assert.equal(cont.status, 200, JSON.stringify(cont.json));
    // B's own response is B's alone, and A cannot delete it.
    const b = await call(KEY_B, 'POST', '/v1/responses', { model: 'gpt-4-1106-preview', input: 'hello from B' });
    assert.equal((await call(KEY_A, 'DELETE', `/v1/responses/${b.json.id}`)).status, 404);
    assert.equal((await call(KEY_B, 'DELETE', `/v1/responses/${b.json.id}`)).status, 200);
    assert.equal((await call(KEY_A, 'DELETE', `/v1/responses/${id}`)).status, 200);
    assert.equal((await call(KEY_A, 'GET', `/v1/responses/${id}`)).status, 404);
  });

  it('the default organisation\'s rows are invisible to tenants too', async () => {
    const created = await call(KEY_FLAT, 'POST', '/v1/responses', { model: 'gpt-4-1106-preview', input: 'hello from default' });
    assert.equal(created.status, 200);
    assert.equal((await call(KEY_B, 'GET', `/v1/responses/${created.json.id}`)).status, 404);
    assert.equal((await call(KEY_FLAT, 'GET', `/v1/responses/${created.json.id}`)).status, 200);
  });
});
