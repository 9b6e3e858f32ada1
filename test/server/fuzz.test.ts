/**
 * Fuzz: thousands of random and malformed bodies against /v1/route and
 * /v1/embeddings, from a seeded RNG (set FUZZ_SEED to replay, FUZZ_N for more).
 * Every answer must be well-formed JSON that is either a valid success shape
 * or an error with a catalogued code and its catalogued status; the server
 * must stay up (health OK, a normal request still routes) at the end.
 */
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from 'undici';
import { mulberry32 } from '../../src/fit/kmeans.ts';
import { ERRORS, ERROR_CODES, type ErrorCode } from '../../src/errors.ts';
import { get, post, startTestServer, type TestServer } from './helpers.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
const N = Number(process.env.FUZZ_N ?? 3000);
const BODY_LIMIT = 128 * 1024;

let t: TestServer;
let models: string[] = [];
let dim = 0;
before(async () => {
  t = await startTestServer({ server: { body_limit: BODY_LIMIT }, limits: { input_chars: 20_000, embedding_inputs: 16 } });
  models = t.server.engine.ready!.profile.models;
  dim = t.server.engine.ready!.profile.dim;
});
after(async () => { await t.close(); });

const rnd = mulberry32(SEED);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(a: readonly T[]): T => a[int(a.length)];

const WEIRD_NUMBERS = ['1e999', '-1e999', '1e39', `1${'0'.repeat(400)}`, '5e-324', '-0', '0', '1e308', '-1', '0.5', '3', 'NaN', 'Infinity', '0x10', '.5', '01', '1e', '--1'];
const UNICODE = ['héllo', '你好，世界', '😀🚀', 'مرحبا', '\u0000', '\ud800', '\udfff', '\u202e', '\ufeff', 'a\u0301', '𝕏', '\n\t\r', '"\\'];

function randomString(max = 60): string {
  let s = '';
  const n = int(max);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    s += r < 0.6 ? String.fromCharCode(97 + int(26)) : r < 0.75 ? ' ' : r < 0.9 ? pick(UNICODE) : String.fromCharCode(int(0x10000));
  }
  return s;
}

