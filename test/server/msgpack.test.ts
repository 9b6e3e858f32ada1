/**
 * POST /v1/route in MessagePack (src/api/route-msgpack.ts) on the real server:
 * msgpack bodies decide exactly as their JSON twins (prompt; embedding as a
 * bin, aligned or not, as msgpackr's Float32Array extension, as an array),
 * msgpack answers carry the JSON answer's fields and values (fresh and cache
 * hit), Accept negotiation, every error path as a JSON 4xx naming the field,
 * the route-pool path (the body is gone by the time the pool answers), and a
 * seeded fuzz of random and mutated msgpack bodies (never a 500, server up).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from 'undici';
import { pack, unpack, Packr } from 'msgpackr';
import { mulberry32 } from '../../src/fit/kmeans.ts';
import { ERRORS, ERROR_CODES, type ErrorCode } from '../../src/errors.ts';
import { embedding } from '../../src/api/validate.ts';
import { isMsgpack, prefersMsgpack, MSGPACK_ANSWER } from '../../src/api/route-msgpack.ts';
import type { Ready } from '../../src/api/engine.ts';
import type { Decision } from '../../src/routing/router.ts';
import { assertError, get, post, startTestServer, type Reply, type TestServer, PROMPTS } from './helpers.ts';

const MP = { 'content-type': 'application/msgpack' };
const ACCEPT_MP = { accept: 'application/msgpack' };

interface MReply extends Reply { type: string; value: any }

/** POSTs raw bytes; decodes the answer as msgpack or JSON by its content type. */
async function mpost(base: string, body: Uint8Array, headers: Record<string, string> = MP): Promise<MReply> {
  const res = await fetch(`${base}/v1/route`, { method: 'POST', headers, body: Buffer.from(body) });
  const bytes = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  const value = type === 'application/msgpack' ? unpack(bytes) : JSON.parse(bytes.toString('utf8'));
  return { status: res.status, json: type === 'application/msgpack' ? undefined : value, headers: res.headers, type, value };
}

/** The decision fields (usage and cache_hit vary per request). */
function decisionOf(d: any) {
  const { usage, cache_hit, ...rest } = d;
  assert.equal(typeof cache_hit, 'boolean');
  assert.deepEqual(Object.keys(usage).sort(), ['embedding_ms', 'routing_ms']);
  return rest;
}

/** A unit vector of `dim` floats, seeded. */
function vector(dim: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const v = new Float32Array(dim);
  let s = 0;
  for (let i = 0; i < dim; i++) { v[i] = r() * 2 - 1; s += v[i] * v[i]; }
  for (let i = 0; i < dim; i++) v[i] /= Math.sqrt(s);
  return v;
}

const f32bytes = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/** { prompt, embedding: bin, ...rest } with a prompt length that puts the floats at a multiple of 4 bytes into the body (or not). */
function alignedBody(bin: Buffer, rest: Record<string, unknown> = {}, aligned = true): Buffer {
  for (const prompt of ['h', 'hi', 'hi!', 'hi!!']) {
    const b = pack({ prompt, embedding: bin, ...rest });
    if ((b.indexOf(bin.subarray(0, 16)) % 4 === 0) === aligned) return b;
  }
  throw new Error('no such layout');
}

let t: TestServer;
let dim = 0;
let models: string[] = [];
before(async () => {
  t = await startTestServer();
  dim = t.server.engine.ready!.profile.dim;
  models = t.server.engine.ready!.profile.models;
});
after(async () => { await t.close(); });

