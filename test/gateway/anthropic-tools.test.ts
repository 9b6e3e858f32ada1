/**
 * Tool calls through Anthropic-format upstreams: OpenAI tools / tool_choice /
 * tool_calls / tool messages converted to Anthropic's tool definitions,
 * tool_use and tool_result blocks (unit level), tool_use answers converted
 * back (JSON and SSE, legacy `functions` clients too), and the whole loop
 * through the real server against the Anthropic mock, which checks tool
 * histories the way the real API does: a JSON answer, a stream that
 * reassembles to it, a round trip with the results, a malformed call refused
 * with the field named, and the official openai SDK streaming a call and
 * running the tool loop with runTools().
 */
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { anthropic, toAnthropicRequest } from '../../src/providers/anthropic.ts';
import { ApiError } from '../../src/errors.ts';
import { UpstreamError } from '../../src/providers/failure.ts';
import { SseParser, type SseEvent } from '../../src/streaming/sse-parser.ts';
import type { ChatChunk, ChatMessage, ChatRequest, StreamContext } from '../../src/providers/types.ts';
import { MOCK_TOOL_INPUT } from '../../scripts/mock-upstream.ts';
import { anthropicModel, chat, sseLines, startGateway, startMocks, type Gateway, type Mocks } from './helpers.ts';

const backend = { upstreamModel: 'claude-x' };
const WEATHER = { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
const TIME = { type: 'function', function: { name: 'get_time' } };
const req = (extra: Partial<ChatRequest>, messages: ChatMessage[] = [{ role: 'user', content: 'Weather in Paris?' }]): ChatRequest => ({ model: 'm', messages, ...extra });

/** The assistant turn a client sends back after a call, and the tool's answer. */
const CALL = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };

function invalidField(field: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ApiError, String(e));
    assert.equal(e.code, 'invalid_request');
    assert.equal(e.field, field);
    assert.ok(e.message.includes(field), e.message);
    return true;
  };
}

