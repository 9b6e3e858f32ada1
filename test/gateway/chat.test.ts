/**
 * POST /v1/chat/completions on the real server against OpenAI- and
 * Anthropic-format mock upstreams: `auto` routing (headers and the
 * `switchyard` object agree with /v1/route), explicit models, 404 for unknown
 * ones, streaming chunk order and [DONE], a client abort cancelling the
 * upstream, the Anthropic conversion both ways, cost = usage x pricing,
 * OpenAI's error shape with `param`, and GET /v1/models and /v1/model-health.
 */
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { costUsd } from '../../src/providers/cost.ts';
import { usd, withSwitchyard } from '../../src/api/chat.ts';
import { anthropicModel, chat, openaiModel, sseLines, startGateway, startMocks, user, waitFor, type Gateway, type Mocks } from './helpers.ts';

const PRICES = {
  gpt4: { currency: 'USD' as const, prompt_per_1m: 10, completion_per_1m: 30 },
  claude: { currency: 'USD' as const, prompt_per_1m: 8, completion_per_1m: 24 },
  mistral: { currency: 'USD' as const, prompt_per_1m: 0.2, completion_per_1m: 0.2 },
};
const ROUTABLE = ['gpt-4-1106-preview', 'claude-v2', 'mistralai/mistral-7b-chat'];
const PROMPTS = [
  'Prove that the square root of 2 is irrational.',
  'Write a Python function that reverses a linked list in place.',
  'What is the capital of Australia?',
  'Summarise the causes of the First World War in three sentences.',
];

let mocks: Mocks;
let gw: Gateway;
before(async () => {
  mocks = await startMocks({ chunks: 5 });
  gw = await startGateway({
    models: [
      openaiModel('gpt-4-1106-preview', mocks.oa, { pricing: PRICES.gpt4 }),
      anthropicModel('claude-v2', mocks.an, { pricing: PRICES.claude, upstream_model: 'claude-2.1' }),
      openaiModel('mistralai/mistral-7b-chat', mocks.oa, { pricing: PRICES.mistral }),
      // Not in the router profile: callable by name only.
      openaiModel('local-llama', mocks.oa, { upstream_model: 'llama-local' }),
      openaiModel('slow-stream', mocks.oa, { headers: { 'x-mock-chunk-interval-ms': '20', 'x-mock-chunks': '500' } }),
    ],
  });
});
after(async () => { await gw.close(); await mocks.close(); });
beforeEach(() => { mocks.oa.resetStats(); mocks.an.resetStats(); });

async function routeDecision(prompt: string, costWeight?: number): Promise<any> {
  const res = await fetch(`${gw.base}/v1/route`, { method: 'POST', body: JSON.stringify({ prompt, available_models: ROUTABLE, ...(costWeight === undefined ? {} : { cost_weight: costWeight }) }) });
  return res.json();
}