describe('msgpack request bodies', () => {
  it('a prompt in msgpack decides as in JSON (miss, then the JSON twin hits the same entry)', async () => {
    for (const [i, prompt] of PROMPTS.entries()) {
      const body = { prompt: `${prompt} (msgpack ${i})`, cost_weight: 0.2 + i / 10, available_models: models.slice(0, 3 + (i % 3)) };
      const m = await mpost(t.base, pack(body));
      assert.equal(m.status, 200, JSON.stringify(m.value));
      assert.match(m.type, /application\/json/, 'JSON answer unless Accept asks for msgpack');
      assert.equal(m.value.cache_hit, false);
      const j = await post(t.base, '/v1/route', body);
      assert.equal(j.json.cache_hit, true, 'one cache key for both body formats');
      assert.deepEqual(decisionOf(m.value), decisionOf(j.json));
    }
  });

  it('an embedding as bin (aligned and unaligned), as a Float32Array extension and as an array decides as the JSON array', async () => {
    const v = vector(dim, 7);
    const expected = decisionOf((await post(t.base, '/v1/route', { embedding: Array.from(v), cost_weight: 0.4 })).json);
    const bin = f32bytes(v);
    // A prompt of 1-4 chars before the embedding moves the floats to a multiple of 4 bytes (read in place); without it they are not (copied).
    const aligned = alignedBody(bin, { cost_weight: 0.4 });
    assert.equal(aligned.indexOf(bin.subarray(0, 8)) % 4, 0);
    const unaligned = alignedBody(bin, { cost_weight: 0.4 }, false);
    assert.notEqual(unaligned.indexOf(bin.subarray(0, 8)) % 4, 0);
    const ext = new Packr({ moreTypes: true, useRecords: false }).pack({ embedding: v, cost_weight: 0.4 });
    assert.ok(ext.includes(0x74), 'the typed-array extension was used');
    const arr = pack({ embedding: Array.from(v), cost_weight: 0.4 });
    for (const [name, body] of [['aligned bin', aligned], ['unaligned bin', unaligned], ['extension', ext], ['array', arr]] as const) {
      for (const type of ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack; charset=binary', 'Application/MsgPack']) {
        const m = await mpost(t.base, body, { 'content-type': type });
        assert.equal(m.status, 200, `${name} ${type}: ${JSON.stringify(m.value)}`);
        assert.deepEqual(decisionOf(m.value), expected, `${name} ${type}`);
      }
    }
  });

  it('a bin embedding that is not unit length is normalised as a JSON array is', async () => {
    const v = vector(dim, 11).map((x) => x * 3.5);
    const j = await post(t.base, '/v1/route', { embedding: Array.from(v) });
    const m = await mpost(t.base, alignedBody(f32bytes(v)));
    assert.deepEqual(decisionOf(m.value), decisionOf(j.json));
  });

  it('a record definition in one body does not change how the next body decodes (structures are per body)', async () => {
    // 0xd4 0x72 0x00 defines record 0x40 with keys ["a"], then reads it: valid msgpack, not a route body.
    const rec = Buffer.from([0xd4, 0x72, 0x00, 0x91, 0xa1, 0x61, 0x01]);
    assertError(await mpost(t.base, rec), 'invalid_request', 'a');
    // 0x40 is the positive fixint 64 when no record 0x40 is defined in this body.
    const m = await mpost(t.base, pack({ prompt: 'record leak check', cost_weight: 64 }));
    assert.equal(m.status, 200);
    assert.equal(m.value.cost_weight, 64);
  });
});

