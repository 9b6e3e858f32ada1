/**
 * The official openai SDK (v6) against POST/GET/DELETE /v1/responses and
 * /input_items on a real server: plain and streamed creates (stream: true and
 * the responses.stream() helper), retrieve, delete, input item pages, a
 * previous_response_id chain, a function-tool round trip, a JSON-schema
 * output, OpenAI- and Anthropic-format upstreams, store: false, and errors
 * as the SDK's typed errors with `param`.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { anthropicModel, openaiModel, plausible, startMocks, startResponsesGateway, startScriptedUpstream, type Mocks, type ScriptedUpstream } from './helpers.ts';
import type { Gateway } from '../gateway/helpers.ts';

let mocks: Mocks;
let up: ScriptedUpstream;
let gw: Gateway;
let sdk: OpenAI;
const ANSWER = 'This is a deterministic answer';

before(async () => {
  mocks = await startMocks({ chunks: 5 });
  up = await startScriptedUpstream(plausible);
  gw = await startResponsesGateway({
    models: [
      openaiModel('gpt-4-1106-preview', mocks.oa, { pricing: { prompt_per_1m: 10, completion_per_1m: 30 } }),
      anthropicModel('claude-v2', mocks.an, { pricing: { prompt_per_1m: 8, completion_per_1m: 24 } }),
      openaiModel('mistralai/mistral-7b-chat', mocks.oa, { pricing: { prompt_per_1m: 0.2, completion_per_1m: 0.2 } }),
      openaiModel('scripted', up.url),
      anthropicModel('claude-2calls', mocks.an, { headers: { 'x-mock-tool-calls': '2' } }),
    ],
  });
  sdk = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'unused-by-switchyard', maxRetries: 0 });
});
after(async () => { await gw.close(); await mocks.close(); await up.close(); });

describe('openai SDK: responses.create', () => {
  it('plain, model "auto": OpenAI\'s response object, usage, the switchyard object and headers', async () => {
    const { data: r, response, request_id } = await sdk.responses.create({ model: 'auto', input: 'Prove that sqrt(2) is irrational.', metadata: { ticket: '42' }, temperature: 0.2 }).withResponse();
    assert.match(r.id, /^resp_[0-9a-f]{32}$/);
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.equal(r.output_text, ANSWER);
    assert.equal(r.output.length, 1);
    const m = r.output[0];
    assert.ok(m.type === 'message' && /^msg_/.test(m.id) && m.role === 'assistant' && m.status === 'completed');
    assert.deepEqual(m.type === 'message' && m.content[0], { type: 'output_text', text: ANSWER, annotations: [], logprobs: [] });
    assert.ok(r.usage && r.usage.input_tokens > 0 && r.usage.output_tokens === 5 && r.usage.total_tokens === r.usage.input_tokens + 5);
    assert.deepEqual(r.usage.input_tokens_details, { cached_tokens: 0 });
    assert.deepEqual(r.usage.output_tokens_details, { reasoning_tokens: 0 });
    assert.deepEqual(r.metadata, { ticket: '42' });
    assert.equal(r.temperature, 0.2);
    assert.equal((r as unknown as { store: boolean }).store, true);
    assert.equal(r.error, null);
    assert.equal(r.incomplete_details, null);
    assert.equal(r.previous_response_id, null);
    assert.ok(Math.abs(r.created_at - Date.now() / 1000) < 600);
    const sy = (r as any).switchyard;
    assert.equal(sy.model, r.model);
    assert.equal(sy.reason, 'routed');
    assert.equal(response.headers.get('x-switchyard-model'), r.model);
    assert.ok(typeof sy.cost_usd === 'number' && sy.cost_usd > 0);
    assert.ok(Array.isArray(sy.candidates) && sy.candidates.includes(r.model));
    assert.equal(sy.request_id, request_id);
  });

  it('stream: true: typed events in order with sequence numbers, ending in response.completed', async () => {
    const stream = await sdk.responses.create({ model: 'gpt-4-1106-preview', input: 'Tell me a story.', stream: true });
    const types: string[] = [];
    const seqs: number[] = [];
    let text = '';
    let done: OpenAI.Responses.Response | undefined;
    for await (const e of stream) {
      types.push(e.type);
      seqs.push(e.sequence_number);
      if (e.type === 'response.output_text.delta') text += e.delta;
      if (e.type === 'response.completed') done = e.response;
    }
    assert.deepEqual(seqs, seqs.map((_, i) => i));
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    assert.equal(text, ANSWER);
    assert.ok(done);
    assert.equal(done.status, 'completed');
    assert.equal(done.usage?.output_tokens, 5);
    const got = await sdk.responses.retrieve(done.id);
    assert.equal(got.output_text, ANSWER);
    assert.deepEqual(got.output, done.output);
  });

  it('the responses.stream() helper accumulates the final response, for an Anthropic-format model too', async () => {
    for (const model of ['mistralai/mistral-7b-chat', 'claude-v2']) {
      const s = sdk.responses.stream({ model, input: 'hello', instructions: 'Be brief.' });
      let deltas = '';
      s.on('response.output_text.delta', (e) => { deltas += e.delta; });
      const final = await s.finalResponse();
      assert.equal(final.output_text, ANSWER, model);
      assert.equal(deltas, ANSWER, model);
      assert.equal(final.model, model);
      assert.equal(final.instructions, 'Be brief.');
    }
  });

  it('an Anthropic-format upstream answers a plain create', async () => {
    const r = await sdk.responses.create({ model: 'claude-v2', input: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello' }] });
    assert.equal(r.output_text, ANSWER);
    assert.equal(r.model, 'claude-v2');
    assert.ok(r.usage && r.usage.output_tokens > 0);
  });
});

describe('openai SDK: retrieve, delete, input items', () => {
  it('retrieve gives back exactly what create returned; delete removes it; both 404 afterwards', async () => {
    const r = await sdk.responses.create({ model: 'auto', input: 'What is 2+2?' });
    const got = await sdk.responses.retrieve(r.id);
    assert.deepEqual(got, r);
    const del: unknown = await sdk.responses.delete(r.id);
    assert.deepEqual(del, { id: r.id, object: 'response', deleted: true });
    await assert.rejects(sdk.responses.retrieve(r.id), (e: unknown) => e instanceof OpenAI.NotFoundError && e.code === 'response_not_found');
    await assert.rejects(sdk.responses.delete(r.id), (e: unknown) => e instanceof OpenAI.NotFoundError);
    const r2 = await sdk.responses.create({ model: 'auto', input: 'again' });
    const res = await fetch(`${gw.base}/v1/responses/${r2.id}`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id: r2.id, object: 'response', deleted: true });
  });

  it('inputItems.list: desc by default, asc on request, limit and after page through (the SDK\'s auto-pagination too)', async () => {
    const input = ['one', 'two', 'three', 'four', 'five'].map((t) => ({ role: 'user' as const, content: t }));
    const r = await sdk.responses.create({ model: 'auto', input, instructions: 'not an input item' });
    const texts = (items: OpenAI.Responses.ResponseItem[]) => items.map((i) => (i.type === 'message' ? (i.content[0] as { text: string }).text : i.type));
    const page = await sdk.responses.inputItems.list(r.id);
    assert.deepEqual(texts(page.data), ['five', 'four', 'three', 'two', 'one']);
    assert.equal(page.has_more, false);
    assert.ok(page.data.every((i) => i.type === 'message' && /^msg_/.test(i.id!) && i.role === 'user'));
    const asc = await sdk.responses.inputItems.list(r.id, { order: 'asc', limit: 2 });
    assert.deepEqual(texts(asc.data), ['one', 'two']);
    assert.equal(asc.has_more, true);
    const all: string[] = [];
    for await (const it of sdk.responses.inputItems.list(r.id, { order: 'asc', limit: 2 })) all.push(texts([it])[0]);
    assert.deepEqual(all, ['one', 'two', 'three', 'four', 'five']);
    const raw = await (await fetch(`${gw.base}/v1/responses/${r.id}/input_items?limit=2&order=desc`)).json();
    assert.equal(raw.object, 'list');
    assert.equal(raw.first_id, raw.data[0].id);
    assert.equal(raw.last_id, raw.data[1].id);
    assert.equal(raw.has_more, true);
    const next = await (await fetch(`${gw.base}/v1/responses/${r.id}/input_items?limit=2&order=desc&after=${raw.last_id}`)).json();
    assert.deepEqual(texts(next.data), ['three', 'two']);
  });

  it('bad input_items queries and unknown ids: 400 naming the param, 404 in OpenAI\'s shape', async () => {
    const r = await sdk.responses.create({ model: 'auto', input: 'x' });
    for (const [q, param] of [['limit=0', 'limit'], ['limit=101', 'limit'], ['limit=abc', 'limit'], ['order=up', 'order'], ['after=msg_nope', 'after']]) {
      const res = await fetch(`${gw.base}/v1/responses/${r.id}/input_items?${q}`);
      assert.equal(res.status, 400, q);
      const j = await res.json();
      assert.equal(j.error.param, param, q);
      assert.equal(j.error.type, 'invalid_request_error');
    }
    const replay = await fetch(`${gw.base}/v1/responses/${r.id}?stream=true`);
    assert.equal(replay.status, 400);
    assert.equal((await replay.json()).error.param, 'stream');
    for (const [method, path] of [['GET', '/v1/responses/resp_nope'], ['DELETE', '/v1/responses/resp_nope'], ['GET', '/v1/responses/resp_nope/input_items']]) {
      const res = await fetch(`${gw.base}${path}`, { method });
      assert.equal(res.status, 404, path);
      const j = await res.json();
      assert.equal(j.error.code, 'response_not_found');
      assert.equal(j.error.type, 'invalid_request_error');
      assert.match(j.error.message, /resp_nope/);
    }
  });

  it('store: false is answered but not retrievable, and cannot be continued', async () => {
    const r = await sdk.responses.create({ model: 'auto', input: 'ephemeral', store: false });
    assert.equal((r as unknown as { store: boolean }).store, false);
    assert.equal(r.output_text, ANSWER);
    await assert.rejects(sdk.responses.retrieve(r.id), (e: unknown) => e instanceof OpenAI.NotFoundError);
    await assert.rejects(sdk.responses.create({ model: 'auto', input: 'more', previous_response_id: r.id }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError, String(e));
      assert.equal(e.param, 'previous_response_id');
      return true;
    });
    const s = sdk.responses.stream({ model: 'auto', input: 'ephemeral stream', store: false });
    const final = await s.finalResponse();
    await assert.rejects(sdk.responses.retrieve(final.id), (e: unknown) => e instanceof OpenAI.NotFoundError);
  });
});

describe('openai SDK: conversations, tools, structured output', () => {
  it('a previous_response_id chain replays earlier turns; instructions are not carried over', async () => {
    const n0 = up.bodies.length;
    const a = await sdk.responses.create({ model: 'scripted', input: 'first', instructions: 'SYSTEM-A' });
    assert.equal(a.output_text, 'echo 2: first');
    const b = await sdk.responses.create({ model: 'scripted', input: 'second', previous_response_id: a.id });
    assert.equal(b.output_text, 'echo 3: second');
    assert.equal(b.previous_response_id, a.id);
    const c = await sdk.responses.stream({ model: 'scripted', input: 'third', previous_response_id: b.id, instructions: 'SYSTEM-C' }).finalResponse();
    assert.equal(c.output_text, 'echo 6: third');
    const sent = up.bodies[n0 + 2].messages;
    assert.deepEqual(sent, [
      { role: 'system', content: 'SYSTEM-C' },
      { role: 'user', content: 'first' }, { role: 'assistant', content: 'echo 2: first' },
      { role: 'user', content: 'second' }, { role: 'assistant', content: 'echo 3: second' },
      { role: 'user', content: 'third' },
    ]);
    // input_items lists a response's own input only.
    const items = await sdk.responses.inputItems.list(c.id);
    assert.equal(items.data.length, 1);
    // A deleted ancestor: the chain keeps what remains.
    await sdk.responses.delete(a.id);
    const d = await sdk.responses.create({ model: 'scripted', input: 'fourth', previous_response_id: c.id });
    assert.equal(d.output_text, 'echo 5: fourth');
  });

  it('item_reference input items are replaced by the stored output items they name', async () => {
    const a = await sdk.responses.create({ model: 'scripted', input: 'first' });
    const b = await sdk.responses.create({ model: 'scripted', input: [{ role: 'user', content: 'first' }, { type: 'item_reference', id: a.output[0].id! }, { role: 'user', content: 'second' }] });
    assert.equal(b.output_text, 'echo 3: second');
    assert.deepEqual(up.bodies.at(-1).messages, [{ role: 'user', content: 'first' }, { role: 'assistant', content: 'echo 1: first' }, { role: 'user', content: 'second' }]);
    const items = await sdk.responses.inputItems.list(b.id, { order: 'asc' });
    assert.deepEqual(items.data.map((i) => i.id)[1], a.output[0].id);
    for (const id of ['msg_unknown', `msg_${'0'.repeat(36)}`, a.output[0].id!.replace(/.$/, (c) => (c === '0' ? '1' : '0'))]) {
      await assert.rejects(sdk.responses.create({ model: 'scripted', input: [{ type: 'item_reference', id }] }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'input[0].id', id);
    }
  });

  it('a function-tool round trip against an OpenAI-format upstream: function_call -> function_call_output -> answer', async () => {
    const tools: OpenAI.Responses.Tool[] = [{ type: 'function', name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }, strict: true }];
    const n0 = up.bodies.length;
    const r1 = await sdk.responses.create({ model: 'scripted', input: 'Weather in Oslo?', tools });
    assert.deepEqual(up.bodies[n0].tools, [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: tools[0].type === 'function' ? tools[0].parameters : null, strict: true } }]);
    assert.deepEqual(r1.tools, tools);
    const call = r1.output.find((o) => o.type === 'function_call');
    assert.ok(call && call.type === 'function_call', JSON.stringify(r1.output));
    assert.equal(call.name, 'get_weather');
    assert.equal(call.call_id, 'call_s1');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Oslo' });
    assert.match(call.id!, /^fc_/);
    const r2 = await sdk.responses.create({ model: 'scripted', previous_response_id: r1.id, tools, input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temp_c":-3}' }] });
    assert.equal(r2.output_text, 'echo 3: {"temp_c":-3}');
    assert.deepEqual(up.bodies[n0 + 1].messages.slice(1), [
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_s1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'call_s1', content: '{"temp_c":-3}' },
    ]);
    // Stateless, as SDKs replay history: the output items sent back as input.
    const r3 = await sdk.responses.create({ model: 'scripted', store: false, tools, input: [{ role: 'user', content: 'Weather in Oslo?' }, ...r1.output as OpenAI.Responses.ResponseInputItem[], { type: 'function_call_output', call_id: 'call_s1', output: 'cold' }] });
    assert.equal(r3.output_text, 'echo 3: cold');
  });

  it('streamed tool calls: function_call_arguments delta/done events and the accumulated item', async () => {
    const tools: OpenAI.Responses.Tool[] = [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: {} }, strict: false }];
    const s = sdk.responses.stream({ model: 'scripted', input: 'look it up', tools, parallel_tool_calls: false });
    let args = '';
    let doneArgs = '';
    s.on('response.function_call_arguments.delta', (e) => { args += e.delta; });
    s.on('response.function_call_arguments.done', (e) => { doneArgs = e.arguments; });
    const final = await s.finalResponse();
    assert.equal(args, '{"city":"Oslo"}');
    assert.equal(doneArgs, args);
    const call = final.output.find((o) => o.type === 'function_call');
    assert.ok(call && call.type === 'function_call' && call.arguments === args && call.name === 'lookup' && call.status === 'completed');
    assert.equal(final.parallel_tool_calls, false);
    assert.equal(up.bodies[up.bodies.length - 1].parallel_tool_calls, false);
  });

  it('a function-tool round trip through an Anthropic-format upstream (the mock checks tool_use/tool_result pairing)', async () => {
    const tools: OpenAI.Responses.Tool[] = [{ type: 'function', name: 'search', parameters: { type: 'object', properties: { query: { type: 'string' } } }, strict: null }];
    const r1 = await sdk.responses.create({ model: 'claude-v2', input: 'Search for switchyard', tools, tool_choice: 'required' });
    const call = r1.output.find((o) => o.type === 'function_call');
    assert.ok(call && call.type === 'function_call', JSON.stringify(r1.output));
    assert.equal(call.name, 'search');
    assert.deepEqual(JSON.parse(call.arguments), { query: 'switchyard', limit: 3 });
    const r2 = await sdk.responses.create({ model: 'claude-v2', previous_response_id: r1.id, tools, input: [{ type: 'function_call_output', call_id: call.call_id, output: 'found 3' }] });
    assert.match(r2.output_text, new RegExp(`${call.call_id}=found 3`));
  });

  it('streamed tool calls from an Anthropic-format upstream (two parallel calls) accumulate in the stream helper', async () => {
    const tools: OpenAI.Responses.Tool[] = [
      { type: 'function', name: 'search', parameters: { type: 'object', properties: { query: { type: 'string' } } }, strict: null },
      { type: 'function', name: 'lookup', parameters: { type: 'object', properties: {} }, strict: null },
    ];
    const final = await sdk.responses.stream({ model: 'claude-2calls', input: 'Search twice', tools }).finalResponse();
    const calls = final.output.filter((o) => o.type === 'function_call');
    assert.deepEqual(calls.map((c) => c.type === 'function_call' && c.name), ['search', 'lookup'], JSON.stringify(final.output));
    for (const c of calls) assert.ok(c.type === 'function_call' && c.status === 'completed' && JSON.parse(c.arguments).query === 'switchyard', JSON.stringify(c));
    assert.equal(final.status, 'completed');
  });

  it('text.format json_schema -> response_format json_schema upstream; the output parses (responses.parse)', async () => {
    const format = { type: 'json_schema' as const, name: 'answer', schema: { type: 'object', properties: { answer: { type: 'number' }, unit: { type: 'string' } }, required: ['answer', 'unit'], additionalProperties: false }, strict: true };
    const r = await sdk.responses.create({ model: 'scripted', input: 'What is six times seven?', text: { format } });
    assert.deepEqual(JSON.parse(r.output_text), { answer: 42, unit: 'none' });
    assert.deepEqual(up.bodies[up.bodies.length - 1].response_format, { type: 'json_schema', json_schema: { name: 'answer', schema: format.schema, strict: true } });
    assert.deepEqual(r.text?.format, format);
    const parsed = await sdk.responses.parse({ model: 'scripted', input: 'again', text: { format } });
    assert.deepEqual(parsed.output_parsed, { answer: 42, unit: 'none' });
  });

  it('max_output_tokens -> max_completion_tokens; a cut answer is status incomplete (JSON and stream)', async () => {
    const r = await sdk.responses.create({ model: 'scripted', input: 'long story', max_output_tokens: 3 });
    assert.equal(up.bodies[up.bodies.length - 1].max_completion_tokens, 3);
    assert.equal(r.status, 'incomplete');
    assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(r.max_output_tokens, 3);
    const types: string[] = [];
    let last: any;
    for await (const e of await sdk.responses.create({ model: 'scripted', input: 'long story', max_output_tokens: 3, stream: true })) { types.push(e.type); last = e; }
    assert.equal(types[types.length - 1], 'response.incomplete');
    assert.equal(last.response.status, 'incomplete');
  });
});

describe('openai SDK: errors', () => {
  it('unknown model, bad params, unknown previous_response_id: typed errors with code and param', async () => {
    await assert.rejects(sdk.responses.create({ model: 'gpt-17', input: 'hi' }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError, String(e));
      assert.equal(e.code, 'model_not_found');
      assert.equal(e.param, 'model');
      return true;
    });
    await assert.rejects(sdk.responses.create({ model: 'auto', input: 'hi', temperature: 7 }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'temperature' && e.type === 'invalid_request_error');
    await assert.rejects(sdk.responses.create({ model: 'auto', input: 'hi', tools: [{ type: 'web_search' } as OpenAI.Responses.Tool] }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'tools[0].type');
    await assert.rejects(sdk.responses.create({ model: 'auto', input: 'hi', previous_response_id: 'resp_missing' }), (e: unknown) => e instanceof OpenAI.NotFoundError && e.param === 'previous_response_id' && e.code === 'response_not_found');
    await assert.rejects(sdk.responses.create({ model: 'auto', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x/y.png', detail: 'auto' }] }] }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'input');
  });
});
