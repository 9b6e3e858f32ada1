/**
 * Fuzz POST /v1/responses with random and malformed bodies from a seeded RNG
 * (FUZZ_SEED replays a run, FUZZ_N sets the number of cases; FUZZ_VERBOSE=1
 * prints the outcome counts), against healthy mock upstreams in both formats
 * with `auto`, explicit and unknown models, stream and store on and off, and
 * previous_response_id pointing at real, deleted and made-up responses.
 *
 * Every answer is a response object, a well-formed event stream (contiguous
 * sequence numbers, one terminal event: completed, incomplete or failed), or
 * an error in OpenAI's shape with its catalogued status; a bad body is a 4xx,
 * never a 5xx; nothing reaches the internal-error channel; the server answers
 * /health afterwards. Hostile upstreams are in hostile.test.ts.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { mulberry32 } from '../../src/seeded-random.ts';
import { CHANNEL_NAMES } from '../../src/diagnostics.ts';
import { ERRORS, ERROR_CODES, type ErrorCode } from '../../src/errors.ts';
import type { Gateway } from '../gateway/helpers.ts';
import { anthropicModel, openaiModel, sseEvents, startMocks, startResponsesGateway, type Mocks } from './helpers.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261205);
const N = Number(process.env.FUZZ_N ?? 500);
const VERBOSE = process.env.FUZZ_VERBOSE !== undefined;
const CONCURRENCY = 8;

const internal: string[] = [];
const onInternal = (m: unknown): void => {
  const e = (m as { error?: unknown }).error;
  internal.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
};

let mocks: Mocks;
let gw: Gateway;
before(async () => {
  diagnostics_channel.subscribe(CHANNEL_NAMES.internalError, onInternal);
  mocks = await startMocks({ chunks: 4 });
  gw = await startResponsesGateway({
    models: [
      openaiModel('gpt-4-1106-preview', mocks.oa),
      anthropicModel('claude-v2', mocks.an),
      openaiModel('mistralai/mistral-7b-chat', mocks.oa),
    ],
  }, { server: { body_limit: 256 * 1024 } });
});
after(async () => {
  diagnostics_channel.unsubscribe(CHANNEL_NAMES.internalError, onInternal);
  await gw.close();
  await mocks.close();
});

const rnd = mulberry32(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
const chance = (p: number): boolean => rnd() < p;

/** Any JSON value, small. */
function anyValue(depth = 0): unknown {
  const k = Math.floor(rnd() * (depth > 2 ? 6 : 8));
  switch (k) {
    case 0: return null;
    case 1: return chance(0.5);
    case 2: return pick([0, -1, 1, 0.5, 2.5, 1e308, -1e308, 17, 2 ** 53, 3.7]);
    case 3: return pick(['', 'x', 'auto', 'function', 'message', 'user', 'assistant', 'input_text', 'output_text', 'json_schema', '\u0000', '🙂'.repeat(3), 'a'.repeat(300)]);
    case 4: return 'resp_' + Math.floor(rnd() * 1e9).toString(16);
    case 5: return pick([{}, [], [1], { type: 'x' }]);
    case 6: return Array.from({ length: Math.floor(rnd() * 3) }, () => anyValue(depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 3) }, () => [pick(['type', 'role', 'content', 'text', 'name', 'call_id', 'arguments', 'output', 'id', 'x']), anyValue(depth + 1)]));
  }
}

function part(): unknown {
  if (chance(0.15)) return anyValue();
  return pick([
    () => ({ type: 'input_text', text: pick(['hello', 'Prove sqrt(2) is irrational', '', anyValue()]) }),
    () => ({ type: 'output_text', text: 'earlier', annotations: [] }),
    () => ({ type: 'input_image', image_url: pick(['https://x/y.png', 'data:image/png;base64,AAAA', anyValue()]), detail: pick(['auto', 'low', 'huge', undefined]) }),
    () => ({ type: pick(['input_file', 'refusal', 'text', undefined]), text: 'x', refusal: 'no' }),
  ])();
}