function randomJson(depth = 0): unknown {
  const r = rnd();
  if (depth > 3 || r < 0.3) return pick<unknown>([null, true, false, int(1000) - 500, rnd() * 10, randomString(20), '', []]);
  if (r < 0.65) return Array.from({ length: int(5) }, () => randomJson(depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = 0; i < int(4); i++) o[pick(['prompt', 'embedding', 'cost_weight', 'available_models', 'input', 'model', randomString(8)])] = randomJson(depth + 1);
  return o;
}

function validRoute(): Record<string, unknown> {
  const b: Record<string, unknown> = { prompt: randomString(300) || 'x' };
  if (rnd() < 0.4) b.cost_weight = rnd() * 2;
  if (rnd() < 0.4) b.available_models = models.filter(() => rnd() < 0.5).concat(pick(models));
  return b;
}

function embeddingArray(): unknown[] {
  const v = Array.from({ length: dim }, () => rnd() * 2 - 1);
  return v;
}

/** One fuzz case: [path, raw body]. */
function makeCase(): [string, string | Uint8Array] {
  const path = rnd() < 0.8 ? '/v1/route' : '/v1/embeddings';
  switch (int(10)) {
    case 0: return [path, Uint8Array.from({ length: int(2000) }, () => int(256))];
    case 1: { const s = JSON.stringify(validRoute()); return [path, s.slice(0, int(s.length))]; }
    case 2: { // a known field with a wrong-typed value
      const b = validRoute();
      b[pick(['prompt', 'embedding', 'cost_weight', 'available_models', 'input', 'model', 'encoding_format'])] = randomJson();
      return [path, JSON.stringify(b)];
    }
    case 3: { // deep nesting, balanced or not
      const n = int(60_000);
      const open = pick(['[', '{"a":', '{"prompt":', '{"embedding":[']);
      return [path, open.repeat(n) + (rnd() < 0.5 ? pick([']', '}']).repeat(n) : '1')];
    }
    case 4: // huge / invalid numbers in numeric fields
      return [path, rnd() < 0.5
        ? `{"prompt":"x","cost_weight":${pick(WEIRD_NUMBERS)}}`
        : `{"embedding":[${Array.from({ length: dim }, () => (rnd() < 0.02 ? pick(WEIRD_NUMBERS) : (rnd() - 0.5).toFixed(4))).join(',')}]}`];
    case 5: { // unicode everywhere, including lone surrogates and NUL
      const b = path === '/v1/route' ? { prompt: randomString(200) + pick(UNICODE) } : { input: [randomString(100), pick(UNICODE)] };
      return [path, rnd() < 0.2 ? `\ufeff${JSON.stringify(b)}` : JSON.stringify(b)];
    }
    case 6: return [path, JSON.stringify(path === '/v1/route' ? validRoute() : { input: Array.from({ length: 1 + int(20) }, () => randomString(50)), encoding_format: pick(['float', 'base64']) })];
    case 7: { // embeddings with garbage mixed in, or wrong lengths
      const v = embeddingArray();
      if (rnd() < 0.5) v[int(v.length)] = randomJson();
      return ['/v1/route', JSON.stringify({ embedding: rnd() < 0.3 ? v.slice(0, int(v.length)) : v, cost_weight: rnd() })];
    }
    case 8: return [path, JSON.stringify(randomJson())];
    default: { // byte flips in a valid body
      const bytes = Buffer.from(JSON.stringify(validRoute()));
      for (let i = 0; i < 1 + int(4); i++) bytes[int(bytes.length)] = int(256);
      return [path, bytes];
    }
  }
}

function checkReply(path: string, status: number, text: string, seen: Map<string, number>): void {
  let j: any;
  try { j = JSON.parse(text); } catch { assert.fail(`not JSON (status ${status}): ${text.slice(0, 200)}`); }
  if (status === 200) {
    seen.set('200', (seen.get('200') ?? 0) + 1);
    if (path === '/v1/route') {
      assert.ok(models.includes(j.selected_model), text.slice(0, 200));
      assert.ok(Number.isInteger(j.cluster_id));
      assert.equal(typeof j.expected_error, 'number');
      assert.equal(typeof j.cost_adjusted_score, 'number');
      assert.equal(typeof j.all_scores, 'object');
      assert.equal(j.all_scores[j.selected_model], j.cost_adjusted_score);
      assert.equal(typeof j.cache_hit, 'boolean');
      assert.ok(j.usage.routing_ms >= 0 && j.usage.embedding_ms >= 0);
    } else {
      assert.equal(j.object, 'list');
      assert.ok(j.data.length >= 1);
      for (const d of j.data) assert.ok(typeof d.embedding === 'string' || d.embedding.length === dim);
    }
    return;
  }
  const code = j?.error?.code as ErrorCode;
  assert.ok(ERROR_CODES.includes(code), `unknown error code in ${text.slice(0, 200)}`);
  assert.notEqual(code, 'internal_error', `a bug surfaced as 500: ${text.slice(0, 200)}`);
  assert.equal(status, ERRORS[code].status, text.slice(0, 200));
  assert.equal(typeof j.error.message, 'string');
  seen.set(code, (seen.get(code) ?? 0) + 1);
}

it(`${N} random and malformed bodies (seed ${SEED}) all get well-formed answers; the server stays up`, async () => {
  const pool = new Pool(t.base, { connections: 16 });
  const seen = new Map<string, number>();
  try {
    const cases = Array.from({ length: N }, makeCase);
    for (let i = 0; i < cases.length; i += 64) {
      await Promise.all(cases.slice(i, i + 64).map(async ([path, body], k) => {
        const res = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const text = await res.body.text();
        try { checkReply(path, res.statusCode, text, seen); } catch (e) {
          (e as Error).message += `\n  case ${i + k}: ${path} ${String(typeof body === 'string' ? body : Buffer.from(body).toString('latin1')).slice(0, 160)}`;
          throw e;
        }
      }));
    }
  } finally { await pool.close(); }
  // The fuzz must actually have reached both successes and the main error paths.
  if (process.env.FUZZ_VERBOSE) console.log(Object.fromEntries(seen));
  assert.ok((seen.get('200') ?? 0) > N / 10, `successes: ${JSON.stringify([...seen])}`);
  assert.ok((seen.get('invalid_request') ?? 0) > N / 3, `errors: ${JSON.stringify([...seen])}`);
  const h = await get(t.base, '/health');
  assert.equal(h.status, 200);
  assert.equal(h.json.status, 'ok');
  assert.equal((await post(t.base, '/v1/route', { prompt: 'still alive?' })).status, 200);
});