describe('msgpack answers', () => {
  it('Accept: application/msgpack answers msgpack with the JSON answer\'s fields and values, fresh and from the cache', async () => {
    const body = { prompt: 'Explain the difference between TCP and UDP in two sentences.', available_models: models.slice(0, 4) };
    const fresh = await mpost(t.base, pack(body), { ...MP, ...ACCEPT_MP });
    assert.equal(fresh.status, 200);
    assert.equal(fresh.type, 'application/msgpack');
    assert.ok(fresh.headers.get('x-request-id'));
    assert.equal(fresh.value.cache_hit, false);
    const json = await post(t.base, '/v1/route', body);
    assert.equal(json.json.cache_hit, true);
    assert.deepEqual(Object.keys(fresh.value), Object.keys(json.json), 'same fields, same order');
    assert.deepEqual(decisionOf(fresh.value), decisionOf(json.json));
    assert.deepEqual(Object.keys(fresh.value.all_scores), models.slice(0, 4));
    // A JSON body can ask for a msgpack answer too; this one is a hit, converted from the cached JSON.
    const hit = await mpost(t.base, Buffer.from(JSON.stringify(body)), { 'content-type': 'application/json', ...ACCEPT_MP });
    assert.equal(hit.type, 'application/msgpack');
    assert.equal(hit.value.cache_hit, true);
    assert.deepEqual(hit.value, { ...json.json, usage: hit.value.usage });
    assert.equal(hit.value.usage.embedding_ms, 0);
    assert.ok(hit.value.usage.routing_ms >= 0);
  });

  it('a supplied embedding answered in msgpack equals its JSON answer', async () => {
    const v = vector(dim, 3);
    const j = await post(t.base, '/v1/route', { embedding: Array.from(v), cost_weight: 1.5 });
    const m = await mpost(t.base, pack({ embedding: f32bytes(v), cost_weight: 1.5 }), { ...MP, ...ACCEPT_MP });
    assert.equal(m.type, 'application/msgpack');
    assert.deepEqual(decisionOf(m.value), decisionOf(j.json));
    assert.equal(m.value.usage.embedding_ms, 0);
  });

  it('numbers are float64 (cluster_id an integer), NaN scores nil, in fresh and cached answers alike', () => {
    const r = { router: { models: ['a', 'b', 'c'], modelIndex: new Map([['a', 0], ['b', 1], ['c', 2]]) } } as unknown as Ready;
    const d: Decision = { modelIndex: 1, model: 'b', clusterId: 300, expectedError: 0, score: 0.25, scores: Float64Array.from([NaN, 0.25, 1]), costWeight: 0 };
    const fresh = MSGPACK_ANSWER.decided(r, d, undefined, undefined, 0.12345678, 0);
    const want = { selected_model: 'b', cluster_id: 300, expected_error: 0, cost_adjusted_score: 0.25, cost_weight: 0, all_scores: { a: null, b: 0.25, c: 1 }, cache_hit: false, usage: { routing_ms: 0.1235, embedding_ms: 0 } };
    assert.deepEqual(unpack(fresh.body), want);
    // 0 as float64 (0xcb + 8 bytes), not the 1-byte integer: typed clients (Python) see floats.
    const b = Buffer.from(fresh.body);
    assert.ok(b.includes(Buffer.from([0xab, ...Buffer.from('cost_weight'), 0xcb, 0, 0, 0, 0, 0, 0, 0, 0])));
    const restricted = MSGPACK_ANSWER.decided(r, d, Uint8Array.from([0, 1, 1]), undefined, 0, 0);
    assert.deepEqual(unpack(restricted.body).all_scores, { b: 0.25, c: 1 });
    const json = '{"selected_model":"b","cluster_id":300,"expected_error":0,"cost_adjusted_score":0.25,"cost_weight":0,"all_scores":{"a":null,"b":0.25,"c":1}';
    const hit = MSGPACK_ANSWER.hit(r, json, 0.5);
    assert.deepEqual(unpack(hit.body), { ...want, cache_hit: true, usage: { routing_ms: 0.5, embedding_ms: 0 } });
  });

  it('Accept negotiation: msgpack only when preferred to JSON', async () => {
    const cases: [string | undefined, boolean][] = [
      [undefined, false], ['*/*', false], ['application/json', false], ['application/*', false], ['text/html', false],
      ['application/msgpack', true], ['application/x-msgpack', true], ['application/vnd.msgpack', true], ['APPLICATION/MSGPACK', true],
      ['application/json, application/msgpack', false], ['application/msgpack, application/json', false],
      ['application/msgpack, */*;q=0.5', true], ['application/json;q=0.5, application/msgpack', true],
      ['application/msgpack;q=0.9, */*', false], ['application/msgpack;q=0', false], ['application/msgpack; q=0.8, application/json; q=0.2', true],
      ['*/*;q=0.1, application/msgpack', true], ['application/msgpack;q=abc', false],
    ];
    for (const [accept, msgpack] of cases) assert.equal(prefersMsgpack(accept ?? ''), msgpack, String(accept));
    for (const [accept, msgpack] of cases.slice(0, 8)) {
      const m = await mpost(t.base, pack({ prompt: 'negotiate' }), accept === undefined ? MP : { ...MP, accept });
      assert.equal(m.status, 200);
      assert.equal(m.type, msgpack ? 'application/msgpack' : 'application/json', String(accept));
    }
    for (const ct of ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack', ' application/msgpack ; x=1']) assert.ok(isMsgpack(ct), ct);
    for (const ct of ['', 'application/json', 'application/msgpack+json', 'text/msgpack', 'application/msgpackx']) assert.ok(!isMsgpack(ct), ct);
  });
});

describe('msgpack errors: JSON 4xx naming the field, whatever Accept says', () => {
  const cases = (): [string, Uint8Array, string][] => {
    const v = vector(dim, 5);
    const nan = new Float32Array(v); nan[7] = NaN;
    return [
      ['empty body', new Uint8Array(0), 'body'],
      ['never-used byte 0xc1', Buffer.from([0xc1]), 'body'],
      ['truncated map', pack({ prompt: 'hello there' }).subarray(0, 6), 'body'],
      ['trailing bytes', Buffer.concat([pack({ prompt: 'x' }), Buffer.from([0x01])]), 'body'],
      ['bin length past the end', Buffer.from([0x81, 0xa9, ...Buffer.from('embedding'), 0xc6, 0xff, 0xff, 0xff, 0xff, 0]), 'body'],
      ['array32 claiming 4 billion items', Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), 'body'],
      ['an array, not a map', pack(['prompt', 'x']), 'body'],
      ['a string, not a map', pack('prompt'), 'body'],
      ['nil, not a map', Buffer.from([0xc0]), 'body'],
      ['a Date extension, not a map', Buffer.from([0xd6, 0xff, 0, 0, 0, 1]), 'body'],
      ['an unknown extension', Buffer.from([0xd4, 0x33, 0x00]), 'body'],
      ['deep nesting', Buffer.concat([Buffer.alloc(50_000, 0x91), Buffer.from([0x01])]), 'body'],
      ['unknown field', pack({ prompt: 'x', model: 'gpt-4o' }), 'model'],
      ['__proto__ key', Buffer.from([0x82, 0xa6, ...Buffer.from('prompt'), 0xa1, 0x78, 0xa9, ...Buffer.from('__proto__'), 0x80]), '__proto_'],
      ['integer key', Buffer.from([0x82, 0xa6, ...Buffer.from('prompt'), 0xa1, 0x78, 0x07, 0x01]), '7'],
      ['no prompt nor embedding', pack({ cost_weight: 1 }), 'prompt'],
      ['prompt as bin', pack({ prompt: Buffer.from('hello') }), 'prompt'],
      ['prompt as integer', pack({ prompt: 42 }), 'prompt'],
      ['prompt empty', pack({ prompt: '' }), 'prompt'],
      ['cost_weight as string', pack({ prompt: 'x', cost_weight: '0.5' }), 'cost_weight'],
      ['cost_weight negative', pack({ prompt: 'x', cost_weight: -1 }), 'cost_weight'],
      ['cost_weight as BigInt-sized int64', Buffer.concat([Buffer.from([0x82, 0xa6, ...Buffer.from('prompt'), 0xa1, 0x78, 0xab, ...Buffer.from('cost_weight'), 0xd3]), Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0])]), 'cost_weight'],
      ['available_models as map', pack({ prompt: 'x', available_models: { a: 1 } }), 'available_models'],
      ['available_models with a bin', pack({ prompt: 'x', available_models: [Buffer.from('a')] }), 'available_models[0]'],
      ['embedding bin one float short', pack({ embedding: f32bytes(v.subarray(1)) }), 'embedding'],
      ['embedding bin 3 bytes over', pack({ embedding: Buffer.concat([f32bytes(v), Buffer.from([1, 2, 3])]) }), 'embedding'],
      ['embedding as a Float64Array extension', new Packr({ moreTypes: true }).pack({ embedding: Float64Array.from(v) }), 'embedding'],
      ['embedding extension one float short', new Packr({ moreTypes: true }).pack({ embedding: v.subarray(1) }), 'embedding'],
      ['embedding with a NaN', pack({ embedding: f32bytes(nan) }), 'embedding[7]'],
      ['embedding all zeros', pack({ embedding: Buffer.alloc(dim * 4) }), 'embedding'],
      ['embedding as a map', pack({ embedding: { a: 1 } }), 'embedding'],
      ['embedding array too short', pack({ embedding: [1, 2, 3] }), 'embedding'],
      ['embedding array with a string', pack({ embedding: Array.from(v, (x, i) => (i === 2 ? 'x' : x)) }), 'embedding[2]'],
    ];
  };

  it('every malformed body: 400 invalid_request, JSON, naming the field', async () => {
    for (const [name, body, field] of cases()) {
      for (const headers of [MP, { ...MP, ...ACCEPT_MP }]) {
        const m = await mpost(t.base, body, headers);
        assert.match(m.type, /application\/json/, name);
        try { assertError(m, 'invalid_request', field); } catch (e) { (e as Error).message = `${name}: ${(e as Error).message}`; throw e; }
      }
    }
  });

  it('the wrong byte length names the expected byte count', async () => {
    const m = await mpost(t.base, pack({ embedding: Buffer.alloc(100) }));
    assertError(m, 'invalid_request', 'embedding');
    assert.ok(m.json.error.message.includes(`${dim * 4} bytes`), m.json.error.message);
    assert.ok(m.json.error.message.includes('got 100 bytes'), m.json.error.message);
  });
});