describe('model "auto"', () => {
  it('routes like /v1/route over the models that have backends; headers and the switchyard object say so', async () => {
    for (const prompt of PROMPTS) {
      const d = await routeDecision(prompt);
      const r = await chat(gw.base, { model: 'auto', messages: user(prompt) });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-switchyard-model'), d.selected_model, prompt);
      assert.equal(r.headers.get('x-switchyard-reason'), 'routed');
      assert.equal(r.headers.get('x-switchyard-cluster'), String(d.cluster_id));
      const chain = r.headers.get('x-switchyard-candidates')!.split(',');
      assert.deepEqual([...chain].sort(), [...ROUTABLE].sort(), 'every routable model, none without a backend');
      assert.equal(chain[0], d.selected_model);
      const scores = chain.map((m) => d.all_scores[m]);
      assert.deepEqual(scores, [...scores].sort((a, b) => a - b), 'candidates in score order');
      const s = r.json.switchyard;
      assert.equal(s.model, d.selected_model);
      assert.equal(s.reason, 'routed');
      assert.equal(s.cluster_id, d.cluster_id);
      assert.deepEqual(s.candidates, chain);
      assert.deepEqual(s.attempts.map((a: any) => [a.model, a.outcome]), [[d.selected_model, 'ok']]);
      assert.equal(r.json.object, 'chat.completion');
      assert.equal(r.json.choices[0].message.content, 'This is a deterministic answer');
    }
  });

  it('"router" and "MoM" are aliases; cost_weight is honoured and not forwarded upstream', async () => {
    const prompt = PROMPTS[0];
    const cheap = await routeDecision(prompt, 1000);
    assert.equal(cheap.selected_model, 'mistralai/mistral-7b-chat', 'a huge lambda picks the cheapest');
    for (const model of ['router', 'MoM']) {
      const r = await chat(gw.base, { model, messages: user(prompt), cost_weight: 1000 });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-switchyard-model'), 'mistralai/mistral-7b-chat');
      assert.deepEqual(r.json.switchyard.candidates, ['mistralai/mistral-7b-chat', 'claude-v2', 'gpt-4-1106-preview'], 'by cost when lambda dominates');
    }
    assert.equal(mocks.oa.stats().byModel['mistralai/mistral-7b-chat'], 2);
    // null means "not given" (the server's default lambda), as for OpenAI's optional fields.
    const dflt = await routeDecision(prompt, undefined);
    const r = await chat(gw.base, { model: 'auto', messages: user(prompt), cost_weight: null });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-switchyard-model'), dflt.selected_model);
  });

  it('route_on last_user_message: a long system prompt or earlier turns do not change the decision', async () => {
    const prompt = PROMPTS[1];
    const alone = await chat(gw.base, { model: 'auto', messages: user(prompt) });
    const convo = await chat(gw.base, {
      model: 'auto',
      messages: [{ role: 'system', content: 'You are a historian. '.repeat(50) }, { role: 'user', content: 'Tell me about Rome.' }, { role: 'assistant', content: 'Rome was...' }, { role: 'user', content: [{ type: 'text', text: prompt }] }],
    });
    assert.equal(convo.headers.get('x-switchyard-model'), alone.headers.get('x-switchyard-model'));
    assert.equal(convo.headers.get('x-switchyard-cluster'), alone.headers.get('x-switchyard-cluster'));
  });
});

describe('explicit models', () => {
  it('a configured model is served directly, even one outside the router profile', async () => {
    const r = await chat(gw.base, { model: 'local-llama', messages: user('hello') });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-switchyard-model'), 'local-llama');
    assert.equal(r.headers.get('x-switchyard-reason'), 'explicit');
    assert.equal(r.headers.get('x-switchyard-candidates'), 'local-llama');
    assert.equal(r.headers.get('x-switchyard-cluster'), null, 'no routing, no cluster');
    assert.equal(r.json.model, 'llama-local', 'the upstream got upstream_model');
    assert.equal(mocks.oa.stats().byModel['llama-local'], 1);
    assert.equal(r.json.switchyard.reason, 'explicit');
    assert.equal(r.json.switchyard.cluster_id, null);
    assert.equal(r.headers.get('x-switchyard-estimated-cost-usd'), null, 'no pricing configured: no cost headers');
    assert.equal(r.headers.get('x-switchyard-cost-usd'), null);
    assert.equal(r.json.switchyard.cost_usd, null);
  });

  it('an unknown model is 404 model_not_found in OpenAI\'s error shape', async () => {
    for (const model of ['gpt-17', 'WizardLM/WizardLM-13B-V1.2' /* in the profile, but no backend */]) {
      const r = await chat(gw.base, { model, messages: user('hi') });
      assert.equal(r.status, 404);
      assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(r.json.error.code, 'model_not_found');
      assert.equal(r.json.error.type, 'invalid_request_error');
      assert.equal(r.json.error.param, 'model');
      assert.match(r.json.error.message, new RegExp(model.replace(/[/.]/g, '\\$&')));
    }
    assert.equal(mocks.oa.stats().requests + mocks.an.stats().requests, 0, 'nothing went upstream');
  });
});