describe('request conversion (OpenAI -> Anthropic)', () => {
  it('tools and legacy functions become tool definitions; missing parameters become an empty object schema', () => {
    assert.deepEqual(toAnthropicRequest(req({ tools: [WEATHER, TIME] }), backend).tools, [
      { name: 'get_weather', description: 'Weather for a city', input_schema: WEATHER.function.parameters },
      { name: 'get_time', input_schema: { type: 'object', properties: {} } },
    ]);
    assert.deepEqual(toAnthropicRequest(req({ functions: [WEATHER.function] }), backend).tools, [
      { name: 'get_weather', description: 'Weather for a city', input_schema: WEATHER.function.parameters },
    ]);
    const none = toAnthropicRequest(req({ tools: [] }), backend);
    assert.equal(none.tools, undefined, 'an empty tools array offers nothing');
    assert.equal(none.tool_choice, undefined);
  });

  it('tool_choice and parallel_tool_calls map onto Anthropic\'s tool_choice', () => {
    const choice = (extra: Partial<ChatRequest>) => toAnthropicRequest(req({ tools: [WEATHER], ...extra }), backend).tool_choice;
    assert.equal(choice({}), undefined, 'Anthropic\'s default is auto');
    assert.deepEqual(choice({ tool_choice: 'auto' }), { type: 'auto' });
    assert.deepEqual(choice({ tool_choice: 'required' }), { type: 'any' });
    assert.deepEqual(choice({ tool_choice: 'none' }), { type: 'none' });
    assert.deepEqual(choice({ tool_choice: { type: 'function', function: { name: 'get_weather' } } }), { type: 'tool', name: 'get_weather' });
    assert.deepEqual(choice({ parallel_tool_calls: false }), { type: 'auto', disable_parallel_tool_use: true });
    assert.deepEqual(choice({ tool_choice: 'required', parallel_tool_calls: false }), { type: 'any', disable_parallel_tool_use: true });
    assert.deepEqual(choice({ tool_choice: 'none', parallel_tool_calls: false }), { type: 'none' }, 'none takes no parallel flag');
    assert.deepEqual(choice({ parallel_tool_calls: true }), undefined);
    // Legacy: function_call, and at most one call (the legacy answer holds one).
    const legacy = (extra: Partial<ChatRequest>) => toAnthropicRequest(req({ functions: [WEATHER.function], ...extra }), backend).tool_choice;
    assert.deepEqual(legacy({}), { type: 'auto', disable_parallel_tool_use: true });
    assert.deepEqual(legacy({ function_call: { name: 'get_weather' } }), { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true });
    assert.deepEqual(legacy({ function_call: 'none' }), { type: 'none' });
    assert.throws(() => choice({ tool_choice: 'sometimes' }), invalidField('tool_choice'));
    assert.throws(() => choice({ tool_choice: { type: 'function', function: {} } }), invalidField('tool_choice.function.name'));
  });

  it('assistant tool_calls become tool_use blocks after the text; tool results merge into one user turn, ahead of text', () => {
    const out = toAnthropicRequest(req({ tools: [WEATHER, TIME] }, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Weather and time in Paris?' },
      { role: 'assistant', content: 'Checking both.', tool_calls: [CALL, { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '12:00' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
      { role: 'user', content: 'And tomorrow?' },
      { role: 'assistant', content: null, tool_calls: [{ ...CALL, id: 'call_3' }] },
      { role: 'user', content: 'Never mind the tool.' },
      { role: 'tool', tool_call_id: 'call_3', content: '' },
    ]), backend);
    assert.equal(out.system, 'Be brief.');
    assert.deepEqual(out.messages, [
      { role: 'user', content: [{ type: 'text', text: 'Weather and time in Paris?' }] },
      { role: 'assistant', content: [
        { type: 'text', text: 'Checking both.' },
        { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'call_2', name: 'get_time', input: {} },
      ] },
      { role: 'user', content: [
        { type: 'tool_result', tool_use_id: 'call_1', content: 'sunny' },
        { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: '12:00' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
        { type: 'text', text: 'And tomorrow?' },
      ] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_3', name: 'get_weather', input: { city: 'Paris' } }] },
      // A result sent after a user message still opens the turn; an empty result has no content.
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_3' }, { type: 'text', text: 'Never mind the tool.' }] },
    ]);
  });

  it('ids Anthropic would refuse are mapped the same on both sides; empty arguments mean no input', () => {
    const out = toAnthropicRequest(req({ tools: [TIME] }, [
      { role: 'user', content: 'time?' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'functions.get_time:0', type: 'function', function: { name: 'get_time', arguments: ' ' } }] },
      { role: 'tool', tool_call_id: 'functions.get_time:0', content: 'noon' },
    ]), backend);
    assert.deepEqual(out.messages.slice(1), [
      { role: 'assistant', content: [{ type: 'tool_use', id: 'functions_get_time_0', name: 'get_time', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'functions_get_time_0', content: 'noon' }] },
    ]);
  });

  it('legacy function_call and function messages pair up by a made-up id', () => {
    const out = toAnthropicRequest(req({ functions: [WEATHER.function] }, [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, function_call: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { role: 'function', name: 'get_weather', content: 'sunny' },
    ]), backend);
    assert.deepEqual(out.messages.slice(1), [
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_fn_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_fn_1', content: 'sunny' }] },
    ]);
    assert.throws(() => toAnthropicRequest(req({}, [{ role: 'user', content: 'x' }, { role: 'function', name: 'f', content: 'r' }]), backend), invalidField('messages[1]'));
  });

  it('a history with calls but no tools offered gets stand-in definitions and tool_choice none (Anthropic refuses tool blocks without tools)', () => {
    const out = toAnthropicRequest(req({}, [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [CALL] },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      { role: 'user', content: 'Thanks; summarise.' },
    ]), backend);
    assert.deepEqual(out.tools?.map((t) => t.name), ['get_weather']);
    assert.deepEqual(out.tool_choice, { type: 'none' });
    assert.equal(toAnthropicRequest(req({}), backend).tools, undefined, 'no calls, no stand-ins');
  });

  it('malformed calls are 400 invalid_request naming the field; non-function tools are "unsupported" (the chain moves on)', () => {
    const withCall = (call: unknown, at = 1) => toAnthropicRequest(req({ tools: [WEATHER] }, [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: null, tool_calls: [CALL, call] },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
    ].slice(0, at + 1) as ChatMessage[]), backend);
    assert.throws(() => withCall({ ...CALL, function: { name: 'get_weather', arguments: '{"city": Paris}' } }), invalidField('messages[1].tool_calls[1].function.arguments'));
    assert.throws(() => withCall({ ...CALL, function: { name: 'get_weather', arguments: '["Paris"]' } }), invalidField('messages[1].tool_calls[1].function.arguments'));
    assert.throws(() => withCall({ ...CALL, function: { name: 'get_weather', arguments: { city: 'Paris' } } }), invalidField('messages[1].tool_calls[1].function.arguments'));
    assert.throws(() => withCall({ ...CALL, id: '' }), invalidField('messages[1].tool_calls[1].id'));
    assert.throws(() => withCall({ ...CALL, function: { arguments: '{}' } }), invalidField('messages[1].tool_calls[1].function.name'));
    assert.doesNotThrow(() => withCall(CALL, 2), 'the same history with good calls converts');
    assert.throws(() => toAnthropicRequest(req({}, [{ role: 'user', content: 'x' }, { role: 'tool', content: 'r' }]), backend), invalidField('messages[1].tool_call_id'));
    assert.throws(() => toAnthropicRequest(req({ tools: [{ type: 'function', function: { description: 'no name' } }] }), backend), invalidField('tools[0].function.name'));
    for (const bad of [{ tools: [{ type: 'custom', custom: { name: 'grammar' } }] }, { tools: [WEATHER], tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } } }]) {
      assert.throws(() => toAnthropicRequest(req(bad), backend), (e: unknown) => e instanceof UpstreamError && e.kind === 'unsupported' && e.retryable);
    }
  });
});

