/**
 * Fuzz for POST /v1/chat/completions, both directions, from a seeded RNG
 * (FUZZ_SEED replays a run, FUZZ_N sets the number of client cases, FUZZ_UP_N
 * the number of random hostile-upstream cases; FUZZ_VERBOSE=1 prints the
 * outcome counts).
 *
 * 1. Client side: random and malformed request bodies against a gateway whose
 *    models are healthy mock upstreams in both formats (OpenAI and Anthropic,
 *    so both adapters' request conversion runs), with `auto`, explicit and
 *    unknown models, stream on and off. Every answer is a valid
 *    chat.completion, a well-formed SSE stream ending in [DONE] (or an error
 *    event), or an error in OpenAI's shape with its catalogued status; a bad
 *    body is a 4xx, never a 5xx. The server answers /health after each batch.
 *
 * 2. Upstream side: a hostile upstream (node:http below) answers with garbage
 *    chosen by a marker in the prompt (`hostile:<scenario>:<seed>`, so both
 *    formats and every candidate of an `auto` chain see the same scenario):
 *    bad statuses and bodies, broken SSE, truncated and reset streams, noise,
 *    huge lines, wrong content types, raw non-HTTP bytes, stalls. Every
 *    request (explicit hostile model, each format; `auto` with a healthy model
 *    last in the chain) ends in a clean answer, a fallback, a 502/504 in
 *    OpenAI's shape, or a stream ending with an error event; never a 500,
 *    never a hang (each request has a deadline), never an upstream key.
 *
 * Nothing here depends on timing. Answers that stall go to hostile models with
 * short deadlines (QUICK), and for them any outcome a slow machine could
 * produce instead (a timeout rather than a reset) is accepted; every other
 * scenario goes to models whose deadlines (PATIENT) no machine reaches, so
 * the outcomes asserted for them are exact. Where TCP segmentation decides
 * whether an upstream error lands before or after the first chunk reached the
 * client, both outcomes are accepted. About 11 s on a 2-core machine (17 s
 * with three copies running at once).
 *
 * Regressions for what this found live next to the code's own tests (search
 * for "regression: fuzz").
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Pool } from 'undici';
import { mulberry32 } from '../../src/seeded-random.ts';
import { CHANNEL_NAMES } from '../../src/diagnostics.ts';
import { ERRORS, ERROR_CODES, type ErrorCode } from '../../src/errors.ts';
import { anthropicModel, KEYS, openaiModel, startGateway, startMocks, type Gateway, type Mocks } from './helpers.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const N = Number(process.env.FUZZ_N ?? 2500);
const UP_N = Number(process.env.FUZZ_UP_N ?? 240);
const VERBOSE = process.env.FUZZ_VERBOSE !== undefined;
const BODY_LIMIT = 256 * 1024;
/** A request that takes longer than this has hung: above every deadline the gateways are given (PATIENT.total_ms). */
const REQUEST_DEADLINE_MS = 30_000;
const SECRETS = Object.values(KEYS);

const PRICE = { currency: 'USD' as const, prompt_per_1m: 3, completion_per_1m: 15 };
/** Breakers never open: a fuzz run must not change which candidates later cases see. */
const NO_BREAKER = { failure_threshold: 1_000_000, min_samples: 1_000_000 };

// ---------------------------------------------------------------------------
// Unexpected errors (500s) are published with their stack: collect them for the failure message.
const internal: string[] = [];
const onInternal = (m: unknown): void => {
  const e = (m as { error?: unknown }).error;
  internal.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
};
before(() => { diagnostics_channel.subscribe(CHANNEL_NAMES.internalError, onInternal); });
after(() => { diagnostics_channel.unsubscribe(CHANNEL_NAMES.internalError, onInternal); });

// ---------------------------------------------------------------------------
// Shared checks

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; text: string; ms: number }

const header = (r: Reply, k: string): string | undefined => {
  const v = r.headers[k];
  return Array.isArray(v) ? v.join(',') : v;
};

function noSecrets(r: Reply): void {
  const all = r.text + JSON.stringify(r.headers);
  for (const k of SECRETS) assert.ok(!all.includes(k), `an upstream key reached the client: ${r.text.slice(0, 300)}`);
}

/** OpenAI's error shape with a catalogued code and its status; returns the code. */
function checkError(r: Reply): ErrorCode {
  let j: any;
  try { j = JSON.parse(r.text); } catch { assert.fail(`error body is not JSON (status ${r.status}): ${r.text.slice(0, 300)}`); }
  assert.equal(typeof j, 'object');
  const e = j?.error;
  assert.ok(e && typeof e === 'object', `no error object: ${r.text.slice(0, 300)}`);
  assert.equal(typeof e.message, 'string', r.text.slice(0, 300));
  assert.equal(typeof e.type, 'string', r.text.slice(0, 300));
  assert.ok(e.param === null || typeof e.param === 'string', r.text.slice(0, 300));
  assert.equal(typeof e.code, 'string', r.text.slice(0, 300));
  const code = e.code as ErrorCode;
  assert.ok(ERROR_CODES.includes(code), `unknown code: ${r.text.slice(0, 300)}`);
  assert.notEqual(code, 'internal_error', `a bug surfaced as 500: ${r.text.slice(0, 300)}\n${internal.slice(-3).join('\n---\n')}`);
  assert.equal(r.status, ERRORS[code].status, r.text.slice(0, 300));
  assert.match(header(r, 'content-type') ?? '', /^application\/json/);
  return code;
}

/** A cost header: fixed-point USD. */
function checkCostHeaders(r: Reply): void {
  for (const k of ['x-switchyard-cost-usd', 'x-switchyard-estimated-cost-usd']) {
    const v = header(r, k);
    if (v !== undefined) assert.match(v, /^\d+(\.\d+)?$/, `${k}: ${v}`);
  }
}

const costOk = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isFinite(v) && v >= 0);

interface Seen { counts: Map<string, number>; bump(k: string): void }
function seen(): Seen {
  const counts = new Map<string, number>();
  return { counts, bump: (k) => counts.set(k, (counts.get(k) ?? 0) + 1) };
}

/**
 * A 200 JSON answer: valid JSON, a chat.completion with the switchyard object
 * (the OpenAI adapter parses every JSON answer, so malformed text is a
 * bad_response, never a 200). `lenient`: the answer may be the upstream's own
 * odd-but-valid completion (empty choices, missing fields), forwarded as is.
 */
function checkCompletion(r: Reply, s: Seen, lenient: boolean, converted: boolean): void {
  assert.match(header(r, 'content-type') ?? '', /^application\/json/);
  assert.ok(header(r, 'x-switchyard-model'), 'x-switchyard-model');
  checkCostHeaders(r);
  let j: any;
  try { j = JSON.parse(r.text); } catch {
    assert.fail(`200 with a body that is not JSON: ${r.text.slice(0, 300)}`);
  }
  assert.ok(j && typeof j === 'object' && !Array.isArray(j), r.text.slice(0, 300));
  assert.ok(Array.isArray(j.choices), `no choices: ${r.text.slice(0, 300)}`);
  assert.equal(typeof j.switchyard, 'object');
  assert.equal(j.switchyard.model, header(r, 'x-switchyard-model'));
  assert.ok(costOk(j.switchyard.cost_usd), `cost_usd ${j.switchyard.cost_usd}`);
  if (!lenient) {
    assert.equal(j.object, 'chat.completion');
    assert.equal(j.choices.length, 1);
    assert.equal(j.choices[0].message.role, 'assistant');
  }
  // An answer Switchyard converted (Anthropic format) is Switchyard's own output: its usage is well-typed.
  if (converted) {
    assert.equal(typeof j.id, 'string');
    assert.equal(typeof j.model, 'string');
    checkUsage(j.usage);
  }
}

/**
 * Token counts: non-negative finite numbers; `total` too, and the sum of the
 * other two, in usage Switchyard built itself (an OpenAI upstream's own usage
 * object is forwarded as it is once its prompt and completion counts check out).
 */
function checkUsage(u: any, total = true): void {
  assert.ok(u && typeof u === 'object', `usage ${JSON.stringify(u)}`);
  for (const k of total ? ['prompt_tokens', 'completion_tokens', 'total_tokens'] : ['prompt_tokens', 'completion_tokens']) {
    assert.ok(typeof u[k] === 'number' && Number.isFinite(u[k]) && u[k] >= 0, `usage.${k}: ${JSON.stringify(u)}`);
  }
  if (total) assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
}

/**
 * A 200 SSE answer: blank-line separated events of `data:` lines and comments
 * only, each payload one JSON object (a chunk, or the closing error) or
 * [DONE]; [DONE] or an error event last, nothing after either.
 */