describe('cost', () => {
  it('x-switchyard-cost-usd = upstream usage x the answering model\'s pricing; the estimate comes first', async () => {
    for (const [model, price] of [['gpt-4-1106-preview', PRICES.gpt4], ['claude-v2', PRICES.claude]] as const) {
      const r = await chat(gw.base, { model, messages: user('How much does this cost?'), max_tokens: 50 });
      assert.equal(r.status, 200, r.text);
      const u = r.json.usage;
      const expected = costUsd(u, price);
      assert.ok(expected > 0);
      assert.equal(r.headers.get('x-switchyard-cost-usd'), usd(expected));
      assert.equal(r.json.switchyard.cost_usd, expected);
      const est = Number(r.headers.get('x-switchyard-estimated-cost-usd'));
      assert.ok(est > 0 && Math.abs(est - r.json.switchyard.estimated_cost_usd) < 1e-9);
      assert.ok(!/e/i.test(r.headers.get('x-switchyard-cost-usd')!), 'fixed-point, never 1e-7 notation');
    }
  });

  it('withSwitchyard() adds the member to the answer\'s text as a parse would', () => {
    const sw = { model: 'm', cost_usd: null, candidates: ['a', 'b'] };
    for (const json of ['{"id":"x","choices":[]}', '{ "id" : "x" , "choices" : [ ] }\n', '{}', '{ \n }', '{"a":{"b":"}"}}']) {
      const out = withSwitchyard(json.trim(), sw);
      assert.deepEqual(JSON.parse(out), { ...JSON.parse(json), switchyard: sw }, json);
    }
  });

  it('usd() formats without an exponent', () => {
    assert.equal(usd(0), '0');
    assert.equal(usd(1.2e-7), '0.00000012');
    assert.equal(usd(0.0002), '0.0002');
    assert.equal(usd(12.5), '12.5');
  });
});

describe('streaming', () => {
  it('passes chunks through in order, ends with [DONE]; usage chunk carries the cost when asked for', async () => {
    const r = await chat(gw.base, { model: 'gpt-4-1106-preview', messages: user('stream please'), stream: true, stream_options: { include_usage: true } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /^text\/event-stream/);
    assert.equal(r.headers.get('x-switchyard-model'), 'gpt-4-1106-preview');
    assert.equal(r.headers.get('x-switchyard-reason'), 'explicit');
    assert.equal(r.headers.get('x-switchyard-cost-usd'), null, 'not known when the headers go out');
    const { data, comments } = sseLines(r.text);
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.equal(chunks.length, 1 + 5 + 1 + 1, 'role, 5 content chunks, finish, usage');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'This is a deterministic answer');
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.equal(last.switchyard.model, 'gpt-4-1106-preview');
    assert.equal(last.switchyard.cost_usd, costUsd(last.usage, PRICES.gpt4));
    const trailer = JSON.parse(comments.find((c) => c.startsWith('switchyard '))!.slice('switchyard '.length));
    assert.equal(trailer.cost_usd, last.switchyard.cost_usd);
  });

  it('without include_usage: no usage chunk (as OpenAI), the cost in a trailing comment', async () => {
    const r = await chat(gw.base, { model: 'auto', messages: user(PROMPTS[2]), stream: true });
    const { data, comments } = sseLines(r.text);
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.equal(chunks.length, 7);
    assert.ok(chunks.every((c) => c.usage === undefined && c.choices.length === 1));
    const trailer = JSON.parse(comments.find((c) => c.startsWith('switchyard '))!.slice(11));
    assert.equal(trailer.model, r.headers.get('x-switchyard-model'));
    assert.ok(trailer.usage.completion_tokens === 5);
    assert.equal(data.at(-1), '[DONE]');
  });

  it('a client abort cancels the upstream request', async () => {
    const ac = new AbortController();
    const res = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'slow-stream', messages: user('long story'), stream: true }), signal: ac.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let got = '';
    while ((got.match(/data: /g) ?? []).length < 3) got += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    await waitFor(() => mocks.oa.stats().aborted === 1, 3000, 'the mock to see its request aborted');
    assert.equal(mocks.oa.stats().completed, 0);
    await waitFor(() => gw.server.inFlight() === 0, 2000, 'the exchange to finish');
  });
});

