/**
 * The Vercel AI SDK's default OpenAI model, `openai('auto')` from
 * @ai-sdk/openai, speaks the Responses API (store on): generateText,
 * streamText, and a multi-step tool run whose second step sends the first
 * step's text back as an item_reference (resolved from the store).
 * (The fuller AI SDK and LangChain client suites live with the other client tests.)
 */
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';
import type { Gateway } from '../gateway/helpers.ts';
import { openaiModel, plausible, startMocks, startResponsesGateway, startScriptedUpstream, type Mocks, type ScriptedUpstream } from './helpers.ts';

let mocks: Mocks;
let up: ScriptedUpstream;
let gw: Gateway;
let openai: ReturnType<typeof createOpenAI>;
/** Every Responses request body the AI SDK sent. */
const sentBodies: any[] = [];
before(async () => {
  mocks = await startMocks({ chunks: 5 });
  up = await startScriptedUpstream(plausible);
  gw = await startResponsesGateway({ models: [openaiModel('gpt-4-1106-preview', mocks.oa), openaiModel('scripted', up.url)] });
  openai = createOpenAI({
    baseURL: `${gw.base}/v1`, apiKey: 'unused',
    fetch: async (url, init) => { if (typeof init?.body === 'string') sentBodies.push(JSON.parse(init.body)); return fetch(url, init); },
  });
});
after(async () => { await gw.close(); await mocks.close(); await up.close(); });

it('generateText and streamText with openai("auto")', async () => {
  const r = await generateText({ model: openai('auto'), prompt: 'Prove that sqrt(2) is irrational.' });
  assert.equal(r.text, 'This is a deterministic answer');
  assert.equal(r.finishReason, 'stop');
  assert.equal(r.usage.outputTokens, 5);
  assert.match(r.response.id, /^resp_/);
  const s = streamText({ model: openai('auto'), prompt: 'Tell me a story.' });
  let text = '';
  for await (const p of s.textStream) text += p;
  assert.equal(text, 'This is a deterministic answer');
  assert.equal(await s.finishReason, 'stop');
});

it('a two-step tool run: the first step\'s text goes back as an item_reference', async () => {
  const r = await generateText({
    model: openai('scripted'),
    prompt: 'chatty: weather in Oslo?',
    tools: { get_weather: tool({ description: 'Weather for a city', inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }), execute: async ({ city }) => `cold in ${city}` }) },
    stopWhen: stepCountIs(3),
  });
  assert.deepEqual(r.steps.map((s) => s.finishReason), ['tool-calls', 'stop']);
  const step2 = sentBodies.at(-1);
  assert.ok(step2.input.some((i: { type?: string }) => i.type === 'item_reference'), JSON.stringify(step2.input));
  assert.equal(r.text, 'echo 3: cold in Oslo');
  const sent = up.bodies.at(-1).messages;
  assert.deepEqual(sent[1], { role: 'assistant', content: 'Let me check.', tool_calls: [{ id: 'call_s1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] });
});
