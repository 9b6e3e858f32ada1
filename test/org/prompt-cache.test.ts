/**
 * The prompt cache (issue 11 item 5): X-GR-Cache-TTL (or
 * x-switchyard-cache-ttl) on chat completions answers an identical request
 * (same organisation, same body up to key order) without an upstream call:
 * x-cache HIT/MISS, cost 0 on a hit, a streamed request replayed as the same
 * stream, entries shared by every HTTP thread, expiry by TTL, and a bad TTL a
 * 400 naming the header.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_A, KEY_B, call, eventually, startOrgGateway, type OrgGateway } from './helpers.ts';
import { PromptCache, canonical } from '../../src/api/prompt-cache.ts';
import { ShmCache } from '../../src/store/shm-cache.ts';

let g: OrgGateway;
let base: string;
before(async () => { g = await startOrgGateway(); base = g.gw.base; });
after(async () => { await g.close(); });

const upstreamCalls = () => g.mocks.oa.stats().requests + g.mocks.an.stats().requests;
const body = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'auto', messages: [{ role: 'user', content }], ...extra });

describe('prompt cache', () => {
  it('a JSON request: MISS then HIT without an upstream call, cost 0; key order does not matter; parameters and organisations do', async () => {
    const b = body('What is the capital of Peru?', { temperature: 0.2 });
    const none = await call(base, KEY_A, 'POST', '/v1/chat/completions', body('What is the capital of Chile?'));
    assert.equal(none.headers.get('x-cache'), null);
    const n0 = upstreamCalls();
    const miss = await call(base, KEY_A, 'POST', '/v1/chat/completions', b, { 'x-gr-cache-ttl': '60' });
    assert.equal(miss.status, 200, miss.text);
    assert.equal(miss.headers.get('x-cache'), 'MISS');
    assert.equal(upstreamCalls(), n0 + 1);
    const hit = await call(base, KEY_A, 'POST', '/v1/chat/completions', b, { 'x-gr-cache-ttl': '60' });
    assert.equal(hit.headers.get('x-cache'), 'HIT');
    assert.equal(upstreamCalls(), n0 + 1);
    assert.equal(hit.headers.get('x-switchyard-cost-usd'), '0');
    assert.equal(hit.headers.get('x-switchyard-model'), miss.headers.get('x-switchyard-model'));
    assert.equal(hit.json.switchyard.cost_usd, 0);
    assert.equal(hit.json.switchyard.cache, 'HIT');
    assert.deepEqual(hit.json.choices, miss.json.choices);
    assert.equal(hit.json.id, miss.json.id);
    // Same body, keys in another order, through the other header name: still a hit.
    const reordered = JSON.stringify({ temperature: 0.2, messages: b.messages, model: 'auto' });
    const hit2 = await call(base, KEY_A, 'POST', '/v1/chat/completions', reordered, { 'x-switchyard-cache-ttl': '60' });
    assert.equal(hit2.headers.get('x-cache'), 'HIT');
    // A parameter changed, or another organisation: a miss.
    assert.equal((await call(base, KEY_A, 'POST', '/v1/chat/completions', { ...b, temperature: 0.3 }, { 'x-gr-cache-ttl': '60' })).headers.get('x-cache'), 'MISS');
    assert.equal((await call(base, KEY_B, 'POST', '/v1/chat/completions', b, { 'x-gr-cache-ttl': '60' })).headers.get('x-cache'), 'MISS');
    assert.equal(upstreamCalls(), n0 + 3);
    // The hit is logged with cache_hit and cost 0.
    const row = await eventually(async () => {
      const r = await call(base, KEY_A, 'GET', '/v1/org/logs?limit=10000');
      return r.json.data.find((x: any) => x.request_id === hit.headers.get('x-request-id'));
    }, 'the hit\'s log row');
    assert.deepEqual([row.cache_hit, row.cost_usd], [true, 0]);
  });

  it('a streamed request is replayed as the same stream', async () => {
    const b = body('Name three rivers in Africa.', { stream: true });
    const n0 = upstreamCalls();
    const miss = await call(base, KEY_A, 'POST', '/v1/chat/completions', b, { 'x-gr-cache-ttl': '60' });
    assert.equal(miss.headers.get('x-cache'), 'MISS');
    assert.match(miss.headers.get('content-type')!, /text\/event-stream/);
    const hit = await call(base, KEY_A, 'POST', '/v1/chat/completions', b, { 'x-gr-cache-ttl': '60' });
    assert.equal(hit.headers.get('x-cache'), 'HIT');
    assert.match(hit.headers.get('content-type')!, /text\/event-stream/);
    assert.equal(hit.text, miss.text);
    assert.ok(hit.text.endsWith('data: [DONE]\n\n'));
    assert.equal(upstreamCalls(), n0 + 1);
    // The JSON form of the same request is another entry.
    assert.equal((await call(base, KEY_A, 'POST', '/v1/chat/completions', { ...b, stream: false }, { 'x-gr-cache-ttl': '60' })).headers.get('x-cache'), 'MISS');
  });

  it('an entry expires after its TTL', async () => {
    const b = body('Spell "cat" backwards.');
    assert.equal((await call(base, KEY_A, 'POST', '/v1/chat/completions', b, { 'x-gr-cache-ttl': '1' })).headers.get('x-cache'), 'MISS');
    assert.equal((await call(base, KEY_A, 'POST', '/v1/chat/completions', b, { 'x-gr-cache-ttl': '1' })).headers.get('x-cache'), 'HIT');
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await call(base, KEY_A, 'POST', '/v1/chat/completions', b, { 'x-gr-cache-ttl': '1' })).headers.get('x-cache'), 'MISS');
  });

  it('a bad TTL is a 400 naming the header; 0 turns the cache off for the request', async () => {
    for (const v of ['3601', '-1', 'abc', '1.5']) {
      const r = await call(base, KEY_A, 'POST', '/v1/chat/completions', body('hi'), { 'x-gr-cache-ttl': v });
      assert.equal(r.status, 400, v);
      assert.equal(r.json.error.param, 'X-GR-Cache-TTL');
    }
    assert.equal((await call(base, KEY_A, 'POST', '/v1/chat/completions', body('hi'), { 'x-gr-cache-ttl': '0' })).headers.get('x-cache'), null);
  });
});

describe('prompt cache across HTTP threads', () => {
  let t: OrgGateway;
  before(async () => { t = await startOrgGateway({ server: { threads: 2 } }); });
  after(async () => { await t.close(); });

  it('an answer cached through one thread is a hit on every thread (fresh connections land on both)', async () => {
    const b = body('Which planet is largest?');
    const calls = () => t.mocks.oa.stats().requests + t.mocks.an.stats().requests;
    const first = await call(t.gw.base, KEY_A, 'POST', '/v1/chat/completions', b, { 'x-gr-cache-ttl': '60', connection: 'close' });
    assert.equal(first.headers.get('x-cache'), 'MISS');
    const n = calls();
    for (let i = 0; i < 12; i++) {
      const r = await call(t.gw.base, KEY_A, 'POST', '/v1/chat/completions', b, { 'x-gr-cache-ttl': '60', connection: 'close' });
      assert.equal(r.headers.get('x-cache'), 'HIT', `request ${i}`);
    }
    assert.equal(calls(), n);
  });
});

describe('PromptCache reads through one reused buffer per thread', () => {
  it('answers stay whole and independent across hits, caches and slot sizes (nothing aliases the buffer)', () => {
    const small = new PromptCache(ShmCache.create({ capacity: 8, slotBytes: 512 }));
    const large = new PromptCache(ShmCache.create({ capacity: 8, slotBytes: 8192 }));
    const a = { headers: [['x-switchyard-model', 'm-a']] as [string, string][], switchyard: { model: 'm-a', cost_usd: 1 }, body: '{"id":"a","text":"line\nnext ü€"}' };
    const b = { headers: [['x-switchyard-model', 'm-b']] as [string, string][], switchyard: null, body: `data: ${'x'.repeat(5000)}\n\ndata: [DONE]\n\n` };
    const c = { headers: [] as [string, string][], switchyard: null, body: 'short' };
    const ka = small.key('o', { p: 'a' }), kb = large.key('o', { p: 'b' }), kc = large.key('o', { p: 'c' });
    assert.ok(small.set(ka, a, 60));
    assert.ok(large.set(kb, b, 60));
    assert.ok(large.set(kc, c, 60));
    const ha = small.get(ka), hb = large.get(kb), hc = large.get(kc), ha2 = small.get(ka);
    assert.deepEqual(ha, a);
    assert.deepEqual(hb, b);
    assert.deepEqual(hc, c); // shorter than the previous value read into the same buffer
    assert.deepEqual(ha2, a);
    assert.equal(large.get(large.key('o', { p: 'absent' })), undefined);
  });
});

describe('canonical (the text a prompt-cache key hashes)', () => {
  it('sorts keys by UTF-16 code units at every level, keeps array order, drops undefined members: pinned text, so keys match across versions and replicas', () => {
    const body = { stream: false, model: 'auto', messages: [{ role: 'user', content: 'hé' }, { name: 'z', content: 'b', role: 'assistant' }], b: [2, 1, { y: 1, x: [null] }], '10': 1, '2': 2, Z: 0, a: undefined, 'é': 1, e: true };
    assert.equal(canonical(body), '{"10":1,"2":2,"Z":0,"b":[2,1,{"x":[null],"y":1}],"e":true,"messages":[{"content":"hé","role":"user"},{"content":"b","name":"z","role":"assistant"}],"model":"auto","stream":false,"é":1}');
    const reordered = { e: true, 'é': 1, Z: 0, '2': 2, b: [2, 1, { x: [null], y: 1 }], messages: [{ content: 'hé', role: 'user' }, { role: 'assistant', content: 'b', name: 'z' }], model: 'auto', stream: false, '10': 1 };
    assert.equal(canonical(reordered), canonical(body));
    assert.equal(canonical([]), '[]');
    assert.equal(canonical({}), '{}');
    assert.equal(canonical([undefined, 'x']), '[null,"x"]');
  });
});
