/**
 * Preferences and feedback reach every HTTP thread (server.threads 2): each
 * thread compiles an organisation's state once and keeps it; a change through
 * one thread bumps the shared generation counter, so the other thread's next
 * request routes with it. Fresh connections (connection: close) land on both
 * threads. Fails with a per-thread counter: the other thread would keep
 * routing to the excluded model.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_A, ROUTABLE, call, startOrgGateway, type OrgGateway } from './helpers.ts';

let g: OrgGateway;
before(async () => { g = await startOrgGateway({ server: { threads: 2 } }); });
after(async () => { await g.close(); });

const PROMPT = 'Prove that the square root of 2 is irrational.';
const route = async () => {
  const r = await call(g.gw.base, KEY_A, 'POST', '/v1/route', { prompt: PROMPT, available_models: ROUTABLE }, { connection: 'close' });
  assert.equal(r.status, 200, r.text);
  return r.json.selected_model as string;
};

describe('org state across HTTP threads', () => {
  it('an exclusion set through one thread holds on every thread from the next request, and its removal too', async () => {
    // Every thread compiles (and caches) A's empty state first.
    const victim = await route();
    for (let i = 0; i < 10; i++) assert.equal(await route(), victim);
    const put = await call(g.gw.base, KEY_A, 'PUT', '/v1/preferences/excluded_models', { value: [victim] }, { connection: 'close' });
    assert.equal(put.status, 200, put.text);
    for (let i = 0; i < 16; i++) assert.notEqual(await route(), victim, `request ${i}`);
    await call(g.gw.base, KEY_A, 'DELETE', '/v1/preferences/excluded_models', undefined, { connection: 'close' });
    for (let i = 0; i < 16; i++) assert.equal(await route(), victim, `request ${i} after DELETE`);
  });
});
