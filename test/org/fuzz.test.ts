/**
 * The issue-11 (second half) endpoints under random input: preferences (random
 * keys, percent-encoded junk, random values), feedback bodies, task feedback,
 * log queries, reset queries and X-GR-Cache-TTL values. Every answer is a 2xx
 * or a 4xx whose code is in the catalogue, never a 5xx, and the server still
 * answers afterwards. Seeded, so a failure replays.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_A, call, startOrgGateway, type OrgGateway } from './helpers.ts';
import { ERRORS } from '../../src/errors.ts';
import { mulberry32 } from '../../src/seeded-random.ts';

let g: OrgGateway;
before(async () => { g = await startOrgGateway(); });
after(async () => { await g.close(); });

const rng = mulberry32;

const WEIRD: unknown[] = [null, true, false, 0, -1, 1e308, -0, 0.5, 3600, 3601, '', ' ', 'x'.repeat(3000), '💥', '__proto__', 'good', 'bad', 'code', 'balanced',
  'price-optimized', 'edit', [], ['openai'], ['anthropic', 'openai'], ['gpt-4-1106-preview'], [1, null], {}, { value: 1 }, { constructor: 1 }, 'req_x', 'claude-v2'];
const KEYS = ['default_optimization', 'default_task', 'excluded_providers', 'excluded_models', 'preferred_providers', 'content_mode_default', 'default_cost_weight',
  'nope', '%00', '%E2%82', '..', 'default_task%2F..', 'x'.repeat(300)];
const QUERY_PARTS = ['format=csv', 'format=json', 'format=xml', 'limit=0', 'limit=1', 'limit=10000', 'limit=10001', 'limit=-3', 'limit=1e3', 'since=0', 'since=2026-01-01',
  'since=garbage', 'until=9999999999999', 'cursor=0', 'cursor=abc', 'cursor=99999999999999999999', 'model=claude-v2', 'cluster=3', 'cluster=-1', 'x=1', '%ZZ', 'limit', '&&&'];

const REPLY_OK = (s: number) => (s >= 200 && s < 300) || (s >= 400 && s < 500);
function check(what: string, res: { status: number; text: string; json: any; headers: Headers }): void {
  assert.ok(REPLY_OK(res.status), `${what} -> ${res.status} ${res.text.slice(0, 300)}`);
  if (res.status >= 400) assert.ok(res.json?.error?.code in ERRORS, `${what}: ${res.text.slice(0, 300)}`);
}

describe('fuzz: preferences, feedback, logs, cache TTL', () => {
  it('random requests never answer 5xx', async () => {
    const r = rng(1111);
    const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)];
    const b = g.gw.base;
    for (let i = 0; i < 80; i++) {
      const key = pick(KEYS);
      const v = pick(WEIRD);
      const body = r() < 0.15 ? pick(WEIRD) : r() < 0.1 ? '{"value": ' : { value: v };
      check(`PUT ${key} ${JSON.stringify(body)?.slice(0, 80)}`, await call(b, KEY_A, 'PUT', `/v1/preferences/${key}`, typeof body === 'string' ? body : JSON.stringify(body)));
      if (r() < 0.3) check(`DELETE ${key}`, await call(b, KEY_A, 'DELETE', `/v1/preferences/${key}`));
    }
    check('GET prefs', await call(b, KEY_A, 'GET', '/v1/preferences'));
    check('GET suggestions', await call(b, KEY_A, 'GET', '/v1/preferences/suggestions'));
    for (let i = 0; i < 60; i++) {
      const o: Record<string, unknown> = { request_id: 'req_x', score: 'bad' };
      for (let n = 1 + Math.floor(r() * 3); n > 0; n--) { const k = pick(['request_id', 'score', 'comment', 'extra']); if (r() < 0.2) delete o[k]; else o[k] = pick(WEIRD); }
      check(`POST feedback ${JSON.stringify(o).slice(0, 100)}`, await call(b, KEY_A, 'POST', '/v1/feedback', r() < 0.1 ? JSON.stringify(pick(WEIRD)) : o));
      const t: Record<string, unknown> = { prompt: 'fix my loop', classified_task: 'text', correct: false, suggested_task: 'code', confidence: 0.5 };
      for (let n = 1 + Math.floor(r() * 3); n > 0; n--) { const k = pick(['prompt', 'classified_task', 'correct', 'confidence', 'suggested_task', 'extra']); if (r() < 0.2) delete t[k]; else t[k] = pick(WEIRD); }
      check(`POST auto/feedback ${JSON.stringify(t).slice(0, 100)}`, await call(b, KEY_A, 'POST', '/v1/auto/feedback', t));
    }
    for (let i = 0; i < 60; i++) {
      const q = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(QUERY_PARTS)).join('&');
      check(`GET logs ?${q}`, await call(b, KEY_A, 'GET', `/v1/org/logs?${q}`));
      if (i % 3 === 0) check(`DELETE feedback ?${q}`, await call(b, KEY_A, 'DELETE', `/v1/feedback?${q}`));
    }
    for (const ttl of ['1', '3600', '3601', '-1', 'abc', '1.5', '0', ' 5', '99999', '00001']) {
      check(`ttl ${ttl}`, await call(b, KEY_A, 'POST', '/v1/chat/completions', { model: 'auto', messages: [{ role: 'user', content: 'hi' }] }, { 'x-gr-cache-ttl': ttl }));
    }
    // Still serving.
    assert.equal((await call(b, KEY_A, 'GET', '/v1/preferences')).status, 200);
  });
});