function checkStream(r: Reply, s: Seen, lenient: boolean, converted: boolean): 'done' | 'error' {
  assert.match(header(r, 'content-type') ?? '', /^text\/event-stream/);
  assert.ok(header(r, 'x-switchyard-model'), 'x-switchyard-model');
  checkCostHeaders(r);
  assert.ok(r.text.endsWith('\n\n'), `stream not terminated by a blank line: ...${r.text.slice(-200)}`);
  const events = r.text.slice(0, -2).split('\n\n');
  let end: 'done' | 'error' | null = null;
  for (const ev of events) {
    assert.equal(end, null, `an event after the end: ${ev.slice(0, 200)}`);
    const lines = ev.split('\n');
    const data = lines.filter((l) => l.startsWith('data: '));
    for (const l of lines) assert.ok(l.startsWith('data: ') || l.startsWith(':'), `not a data line or comment: ${JSON.stringify(l.slice(0, 200))}`);
    assert.ok(!ev.includes('\r'), 'CR inside the stream');
    if (data.length === 0) {
      const c = lines.find((l) => l.startsWith(': switchyard '));
      if (c) {
        const t = JSON.parse(c.slice(': switchyard '.length));
        assert.equal(t.model, header(r, 'x-switchyard-model'));
        assert.ok(costOk(t.cost_usd), `trailer cost ${t.cost_usd}`);
        if (t.usage !== null) checkUsage(t.usage, converted);
      }
      continue;
    }
    assert.equal(data.length, 1, `an event with several data lines: ${ev.slice(0, 200)}`);
    const d = data[0].slice(6);
    if (d === '[DONE]') { end = 'done'; continue; }
    let j: any;
    try { j = JSON.parse(d); } catch {
      assert.ok(lenient, `data that is not JSON: ${d.slice(0, 200)}`);
      assert.ok(d.startsWith('{') && d.endsWith('}'), `pass-through data that is not even object-shaped: ${d.slice(0, 200)}`);
      s.bump('stream data passed through unparsed');
      continue;
    }
    assert.ok(j && typeof j === 'object' && !Array.isArray(j), d.slice(0, 200));
    if (j.error !== undefined) {
      assert.equal(typeof j.error.message, 'string');
      assert.equal(typeof j.error.type, 'string');
      assert.ok(j.error.code === null || typeof j.error.code === 'string');
      end = 'error';
      continue;
    }
    if (j.switchyard !== undefined) assert.ok(costOk(j.switchyard.cost_usd), `chunk cost ${j.switchyard.cost_usd}`);
    if (!lenient) {
      assert.equal(j.object, 'chat.completion.chunk', d.slice(0, 200));
      assert.ok(Array.isArray(j.choices), d.slice(0, 200));
    }
    if (converted) {
      assert.equal(typeof j.id, 'string', d.slice(0, 200));
      assert.equal(typeof j.model, 'string', d.slice(0, 200));
      if (j.usage !== undefined && j.usage !== null) checkUsage(j.usage);
    }
  }
  assert.ok(end !== null, `stream ended with neither [DONE] nor an error event: ...${r.text.slice(-300)}`);
  return end;
}

async function post(pool: Pool, body: string | Uint8Array): Promise<Reply> {
  const t0 = performance.now();
  const res = await pool.request({
    path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body,
    signal: AbortSignal.timeout(REQUEST_DEADLINE_MS),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, ms: performance.now() - t0 };
}

async function healthy(base: string): Promise<void> {
  const h = await fetch(`${base}/health`);
  assert.equal(h.status, 200);
  assert.equal(((await h.json()) as { status: string }).status, 'ok');
}

// ---------------------------------------------------------------------------
// Random values

type Rnd = () => number;
function tools(rnd: Rnd) {
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)];
  const chance = (p: number): boolean => rnd() < p;
  return { int, pick, chance };
}

const UNICODE = ['héllo', '你好，世界', '😀🚀', 'مرحبا', '\u0000', '\ud800', '\udfff', '\u202e', '\ufeff', 'a\u0301', '𝕏', '\n\t\r', '"\\', '\u2028', '</script>', '%s%n'];
/** Object keys that mean something to JavaScript. */
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

/** An own enumerable property even for "__proto__" (plain assignment would set the prototype). */
function put(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function randomString(rnd: Rnd, max = 40): string {
  const { int, pick } = tools(rnd);
  let s = '';
  const n = int(max);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    s += r < 0.6 ? String.fromCharCode(97 + int(26)) : r < 0.72 ? ' ' : r < 0.9 ? pick(UNICODE) : String.fromCharCode(int(0x10000));
  }
  return s;
}

function weird(rnd: Rnd, depth = 0): unknown {
  const { int, pick, chance } = tools(rnd);
  const r = rnd();
  if (depth > 3 || r < 0.45) {
    return pick<unknown>([
      null, true, false, 0, -0, 1, -1, 2, 0.5, 1.5, 3, 4.2, 21, 128, -2.5, 1e308, -1e308, 5e-324, 2 ** 53, 2 ** 53 + 2, 4294967296,
      '', 'x', 'auto', 'user', 'text', 'function', 'none', 'required', '1', 'true', 'null', randomString(rnd), pick(UNICODE), pick(PROTO_KEYS),
      [], {}, [null], [''], ['a', 'b', 'c', 'd', 'e'],
    ]);
  }
  if (r < 0.7) return Array.from({ length: int(4) }, () => weird(rnd, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = 0, n = int(4); i < n; i++) {
    put(o, chance(0.2) ? pick(PROTO_KEYS) : pick(['type', 'text', 'name', 'role', 'content', 'function', 'arguments', 'id', 'url', 'image_url', 'include_usage', 'parameters', randomString(rnd, 8)]), weird(rnd, depth + 1));
  }
  return o;
}

// ---------------------------------------------------------------------------
// Part 1: the client side

const CLIENT_MODELS = {
  routable: ['gpt-4-1106-preview', 'claude-v2', 'mistralai/mistral-7b-chat'],
  explicit: ['gpt-4-1106-preview', 'claude-v2', 'local-oa', 'local-an'],
  aliases: ['auto', 'router', 'MoM'],
  unknown: ['gpt-17', 'WizardLM/WizardLM-13B-V1.2', 'AUTO', ' auto', 'local-oa ', '__proto__', 'constructor', 'toString', 'a'.repeat(256), 'x/'.repeat(100)],
};
/** Format of each configured model: an Anthropic-format model converts the request. */
const ANTHROPIC_MODELS = new Set(['claude-v2', 'mistralai/mistral-7b-chat', 'local-an']);

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];
const PROMPTS = ['Prove that the square root of 2 is irrational.', 'Write a Python function that reverses a linked list.', 'What is the capital of Australia?', 'Tell me a story', 'hi'];

