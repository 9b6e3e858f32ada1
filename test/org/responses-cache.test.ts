/**
 * The prompt cache on POST /v1/responses (issue 11 item 5), through the
 * openai SDK: X-GR-Cache-TTL answers an identical request (same organisation,
 * same body but for `store` and `metadata`) without an upstream call; a hit
 * is a NEW response (new id, new item ids) with cost 0, stored when store is
 * true (retrievable and continuable by its own id); a streamed request is
 * replayed as a stream of Responses events the SDK accumulates; other
 * organisations never hit.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { KEY_A, KEY_B, call, eventually, startOrgGateway, type OrgGateway } from './helpers.ts';

let g: OrgGateway;
let sdkA: OpenAI, sdkB: OpenAI;
const TTL = { headers: { 'x-gr-cache-ttl': '120' } };
before(async () => {
  g = await startOrgGateway();
  sdkA = new OpenAI({ baseURL: `${g.gw.base}/v1`, apiKey: KEY_A, maxRetries: 0 });
  sdkB = new OpenAI({ baseURL: `${g.gw.base}/v1`, apiKey: KEY_B, maxRetries: 0 });
});
after(async () => { await g.close(); });

const upstreamCalls = () => g.mocks.oa.stats().requests + g.mocks.an.stats().requests;
const text = (r: OpenAI.Responses.Response) => r.output_text;

describe('prompt cache on /v1/responses', () => {
  it('JSON: MISS then HIT without an upstream call; the hit is a new stored response with cost 0', async () => {
    const n0 = upstreamCalls();
    const miss = await sdkA.responses.create({ model: 'auto', input: 'Name the largest planet.', temperature: 0.1 }, TTL).withResponse();
    assert.equal(miss.response.headers.get('x-cache'), 'MISS');
    assert.equal(upstreamCalls(), n0 + 1);
    const hit = await sdkA.responses.create({ model: 'auto', input: 'Name the largest planet.', temperature: 0.1, metadata: { run: '2' } }, TTL).withResponse();
    assert.equal(hit.response.headers.get('x-cache'), 'HIT', 'metadata is not part of the key');
    assert.equal(upstreamCalls(), n0 + 1, 'no upstream call');
    assert.equal(hit.response.headers.get('x-switchyard-cost-usd'), '0');
    const a = miss.data as any, b = hit.data as any;
    assert.notEqual(b.id, a.id, 'a hit is a new response');
    assert.notEqual(b.output[0].id, a.output[0].id, 'with its own item ids');
    assert.equal(text(b), text(a));
    assert.deepEqual(b.metadata, { run: '2' }, 'this request\'s metadata');
    assert.equal(b.switchyard.cost_usd, 0);
    assert.equal(b.switchyard.cache, 'HIT');
    assert.equal(b.switchyard.request_id, hit.response.headers.get('x-request-id'));
    assert.equal(b.model, a.model);
    // store (the default): retrievable by its own id, and continuable.
    const got = await sdkA.responses.retrieve(b.id);
    assert.equal(got.id, b.id);
    assert.equal(text(got), text(a));
    const next = await sdkA.responses.create({ model: 'auto', input: 'And the smallest?', previous_response_id: b.id });
    assert.equal(next.previous_response_id, b.id);
    // The hit is logged: reason cache, cost 0.
    const row = await eventually(async () => {
      const r = await call(g.gw.base, KEY_A, 'GET', '/v1/org/logs?limit=10000');
      return r.json.data.find((x: any) => x.request_id === hit.response.headers.get('x-request-id'));
    }, 'the hit\'s log row');
    assert.deepEqual([row.endpoint, row.cache_hit, row.cost_usd, row.routing_reason], ['/v1/responses', true, 0, 'cache']);
  });

  it('store: false on a hit stores nothing; store does not split the key', async () => {
    const n0 = upstreamCalls();
    await sdkA.responses.create({ model: 'auto', input: 'Spell dog backwards.' }, TTL);
    const hit = await sdkA.responses.create({ model: 'auto', input: 'Spell dog backwards.', store: false }, TTL).withResponse();
    assert.equal(hit.response.headers.get('x-cache'), 'HIT');
    assert.equal(upstreamCalls(), n0 + 1);
    assert.equal((hit.data as any).store, false);
    await assert.rejects(sdkA.responses.retrieve(hit.data.id), (e: unknown) => (e as { status?: number }).status === 404);
  });

  it('a streamed request is replayed as a stream the SDK accumulates, with a new id', async () => {
    const n0 = upstreamCalls();
    const first = await sdkA.responses.stream({ model: 'auto', input: 'List three colours.' }, TTL).finalResponse();
    assert.equal(upstreamCalls(), n0 + 1);
    const events: string[] = [];
    const s = sdkA.responses.stream({ model: 'auto', input: 'List three colours.' }, TTL);
    s.on('event', (e) => events.push(e.type));
    const again = await s.finalResponse();
    assert.equal(upstreamCalls(), n0 + 1, 'no upstream call');
    assert.notEqual(again.id, first.id);
    assert.equal(text(again), text(first));
    assert.equal(events[0], 'response.created');
    assert.ok(events.includes('response.output_text.delta'));
    assert.equal(events.at(-1), 'response.completed');
    assert.equal((again as any).switchyard.cache, 'HIT');
    assert.equal(text(await sdkA.responses.retrieve(again.id)), text(first), 'stored');
    // The JSON form of the same request is another entry (stream is part of the key).
    const json = await sdkA.responses.create({ model: 'auto', input: 'List three colours.' }, TTL).withResponse();
    assert.equal(json.response.headers.get('x-cache'), 'MISS');
  });

  it('another organisation never hits; without the header nothing is cached', async () => {
    await sdkA.responses.create({ model: 'auto', input: 'Capital of Norway?' }, TTL);
    const b = await sdkB.responses.create({ model: 'auto', input: 'Capital of Norway?' }, TTL).withResponse();
    assert.equal(b.response.headers.get('x-cache'), 'MISS');
    const plain = await sdkA.responses.create({ model: 'auto', input: 'Capital of Norway?' }).withResponse();
    assert.equal(plain.response.headers.get('x-cache'), null);
  });

  it('a continuation of a deleted response is still a 404 though its body was cached', async () => {
    const root = await sdkA.responses.create({ model: 'auto', input: 'Root turn.' });
    const body = { model: 'auto', input: 'Follow-up turn.', previous_response_id: root.id };
    await sdkA.responses.create(body, TTL);
    await sdkA.responses.delete(root.id);
    await assert.rejects(sdkA.responses.create(body, TTL), (e: unknown) => (e as { status?: number }).status === 404);
  });

  it('a bad TTL is a 400 naming the header', async () => {
    const r = await call(g.gw.base, KEY_A, 'POST', '/v1/responses', { model: 'auto', input: 'x' }, { 'x-gr-cache-ttl': '9999' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'X-GR-Cache-TTL');
  });
});