describe('embedding(): bins read in place when aligned', () => {
  it('an aligned bin becomes a view of the same memory; an unaligned one a copy with the same values', () => {
    const v = vector(16, 9);
    const buf = Buffer.alloc(16 * 4 + 8);
    buf.set(f32bytes(v), 4);
    const aligned = embedding(buf.subarray(4, 4 + 64), 16);
    assert.equal(aligned.buffer, buf.buffer, 'no copy');
    assert.deepEqual(aligned, v);
    buf.copyWithin(1, 4, 4 + 64);
    const unaligned = embedding(buf.subarray(1, 1 + 64), 16);
    assert.notEqual(unaligned.buffer, buf.buffer);
    assert.deepEqual(unaligned, v);
  });
});

describe('the route-pool path (router.nearest "pool"): the body is gone when the pool answers', () => {
  let p: TestServer;
  before(async () => { p = await startTestServer({ router: { nearest: 'pool' } }); });
  after(async () => { await p.close(); });

  it('an aligned bin embedding decides as its JSON twin, under concurrency', async () => {
    const bodies = Array.from({ length: 24 }, (_, i) => vector(dim, 100 + i));
    const json = await Promise.all(bodies.map((v) => post(p.base, '/v1/route', { embedding: Array.from(v) })));
    const mp = await Promise.all(bodies.map((v) => mpost(p.base, alignedBody(f32bytes(v)), { ...MP, ...ACCEPT_MP })));
    for (let i = 0; i < bodies.length; i++) {
      assert.equal(mp[i].status, 200, JSON.stringify(mp[i].value));
      assert.deepEqual(decisionOf(mp[i].value), decisionOf(json[i].json), `body ${i}`);
    }
  });
});