function item(): unknown {
  if (chance(0.1)) return anyValue();
  return pick([
    () => ({ role: pick(['user', 'user', 'system', 'developer', 'assistant', 'tool', anyValue()]), content: chance(0.5) ? pick(['hi there', 'Tell me a story', '', anyValue()]) : Array.from({ length: Math.floor(rnd() * 3) }, part) }),
    () => ({ type: 'message', role: pick(['user', 'assistant']), content: Array.from({ length: 1 + Math.floor(rnd() * 2) }, part), id: chance(0.3) ? anyValue() : undefined }),
    () => ({ type: 'function_call', call_id: pick(['call_1', '', anyValue()]), name: pick(['get_weather', '', anyValue()]), arguments: pick(['{}', '{"a":1}', anyValue()]) }),
    () => ({ type: 'function_call_output', call_id: pick(['call_1', anyValue()]), output: pick(['done', [{ type: 'input_text', text: 'r' }], anyValue()]) }),
    () => ({ type: pick(['reasoning', 'item_reference', 'web_search_call', anyValue()]), id: 'x' }),
  ])();
}

function tool(): unknown {
  if (chance(0.15)) return anyValue();
  return { type: pick(['function', 'function', 'function', 'web_search', anyValue()]), name: pick(['get_weather', 'search', '', 'x'.repeat(70), anyValue()]), description: pick([undefined, 'd', anyValue()]), parameters: pick([undefined, { type: 'object', properties: {} }, anyValue()]), strict: pick([undefined, true, false, null, anyValue()]) };
}

const ids: string[] = [];

/** A request object: a valid one (40%), or one with noise in its items and one or two fields. */
function body(): Record<string, unknown> {
  const clean = chance(0.4);
  const v = <T>(good: T): T | unknown => (clean || chance(0.6) ? good : anyValue());
  const b: Record<string, unknown> = {
    model: pick(['auto', 'auto', 'auto', 'gpt-4-1106-preview', 'claude-v2', 'mistralai/mistral-7b-chat', 'router', 'MoM', ...(clean ? [] : ['gpt-17'])]),
    input: chance(0.6) ? pick(['Prove that sqrt(2) is irrational.', 'hi', 'Tell me a story', ...(clean ? [] : ['', '   '])])
      : Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => (clean || chance(0.5) ? { role: 'user', content: pick(['hello', 'What is 2+2?']) } : item())),
  };
  if (chance(0.5)) b.stream = chance(0.5);
  if (chance(0.3)) b.store = chance(0.5);
  if (chance(0.3)) b.instructions = v(pick(['Be brief.', 'Answer in French.']));
  if (chance(0.3)) b.tools = Array.from({ length: Math.floor(rnd() * 3) }, (_, i) => (clean || chance(0.6) ? { type: 'function', name: ['get_weather', 'search'][i], parameters: { type: 'object', properties: {} } } : tool()));
  if (chance(0.2) && Array.isArray(b.tools) && b.tools.length > 0) b.tool_choice = v(pick(['auto', 'none', 'required', { type: 'function', name: 'get_weather' }]));
  if (chance(0.2)) b.text = v(pick([{ format: { type: 'json_object' } }, { format: { type: 'json_schema', name: 'o', schema: { type: 'object' } } }, { format: { type: 'text' } }]));
  if (chance(0.2)) b.metadata = v({ a: 'b' });
  if (chance(0.2)) b.previous_response_id = ids.length > 0 && chance(0.7) ? pick(ids) : v('resp_' + '0'.repeat(32));
  if (chance(0.1)) b.temperature = v(pick([0, 0.7, 2]));
  if (chance(0.1)) b.max_output_tokens = v(pick([16, 1000]));
  if (chance(0.1)) b.cost_weight = v(pick([0, 0.5, 3]));
  if (clean) return b;
  for (const k of ['top_p', 'parallel_tool_calls', 'user', 'background', 'conversation', 'include', 'reasoning', 'truncation']) if (chance(0.05)) b[k] = anyValue();
  if (chance(0.7)) b[pick(Object.keys(b))] = anyValue();
  return b;
}