describe('Anthropic conversion through the gateway', () => {
  it('non-streaming: OpenAI request -> /v1/messages -> OpenAI chat.completion', async () => {
    const r = await chat(gw.base, { model: 'claude-v2', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello' }], temperature: 1.5, stop: 'END' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(mocks.an.stats().byPath, { '/v1/messages': 1 });
    assert.equal(mocks.an.stats().byModel['claude-2.1'], 1);
    assert.equal(r.json.object, 'chat.completion');
    assert.equal(r.json.model, 'claude-2.1');
    assert.equal(r.json.choices[0].message.role, 'assistant');
    assert.equal(r.json.choices[0].message.content, 'This is a deterministic answer');
    assert.equal(r.json.choices[0].finish_reason, 'stop');
    assert.equal(r.json.usage.total_tokens, r.json.usage.prompt_tokens + r.json.usage.completion_tokens);
    assert.equal(r.headers.get('x-switchyard-cost-usd'), usd(costUsd(r.json.usage, PRICES.claude)));
  });

  it('streaming: Anthropic events -> OpenAI chunks with [DONE]', async () => {
    const r = await chat(gw.base, { model: 'claude-v2', messages: user('hello'), stream: true, stream_options: { include_usage: true } });
    assert.equal(r.status, 200);
    const { data } = sseLines(r.text);
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'This is a deterministic answer');
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
    assert.equal(chunks.at(-1).usage.completion_tokens, 5);
    assert.equal(chunks.at(-1).switchyard.cost_usd, costUsd(chunks.at(-1).usage, PRICES.claude));
    assert.deepEqual(mocks.an.stats().byPath, { '/v1/messages': 1 });
  });
});

describe('validation errors: OpenAI shape, param named', () => {
  const ok = { model: 'auto', messages: user('hi') };
  const cases: [string, unknown, string][] = [
    ['body not JSON', '{"model":', 'body'],
    ['model missing', { messages: user('hi') }, 'model'],
    ['model not a string', { ...ok, model: 3 }, 'model'],
    ['messages missing', { model: 'auto' }, 'messages'],
    ['messages empty', { ...ok, messages: [] }, 'messages'],
    ['messages not an array', { ...ok, messages: 'hi' }, 'messages'],
    ['message not an object', { ...ok, messages: ['hi'] }, 'messages[0]'],
    ['role invalid', { ...ok, messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
    ['content missing', { ...ok, messages: [{ role: 'user' }] }, 'messages[0].content'],
    ['content a number', { ...ok, messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 5 }] }, 'messages[1].content'],
    ['content part type unknown', { ...ok, messages: [{ role: 'user', content: [{ type: 'txt', text: 'x' }] }] }, 'messages[0].content[0].type'],
    ['text part without text', { ...ok, messages: [{ role: 'user', content: [{ type: 'text' }] }] }, 'messages[0].content[0].text'],
    ['temperature too high', { ...ok, temperature: 2.5 }, 'temperature'],
    ['temperature a string', { ...ok, temperature: '1' }, 'temperature'],
    ['top_p over 1', { ...ok, top_p: 1.5 }, 'top_p'],
    ['max_tokens zero', { ...ok, max_tokens: 0 }, 'max_tokens'],
    ['max_tokens fractional', { ...ok, max_tokens: 1.5 }, 'max_tokens'],
    ['max_completion_tokens negative', { ...ok, max_completion_tokens: -1 }, 'max_completion_tokens'],
    ['stream not boolean', { ...ok, stream: 'yes' }, 'stream'],
    ['stream_options without stream', { ...ok, stream_options: { include_usage: true } }, 'stream_options'],
    ['n = 2', { ...ok, n: 2 }, 'n'],
    ['stop: 5 strings', { ...ok, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    ['presence_penalty out of range', { ...ok, presence_penalty: 3 }, 'presence_penalty'],
    ['seed fractional', { ...ok, seed: 0.5 }, 'seed'],
    ['cost_weight negative', { ...ok, cost_weight: -1 }, 'cost_weight'],
    ['image-only input to auto', { ...ok, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AA==' } }] }] }, 'messages'],
  ];
  for (const [name, body, param] of cases) {
    it(name, async () => {
      const r = await chat(gw.base, body);
      assert.equal(r.status, 400, r.text);
      assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(r.json.error.type, 'invalid_request_error');
      assert.equal(r.json.error.code, 'invalid_request');
      assert.equal(r.json.error.param, param);
      assert.ok(r.json.error.message.includes(param), r.json.error.message);
    });
  }

  it('a body nested too deeply to serialise again is a 400 naming body, not a 500 (regression: fuzz)', async () => {
    // JSON.parse takes 20,000 levels; JSON.stringify (buildRequest) overflowed the stack: 500 internal_error.
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const bodies = [
      `{"model":"local-llama","messages":[{"role":"user","content":"hi"}],"extra":${deep(20_000)}}`,
      `{"model":"claude-v2","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","p":${deep(20_000)}}}}]}`,
      `{"model":"auto","stream":true,"messages":[{"role":"user","content":"hi"}],"metadata":{"a":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}}`,
    ];
    for (const body of bodies) {
      const r = await chat(gw.base, body);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error.code, 'invalid_request');
      assert.equal(r.json.error.param, 'body');
      assert.match(r.json.error.message, /nested too deeply/);
    }
    assert.equal(mocks.oa.stats().requests + mocks.an.stats().requests, 0, 'nothing went upstream');
  });

  it('unknown fields pass through to OpenAI-compatible upstreams; null optionals are accepted', async () => {
    const r = await chat(gw.base, { model: 'local-llama', messages: user('hi'), top_k: 40, temperature: null, max_tokens: null, stream: false });
    assert.equal(r.status, 200, r.text);
  });

  it('wrong method is 405 with Allow, in OpenAI\'s shape', async () => {
    const res = await fetch(`${gw.base}/v1/chat/completions`);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST');
    const j = await res.json() as any;
    assert.equal(j.error.code, 'method_not_allowed');
    assert.equal(j.error.param, null);
  });
});

describe('GET /v1/models and /v1/model-health', () => {
  it('/v1/models lists auto and every configured model in OpenAI\'s list format, with pricing', async () => {
    const res = await fetch(`${gw.base}/v1/models`);
    assert.equal(res.status, 200);
    const j = await res.json() as any;
    assert.equal(j.object, 'list');
    assert.deepEqual(j.data.map((m: any) => m.id), ['auto', 'gpt-4-1106-preview', 'claude-v2', 'mistralai/mistral-7b-chat', 'local-llama', 'slow-stream']);
    for (const m of j.data) {
      assert.equal(m.object, 'model');
      assert.ok(Number.isInteger(m.created));
      assert.equal(typeof m.owned_by, 'string');
    }
    assert.deepEqual(j.data[1].pricing, PRICES.gpt4);
    assert.equal(j.data[2].owned_by, 'anthropic');
    assert.equal(j.data[4].pricing, undefined);
    assert.deepEqual(j.data[0].switchyard.routable, ROUTABLE);
  });

  it('/v1/model-health reports the tracker\'s entries for the named models', async () => {
    await chat(gw.base, { model: 'local-llama', messages: user('hi') });
    const res = await fetch(`${gw.base}/v1/model-health?models=local-llama,claude-v2`);
    assert.equal(res.status, 200);
    const j = await res.json() as any;
    assert.deepEqual(j.health.map((h: any) => h.model_id), ['local-llama', 'claude-v2']);
    const h = j.health[0];
    assert.equal(h.degraded, false);
    assert.equal(h.latency_penalty, 0);
    assert.ok(h.health_entry.successes >= 1);
    assert.equal(h.health_entry.failures, 0);
    assert.equal(h.health_entry.consecutiveFailures, 0);
    assert.equal(typeof h.health_entry.avgLatencyMs, 'number');
    const all = await (await fetch(`${gw.base}/v1/model-health`)).json() as any;
    assert.equal(all.health.length, 5, 'no list = every configured model');
    const bad = await fetch(`${gw.base}/v1/model-health?models=nope`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as any).error.field, 'models');
  });
});
