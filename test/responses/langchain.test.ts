/**
 * LangChain's ChatOpenAI (@langchain/openai 1.5) with useResponsesApi: true
 * against a real server: invoke and stream with model "auto" (routed, the
 * mock upstream answers), and a tool round trip (bindTools, the AIMessage's
 * tool call, a ToolMessage back) through a scripted upstream, checking what
 * reached the upstream as chat messages. Before the Responses API existed,
 * LangChain labelled the 404 MODEL_NOT_FOUND. One test of LangChain's plain
 * chat path (useResponsesApi: false) on the same server, for contrast.
 */
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ChatOpenAI } from '@langchain/openai';
import { HumanMessage, ToolMessage, type AIMessage, type AIMessageChunk } from '@langchain/core/messages';
import type { Gateway } from '../gateway/helpers.ts';
import { openaiModel, plausible, startMocks, startResponsesGateway, startScriptedUpstream, type Mocks, type ScriptedUpstream } from './helpers.ts';

const ANSWER = 'This is a deterministic answer';
const WEATHER_TOOL = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

let mocks: Mocks;
let up: ScriptedUpstream;
let gw: Gateway;
/** Every request LangChain sent: path and parsed body. */
const sent: { path: string; body: any }[] = [];

// No `streaming` key: LangChain reads streaming: false as disableStreaming, and .stream() then calls invoke().
function chatModel(model: string, useResponsesApi: boolean): ChatOpenAI {
  return new ChatOpenAI({
    model, useResponsesApi, apiKey: 'unused-by-switchyard', maxRetries: 0,
    configuration: {
      baseURL: `${gw.base}/v1`,
      fetch: async (url: RequestInfo | URL, init?: RequestInit) => {
        if (typeof init?.body === 'string') sent.push({ path: new URL(String(url)).pathname, body: JSON.parse(init.body) });
        return fetch(url, init);
      },
    },
  });
}

before(async () => {
  mocks = await startMocks({ chunks: 5 });
  up = await startScriptedUpstream(plausible);
  gw = await startResponsesGateway({ models: [openaiModel('gpt-4-1106-preview', mocks.oa), openaiModel('scripted', up.url)] });
});
after(async () => { await gw.close(); await mocks.close(); await up.close(); });

it('invoke with model "auto" over /v1/responses: text, usage, the response id', async () => {
  const m = await chatModel('auto', true).invoke([new HumanMessage('Prove that sqrt(2) is irrational.')]);
  assert.equal(m.text, ANSWER);
  assert.equal(sent.at(-1)!.path, '/v1/responses');
  assert.equal(sent.at(-1)!.body.model, 'auto');
  assert.match(String(m.id ?? m.response_metadata.id), /^resp_/);
  assert.equal(m.usage_metadata?.output_tokens, 5);
  assert.equal(m.usage_metadata?.total_tokens, m.usage_metadata!.input_tokens + 5);
  // The stored response is retrievable by the id LangChain got.
  const id = m.response_metadata.id as string;
  const got = await fetch(`${gw.base}/v1/responses/${id}`);
  assert.equal(got.status, 200);
  assert.equal((await got.json()).id, id);
});

it('stream with model "auto": the deltas concatenate to the answer, usage on the last chunk', async () => {
  const chunks: AIMessageChunk[] = [];
  for await (const c of await chatModel('auto', true).stream('Tell me a story.')) chunks.push(c);
  assert.equal(sent.at(-1)!.path, '/v1/responses');
  assert.equal(sent.at(-1)!.body.stream, true);
  assert.ok(chunks.length > 2, `only ${chunks.length} chunks`);
  assert.equal(chunks.map((c) => c.text).join(''), ANSWER);
  const total = chunks.reduce((a, b) => a.concat(b));
  assert.equal(total.usage_metadata?.output_tokens, 5);
});

it('a tool round trip: bindTools, the tool call, a ToolMessage back, the final answer', async () => {
  const model = chatModel('scripted', true).bindTools([WEATHER_TOOL]);
  const question = new HumanMessage('What is the weather in Oslo?');
  const ai = await model.invoke([question]) as AIMessage;
  assert.equal(ai.tool_calls?.length, 1, JSON.stringify(ai));
  const call = ai.tool_calls![0];
  assert.equal(call.name, 'get_weather');
  assert.deepEqual(call.args, { city: 'Oslo' });
  assert.equal(call.id, 'call_s1');
  const firstBody = sent.at(-1)!.body;
  assert.equal(firstBody.tools[0].type, 'function');
  assert.equal(firstBody.tools[0].name, 'get_weather');

  const final = await model.invoke([question, ai, new ToolMessage({ tool_call_id: call.id!, content: 'cold in Oslo' })]);
  assert.equal(sent.at(-1)!.path, '/v1/responses');
  const items: any[] = sent.at(-1)!.body.input;
  assert.ok(items.some((i) => i.type === 'function_call_output' && i.call_id === 'call_s1'), JSON.stringify(items));
  // The upstream got a chat conversation: the user turn, the assistant's tool call, the tool's result.
  const msgs = up.bodies.at(-1).messages;
  assert.deepEqual(msgs.map((x: { role: string }) => x.role), ['user', 'assistant', 'tool']);
  assert.deepEqual(msgs[1].tool_calls, [{ id: 'call_s1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }]);
  assert.deepEqual(msgs[2], { role: 'tool', tool_call_id: 'call_s1', content: 'cold in Oslo' });
  assert.equal(final.text, 'echo 3: cold in Oslo');
});

it('the plain chat path (useResponsesApi: false) still serves the same client', async () => {
  const m = await chatModel('auto', false).invoke('Prove that sqrt(2) is irrational.');
  assert.equal(sent.at(-1)!.path, '/v1/chat/completions');
  assert.equal(m.text, ANSWER);
  assert.equal(m.usage_metadata?.output_tokens, 5);
});