/** A raw body that is not a valid JSON object, or one nested absurdly deep. */
function rawBody(): string {
  const valid = JSON.stringify(body());
  return pick([
    () => valid.slice(0, Math.floor(rnd() * valid.length)),
    () => valid.replace(/[{}\[\]",:]/, pick(['', '}', '"', ' '])),
    () => pick(['', 'null', '[]', '"x"', '42', '{', '}{', '\u0000\u0001', '{"model":"auto","input":"x",}']),
    () => `{"model":"auto","input":"x","metadata":${'['.repeat(20_000)}${']'.repeat(20_000)}}`,
    () => `{"model":"auto","input":"x","tools":[{"type":"function","name":"f","parameters":${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}}]}`,
    () => `{"model":"auto","input":${JSON.stringify('y'.repeat(300_000))}}`,
    () => `{"model":"auto","input":"x","temperature":1e999}`,
  ])();
}

function checkError(status: number, text: string): ErrorCode {
  let j: any;
  try { j = JSON.parse(text); } catch { assert.fail(`error body is not JSON (status ${status}): ${text.slice(0, 300)}`); }
  const e = j?.error;
  assert.ok(e && typeof e.message === 'string' && typeof e.type === 'string' && (e.param === null || typeof e.param === 'string'), text.slice(0, 300));
  const code = e.code as ErrorCode;
  assert.ok(ERROR_CODES.includes(code), `unknown code: ${text.slice(0, 300)}`);
  assert.notEqual(code, 'internal_error', `a bug surfaced as 500: ${text.slice(0, 300)}\n${internal.slice(-3).join('\n---\n')}`);
  assert.equal(status, ERRORS[code].status, text.slice(0, 300));
  return code;
}

function checkResponse(r: any, text: string): void {
  assert.equal(r.object, 'response', text.slice(0, 300));
  assert.match(r.id, /^resp_/);
  assert.ok(['completed', 'incomplete'].includes(r.status), r.status);
  assert.ok(Array.isArray(r.output) && r.output.length > 0);
  for (const o of r.output) assert.ok(o.type === 'message' || o.type === 'function_call', JSON.stringify(o));
  assert.equal(typeof r.switchyard, 'object');
}

describe('fuzz POST /v1/responses', () => {
  it(`${N} random and malformed bodies: never a 5xx from a bad body, every answer well formed`, async () => {
    const outcomes = new Map<string, number>();
    const bump = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    const one = async (i: number): Promise<void> => {
      const raw = chance(0.15) ? rawBody() : JSON.stringify(body());
      const res = await fetch(`${gw.base}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
      const text = await res.text();
      const ct = res.headers.get('content-type') ?? '';
      const where = `case ${i} (FUZZ_SEED=${SEED}): ${raw.slice(0, 300)}`;
      if (res.status !== 200) { bump(`${res.status} ${checkError(res.status, text)}`); return; }
      if (ct.startsWith('application/json')) {
        const r = JSON.parse(text);
        checkResponse(r, where);
        if (r.store) ids.push(r.id);
        bump('200 json');
        return;
      }
      assert.match(ct, /^text\/event-stream/, where);
      const events = sseEvents(text);
      assert.deepEqual(events.map((e) => e.data.sequence_number), events.map((_, k) => k), where);
      for (const e of events) assert.equal(e.event, e.data.type, where);
      const terminal = events.filter((e) => ['response.completed', 'response.incomplete', 'response.failed'].includes(e.data.type));
      assert.equal(terminal.length, 1, where);
      assert.equal(terminal[0], events.at(-1), where);
      const r = terminal[0].data.response;
      if (terminal[0].data.type !== 'response.failed') { checkResponse(r, where); if (r.store) ids.push(r.id); }
      bump(`200 ${terminal[0].data.type}`);
    };
    for (let i = 0; i < N; i += CONCURRENCY) {
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, N - i) }, (_, k) => one(i + k)));
      // Now and then, delete a stored response so continuations also meet a missing ancestor.
      if (ids.length > 4 && chance(0.2)) await fetch(`${gw.base}/v1/responses/${ids[Math.floor(rnd() * ids.length)]}`, { method: 'DELETE' });
    }
    if (VERBOSE) console.log(Object.fromEntries([...outcomes].sort()));
    assert.deepEqual(internal, [], 'internal errors');
    assert.ok((outcomes.get('200 json') ?? 0) + (outcomes.get('200 response.completed') ?? 0) > N / 10, `too few successes to mean anything: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    assert.ok([...outcomes.keys()].some((k) => k.startsWith('400')), 'no 400 at all');
    const h = await fetch(`${gw.base}/health`);
    assert.equal(h.status, 200);
  });

  it('random GET / DELETE / input_items paths and queries: 200, 400 or 404 in OpenAI\'s shape', async () => {
    const idsToTry = [...ids.slice(0, 5), 'resp_nope', '%zz', 'a'.repeat(300), '..', 'resp_%00'];
    for (const id of idsToTry) {
      for (const [method, suffix] of [['GET', ''], ['GET', '/input_items?limit=' + pick(['1', '0', '-1', 'x', '100', '1e2'])], ['GET', '/input_items?order=' + pick(['asc', 'desc', 'up', ''])], ['DELETE', '']]) {
        const res = await fetch(`${gw.base}/v1/responses/${id}${suffix}`, { method });
        const text = await res.text();
        if (res.status === 200) { JSON.parse(text); continue; }
        checkError(res.status, text);
      }
    }
    assert.deepEqual(internal, []);
  });
});
