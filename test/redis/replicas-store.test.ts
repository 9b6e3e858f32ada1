/**
 * Stored data across three replicas on one Redis (issue 12; state.redis.store
 * "redis"): three real replica processes (test/redis/replicas.ts) behind no
 * load balancer, each request sent to a chosen one.
 *
 * - Responses API (the openai SDK, as users call it): created on one,
 *   retrieved, input items listed and continued with previous_response_id
 *   on another, deleted on the third.
 * - Preferences set on one apply to routing on the others; removed on
 *   another, routing there is back.
 * - POST /v1/feedback on one (for a request answered by another) moves that
 *   organisation's /v1/route scores, then its choice, on the third; another
 *   organisation's are untouched.
 * - Activity logs written by all three are exported from one.
 * - A session of /v1/model-router/invoke continues on another replica.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { startRedis, type TestRedis } from './redis-server.ts';
import { startReplicas, type ReplicaSet } from './replicas.ts';
import { KEYS } from '../gateway/helpers.ts';
import { call, eventually as orgEventually, type Res } from '../org/helpers.ts';
import { startEcho, echoModels, PRODUCTION, CHEAP, MID, STRONG, type Echo } from '../rules-api/helpers.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const KEY_A = 'sk-replica-org-a-0123456789abcdef';
const KEY_B = 'sk-replica-org-b-0123456789abcdef';
const KEY_C = 'sk-replica-org-c-0123456789abcdef';
/** server.api_keys: the organisation "default", which the YAML's router configs are seeded for. */
const KEY_FLAT = 'sk-replica-flat-0123456789abcdef';
const TENANTS = [{ id: 'org_a', key_sha256: [sha(KEY_A)] }, { id: 'org_b', key_sha256: [sha(KEY_B)] }, { id: 'org_c', key_sha256: [sha(KEY_C)] }];
const MODELS = [STRONG, MID, CHEAP];
const PROMPT = 'Prove that the square root of 2 is irrational.';

let redis: TestRedis;
let echo: Echo;
let set: ReplicaSet;
const base = (i: number) => set.replicas[i].base;

before(async () => {
  redis = await startRedis();
  echo = await startEcho();
  set = await startReplicas({
    n: 3,
    redisUrl: redis.url,
    env: { ...KEYS },
    config: {
      server: { api_keys: [KEY_FLAT] },
      tenants: TENANTS,
      // No latency penalty: on a loaded machine the echo upstream's time to first byte would move chat's choice away from /v1/route's.
      providers: { models: echoModels(echo), health: { latency_weight: 0 } },
      routing: { configs: [PRODUCTION] },
      state: { logs: { flush_ms: 50 } },
    },
  });
});
after(async () => {
  await set?.stop();
  await echo?.close();
  await redis?.stop();
});

// The org suites' helpers, with a longer wait: a change must cross Redis to reach another replica.
const eventually = <T>(f: () => Promise<T | undefined>, what: string) => orgEventually(f, what, 15_000);

const route = async (i: number, key: string, prompt = PROMPT) => {
  const r = await call(base(i), key, 'POST', '/v1/route', { prompt, available_models: MODELS });
  assert.equal(r.status, 200, r.text);
  return r.json;
};
const chatAuto = async (i: number, key: string, content = PROMPT) => {
  const r = await call(base(i), key, 'POST', '/v1/chat/completions', { model: 'auto', messages: [{ role: 'user', content }] });
  assert.equal(r.status, 200, r.text);
  return r;
};
const logRow = (i: number, key: string, id: string) => eventually(async () => {
  const r = await call(base(i), key, 'GET', '/v1/org/logs?limit=10000');
  assert.equal(r.status, 200, r.text);
  return r.json.data.find((x: any) => x.request_id === id);
}, `log row ${id} on replica ${i}`);

/** What the echo upstream answered is the JSON of the messages it received. */
const received = (content: string) => JSON.parse(content) as { n: number; roles: string[]; contents: string[] };