function events(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  new SseParser().push(new TextEncoder().encode(text), out);
  return out;
}

const ev = (type: string, data: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

function transform(sse: string, ctx: Partial<StreamContext> = {}): ChatChunk[] {
  const tx = anthropic.createStreamTransformer({ includeUsage: false, created: 1, ...ctx });
  const out: ChatChunk[] = [];
  for (const e of events(sse)) tx.push(e, out);
  tx.end(out);
  return out;
}

describe('response conversion (Anthropic -> OpenAI)', () => {
  const message = {
    id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x',
    content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }, { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} }],
    stop_reason: 'tool_use', usage: { input_tokens: 10, output_tokens: 5 },
  };

  it('JSON: tool_use blocks become tool_calls with content null; a legacy client gets function_call', () => {
    const c = anthropic.parseResponse(message, 7);
    assert.deepEqual(c.choices[0], {
      index: 0, logprobs: null, finish_reason: 'tool_calls',
      message: { role: 'assistant', content: null, refusal: null, tool_calls: [
        { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'toolu_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
      ] },
    });
    const legacy = anthropic.parseResponse(message, 7, { functionCall: true });
    assert.deepEqual(legacy.choices[0].message, { role: 'assistant', content: null, refusal: null, function_call: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
    assert.equal(legacy.choices[0].finish_reason, 'function_call');
    const text = anthropic.parseResponse({ ...message, content: [{ type: 'text', text: 'Let me look.' }, message.content[0]] }, 7);
    assert.equal(text.choices[0].message.content, 'Let me look.');
  });

  const stream =
    ev('message_start', { message: { id: 'msg_1', model: 'claude-x', usage: { input_tokens: 10, output_tokens: 1 } } }) +
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
    ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Let me look.' } }) +
    ev('content_block_stop', { index: 0 }) +
    ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } }) +
    ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '' } }) +
    ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } }) +
    ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } }) +
    ev('content_block_stop', { index: 1 }) +
    ev('content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} } }) +
    ev('content_block_stop', { index: 2 }) +
    ev('message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 20 } }) +
    ev('message_stop', {});

  it('stream: tool_calls deltas indexed by call, not by content block; a call with no input streams "{}"', () => {
    const deltas = transform(stream).map((c) => c.choices[0]?.delta);
    assert.deepEqual(deltas, [
      { role: 'assistant', content: '' },
      { content: 'Let me look.' },
      { tool_calls: [{ index: 0, id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
      { tool_calls: [{ index: 1, id: 'toolu_2', type: 'function', function: { name: 'get_time', arguments: '' } }] },
      { tool_calls: [{ index: 1, function: { arguments: '{}' } }] },
      {},
    ]);
    assert.equal(transform(stream).at(-1)?.choices[0].finish_reason, 'tool_calls');
  });

  it('stream, legacy client: function_call deltas for the one call, finish_reason function_call', () => {
    const chunks = transform(stream, { functionCall: true });
    assert.deepEqual(chunks.map((c) => c.choices[0].delta).filter((d) => d.function_call), [
      { function_call: { name: 'get_weather', arguments: '' } },
      { function_call: { arguments: '{"city":' } },
      { function_call: { arguments: '"Paris"}' } },
    ]);
    assert.equal(chunks.at(-1)?.choices[0].finish_reason, 'function_call');
  });

  it('an input_json_delta outside a tool_use block is a bad response', () => {
    const bad = ev('message_start', { message: { id: 'm', model: 'c' } }) + ev('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '{' } });
    assert.throws(() => transform(bad), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response');
  });
});

/** A client's reassembly of a stream: what the openai SDK's stream helper does. */
function assemble(sse: string): { content: string; toolCalls: any[]; functionCall: any; finish: string | null; firstOfEach: number[] } {
  let content = '';
  const toolCalls: any[] = [];
  const firstOfEach: number[] = [];
  let functionCall: any = null;
  let finish: string | null = null;
  for (const d of sseLines(sse).data) {
    if (d === '[DONE]') continue;
    const ch = JSON.parse(d).choices[0];
    if (!ch) continue;
    if (typeof ch.delta.content === 'string') content += ch.delta.content;
    for (const t of ch.delta.tool_calls ?? []) {
      if (t.id !== undefined) { firstOfEach.push(t.index); toolCalls[t.index] = { id: t.id, type: t.type, function: { name: t.function.name, arguments: '' } }; }
      toolCalls[t.index].function.arguments += t.function.arguments ?? '';
    }
    if (ch.delta.function_call) {
      functionCall ??= { name: '', arguments: '' };
      functionCall.name += ch.delta.function_call.name ?? '';
      functionCall.arguments += ch.delta.function_call.arguments ?? '';
    }
    finish = ch.finish_reason ?? finish;
  }
  return { content, toolCalls, functionCall, finish, firstOfEach };
}

describe('through the gateway, against the Anthropic mock', () => {
  let mocks: Mocks;
  let gw: Gateway;
  let sdk: OpenAI;
  const ARGS = JSON.stringify(MOCK_TOOL_INPUT);
  const ask = [{ role: 'user', content: 'What is the weather in Paris?' }];

  before(async () => {
    mocks = await startMocks({ chunks: 3 });
    gw = await startGateway({
      models: [
        anthropicModel('claude-v2', mocks.an, { pricing: { prompt_per_1m: 8, completion_per_1m: 24 } }),
        anthropicModel('claude-parallel', mocks.an, { headers: { 'x-mock-tool-calls': '2' } }),
      ],
    });
    sdk = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'unused-by-switchyard', maxRetries: 0 });
  });
  after(async () => { await gw.close(); await mocks.close(); });
  beforeEach(() => { mocks.an.resetStats(); });

  it('JSON: the mock\'s tool_use comes back as tool_calls with finish_reason tool_calls', async () => {
    const r = await chat(gw.base, { model: 'claude-v2', messages: ask, tools: [WEATHER, TIME] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(r.json.choices[0].message, {
      role: 'assistant', content: 'Calling get_weather.', refusal: null,
      tool_calls: [{ id: 'toolu_mock_0', type: 'function', function: { name: 'get_weather', arguments: ARGS } }],
    });
    assert.ok(r.json.usage.completion_tokens > 0);
    const forced = await chat(gw.base, { model: 'claude-v2', messages: ask, tools: [WEATHER, TIME], tool_choice: { type: 'function', function: { name: 'get_time' } } });
    assert.equal(forced.json.choices[0].message.tool_calls[0].function.name, 'get_time');
    const none = await chat(gw.base, { model: 'claude-v2', messages: ask, tools: [WEATHER], tool_choice: 'none' });
    assert.equal(none.json.choices[0].finish_reason, 'stop');
    assert.equal(none.json.choices[0].message.tool_calls, undefined);
  });

  for (const model of ['claude-v2', 'claude-parallel']) {
    it(`a streamed answer reassembles to the JSON answer (${model})`, async () => {
      const body = { model, messages: ask, tools: [WEATHER, TIME] };
      const json = await chat(gw.base, body);
      const sse = await chat(gw.base, { ...body, stream: true });
      assert.equal(sse.status, 200, sse.text);
      assert.match(sse.headers.get('content-type') ?? '', /^text\/event-stream/);
      const got = assemble(sse.text);
      const want = json.json.choices[0];
      assert.equal(got.content, want.message.content);
      assert.deepEqual(got.toolCalls, want.message.tool_calls);
      assert.equal(got.finish, want.finish_reason);
      const n = model === 'claude-parallel' ? 2 : 1;
      assert.equal(want.message.tool_calls.length, n);
      assert.deepEqual(got.firstOfEach, [...Array(n).keys()], 'indexes count calls from 0, one opening delta each');
      assert.ok(sseLines(sse.text).data.filter((d) => d.includes('"arguments"')).length > n + 1, 'arguments arrive in pieces');
    });
  }

  it('round trip: the assistant\'s calls and the tool results go back (JSON and stream); parallel results share one user turn', async () => {
    const first = await chat(gw.base, { model: 'claude-parallel', messages: ask, tools: [WEATHER, TIME] });
    const assistant = first.json.choices[0].message;
    assert.equal(assistant.tool_calls.length, 2);
    const messages = [...ask, assistant, ...assistant.tool_calls.map((c: any, i: number) => ({ role: 'tool', tool_call_id: c.id, content: i === 0 ? 'sunny, 21 C' : 'noon' }))];
    const second = await chat(gw.base, { model: 'claude-parallel', messages, tools: [WEATHER, TIME] });
    assert.equal(second.status, 200, second.text);
    assert.equal(second.json.choices[0].finish_reason, 'stop');
    assert.equal(second.json.choices[0].message.content, 'Tool results: toolu_mock_0=sunny, 21 C; toolu_mock_1=noon');
    assert.equal(second.json.choices[0].message.tool_calls, undefined);
    const streamed = assemble((await chat(gw.base, { model: 'claude-parallel', messages, tools: [WEATHER, TIME], stream: true })).text);
    assert.equal(streamed.content, second.json.choices[0].message.content);
    assert.equal(streamed.finish, 'stop');
    // Without tools in the follow-up the history still converts (stand-in definitions).
    const noTools = await chat(gw.base, { model: 'claude-v2', messages });
    assert.equal(noTools.status, 200, noTools.text);
    // A call left unanswered is the upstream's 400, passed on as the client's error.
    const unanswered = await chat(gw.base, { model: 'claude-v2', messages: [...ask, assistant, { role: 'user', content: 'hm?' }], tools: [WEATHER, TIME] });
    assert.equal(unanswered.status, 400, unanswered.text);
    assert.match(unanswered.json.error.message, /tool_use.*without.*tool_result/);
  });

  it('arguments that are not JSON: 400 invalid_request with param naming the field, and no upstream request', async () => {
    const messages = [...ask, { role: 'assistant', content: null, tool_calls: [{ ...CALL, function: { name: 'get_weather', arguments: '{"city": Paris' } }] }, { role: 'tool', tool_call_id: 'call_1', content: 'sunny' }];
    for (const stream of [false, true]) {
      const r = await chat(gw.base, { model: 'claude-v2', messages, tools: [WEATHER], stream });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error.type, 'invalid_request_error');
      assert.equal(r.json.error.code, 'invalid_request');
      assert.equal(r.json.error.param, 'messages[1].tool_calls[0].function.arguments');
      assert.match(r.json.error.message, /not valid JSON/);
    }
    assert.equal(mocks.an.stats().requests, 0);
  });

  it('legacy functions: function_call back, JSON and stream', async () => {
    const body = { model: 'claude-v2', messages: ask, functions: [WEATHER.function] };
    const r = await chat(gw.base, body);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].finish_reason, 'function_call');
    assert.deepEqual(r.json.choices[0].message.function_call, { name: 'get_weather', arguments: ARGS });
    assert.equal(r.json.choices[0].message.tool_calls, undefined);
    const s = assemble((await chat(gw.base, { ...body, stream: true })).text);
    assert.deepEqual(s.functionCall, { name: 'get_weather', arguments: ARGS });
    assert.deepEqual(s.toolCalls, []);
    assert.equal(s.finish, 'function_call');
    const back = await chat(gw.base, { ...body, messages: [...ask, r.json.choices[0].message, { role: 'function', name: 'get_weather', content: 'sunny' }] });
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.choices[0].message.content, 'Tool results: call_fn_1=sunny');
  });

  it('openai SDK: a streamed tool call through Switchyard equals the non-streamed one', async () => {
    const params = { model: 'claude-v2', messages: [{ role: 'user' as const, content: 'What is the weather in Paris?' }], tools: [WEATHER as OpenAI.ChatCompletionTool] };
    const done = await sdk.chat.completions.stream(params).finalChatCompletion();
    const plain = await sdk.chat.completions.create(params);
    assert.equal(done.choices[0].finish_reason, 'tool_calls');
    const call = done.choices[0].message.tool_calls?.[0];
    assert.ok(call && call.type === 'function');
    assert.deepEqual({ id: call.id, type: call.type, function: { name: call.function.name, arguments: call.function.arguments } }, plain.choices[0].message.tool_calls?.[0]);
    assert.deepEqual(JSON.parse(call.function.arguments), MOCK_TOOL_INPUT);
  });

  it('openai SDK: runTools (streaming) runs the whole loop through Switchyard', async () => {
    const seen: unknown[] = [];
    const runner = sdk.chat.completions.runTools({
      model: 'claude-v2',
      stream: true,
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: WEATHER.function.parameters, parse: JSON.parse, function: (args: unknown) => { seen.push(args); return 'sunny'; } } }],
    });
    assert.equal(await runner.finalContent(), 'Tool results: toolu_mock_0=sunny');
    assert.deepEqual(seen, [MOCK_TOOL_INPUT]);
    assert.equal(mocks.an.stats().byStatus[200], 2, 'one call, one answer');
  });
});