function makeClientCase(rnd: Rnd): { body: string | Uint8Array; label: string } {
  const { int, pick, chance } = tools(rnd);

  const text = (): string => (chance(0.7) ? pick(PROMPTS) : randomString(rnd, 80)) + (chance(0.2) ? pick(UNICODE) : '');
  const part = (): unknown => {
    const r = rnd();
    if (r < 0.55) return { type: 'text', text: text() };
    if (r < 0.7) return { type: 'image_url', image_url: { url: chance(0.5) ? 'https://example.com/cat.png' : 'data:image/png;base64,iVBORw0KGgo=', ...(chance(0.3) ? { detail: pick(['low', 'high', 5]) } : {}) } };
    if (r < 0.76) return { type: pick(['input_audio', 'file', 'refusal']), ...(chance(0.5) ? { refusal: 'no' } : {}) };
    if (r < 0.85) { const o = { type: 'text', text: text() } as Record<string, unknown>; put(o, pick(PROTO_KEYS), weird(rnd)); return o; }
    return weird(rnd);
  };
  const content = (): unknown => {
    const r = rnd();
    if (r < 0.55) return text();
    if (r < 0.85) return Array.from({ length: int(4) }, part);
    if (r < 0.9) return null;
    return weird(rnd);
  };
  const args = (): unknown => pick<unknown>(['{"q":"x"}', '{}', '', '  ', '[1]', 'not json', '{"a":', '"str"', 'null', 5, null, { q: 1 }, '{"__proto__":{"x":1}}']);
  const toolCall = (): unknown => (chance(0.8)
    ? { id: chance(0.9) ? pick(['call_1', 'call.2:x', 'toolu_ok', '']) : weird(rnd), type: chance(0.9) ? 'function' : pick(['custom', 5, null]), function: chance(0.9) ? { name: chance(0.9) ? pick(['search', 'get_weather']) : weird(rnd), arguments: args() } : weird(rnd) }
    : weird(rnd));
  const message = (): Record<string, unknown> => {
    const role = chance(0.95) ? pick(ROLES) : weird(rnd);
    const m: Record<string, unknown> = { role };
    if (chance(0.93)) m.content = content();
    if (role === 'assistant' && chance(0.3)) m.tool_calls = chance(0.85) ? Array.from({ length: 1 + int(2) }, toolCall) : weird(rnd);
    if (role === 'assistant' && chance(0.08)) m.function_call = chance(0.8) ? { name: 'search', arguments: args() } : weird(rnd);
    if (role === 'tool' && chance(0.9)) m.tool_call_id = chance(0.85) ? pick(['call_1', 'call.2:x', 'toolu_ok']) : weird(rnd);
    if (chance(0.08)) m.name = chance(0.7) ? 'alice' : weird(rnd);
    if (chance(0.05)) put(m, pick(PROTO_KEYS), weird(rnd));
    return m;
  };
  const messages = (): unknown[] => {
    const out: unknown[] = [];
    const n = 1 + int(5);
    for (let i = 0; i < n - 1; i++) out.push(message());
    out.push({ role: 'user', content: chance(0.85) ? text() : content() }); // most conversations end with a user turn
    return out;
  };
  const tool = (): unknown => (chance(0.85)
    ? { type: chance(0.9) ? 'function' : pick(['custom', 'web_search', 5]), function: chance(0.9) ? { name: chance(0.9) ? pick(['search', 'get_weather']) : weird(rnd), ...(chance(0.6) ? { description: chance(0.9) ? 'Looks things up' : weird(rnd) } : {}), ...(chance(0.7) ? { parameters: chance(0.85) ? { type: 'object', properties: { q: { type: 'string' } } } : weird(rnd) } : {}), ...(chance(0.1) ? { strict: true } : {}) } : weird(rnd) }
    : weird(rnd));

  const model = (): unknown => {
    const r = rnd();
    if (r < 0.4) return pick(CLIENT_MODELS.aliases);
    if (r < 0.85) return pick(CLIENT_MODELS.explicit);
    if (r < 0.95) return pick(CLIENT_MODELS.unknown);
    return weird(rnd);
  };

  /** A plausible request: mostly valid, with optional fields drawn at random. */
  const base = (): Record<string, unknown> => {
    const b: Record<string, unknown> = { model: model(), messages: messages() };
    const stream = chance(0.5);
    if (stream || chance(0.2)) b.stream = stream;
    if (stream && chance(0.4)) b.stream_options = { include_usage: chance(0.5) };
    if (chance(0.3)) b.temperature = pick([0, 0.7, 1, 1.5, 2]);
    if (chance(0.2)) b.top_p = pick([0, 0.5, 1]);
    if (chance(0.3)) b[chance(0.5) ? 'max_tokens' : 'max_completion_tokens'] = pick([1, 16, 256, 4096]);
    if (chance(0.1)) b.n = 1;
    if (chance(0.15)) b.stop = chance(0.5) ? 'END' : ['a', 'b'];
    if (chance(0.1)) b.seed = pick([0, 42, -7]);
    if (chance(0.1)) b.user = 'u-1';
    if (chance(0.15)) b.cost_weight = pick([0, 0.5, 2, 1000]);
    if (chance(0.08)) { b.presence_penalty = 0.5; b.frequency_penalty = -1; }
    if (chance(0.05)) { b.logprobs = true; b.top_logprobs = 3; }
    if (chance(0.08)) b.response_format = { type: pick(['text', 'json_object']) };
    if (chance(0.05)) b.metadata = { k: 'v' };
    if (chance(0.05)) b.top_k = 40; // an extra field: passes through
    if (chance(0.2)) {
      b.tools = Array.from({ length: 1 + int(3) }, tool);
      if (chance(0.6)) b.tool_choice = pick<unknown>(['auto', 'none', 'required', { type: 'function', function: { name: 'search' } }, { type: 'function', function: { name: 'nope' } }, { type: 'allowed_tools', allowed_tools: {} }, weird(rnd)]);
      if (chance(0.2)) b.parallel_tool_calls = chance(0.5) ? false : weird(rnd);
    } else if (chance(0.06)) {
      b.functions = chance(0.85) ? [{ name: 'search', parameters: { type: 'object' } }] : weird(rnd);
      if (chance(0.6)) b.function_call = pick<unknown>(['auto', 'none', { name: 'search' }, { name: '' }, 'required', weird(rnd)]);
    }
    return b;
  };

  const KNOWN = ['model', 'messages', 'temperature', 'top_p', 'max_tokens', 'max_completion_tokens', 'stream', 'stream_options', 'n', 'stop', 'seed', 'tools',
    'tool_choice', 'functions', 'function_call', 'parallel_tool_calls', 'cost_weight', 'presence_penalty', 'frequency_penalty', 'logprobs', 'top_logprobs',
    'user', 'response_format', 'metadata', 'logit_bias', 'modalities', 'audio'];

  const deep = (n: number, open: string, close: string, leaf: string): string => open.repeat(n) + leaf + close.repeat(n);

  switch (int(16)) {
    case 0: { // raw bytes / not an object
      const r = rnd();
      if (r < 0.3) return { label: 'random bytes', body: Uint8Array.from({ length: int(3000) }, () => int(256)) };
      return { label: 'not an object', body: pick(['', ' ', 'null', '[]', '[{}]', '"auto"', '42', 'true', '\ufeff{}', '{}', '{"model":"auto"}', 'NaN', '{,}', '{"a":1,}', '// c\n{}', '{"model":"auto","messages":[{"role":"user","content":"hi"}]} trailing']) };
    }
    case 1: { // a valid body cut short
      const s = JSON.stringify(base());
      return { label: 'truncated', body: s.slice(0, int(s.length)) };
    }
    case 2: { // byte flips in a valid body
      const b = Buffer.from(JSON.stringify(base()));
      for (let i = 0, n = 1 + int(4); i < n; i++) b[int(b.length)] = int(256);
      return { label: 'byte flips', body: b };
    }
    case 3: case 4: case 5: { // one known field gets a wrong-typed (or random) value
      const b = base();
      const k = pick(KNOWN);
      put(b, k, weird(rnd));
      return { label: `field ${k}`, body: JSON.stringify(b) };
    }
    case 6: { // one message mutated
      const b = base();
      const msgs = b.messages as unknown[];
      const i = int(msgs.length);
      const m = msgs[i];
      if (m && typeof m === 'object' && chance(0.7)) put(m as Record<string, unknown>, pick(['role', 'content', 'name', 'tool_calls', 'tool_call_id', 'function_call', ...PROTO_KEYS]), weird(rnd));
      else msgs[i] = weird(rnd);
      return { label: 'message mutated', body: JSON.stringify(b) };
    }
    case 7: { // prototype-pollution keys at every level, raw (JSON.parse makes them own properties)
      const k = pick(PROTO_KEYS);
      const v = pick(['{"polluted":true}', '{"role":"user","content":"x"}', 'null', '[]', '"x"', '{"toString":1}']);
      const m = pick(['auto', 'local-oa', 'local-an', 'claude-v2']);
      const bodies = [
        `{"${k}":${v},"model":"${m}","messages":[{"role":"user","content":"hi"}]}`,
        `{"model":"${m}","messages":[{"role":"user","content":"hi","${k}":${v}}]}`,
        `{"model":"${m}","messages":[{"${k}":{"role":"user","content":"hi"}}]}`,
        `{"model":"${m}","messages":[{"role":"user","content":[{"type":"text","text":"hi","${k}":${v}}]}]}`,
        `{"model":"${m}","stream":true,"stream_options":{"${k}":${v},"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
        `{"model":"${m}","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"${k}":${v}}}}],"tool_choice":{"${k}":${v},"type":"function","function":{"name":"f"}}}`,
        `{"model":"${m}","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\\"${k}\\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"},{"role":"user","content":"hi"}]}`,
        `{"model":"${k}","messages":[{"role":"user","content":"hi"}]}`,
        `{"model":"${m}","messages":[{"role":"${k}","content":"hi"}]}`,
        `{"model":"${m}","messages":[{"role":"user","content":[{"type":"${k}"}]}]}`,
      ];
      return { label: `proto key ${k}`, body: pick(bodies) };
    }
    case 8: { // deep nesting in a field that passes validation (an extra field, metadata, tool parameters) or one that does not
      const n = pick([10, 100, 1000, 5000, 20_000, 60_000]);
      const m = pick(['local-oa', 'local-an', 'gpt-4-1106-preview', 'claude-v2', 'auto']);
      const where = int(6);
      const msg = '"messages":[{"role":"user","content":"hi"}]';
      const bodies = [
        `{"model":"${m}",${msg},"extra":${deep(n, '[', ']', '1')}}`,
        `{"model":"${m}",${msg},"metadata":{"a":${deep(n, '{"a":', '}', '1')}}}`,
        `{"model":"${m}",${msg},"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","p":${deep(n, '[', ']', '0')}}}}]}`,
        `{"model":"${m}","messages":[{"role":"user","content":${deep(n, '[', ']', '"x"')}}]}`,
        `{"model":"${m}","messages":${deep(n, '[', ']', '{"role":"user","content":"hi"}')}}`,
        `{"model":"${m}",${msg},"response_format":{"type":"json_schema","json_schema":{"schema":${deep(n, '{"items":', '}', '{}')}}}}`,
      ];
      return { label: `nesting ${n} at ${where}`, body: bodies[where] };
    }
    case 9: { // huge values
      const b = base();
      const big = 'word '.repeat(int(40_000));
      const r = int(5);
      if (r === 0) (b.messages as unknown[]).push({ role: 'user', content: big });
      else if (r === 1) b.messages = Array.from({ length: 1 + int(3000) }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'x' }));
      else if (r === 2) b.stop = Array.from({ length: int(2000) }, () => 'x');
      else if (r === 3) b.tools = Array.from({ length: int(2000) }, (_, i) => ({ type: 'function', function: { name: `f${i}` } }));
      else b.model = 'm'.repeat(int(100_000));
      return { label: `huge ${r}`, body: JSON.stringify(b) };
    }
    case 10: { // numbers JSON.parse turns into something odd
      const k = pick(['temperature', 'top_p', 'max_tokens', 'max_completion_tokens', 'n', 'seed', 'cost_weight', 'top_logprobs', 'presence_penalty']);
      const v = pick(['1e999', '-1e999', '1e-400', '-0', '0.0', '1.0', '2.0000000000000001', '9007199254740993', `1${'0'.repeat(400)}`, '0.1e1', '1E2']);
      const m = pick(['auto', 'local-oa', 'local-an']);
      return { label: `number ${k}=${v}`, body: `{"model":"${m}","messages":[{"role":"user","content":"hi"}],"${k}":${v}}` };
    }
    case 11: { // duplicate keys: the last one wins in JSON.parse
      const m = pick(['auto', 'local-an']);
      return { label: 'duplicate keys', body: pick([
        `{"model":"${m}","model":5,"messages":[{"role":"user","content":"hi"}]}`,
        `{"model":5,"model":"${m}","messages":[{"role":"user","content":"hi"}]}`,
        `{"model":"${m}","messages":[{"role":"user","content":"hi"}],"stream":true,"stream":"no"}`,
        `{"model":"${m}","messages":[{"role":"user","content":"hi","role":"robot"}]}`,
      ]) };
    }
    default: // plausible requests, to reach the upstreams and both adapters
      return { label: 'plausible', body: JSON.stringify(base()) };
  }
}