// ---- fuzz ----

const SEED = Number(process.env.FUZZ_SEED ?? 20261205);
const N = Number(process.env.FUZZ_N ?? 2000);

it(`fuzz: ${N} random and mutated msgpack bodies (seed ${SEED}): well-formed answers, never a 500, the server stays up`, async () => {
  const rnd = mulberry32(SEED);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)];
  const packr = new Packr({ moreTypes: true, useRecords: false });
  const recordPackr = new Packr({ useRecords: true });
  const rstr = () => pick(['', 'x', 'héllo', '\ud800', '😀', 'a'.repeat(int(300)), String.fromCharCode(int(0x10000))]);
  const value = (depth = 0): unknown => {
    const r = rnd();
    if (depth > 3 || r < 0.35) return pick<unknown>([null, true, false, int(1000) - 500, rnd(), -rnd() * 1e300, NaN, Infinity, 2 ** 53 + 2, rstr(), Buffer.alloc(int(40)), new Date(0), new Set([1]), /re/, new Float32Array(int(8))]);
    if (r < 0.6) return Array.from({ length: int(5) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = 0; i < int(4); i++) o[pick(['prompt', 'embedding', 'cost_weight', 'available_models', 'model', rstr()])] = value(depth + 1);
    return o;
  };
  const valid = (): Record<string, unknown> => {
    const b: Record<string, unknown> = rnd() < 0.5 ? { prompt: `fuzz ${int(50)}` } : { embedding: f32bytes(vector(dim, int(1000))) };
    if (rnd() < 0.4) b.cost_weight = rnd() * 2;
    if (rnd() < 0.4) b.available_models = models.filter(() => rnd() < 0.5).concat(pick(models));
    return b;
  };
  const makeCase = (): Uint8Array => {
    switch (int(8)) {
      case 0: return Uint8Array.from({ length: int(300) }, () => int(256));
      case 1: { const b = pack(valid()); return b.subarray(0, int(b.length)); }
      case 2: { const b = valid(); b[pick(['prompt', 'embedding', 'cost_weight', 'available_models', 'model'])] = value(); return (rnd() < 0.5 ? packr : recordPackr).pack(b); }
      case 3: return (rnd() < 0.5 ? packr : recordPackr).pack(value());
      case 4: { // a known token with a random length or type byte after a valid prefix
        const prefix = pack({ prompt: 'x' }).subarray(0, 1 + int(9));
        return Buffer.concat([prefix, Buffer.from([pick([0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xdc, 0xdd, 0xde, 0xdf, 0xd9, 0xda, 0xdb]), int(256), int(256), int(256), int(256), int(256)])]);
      }
      case 5: return Buffer.concat([Buffer.alloc(int(20_000), pick([0x91, 0x81, 0xdc])), Buffer.from([0x01])]);
      default: { // byte flips in a valid body
        const b = Buffer.from(pack(valid()));
        for (let i = 0; i < 1 + int(4); i++) b[int(b.length)] = int(256);
        return b;
      }
    }
  };
  const pool = new Pool(t.base, { connections: 16 });
  const seen = new Map<string, number>();
  const count = (k: string) => seen.set(k, (seen.get(k) ?? 0) + 1);
  try {
    const bodies = Array.from({ length: N }, makeCase);
    for (let i = 0; i < N; i += 64) {
      await Promise.all(bodies.slice(i, i + 64).map(async (body, k) => {
        const accept = pick(['application/msgpack', '*/*', '']);
        const res = await pool.request({ path: '/v1/route', method: 'POST', headers: { 'content-type': pick(['application/msgpack', 'application/x-msgpack']), ...(accept ? { accept } : {}) }, body });
        const bytes = Buffer.from(await res.body.arrayBuffer());
        const where = `case ${i + k} (status ${res.statusCode}): ${Buffer.from(body).toString('hex').slice(0, 160)}`;
        if (res.statusCode === 200) {
          const d = res.headers['content-type'] === 'application/msgpack' ? unpack(bytes) : JSON.parse(bytes.toString());
          assert.equal(res.headers['content-type'], accept === 'application/msgpack' ? 'application/msgpack' : 'application/json', where);
          assert.ok(models.includes(d.selected_model), where);
          assert.equal(d.all_scores[d.selected_model], d.cost_adjusted_score, where);
          count('200');
          return;
        }
        assert.equal(res.headers['content-type'], 'application/json', where);
        const j = JSON.parse(bytes.toString());
        const code = j?.error?.code as ErrorCode;
        assert.ok(ERROR_CODES.includes(code), where);
        assert.notEqual(code, 'internal_error', `a bug surfaced as 500: ${bytes} ${where}`);
        assert.equal(res.statusCode, ERRORS[code].status, where);
        count(code);
      }));
    }
  } finally { await pool.close(); }
  if (process.env.FUZZ_VERBOSE) console.log(Object.fromEntries(seen));
  assert.ok((seen.get('200') ?? 0) > N / 20, `successes: ${JSON.stringify([...seen])}`);
  assert.ok((seen.get('invalid_request') ?? 0) > N / 3, `errors: ${JSON.stringify([...seen])}`);
  assert.equal((await get(t.base, '/health')).json.status, 'ok');
  assert.equal((await mpost(t.base, pack({ prompt: 'still alive?' }))).status, 200);
});