describe('three replicas, one Redis: stored data', () => {
  it('Responses API (openai SDK): created on 0; retrieved, listed and continued on 1; deleted on 2; gone everywhere', async () => {
    const sdk = (i: number) => new OpenAI({ baseURL: `${base(i)}/v1`, apiKey: KEY_A, maxRetries: 0 });
    const first = await sdk(0).responses.create({ model: CHEAP, input: 'my name is Ada', store: true });
    assert.match(first.id, /^resp_/);
    const got = await sdk(1).responses.retrieve(first.id);
    assert.equal(got.id, first.id);
    assert.equal(got.output_text, first.output_text);
    const items = await sdk(1).responses.inputItems.list(first.id);
    assert.deepEqual(items.data.map((x: any) => x.type === 'message' && x.content[0].text), ['my name is Ada']);
    const next = await sdk(1).responses.create({ model: CHEAP, input: 'what is my name?', previous_response_id: first.id, store: true });
    assert.deepEqual(received(next.output_text).contents, ['my name is Ada', first.output_text, 'what is my name?'], 'the chain stored by replica 0 reached the upstream through replica 1');
    await sdk(2).responses.delete(first.id);
    for (const i of [0, 1, 2]) await assert.rejects(sdk(i).responses.retrieve(first.id), (e: unknown) => e instanceof OpenAI.NotFoundError);
    assert.equal((await sdk(0).responses.retrieve(next.id)).id, next.id, 'the continuation is still there');
  });

  it('preferences set on one replica apply to routing on the others; removed on another, routing there is back', async () => {
    const victim = (await route(1, KEY_C)).selected_model;
    assert.equal((await route(2, KEY_C)).selected_model, victim, 'replica 2 compiled org_c before the change');
    const put = await call(base(0), KEY_C, 'PUT', '/v1/preferences/excluded_models', { value: [victim] });
    assert.equal(put.status, 200, put.text);
    for (const i of [1, 2]) {
      await eventually(async () => ((await route(i, KEY_C)).selected_model !== victim ? true : undefined), `replica ${i} excludes ${victim}`);
      const g = await call(base(i), KEY_C, 'GET', '/v1/preferences');
      assert.deepEqual(g.json.preferences.excluded_models, [victim]);
      assert.equal(g.headers.get('x-switchyard-preferences'), 'stored');
    }
    assert.equal((await route(0, KEY_B)).selected_model, victim, 'another organisation is not affected');
    const del = await call(base(1), KEY_C, 'DELETE', '/v1/preferences/excluded_models');
    assert.equal(del.status, 200, del.text);
    for (const i of [0, 2]) await eventually(async () => ((await route(i, KEY_C)).selected_model === victim ? true : undefined), `replica ${i} routes to ${victim} again`);
  });

  it('feedback on one replica moves that organisation\'s scores and choice on another; not another organisation\'s', async () => {
    const first = await route(2, KEY_A);
    const victim = first.selected_model;
    const baselineB = await route(2, KEY_B);
    assert.equal(baselineB.selected_model, victim);
    let moved: any;
    let ratings = 0;
    for (let i = 0; i < 40 && !moved; i++) {
      const c = await chatAuto(0, KEY_A);
      assert.equal(c.headers.get('x-switchyard-model'), victim, 'chat routes as /v1/route does');
      const id = c.headers.get('x-request-id')!;
      // Written by replica 0, found by replica 1 through the shared log.
      await logRow(1, KEY_A, id);
      const f = await call(base(1), KEY_A, 'POST', '/v1/feedback', { request_id: id, score: 'bad' });
      assert.equal(f.status, 200, f.text);
      assert.equal(f.json.ratings, ++ratings, 'every replica adds to the same cell');
      // Replica 2 compiled org_a before this feedback: it must see the new evidence.
      const d = await eventually(async () => { const x = await route(2, KEY_A); return x.all_scores[victim] > (i === 0 ? first.all_scores[victim] : 0) ? x : undefined; }, 'replica 2 sees the feedback');
      assert.ok(d.all_scores[victim] > first.all_scores[victim]);
      if (d.selected_model !== victim) moved = d;
    }
    assert.ok(moved, 'org_a moved away from the model it scored badly, on a replica that took no feedback');
    const b = await route(2, KEY_B);
    assert.equal(b.selected_model, victim);
    assert.equal(b.all_scores[victim], baselineB.all_scores[victim], 'org_b untouched');
    const listed = await call(base(0), KEY_A, 'GET', '/v1/feedback');
    assert.equal(listed.json.data[0].ratings, ratings);
    const reset = await call(base(0), KEY_A, 'DELETE', '/v1/feedback');
    assert.equal(reset.json.deleted, 1);
    await eventually(async () => ((await route(1, KEY_A)).all_scores[victim] === first.all_scores[victim] ? true : undefined), 'reset seen on replica 1');
  });

  it('activity logs written by all three replicas are exported from one (JSON, and CSV)', async () => {
    const ids: string[] = [];
    for (const i of [0, 1, 2]) ids.push((await chatAuto(i, KEY_B, `log me on replica ${i}`)).headers.get('x-request-id')!);
    const rows = await eventually(async () => {
      const r = await call(base(1), KEY_B, 'GET', '/v1/org/logs?limit=10000');
      const found = ids.map((id) => r.json.data.find((x: any) => x.request_id === id));
      return found.every(Boolean) ? found : undefined;
    }, 'all three rows');
    assert.ok(rows.every((x: any) => x.organization === 'org_b'));
    // Paging by cursor over the shared stream reaches every row once.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r: Res = await call(base(2), KEY_B, 'GET', `/v1/org/logs?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, r.text);
      seen.push(...r.json.data.map((x: any) => x.request_id));
      cursor = r.json.next_cursor;
    } while (cursor !== null);
    for (const id of ids) assert.equal(seen.filter((x) => x === id).length, 1);
    const csv = await call(base(0), KEY_B, 'GET', '/v1/org/logs?format=csv&limit=10000');
    for (const id of ids) assert.ok(csv.text.includes(id));
    // Another organisation's export has none of them.
    const other = await call(base(0), KEY_C, 'GET', '/v1/org/logs?limit=10000');
    assert.ok(!other.json.data.some((x: any) => ids.includes(x.request_id)));
  });

  it('a session of /v1/model-router/invoke continues on another replica; another organisation\'s session of the same id is its own', async () => {
    const s = randomUUID();
    const a = await call(base(0), KEY_FLAT, 'POST', '/v1/model-router/invoke', { messages: [{ role: 'user', content: 'my name is Ada' }], session_id: s });
    assert.equal(a.status, 200, a.text);
    const b = await call(base(1), KEY_FLAT, 'POST', '/v1/model-router/invoke', { messages: [{ role: 'user', content: 'what is my name?' }], session_id: s });
    assert.equal(b.status, 200, b.text);
    const sent = echo.requests.at(-1).messages as { role: string; content: string }[];
    assert.deepEqual(sent.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal(sent[0].content, 'my name is Ada');
    assert.equal(sent[1].content, a.json.content);
    // org_b gets a default config (created on replica 0, used on replica 2) and a session under the same id: nothing of the default organisation's.
    const cfg = await call(base(0), KEY_B, 'POST', '/v1/router-configs', { name: PRODUCTION.name, default_model: CHEAP, rules: [] });
    assert.equal(cfg.status, 201, cfg.text);
    const c = await call(base(2), KEY_B, 'POST', '/v1/model-router/invoke', { messages: [{ role: 'user', content: 'hello' }], session_id: s });
    assert.equal(c.status, 200, c.text);
    assert.equal((echo.requests.at(-1).messages as unknown[]).length, 1);
  });
});