describe('client side: random and malformed request bodies', () => {
  let mocks: Mocks;
  let gw: Gateway;
  before(async () => {
    mocks = await startMocks({ chunks: 3 });
    gw = await startGateway({
      models: [
        openaiModel('gpt-4-1106-preview', mocks.oa, { pricing: PRICE }),
        anthropicModel('claude-v2', mocks.an, { pricing: PRICE, upstream_model: 'claude-2.1' }),
        anthropicModel('mistralai/mistral-7b-chat', mocks.an, { pricing: PRICE }),
        openaiModel('local-oa', mocks.oa),
        anthropicModel('local-an', mocks.an, { default_max_tokens: 64 }),
      ],
      health: NO_BREAKER,
    }, { server: { threads: 1, body_limit: BODY_LIMIT } });
  });
  after(async () => { await gw?.close(); await mocks?.close(); });

  it(`${N} bodies (seed ${SEED}): a valid answer or an OpenAI-shaped 4xx, never a 5xx; the server stays up`, async () => {
    const rnd = mulberry32(SEED);
    const cases = Array.from({ length: N }, () => makeClientCase(rnd));
    const s = seen();
    const pool = new Pool(gw.base, { connections: 16 });
    try {
      for (let i = 0; i < cases.length; i += 64) {
        await Promise.all(cases.slice(i, i + 64).map(async ({ body, label }, k) => {
          const r = await post(pool, body);
          try {
            noSecrets(r);
            if (r.status === 200) {
              const model = header(r, 'x-switchyard-model')!;
              s.bump(`200 ${ANTHROPIC_MODELS.has(model) ? 'anthropic' : 'openai'} ${(header(r, 'content-type') ?? '').startsWith('text/event-stream') ? 'stream' : 'json'}`);
              const converted = ANTHROPIC_MODELS.has(model);
              if ((header(r, 'content-type') ?? '').startsWith('text/event-stream')) assert.equal(checkStream(r, s, false, converted), 'done', 'a healthy upstream\'s stream ends with [DONE]');
              else checkCompletion(r, s, false, converted);
            } else {
              const code = checkError(r);
              s.bump(`${r.status} ${code}`);
              assert.ok(r.status < 500, `a request the mocks can serve got ${r.status}`);
            }
          } catch (e) {
            const shown = typeof body === 'string' ? body : Buffer.from(body).toString('latin1');
            (e as Error).message += `\n  case ${i + k} (${label}, seed ${SEED}): ${shown.length > 400 ? `${shown.slice(0, 400)}... (${shown.length} chars)` : shown}`;
            throw e;
          }
        }));
        await healthy(gw.base);
      }
    } finally { await pool.close(); }
    if (VERBOSE) console.log(Object.fromEntries([...s.counts].sort()));
    const n = (prefix: string): number => [...s.counts].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
    // The fuzz reached the upstreams through both adapters, streaming and not, and the validation paths.
    for (const k of ['200 openai json', '200 openai stream', '200 anthropic json', '200 anthropic stream']) assert.ok((s.counts.get(k) ?? 0) > N / 100, `${k}: ${JSON.stringify([...s.counts])}`);
    assert.ok(n('400 invalid_request') > N / 5, JSON.stringify([...s.counts]));
    if (N >= 1000) assert.ok(n('404 model_not_found') > 0 && n('413 ') > 0, JSON.stringify([...s.counts]));
    assert.deepEqual(internal, [], 'no internal errors');
    // Still serving normally.
    for (const model of ['auto', 'local-an', 'local-oa']) {
      for (const stream of [false, true]) {
        const pool1 = new Pool(gw.base, { connections: 1 });
        try {
          const r = await post(pool1, JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'still alive?' }] }));
          assert.equal(r.status, 200, r.text);
          if (stream) assert.equal(checkStream(r, s, false, model === 'local-an'), 'done');
          else checkCompletion(r, s, false, model === 'local-an');
        } finally { await pool1.close(); }
      }
    }
    await healthy(gw.base);
  });
});

// ---------------------------------------------------------------------------
// Part 2: the upstream side

type Api = 'openai' | 'anthropic';
interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  socket: Socket;
  api: Api;
  stream: boolean;
  rnd: Rnd;
  /** The credential the gateway sent (to echo back, as careless upstreams do). */
  credential: string;
}

const OA_HEAD = '{"id":"chatcmpl-h","object":"chat.completion.chunk","created":1,"model":"hostile","choices":[{"index":0,"delta":';
const oaChunk = (delta: object, finish: string | null = null): string => `${OA_HEAD}${JSON.stringify(delta)},"finish_reason":${JSON.stringify(finish)}}]}`;
const sse = (data: string, event?: string): string => (event ? `event: ${event}\n` : '') + `data: ${data}\n\n`;
const AN_START = sse('{"type":"message_start","message":{"id":"msg_h","type":"message","role":"assistant","model":"hostile","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}', 'message_start')
  + sse('{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}', 'content_block_start');
const anDelta = (text: string): string => sse(JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }), 'content_block_delta');
const AN_END = sse('{"type":"content_block_stop","index":0}', 'content_block_stop')
  + sse('{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":4}}', 'message_delta')
  + sse('{"type":"message_stop"}', 'message_stop');

/** A valid stream in the upstream's format, as frames: opening, content pieces, closing. */
function validFrames(api: Api, pieces: readonly string[] = ['Hello', ' from', ' hostile']): string[] {
  if (api === 'anthropic') return [AN_START, ...pieces.map(anDelta), AN_END];
  return [sse(oaChunk({ role: 'assistant', content: '' })), ...pieces.map((p) => sse(oaChunk({ content: p }))),
    sse(oaChunk({}, 'stop')) + sse('{"id":"chatcmpl-h","object":"chat.completion.chunk","created":1,"model":"hostile","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}') + sse('[DONE]')];
}

