/**
 * POST /v1/embeddings (OpenAI format) and GET /health on the real server.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeTables, NativeEmbedder } from '../../src/routing/embedders/native.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/config/schema.ts';
import { execFileSync } from 'node:child_process';
import { ROOT } from '../../src/fit/options.ts';
import { isNativeUws } from '../../src/edge/uws.ts';
import { assertOpenAIError, get, post, startTestServer, type TestServer } from './helpers.ts';

const embedder = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));

let t: TestServer;
before(async () => { t = await startTestServer({ limits: { input_chars: 500, embedding_inputs: 4 } }); });
after(async () => { await t.close(); });

describe('POST /v1/embeddings', () => {
  it('one string input: the OpenAI list shape with the router\'s own embedding', async () => {
    const r = await post(t.base, '/v1/embeddings', { input: 'hello world', model: embedder.id });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json).sort(), ['data', 'model', 'object', 'usage']);
    assert.equal(r.json.object, 'list');
    assert.equal(r.json.model, embedder.id);
    assert.equal(r.json.data.length, 1);
    const d = r.json.data[0];
    assert.equal(d.object, 'embedding');
    assert.equal(d.index, 0);
    assert.equal(d.embedding.length, embedder.dim);
    assert.deepEqual(Float32Array.from(d.embedding), embedder.embedSync('hello world'), 'float32 values round-trip exactly');
    const norm = Math.hypot(...d.embedding);
    assert.ok(Math.abs(norm - 1) < 1e-5);
    assert.equal(r.json.usage.prompt_tokens, Math.ceil('hello world'.length / 4));
    assert.equal(r.json.usage.total_tokens, r.json.usage.prompt_tokens);
  });

  it('array input keeps order and indices; base64 decodes to the same float32s', async () => {
    const input = ['first text', 'second, different text', 'third'];
    const f = await post(t.base, '/v1/embeddings', { input });
    const b = await post(t.base, '/v1/embeddings', { input, encoding_format: 'base64', model: 'routerbench-default' });
    assert.equal(f.json.data.length, 3);
    for (let i = 0; i < 3; i++) {
      assert.equal(f.json.data[i].index, i);
      const exp = embedder.embedSync(input[i]);
      assert.deepEqual(Float32Array.from(f.json.data[i].embedding), exp);
      const bytes = Buffer.from(b.json.data[i].embedding, 'base64');
      assert.deepEqual(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), exp);
    }
    assert.equal(f.json.usage.prompt_tokens, input.reduce((s, x) => s + Math.ceil(x.length / 4), 0));
  });

  it('accepts OpenAI\'s optional user and a matching dimensions', async () => {
    const r = await post(t.base, '/v1/embeddings', { input: 'x', user: 'u-1', dimensions: embedder.dim, encoding_format: 'float' });
    assert.equal(r.status, 200);
  });

  const bad: [string, unknown, string][] = [
    ['missing input', {}, 'input'],
    ['input a number', { input: 5 }, 'input'],
    ['input token arrays', { input: [[1, 2, 3]] }, 'input[0]'],
    ['input empty array', { input: [] }, 'input'],
    ['too many inputs', { input: ['a', 'b', 'c', 'd', 'e'] }, 'input'],
    ['input element not a string', { input: ['a', 3] }, 'input[1]'],
    ['input element empty', { input: ['a', ''] }, 'input[1]'],
    ['input too long', { input: 'x'.repeat(501) }, 'input'],
    ['input element too long', { input: ['ok', 'x'.repeat(501)] }, 'input[1]'],
    ['unknown model', { input: 'x', model: 'text-embedding-3-small' }, 'model'],
    ['bad encoding_format', { input: 'x', encoding_format: 'int8' }, 'encoding_format'],
    ['wrong dimensions', { input: 'x', dimensions: 256 }, 'dimensions'],
    ['user not a string', { input: 'x', user: 1 }, 'user'],
    ['unknown field', { input: 'x', foo: true }, 'foo'],
  ];
  for (const [name, body, field] of bad) {
    // OpenAI's error shape (`param`), so the openai SDK's err.param names the field.
    it(`400 ${name}`, async () => assertOpenAIError(await post(t.base, '/v1/embeddings', body), 'invalid_request', field));
  }
  it('400 for malformed JSON', async () => assertOpenAIError(await post(t.base, '/v1/embeddings', '{"input":'), 'invalid_request', 'body'));
});

describe('GET /health', () => {
  it('reports profile, K, models, embedder, workers, uptime and uws_native', async () => {
    const r = await get(t.base, '/health');
    assert.equal(r.status, 200);
    const h = r.json;
    assert.equal(h.status, 'ok');
    assert.equal(h.profile, 'routerbench-default');
    assert.equal(h.k, 100);
    assert.ok(Array.isArray(h.models) && h.models.length === 11);
    assert.equal(h.embedder, embedder.id);
    assert.equal(h.embedding, 'inline');
    assert.ok(Number.isInteger(h.workers) && h.workers >= 1);
    assert.ok(typeof h.uptime_s === 'number' && h.uptime_s >= 0);
    assert.equal(h.uws_native, true, 'uWebSockets.js loaded its native build');
    assert.equal(h.cache.capacity, 10_000);
  });

  it('uws_native detection: true for the binding, false for the JS fallback', () => {
    assert.equal(isNativeUws(), true);
    assert.equal(isNativeUws({ App: class FakeApp {} }), false);
    assert.equal(isNativeUws({ App: undefined }), false);
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', "import('./src/edge/uws.ts').then((m) => console.log('NATIVE=' + m.UWS_NATIVE))"],
      { cwd: ROOT, env: { ...process.env, UWS_USE_FALLBACK: '1' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(out, /NATIVE=false/);
  });
});
