/**
 * Preferences per organisation (issue 11 item 2): CRUD with validation naming
 * the key and value, isolation between organisations, safe defaults with a
 * header when the store fails, and their effect on /v1/route and chat:
 * an excluded model is never chosen (and refused when named), a preferred
 * provider's models get PREFERRED_BONUS off their score, default_cost_weight
 * and default_optimization set λ when the request does not.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_A, KEY_B, KEY_FLAT, ROUTABLE, call, startOrgGateway, type OrgGateway } from './helpers.ts';
import { PREFERRED_BONUS, orgStates } from '../../src/api/org-state.ts';
import { StoreError } from '../../src/store/types.ts';

const PROMPTS = [
  'Prove that the square root of 2 is irrational.',
  'Write a Python function that reverses a linked list in place.',
  'What is the capital of Australia?',
  'Summarise the causes of the First World War in three sentences.',
  'Translate "good morning" into French.',
  'Write a haiku about autumn leaves.',
];

let g: OrgGateway;
let base: string;
before(async () => { g = await startOrgGateway(); base = g.gw.base; });
after(async () => { await g.close(); });

const route = async (key: string, prompt: string, extra: Record<string, unknown> = {}) => {
  const r = await call(base, key, 'POST', '/v1/route', { prompt, available_models: ROUTABLE, ...extra });
  assert.equal(r.status, 200, r.text);
  return r.json;
};

describe('preferences: CRUD and validation', () => {
  it('GET answers the defaults for an organisation that set nothing', async () => {
    const r = await call(base, KEY_A, 'GET', '/v1/preferences');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-switchyard-preferences'), 'stored');
    assert.equal(r.json.organization, 'org_a');
    assert.deepEqual(r.json.preferences, { default_optimization: 'balanced', default_task: null, excluded_providers: [], excluded_models: [], preferred_providers: [], content_mode_default: null, default_cost_weight: null });
  });

  it('PUT sets, GET shows, DELETE removes; another organisation sees none of it', async () => {
    let r = await call(base, KEY_A, 'PUT', '/v1/preferences/default_optimization', { value: 'price-optimized' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.key, r.json.value], ['default_optimization', 'price-optimized']);
    r = await call(base, KEY_A, 'PUT', '/v1/preferences/excluded_providers', { value: ['anthropic', 'anthropic'] });
    assert.deepEqual(r.json.value, ['anthropic']);
    r = await call(base, KEY_A, 'GET', '/v1/preferences');
    assert.equal(r.json.preferences.default_optimization, 'price-optimized');
    assert.deepEqual(r.json.preferences.excluded_providers, ['anthropic']);
    assert.deepEqual(r.json.set.sort(), ['default_optimization', 'excluded_providers']);
    for (const other of [KEY_B, KEY_FLAT]) {
      const o = await call(base, other, 'GET', '/v1/preferences');
      assert.equal(o.json.preferences.default_optimization, 'balanced');
      assert.deepEqual(o.json.set, []);
      // B cannot delete A's preference either.
      const d = await call(base, other, 'DELETE', '/v1/preferences/default_optimization');
      assert.equal(d.status, 404);
      assert.equal(d.json.error.code, 'preference_not_found');
    }
    assert.equal((await call(base, KEY_A, 'DELETE', '/v1/preferences/default_optimization')).status, 200);
    assert.equal((await call(base, KEY_A, 'DELETE', '/v1/preferences/excluded_providers')).status, 200);
    assert.equal((await call(base, KEY_A, 'DELETE', '/v1/preferences/excluded_providers')).json.error.code, 'preference_not_found');
    assert.deepEqual((await call(base, KEY_A, 'GET', '/v1/preferences')).json.set, []);
  });

  it('a bad key or value is a 400 naming it', async () => {
    const cases: [string, unknown, RegExp, string][] = [
      ['nope', 1, /nope.*is not a preference key/, 'key'],
      ['default_optimization', 'fastest', /default_optimization must be one of/, 'value'],
      ['default_task', 'poetry', /default_task must be one of/, 'value'],
      ['excluded_models', ['gpt-4-1106-preview', 'no-such-model'], /excluded_models: "no-such-model" is not a configured model/, 'value[1]'],
      ['excluded_providers', 'openai', /excluded_providers must be an array/, 'value'],
      ['preferred_providers', ['nowhere'], /preferred_providers: "nowhere" is not a configured provider/, 'value[0]'],
      ['content_mode_default', 'remix', /content_mode_default must be one of/, 'value'],
      ['default_cost_weight', -1, /default_cost_weight must be a number/, 'value'],
    ];
    for (const [key, value, re, param] of cases) {
      const r = await call(base, KEY_A, 'PUT', `/v1/preferences/${key}`, { value });
      assert.equal(r.status, 400, `${key}: ${r.text}`);
      assert.equal(r.json.error.code, 'invalid_request');
      assert.equal(r.json.error.param, param, key);
      assert.match(r.json.error.message, re);
    }
    assert.equal((await call(base, KEY_A, 'PUT', '/v1/preferences/default_task', {})).json.error.param, 'value');
    assert.equal((await call(base, KEY_A, 'PUT', '/v1/preferences/default_task', { value: 'code', extra: 1 })).status, 400);
  });

  it('a failing store: GET answers the safe defaults and says so in a header; PUT is 503', async () => {
    const s = g.gw.server.engine.store.org;
    const orig = s.preferences, origSet = s.setPreference;
    s.preferences = () => Promise.reject(new StoreError('disk on fire'));
    s.setPreference = () => Promise.reject(new StoreError('disk on fire'));
    try {
      const r = await call(base, KEY_A, 'GET', '/v1/preferences');
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-switchyard-preferences'), 'defaults');
      assert.equal(r.json.preferences.default_optimization, 'balanced');
      assert.match(r.json.warning, /unavailable/);
      const p = await call(base, KEY_A, 'PUT', '/v1/preferences/default_task', { value: 'code' });
      assert.equal(p.status, 503);
      assert.equal(p.json.error.code, 'store_unavailable');
    } finally {
      s.preferences = orig;
      s.setPreference = origSet;
    }
  });
});

describe('preferences applied to routing', () => {
  it('excluded_models: never chosen by /v1/route or chat for that organisation, refused by name; others unaffected', async () => {
    // The model each prompt goes to today.
    const before = await Promise.all(PROMPTS.map((p) => route(KEY_A, p)));
    const victim: string = before[0].selected_model;
    const r = await call(base, KEY_A, 'PUT', '/v1/preferences/excluded_models', { value: [victim] });
    assert.equal(r.status, 200, r.text);
    try {
      for (const p of PROMPTS) {
        const d = await route(KEY_A, p);
        assert.notEqual(d.selected_model, victim, p);
        assert.ok(!(victim in d.all_scores), `${victim} is not even scored`);
        // Organisation B and the default organisation still get it where the profile picks it.
        const b = await route(KEY_B, p);
        assert.equal(b.selected_model, before[PROMPTS.indexOf(p)].selected_model);
        const c = await call(base, KEY_A, 'POST', '/v1/chat/completions', { model: 'auto', messages: [{ role: 'user', content: p }] });
        assert.equal(c.status, 200, c.text);
        assert.notEqual(c.headers.get('x-switchyard-model'), victim);
        assert.ok(!c.headers.get('x-switchyard-candidates')!.split(',').includes(victim));
      }
      const explicit = await call(base, KEY_A, 'POST', '/v1/chat/completions', { model: victim, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(explicit.status, 400);
      assert.equal(explicit.json.error.code, 'model_excluded');
      assert.equal(explicit.json.error.param, 'model');
      assert.equal((await call(base, KEY_B, 'POST', '/v1/chat/completions', { model: victim, messages: [{ role: 'user', content: 'hi' }] })).status, 200);
      // Excluding every candidate: no candidate, not a silent pick.
      await call(base, KEY_A, 'PUT', '/v1/preferences/excluded_models', { value: ROUTABLE });
      const none = await call(base, KEY_A, 'POST', '/v1/route', { prompt: PROMPTS[0], available_models: ROUTABLE });
      assert.equal(none.status, 422);
    } finally {
      await call(base, KEY_A, 'DELETE', '/v1/preferences/excluded_models');
    }
    assert.equal((await route(KEY_A, PROMPTS[0])).selected_model, victim);
  });

  it('a failing store while compiling: the organisation routes on defaults for that request only, then its preferences again', async () => {
    const victim = (await route(KEY_A, PROMPTS[0])).selected_model;
    await call(base, KEY_A, 'PUT', '/v1/preferences/excluded_models', { value: [victim] });
    const s = g.gw.server.engine.store.org;
    const orig = s.preferences;
    try {
      assert.notEqual((await route(KEY_A, PROMPTS[0])).selected_model, victim);
      s.preferences = () => Promise.reject(new StoreError('disk on fire'));
      orgStates(g.gw.server.engine).bump('any');
      assert.equal((await route(KEY_A, PROMPTS[0])).selected_model, victim);
      s.preferences = orig;
      // Not cached from the failed read: the next request reads the store again.
      assert.notEqual((await route(KEY_A, PROMPTS[0])).selected_model, victim);
    } finally {
      s.preferences = orig;
      await call(base, KEY_A, 'DELETE', '/v1/preferences/excluded_models');
    }
  });

  it('excluded_providers masks every model of the provider', async () => {
    await call(base, KEY_A, 'PUT', '/v1/preferences/excluded_providers', { value: ['openai'] });
    try {
      for (const p of PROMPTS) {
        const d = await route(KEY_A, p);
        assert.ok(!('gpt-4-1106-preview' in d.all_scores));
        assert.notEqual(d.selected_model, 'gpt-4-1106-preview');
      }
    } finally {
      await call(base, KEY_A, 'DELETE', '/v1/preferences/excluded_providers');
    }
  });

  it(`preferred_providers: that provider's models score ${PREFERRED_BONUS} lower, only for that organisation`, async () => {
    await call(base, KEY_A, 'PUT', '/v1/preferences/preferred_providers', { value: ['mistralai'] });
    try {
      for (const p of PROMPTS.slice(0, 3)) {
        const a = await route(KEY_A, p), b = await route(KEY_B, p);
        const m = 'mistralai/mistral-7b-chat';
        assert.ok(Math.abs((b.all_scores[m] - a.all_scores[m]) - PREFERRED_BONUS) < 1e-9, `${a.all_scores[m]} vs ${b.all_scores[m]}`);
        assert.equal(a.all_scores['gpt-4-1106-preview'], b.all_scores['gpt-4-1106-preview']);
      }
    } finally {
      await call(base, KEY_A, 'DELETE', '/v1/preferences/preferred_providers');
    }
  });

  it('default_cost_weight and default_optimization set λ when the request does not; a request\'s cost_weight wins', async () => {
    const base0 = (await route(KEY_B, PROMPTS[2])).cost_weight;
    await call(base, KEY_A, 'PUT', '/v1/preferences/default_optimization', { value: 'output-optimized' });
    assert.equal((await route(KEY_A, PROMPTS[2])).cost_weight, 0);
    await call(base, KEY_A, 'PUT', '/v1/preferences/default_optimization', { value: 'price-optimized' });
    assert.ok(Math.abs((await route(KEY_A, PROMPTS[2])).cost_weight - 4 * base0) < 1e-12);
    await call(base, KEY_A, 'PUT', '/v1/preferences/default_cost_weight', { value: 0.123 });
    assert.equal((await route(KEY_A, PROMPTS[2])).cost_weight, 0.123);
    assert.equal((await route(KEY_A, PROMPTS[2], { cost_weight: 0.5 })).cost_weight, 0.5);
    assert.equal((await route(KEY_B, PROMPTS[2])).cost_weight, base0);
    await call(base, KEY_A, 'DELETE', '/v1/preferences/default_cost_weight');
    await call(base, KEY_A, 'DELETE', '/v1/preferences/default_optimization');
    assert.equal((await route(KEY_A, PROMPTS[2])).cost_weight, base0);
  });
});