function validJson(api: Api): Record<string, unknown> {
  if (api === 'anthropic') return { id: 'msg_h', type: 'message', role: 'assistant', model: 'hostile', content: [{ type: 'text', text: 'Hello from hostile' }], stop_reason: 'end_turn', usage: { input_tokens: 3, output_tokens: 4 } };
  return { id: 'chatcmpl-h', object: 'chat.completion', created: 1, model: 'hostile', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from hostile' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } };
}

/** Replaces a random member at a random depth with a random value. */
function mutate(rnd: Rnd, v: unknown, depth = 0): unknown {
  const { pick, chance } = tools(rnd);
  if (v === null || typeof v !== 'object' || (depth > 0 && chance(0.3))) return weird(rnd);
  const keys = Object.keys(v);
  if (keys.length === 0) return weird(rnd);
  const k = pick(keys);
  const copy: any = Array.isArray(v) ? [...v] : { ...v };
  if (chance(0.1)) delete copy[k];
  else copy[k] = mutate(rnd, copy[k], depth + 1);
  return copy;
}

function noise(rnd: Rnd, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

/** Writes `body` in random pieces, one per macrotask, then ends it: 'end' | 'destroy' | 'stall' (the gateway's deadline ends it). */
function dribble(c: Ctx, body: string | Buffer, how: 'end' | 'destroy' | 'stall', maxPiece = 512): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  let at = 0;
  const step = (): void => {
    if (c.res.destroyed || c.socket.destroyed) return;
    if (at >= buf.length) {
      if (how === 'end') c.res.end();
      else if (how === 'destroy') c.socket.destroy();
      return;
    }
    const n = 1 + Math.floor(c.rnd() * maxPiece);
    c.res.write(buf.subarray(at, at + n));
    at += n;
    setImmediate(step);
  };
  step();
}

const SSE_HEAD = { 'content-type': 'text/event-stream', connection: 'close' };
const JSON_HEAD = { 'content-type': 'application/json', connection: 'close' };

/**
 * The hostile answers. `kinds` says which outcomes are acceptable beyond the
 * always-acceptable ones (fallback, 502 upstream_error, 504 upstream_timeout,
 * a stream ending in an error event): 'rejected' (a 4xx status: 400
 * upstream_rejected), 'rate' (429), 'ok' (the hostile answer is good enough
 * to be served: 200 from the hostile model). `stalls`: the answer never ends
 * on its own, so it goes to the models with short deadlines (the others have
 * deadlines no CI machine reaches: their outcomes never depend on timing).
 */
interface Scenario { kinds?: readonly ('rejected' | 'rate' | 'ok')[]; stalls?: boolean; run(c: Ctx): void }

const SCENARIOS: Record<string, Scenario> = {
  'status-500-noise': { run: (c) => { c.res.writeHead(500, { 'content-type': 'application/octet-stream', connection: 'close' }); c.res.end(noise(c.rnd, 2000)); } },
  'status-503-sse': { run: (c) => { c.res.writeHead(503, SSE_HEAD); c.res.end(validFrames(c.api).join('')); } },
  'status-400-html': { kinds: ['rejected'], run: (c) => { c.res.writeHead(400, { 'content-type': 'text/html', connection: 'close' }); c.res.end('<html><body><h1>Bad Request</h1></body></html>'); } },
  'status-404-huge': { kinds: ['rejected'], run: (c) => { c.res.writeHead(404, JSON_HEAD); c.res.end(JSON.stringify({ error: { message: 'x'.repeat(200_000) } })); } },
  'status-422-endless': { kinds: ['rejected'], run: (c) => { c.res.writeHead(422, JSON_HEAD); dribble(c, '{"error":{"message":"' + 'y'.repeat(100_000), 'stall', 8192); } },
  'status-429': { kinds: ['rate'], run: (c) => { c.res.writeHead(429, { ...JSON_HEAD, 'retry-after': 'soon' }); c.res.end('{"error":{"message":"slow down","type":"rate_limit_error"}}'); } },
  'status-401-echo': { run: (c) => { c.res.writeHead(401, JSON_HEAD); c.res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${c.credential}. Headers: ${JSON.stringify(c.req.headers)}` } })); } },
  'status-302': { run: (c) => { c.res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere', connection: 'close' }); c.res.end(); } },
  'status-304': { run: (c) => { c.res.writeHead(304, { connection: 'close' }); c.res.end(); } },
  'status-204': { run: (c) => { c.res.writeHead(204, { connection: 'close' }); c.res.end(); } },
  'status-299-json': { kinds: ['ok'], run: (c) => { c.res.writeHead(299, JSON_HEAD); c.res.end(c.stream ? validFrames(c.api).join('') : JSON.stringify(validJson(c.api))); } },
  'early-hints-then-ok': { kinds: ['ok'], run: (c) => { c.res.writeEarlyHints({ link: '</x>; rel=preload' }); c.res.writeHead(200, c.stream ? SSE_HEAD : JSON_HEAD); c.res.end(c.stream ? validFrames(c.api).join('') : JSON.stringify(validJson(c.api))); } },
  'json-truncated': { run: (c) => { const s = c.stream ? validFrames(c.api).join('') : JSON.stringify(validJson(c.api)); c.res.writeHead(200, c.stream ? SSE_HEAD : JSON_HEAD); c.res.end(s.slice(0, Math.floor(c.rnd() * (s.length - 2)))); } },
  'json-not-object': { run: (c) => { c.res.writeHead(200, JSON_HEAD); c.res.end(tools(c.rnd).pick(['[1,2]', '"choices"', 'null', '42', 'true', '[]', '{}', ' ', ''])); } },
  'json-wrong-shape': {
    kinds: ['ok'],
    run: (c) => {
      const body = tools(c.rnd).pick([
        '{"choices":"nope"}', '{"choices":[null]}', '{"choices":[{"message":null}]}', '{"choices":{}}', '{"object":"chat.completion"}',
        '{"error":{"message":"in a 200"}}', '{"content":null}', '{"content":[null,5,"x"]}', '{"content":[{"type":"tool_use"}]}',
        '{"content":[{"type":"tool_use","id":5,"name":"x"}]}', '{"content":"text"}', '{"type":"error","error":{"type":"overloaded_error","message":"busy"}}',
        '{"choices":[],"usage":{"prompt_tokens":"x","completion_tokens":-5}}', '{"choices":[],"usage":"lots"}', '{"choices":[],"usage":{"prompt_tokens":1e308,"completion_tokens":1e308}}',
        '{"content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":"abc","output_tokens":{}},"id":{"a":1},"model":[1],"stop_reason":5}',
        '{"content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":-3,"output_tokens":1e308,"cache_read_input_tokens":"7"}}',
        '{"choices":[{"message":{"role":"assistant","content":"hi"}}],"switchyard":{"model":"spoofed","cost_usd":-1}}',
        '{"choices":[{"message":{"role":"assistant","content":"hi"}}],"usage":null,"usage":{"prompt_tokens":{"x":1}}}',
        `{"choices":[${'['.repeat(5000)}${']'.repeat(5000)}],"switchyard":1}`,
        `{"content":[{"type":"tool_use","id":"t","name":"n","input":${'['.repeat(5000)}${']'.repeat(5000)}}]}`,
      ]);
      c.res.writeHead(200, JSON_HEAD);
      c.res.end(body);
    },
  },
  'json-object-shaped-invalid': { kinds: ['ok'], run: (c) => { c.res.writeHead(200, JSON_HEAD); c.res.end(tools(c.rnd).pick(['{"choices": [ {"message": } ]}', '{"choices":[{"message":{"content":"\u0000"}}],}', '{"choices":[],"usage":{"prompt_tokens":1}'])); } },
  'json-mutated': {
    kinds: ['ok'],
    run: (c) => {
      const j = c.stream ? null : mutate(c.rnd, mutate(c.rnd, validJson(c.api)));
      c.res.writeHead(200, c.stream ? SSE_HEAD : JSON_HEAD);
      if (c.stream) {
        // Each event's payload mutated.
        const frames = c.api === 'anthropic'
          ? [AN_START, anDelta('Hi'), AN_END].join('').split('\n\n').filter(Boolean).map((f) => f.replace(/data: (.*)$/m, (_m, d: string) => `data: ${JSON.stringify(tools(c.rnd).chance(0.5) ? mutate(c.rnd, JSON.parse(d)) : JSON.parse(d))}`)).join('\n\n') + '\n\n'
          : [oaChunk({ role: 'assistant', content: '' }), oaChunk({ content: 'Hi' }), oaChunk({}, 'stop')].map((d) => sse(JSON.stringify(tools(c.rnd).chance(0.5) ? mutate(c.rnd, JSON.parse(d)) : JSON.parse(d)))).join('') + sse('[DONE]');
        c.res.end(frames);
      } else c.res.end(JSON.stringify(j));
    },
  },
  'json-for-stream': { kinds: ['ok'], run: (c) => { c.res.writeHead(200, JSON_HEAD); c.res.end(JSON.stringify(validJson(c.api))); } },
  'sse-for-json': { kinds: ['ok'], run: (c) => { c.res.writeHead(200, SSE_HEAD); c.res.end(validFrames(c.api).join('')); } },
  'html-200': { run: (c) => { c.res.writeHead(200, { 'content-type': 'text/html', connection: 'close' }); c.res.end('<!doctype html><title>Login</title><p>Please sign in</p>'); } },
  'gzip-garbage': { run: (c) => { c.res.writeHead(200, { ...(c.stream ? SSE_HEAD : JSON_HEAD), 'content-encoding': 'gzip' }); c.res.end(noise(c.rnd, 300)); } },
  'wrong-content-type': { kinds: ['ok'], run: (c) => { c.res.writeHead(200, { 'content-type': 'image/png', connection: 'close' }); c.res.end(c.stream ? validFrames(c.api).join('') : JSON.stringify(validJson(c.api))); } },
  'sse-no-blank-lines': { kinds: ['ok'], run: (c) => { c.res.writeHead(200, SSE_HEAD); c.res.end(validFrames(c.api).join('').replace(/\n\n/g, '\n')); } },
  'sse-multiline-json': {
    // Legal SSE: one JSON value over several data lines (joined with '\n', still valid JSON).
    kinds: ['ok'],
    run: (c) => {
      const frames = validFrames(c.api).join('').split('\n\n').filter(Boolean).map((f) => f.replace(/^data: (\{.*\})$/m, (_m, d: string) => JSON.stringify(JSON.parse(d), null, 1).split('\n').map((l) => `data: ${l}`).join('\n')));
      c.res.writeHead(200, SSE_HEAD);
      c.res.end(frames.join('\n\n') + '\n\n');
    },
  },
  'sse-injection': {
    // An event whose data lines would, forwarded verbatim, read as several events (a fake [DONE] among them).
    kinds: ['ok'],
    run: (c) => {
      const f = validFrames(c.api);
      const evil = c.api === 'anthropic'
        ? 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}\ndata:\ndata: data: [DONE]\ndata: }\n\n'
        : `data: ${OA_HEAD}{"content":"x"},"finish_reason":null}]\ndata:\ndata: data: [DONE]\ndata:\ndata: }\n\n`;
      c.res.writeHead(200, SSE_HEAD);
      c.res.end(f[0] + f[1] + evil + f.slice(2).join(''));
    },
  },
  'sse-line-endings': { kinds: ['ok'], run: (c) => { const s = validFrames(c.api).join(''); c.res.writeHead(200, SSE_HEAD); dribble(c, '\ufeff' + (c.rnd() < 0.5 ? s.replace(/\n/g, '\r') : s.replace(/\n/g, '\r\n')), 'end', 7); } },
  'sse-odd-fields': {
    kinds: ['ok'],
    run: (c) => {
      const s = validFrames(c.api).join('\n: comment\nid: 1\u0000\nretry: abc\nretry: 10\nfoo: bar\nevent\n\n\n');
      c.res.writeHead(200, SSE_HEAD);
      c.res.end(': hello\n\n' + s);
    },
  },
  'sse-invalid-json-first': { run: (c) => { c.res.writeHead(200, SSE_HEAD); c.res.end(sse(tools(c.rnd).pick(['{not json}', 'not json', '{"choices":[null]}', '{}', '{"choices":5}', 'null', '[]', '"str"', '{"type":5}'])) + validFrames(c.api).join('')); } },
  'sse-invalid-json-then-stall': { stalls: true, run: (c) => { c.res.writeHead(200, SSE_HEAD); c.res.write(sse('{"choices":[{"delta":')); } },
  'sse-object-shaped-first-then-stall': { stalls: true, run: (c) => { c.res.writeHead(200, SSE_HEAD); c.res.write(sse('{"choices":[{"delta":}')); } },
  'sse-endless-line': {
    // 17 MiB without a line end, then silence: only a bound on the line ends it before the deadline.
    run: (c) => {
      c.res.writeHead(200, c.stream ? SSE_HEAD : JSON_HEAD);
      if (!c.stream) { c.res.end('{"choices":['); return; }
      const piece = Buffer.alloc(1024 * 1024, 'q');
      let n = 0;
      const step = (): void => { if (c.socket.destroyed || ++n > 17) return; c.res.write(n === 1 ? Buffer.concat([Buffer.from('data: '), piece]) : piece, () => setImmediate(step)); };
      step();
    },
  },
  'sse-invalid-json-later': {
    kinds: ['ok'],
    run: (c) => {
      const f = validFrames(c.api);
      c.res.writeHead(200, SSE_HEAD);
      c.res.end(f[0] + f[1] + sse(tools(c.rnd).pick(['{bad json}', 'bad', '{"choices":[{"delta":{"content":1}}]', 'null', '{"error":5}', '{"usage":7}', '{"type":"content_block_delta","index":"x","delta":{"type":"input_json_delta","partial_json":"{"}}'])) + f.slice(2).join(''));
    },
  },
  'sse-error-event-echo': {
    run: (c) => {
      const f = validFrames(c.api);
      const msg = `Invalid credentials: ${c.credential} (${c.req.headers.authorization ?? c.req.headers['x-api-key']})`;
      c.res.writeHead(200, SSE_HEAD);
      // After a pause, so that it usually (not necessarily) comes after the first chunk went out.
      c.res.write(f[0] + f[1]);
      setTimeout(() => c.res.end(c.api === 'anthropic'
        ? sse(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: msg } }), 'error')
        : sse(JSON.stringify({ error: { message: msg, type: 'server_error' } }))), 20);
    },
  },
  'sse-error-event-odd': {
    run: (c) => {
      const f = validFrames(c.api);
      c.res.writeHead(200, SSE_HEAD);
      const e = tools(c.rnd).pick(['{"error":null}', '{"error":{"message":{"nested":true}}}', '{"error":"' + 'e'.repeat(100_000) + '"}', '{"type":"error"}', '{"type":"error","error":"plain"}', '{"type":"error","error":{"type":{},"message":[1]}}']);
      c.res.end(f[0] + (c.rnd() < 0.5 ? f[1] : '') + sse(e, c.api === 'anthropic' ? 'error' : undefined));
    },
  },
  'sse-usage-garbage': {
    kinds: ['ok'],
    run: (c) => {
      const f = validFrames(c.api);
      const u = tools(c.rnd).pick(['{"prompt_tokens":"x","completion_tokens":-5}', '"lots"', '{"prompt_tokens":1e308,"completion_tokens":1e308,"total_tokens":1}', '{"prompt_tokens":{},"completion_tokens":[]}', '7']);
      const au = tools(c.rnd).pick(['{"input_tokens":"abc","output_tokens":{}}', '{"output_tokens":"9"}', '{"input_tokens":-1,"output_tokens":1e308,"cache_read_input_tokens":"7"}', '5', 'null']);
      c.res.writeHead(200, SSE_HEAD);
      c.res.end(c.api === 'anthropic'
        ? AN_START.replace('"usage":{"input_tokens":3,"output_tokens":1}', `"usage":${au}`) + anDelta('Hi') + AN_END.replace('"usage":{"output_tokens":4}', `"usage":${au}`)
        : f.slice(0, -1).join('') + sse(oaChunk({}, 'stop')) + sse(`{"id":"x","object":"chat.completion.chunk","created":1,"model":"h","choices":[],"usage":${u}}`) + sse('[DONE]'));
    },
  },
  'sse-anthropic-garbage': {
    // Anthropic events with wrong types everywhere (an OpenAI-format model reads them as well).
    kinds: ['ok'],
    run: (c) => {
      const ev = tools(c.rnd).pick([
        '{"type":"message_start","message":{"id":5,"model":{},"usage":{"input_tokens":"x"}}}',
        '{"type":"message_start","message":null}',
        '{"type":"content_block_start","index":1,"content_block":{"type":"tool_use"}}',
        '{"type":"content_block_start","index":-1,"content_block":{"type":"tool_use","id":"t","name":"n","input":[1]}}',
        '{"type":"content_block_start","index":1e300,"content_block":{"type":"tool_use","id":"t","name":"n"}}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}',
        '{"type":"content_block_delta","index":0,"delta":"text"}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":{"a":1}}}',
        '{"type":"content_block_stop","index":"0"}',
        '{"type":"message_delta","delta":{"stop_reason":{}},"usage":{"output_tokens":"many"}}',
        '{"type":"message_stop"}',
        '{"type":null}', '{"type":"__proto__"}', '{"type":"constructor"}', '[]', 'null', '5',
      ]);
      const where = Math.floor(c.rnd() * 3);
      c.res.writeHead(200, SSE_HEAD);
      c.res.end(where === 0 ? sse(ev, 'message_start') + AN_START + anDelta('Hi') + AN_END
        : where === 1 ? AN_START + sse(ev) + anDelta('Hi') + AN_END
          : AN_START + anDelta('Hi') + sse(ev) + AN_END);
    },
  },
  'sse-truncated': { run: (c) => { const f = validFrames(c.api); c.res.writeHead(200, SSE_HEAD); c.res.end(f.slice(0, 1 + Math.floor(c.rnd() * (f.length - 1))).join('')); } },
  'sse-cut-mid-event': { run: (c) => { const s = validFrames(c.api).join(''); c.res.writeHead(200, SSE_HEAD); c.res.end(s.slice(0, Math.floor(c.rnd() * s.length))); } },
  'sse-reset': { run: (c) => { const f = validFrames(c.api); c.res.writeHead(200, SSE_HEAD); c.res.write(f.slice(0, 1 + Math.floor(c.rnd() * (f.length - 1))).join(''), () => c.socket.resetAndDestroy()); } },
  'sse-noise': { run: (c) => { c.res.writeHead(200, SSE_HEAD); dribble(c, noise(c.rnd, 1 + Math.floor(c.rnd() * 20_000)), c.rnd() < 0.5 ? 'end' : 'destroy', 4096); } },
  'sse-noise-after-start': { run: (c) => { c.res.writeHead(200, SSE_HEAD); dribble(c, Buffer.concat([Buffer.from(validFrames(c.api).slice(0, 2).join('')), noise(c.rnd, 5000)]), 'end', 4096); } },
  'sse-huge-line': {
    kinds: ['ok'],
    run: (c) => {
      // A 2 MB content piece (valid), or 2 MB of data with no line end at all.
      c.res.writeHead(200, SSE_HEAD);
      const f = validFrames(c.api, ['z'.repeat(2 * 1024 * 1024)]);
      if (c.rnd() < 0.5) dribble(c, f.join(''), 'end', 256 * 1024);
      else dribble(c, f[0] + 'data: ' + 'q'.repeat(2 * 1024 * 1024), 'end', 256 * 1024);
    },
  },
  'sse-many-tiny-writes': { kinds: ['ok'], run: (c) => { c.res.writeHead(200, SSE_HEAD); dribble(c, validFrames(c.api).join(''), 'end', 3); } },
  'slow-then-close': { run: (c) => { c.res.writeHead(200, c.stream ? SSE_HEAD : JSON_HEAD); c.res.flushHeaders(); let i = 0; const t = setInterval(() => { if (++i > 6 || c.socket.destroyed) { clearInterval(t); c.socket.destroy(); return; } c.res.write(c.stream ? ': .\n' : ' '); }, 30); } },
  'slow-first-chunk-then-close': { run: (c) => { const f = validFrames(c.api); c.res.writeHead(200, SSE_HEAD); c.res.write(f[0] + f[1]); setTimeout(() => c.socket.destroy(), 100); } },
  'headers-then-close': { run: (c) => { c.res.writeHead(200, c.stream ? SSE_HEAD : JSON_HEAD); c.res.flushHeaders(); setImmediate(() => c.socket.destroy()); } },
  'close-before-headers': { run: (c) => { c.socket.destroy(); } },
  'hang': { stalls: true, run: () => { /* never answers: the first-byte deadline ends it */ } },
  'stall-mid-stream': { stalls: true, run: (c) => { const f = validFrames(c.api); c.res.writeHead(200, c.stream ? SSE_HEAD : JSON_HEAD); c.res.write(c.stream ? f[0] + f[1] : '{"choices":[{"message":{"role":"assistant","content":"Hel'); } },
  'raw-not-http': { run: (c) => { c.socket.end(tools(c.rnd).pick(['garbage\r\n\r\n', 'HTTP/1.1 2OO OK\r\n\r\n', 'SSH-2.0-OpenSSH_9.6\r\n', '\u0000\u0001\u0002'])); } },
  'raw-bad-chunked': { run: (c) => { c.socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n5\r\ndata:\r\nZZZ\r\nxyz\r\n'); } },
  'raw-short-content-length': { run: (c) => { c.socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"choices":['); } },
  'raw-both-lengths': { run: (c) => { c.socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'); } },
  'huge-header': { run: (c) => { c.res.writeHead(200, { ...(c.stream ? SSE_HEAD : JSON_HEAD), 'x-huge': 'h'.repeat(64 * 1024) }); c.res.end(c.stream ? validFrames(c.api).join('') : JSON.stringify(validJson(c.api))); } },
};
const SCENARIO_NAMES = Object.keys(SCENARIOS);

/** Fuzz mode: a random mixture of good and bad frames, written in random pieces, ended at random. */
function randomAnswer(c: Ctx): void {
  const { int, pick, chance } = tools(c.rnd);
  const status = chance(0.85) ? 200 : pick([201, 202, 206, 301, 400, 401, 404, 409, 413, 429, 500, 502, 503, 529]);
  const ct = chance(0.8) ? (c.stream ? 'text/event-stream' : 'application/json') : pick(['text/plain', 'application/json', 'text/event-stream', 'application/octet-stream']);
  const parts: (string | Buffer)[] = [];
  if (!c.stream || chance(0.1)) {
    const r = c.rnd();
    parts.push(r < 0.4 ? JSON.stringify(mutate(c.rnd, validJson(c.api))) : r < 0.6 ? JSON.stringify(validJson(c.api)) : r < 0.8 ? JSON.stringify(weird(c.rnd)) : noise(c.rnd, int(500)));
  } else {
    const good = validFrames(c.api);
    for (let i = 0, n = 1 + int(10); i < n; i++) {
      const r = c.rnd();
      if (r < 0.4) parts.push(good[Math.min(good.length - 1, int(good.length))]);
      else if (r < 0.5) parts.push(sse(JSON.stringify(mutate(c.rnd, JSON.parse(oaChunk({ content: 'm' }))))));
      else if (r < 0.6) parts.push(sse(JSON.stringify(weird(c.rnd)), chance(0.5) ? pick(['message_start', 'content_block_delta', 'error', 'message_stop', 'ping']) : undefined));
      else if (r < 0.65) parts.push(sse('[DONE]'));
      else if (r < 0.7) parts.push(pick([':\n\n', '\n\n\n', '\r\n', 'event: x\n', 'id: 7\n', 'retry: 1\n', 'data\n\n', 'data:\n\n', 'data: {\n', 'data: }\n\n']));
      else if (r < 0.75) parts.push(noise(c.rnd, int(300)));
      else if (r < 0.8) parts.push(sse(randomString(c.rnd, 60).replace(/[\r\n]/g, ' ')));
      else parts.push(good.slice(0, -1).join(''));
    }
  }
  c.res.writeHead(status, { 'content-type': ct, connection: 'close' });
  const how = chance(0.08) ? 'stall' : chance(0.7) ? 'end' : 'destroy';
  dribble(c, Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))), how, 1 + int(2048));
}

interface Hostile { url: string; requests: number; open(): number; close(): Promise<void> }

async function startHostile(): Promise<Hostile> {
  const live = new Set<Socket>();
  const state = { url: '', requests: 0 };
  const srv: HttpServer = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      state.requests++;
      const body = Buffer.concat(parts).toString('utf8');
      const m = /hostile:([a-z0-9-]+):(\d+)/.exec(body);
      let stream = false;
      try { stream = (JSON.parse(body) as { stream?: unknown }).stream === true; } catch { /* the gateway sends JSON */ }
      const api: Api = req.url?.endsWith('/messages') ? 'anthropic' : 'openai';
      const credential = String(req.headers.authorization ?? req.headers['x-api-key'] ?? '');
      const c: Ctx = { req, res, socket: req.socket, api, stream, rnd: mulberry32(Number(m?.[2] ?? 0) ^ (api === 'anthropic' ? 0x5bd1e995 : 0)), credential };
      const name = m?.[1] ?? 'missing';
      try {
        if (name === 'random') randomAnswer(c);
        else if (SCENARIOS[name]) SCENARIOS[name].run(c);
        else { res.writeHead(500); res.end(`no scenario ${name}`); }
      } catch (e) {
        // A scenario threw: a bug in this test, not in the gateway; make it loud.
        console.error('hostile scenario failed', name, e);
        req.socket.destroy();
      }
    });
  });
  srv.on('connection', (s: Socket) => { live.add(s); s.on('close', () => live.delete(s)); });
  srv.on('clientError', (_e, s) => s.destroy());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  state.url = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  return {
    get url() { return state.url; },
    get requests() { return state.requests; },
    open: () => live.size,
    close: () => new Promise<void>((r) => { for (const s of live) s.destroy(); srv.close(() => r()); }),
  };
}

/** With cost_weight 1000 the router ranks by price: mistral-7b (hostile, OpenAI format), WizardLM (hostile, Anthropic format), ..., gpt-4 (healthy). */
const CHEAPEST_FIRST = 1000;
const HEALTHY = 'gpt-4-1106-preview';
/** For answers that stall (and the `auto` chain's hostile models): a stall costs at most this. */
const QUICK = { connect_ms: 2000, first_byte_ms: 1000, total_ms: 2500 };
/** For the rest: never reached, so a slow machine cannot turn an answer into a timeout. */
const PATIENT = { connect_ms: 10_000, first_byte_ms: 20_000, total_ms: 25_000 };

describe('upstream side: a hostile upstream', () => {
  let mocks: Mocks;
  let hostile: Hostile;
  let gw: Gateway;
  before(async () => {
    mocks = await startMocks({ chunks: 3 });
    hostile = await startHostile();
    const quick = { timeouts: QUICK, pricing: PRICE };
    const patient = { timeouts: PATIENT, pricing: PRICE };
    gw = await startGateway({
      models: [
        openaiModel('hostile-oa', `${hostile.url}/v1`, patient),
        anthropicModel('hostile-an', hostile.url, patient),
        openaiModel('hostile-oa-quick', `${hostile.url}/v1`, quick),
        anthropicModel('hostile-an-quick', hostile.url, quick),
        openaiModel('mistralai/mistral-7b-chat', `${hostile.url}/v1`, quick),
        anthropicModel('WizardLM/WizardLM-13B-V1.2', hostile.url, quick),
        openaiModel(HEALTHY, mocks.oa, { pricing: PRICE }),
      ],
      health: NO_BREAKER,
    }, { server: { threads: 1 } });
  });
  after(async () => { await gw?.close(); await hostile?.close(); await mocks?.close(); });

  /** Hostile models by format; stalling answers go to the ones with short deadlines. */
  const TARGETS = {
    oa: { patient: 'hostile-oa', quick: 'hostile-oa-quick' },
    an: { patient: 'hostile-an', quick: 'hostile-an-quick' },
  } as const;
  const CONVERTED = new Set(['hostile-an', 'hostile-an-quick', 'WizardLM/WizardLM-13B-V1.2']);
  const AUTO_CHAIN = [HEALTHY, 'mistralai/mistral-7b-chat', 'WizardLM/WizardLM-13B-V1.2'];

  /** One request through the gateway against scenario `name`; checks the answer and returns its outcome class. */
  async function attempt(pool: Pool, target: 'oa' | 'an' | 'auto', name: string, seed: number, stream: boolean, includeUsage: boolean, s: Seen): Promise<string> {
    const quick = name === 'random' || SCENARIOS[name].stalls === true;
    const model = target === 'auto' ? 'auto' : TARGETS[target][quick ? 'quick' : 'patient'];
    const body = JSON.stringify({
      model, stream, ...(stream && includeUsage ? { stream_options: { include_usage: true } } : {}),
      messages: [{ role: 'user', content: `hostile:${name}:${seed} Tell me something.` }],
      ...(model === 'auto' ? { cost_weight: CHEAPEST_FIRST } : {}),
    });
    const r = await post(pool, body);
    const kinds = name === 'random' ? ['rejected', 'rate', 'ok'] : SCENARIOS[name].kinds ?? [];
    try {
      noSecrets(r);
      if (r.status === 200) {
        const served = header(r, 'x-switchyard-model')!;
        const byHostile = served !== HEALTHY;
        if (model === 'auto') assert.ok(AUTO_CHAIN.includes(served), `auto served by ${served}`);
        else assert.equal(served, model);
        // The OpenAI pass-through forwards object-shaped upstream text without parsing it (documented); the Anthropic side always converts.
        const converted = CONVERTED.has(served);
        const lenient = byHostile && !converted;
        if ((header(r, 'content-type') ?? '').startsWith('text/event-stream')) {
          assert.ok(stream, 'a stream for a JSON request');
          const end = checkStream(r, s, lenient, converted);
          if (!byHostile) assert.equal(end, 'done', 'the healthy fallback finishes');
          return `200 ${byHostile ? 'hostile' : 'fallback'} stream ${end}`;
        }
        assert.ok(!stream, 'JSON for a stream request');
        let parses = true;
        try { JSON.parse(r.text); } catch { parses = false; }
        // Served garbage that parses: only where the scenario's answer can pass for one.
        if (byHostile && parses) assert.ok(kinds.includes('ok'), `a 200 from the hostile model for "${name}"`);
        checkCompletion(r, s, lenient, converted);
        return `200 ${byHostile ? 'hostile' : 'fallback'} json`;
      }
      const code = checkError(r);
      const allowed = new Set<string>(['upstream_error', 'upstream_timeout']);
      if (kinds.includes('rejected')) allowed.add('upstream_rejected');
      if (kinds.includes('rate')) allowed.add('upstream_rate_limited');
      assert.ok(allowed.has(code), `code ${code} for "${name}"`);
      return `${r.status} ${code}`;
    } catch (e) {
      (e as Error).message += `\n  scenario ${name}:${seed}, model ${model}, stream ${stream}: ${r.status} after ${Math.round(r.ms)} ms: ${r.text.slice(0, 600)}`;
      throw e;
    }
  }

  it(`every scenario x {OpenAI format, Anthropic format, auto with a healthy fallback} x {JSON, stream}, plus ${UP_N} random answers (seed ${SEED}): no 500, no hang, no key`, async () => {
    const rnd = mulberry32(SEED ^ 0x9e3779b9);
    type Job = [target: 'oa' | 'an' | 'auto', name: string, seed: number, stream: boolean, includeUsage: boolean];
    const jobs: Job[] = [];
    for (const name of SCENARIO_NAMES) {
      for (const target of ['oa', 'an', 'auto'] as const) {
        for (const stream of [false, true]) jobs.push([target, name, Math.floor(rnd() * 2 ** 31), stream, rnd() < 0.5]);
      }
    }
    for (let i = 0; i < UP_N; i++) jobs.push([tools(rnd).pick(['oa', 'an', 'auto'] as const), 'random', Math.floor(rnd() * 2 ** 31), rnd() < 0.7, rnd() < 0.5]);
    const s = seen();
    const byScenario = new Map<string, Set<string>>();
    const CONCURRENCY = 40;
    const pool = new Pool(gw.base, { connections: CONCURRENCY });
    try {
      // A fixed number of requests in flight (a stall holds one slot, not a whole batch); /health after every 48 answers.
      let next = 0;
      let done = 0;
      const worker = async (): Promise<void> => {
        while (next < jobs.length) {
          const [target, name, seed, stream, usage] = jobs[next++];
          const outcome = await attempt(pool, target, name, seed, stream, usage, s);
          s.bump(outcome);
          const k = `${name} ${target} ${stream ? 'stream' : 'json'}`;
          if (!byScenario.has(k)) byScenario.set(k, new Set());
          byScenario.get(k)!.add(outcome);
          if (++done % 48 === 0) await healthy(gw.base);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    } finally { await pool.close(); }
    if (VERBOSE) {
      console.log(Object.fromEntries([...s.counts].sort()));
      for (const [k, v] of [...byScenario].sort()) if (!k.startsWith('random')) console.log(k.padEnd(60), [...v].join(' | '));
    }
    assert.deepEqual(internal, [], 'no internal errors');
    const count = (re: RegExp): number => [...s.counts].filter(([k]) => re.test(k)).reduce((a, [, v]) => a + v, 0);
    // The run went through every door: fallbacks, 502s, mid-stream error events, hostile answers served.
    assert.ok(count(/^200 fallback/) > 20, JSON.stringify([...s.counts]));
    assert.ok(count(/^502 upstream_error/) > 20, JSON.stringify([...s.counts]));
    assert.ok(count(/stream error$/) > 5, JSON.stringify([...s.counts]));
    assert.ok(count(/^200 hostile/) > 10, JSON.stringify([...s.counts]));
    // Scenarios whose outcomes are known. Where TCP segmentation decides whether an
    // error comes before or after the first chunk reached the client, both are listed.
    const within = (k: string, outcomes: string[]): void => {
      const got = byScenario.get(k);
      assert.ok(got, `no run of ${k}`);
      for (const o of got) assert.ok(outcomes.includes(o), `${k}: got "${o}", expected one of ${JSON.stringify(outcomes)}`);
    };
    const midStream = ['200 hostile stream error', '502 upstream_error'];
    for (const m of ['oa', 'an']) {
      within(`sse-endless-line ${m} stream`, ['502 upstream_error']);
      within(`status-500-noise ${m} json`, ['502 upstream_error']);
      within(`status-400-html ${m} stream`, ['400 upstream_rejected']);
      within(`status-429 ${m} json`, ['429 upstream_rate_limited']);
      within(`status-401-echo ${m} stream`, ['502 upstream_error']);
      within(`status-302 ${m} json`, ['502 upstream_error']);
      within(`early-hints-then-ok ${m} json`, ['200 hostile json']);
      within(`sse-multiline-json ${m} stream`, ['200 hostile stream done']);
      within(`sse-line-endings ${m} stream`, ['200 hostile stream done']);
      within(`sse-odd-fields ${m} stream`, ['200 hostile stream done']);
      within(`sse-many-tiny-writes ${m} stream`, ['200 hostile stream done']);
      within(`sse-injection ${m} stream`, midStream);
      within(`sse-error-event-echo ${m} stream`, midStream);
      within(`stall-mid-stream ${m} stream`, [...midStream, '504 upstream_timeout']);
    }
    for (const name of ['status-500-noise', 'status-401-echo', 'status-302', 'hang', 'raw-not-http', 'html-200', 'json-not-object', 'sse-invalid-json-then-stall', 'close-before-headers']) {
      for (const stream of [false, true]) within(`${name} auto ${stream ? 'stream' : 'json'}`, [`200 fallback ${stream ? 'stream done' : 'json'}`]);
    }
    // Nothing left hanging: every exchange finished (the upstream sockets of stalled answers were closed by the deadlines).
    assert.equal(gw.server.inFlight(), 0);
    await healthy(gw.base);
    const pool1 = new Pool(gw.base, { connections: 1 });
    try {
      const r = await post(pool1, JSON.stringify({ model: HEALTHY, messages: [{ role: 'user', content: 'still alive?' }] }));
      assert.equal(r.status, 200, r.text);
    } finally { await pool1.close(); }
  });
});
