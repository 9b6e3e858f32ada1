import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openai } from '../../src/providers/openai.ts';
import { UpstreamError } from '../../src/providers/failure.ts';
import { secrets } from '../../src/providers/redact.ts';
import type { Backend, ChatChunk, ChatRequest } from '../../src/providers/types.ts';

const backend: Backend = { id: 'o1', provider: 'openai', baseUrl: 'https://api.openai.com/v1', upstreamModel: 'gpt-4o-mini', apiKey: 'sk-test-openai-abcdef' };

const ev = (data: string) => ({ event: 'message', data, id: '' });

describe('openai pass-through', () => {
  it('forwards the request with the upstream model name and unknown fields intact', () => {
    const req: ChatRequest = { model: 'auto', messages: [{ role: 'user', content: 'hi' }], temperature: 0.3, tools: [{ type: 'function' }], seed: 7 };
    const spec = openai.buildRequest(req, backend);
    assert.equal(spec.path, '/chat/completions');
    assert.equal(spec.headers.authorization, `Bearer ${backend.apiKey}`);
    assert.equal(spec.headers['x-api-key'], undefined);
    assert.deepEqual(JSON.parse(spec.body), { ...req, model: 'gpt-4o-mini' });
    assert.equal(req.model, 'auto', 'the caller\'s request is not mutated');
  });

  it('always asks a streaming upstream for usage (cost accounting)', () => {
    const body = JSON.parse(openai.buildRequest({ model: 'a', messages: [], stream: true }, backend).body);
    assert.deepEqual(body.stream_options, { include_usage: true });
  });

  const upstream = [
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}',
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}',
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}',
    '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}',
    '[DONE]',
  ];

  it('passes chunks through untouched when the client asked for usage', () => {
    const tx = openai.createStreamTransformer({ includeUsage: true, created: 0 });
    const out: ChatChunk[] = [];
    for (const d of upstream) tx.push(ev(d), out);
    assert.deepEqual(out, upstream.slice(0, 4).map((d) => JSON.parse(d)));
    assert.equal(tx.done, true);
    assert.deepEqual(tx.usage, { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 });
  });

  it('drops the usage chunk and usage fields when the client did not ask, but keeps the usage', () => {
    const tx = openai.createStreamTransformer({ includeUsage: false, created: 0 });
    const out: ChatChunk[] = [];
    for (const d of upstream) tx.push(ev(d), out);
    assert.equal(out.length, 3);
    assert.ok(out.every((c) => !('usage' in c)));
    assert.equal(out[2].choices[0].finish_reason, 'stop');
    assert.equal(tx.usage?.total_tokens, 4);
  });

  it('raises an error object inside the stream, and a non-JSON event', () => {
    const tx = openai.createStreamTransformer({ includeUsage: false, created: 0 });
    assert.throws(() => tx.push(ev('{"error":{"message":"overloaded"}}'), []), (e: unknown) => e instanceof UpstreamError && e.kind === 'stream_error' && e.message === 'overloaded');
    assert.throws(() => tx.push(ev('not json'), []), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response');
  });

  describe('pass-through (the gateway\'s mode): event text instead of objects, same content', () => {
    const variants = [
      ...upstream.slice(0, 4),
      // Keys that force the parsing path, and look-alikes that must not change anything.
      '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"error"},"finish_reason":null}],"usage":null}',
      '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a \\"usage\\" b"},"finish_reason":null}],"usage":null}',
      '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}], "usage": null}',
      '{"id":"c","usage":null,"object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"y"},"finish_reason":null}]}',
      '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"z"},"finish_reason":null}]}',
      '[DONE]',
    ];
    for (const includeUsage of [false, true]) {
      it(`include_usage ${includeUsage}`, () => {
        const fast = openai.createStreamTransformer({ includeUsage, created: 0, passThrough: true });
        const slow = openai.createStreamTransformer({ includeUsage, created: 0 });
        const a: (ChatChunk | string)[] = [];
        const b: ChatChunk[] = [];
        for (const d of variants) { fast.push(ev(d), a); slow.push(ev(d), b); }
        assert.deepEqual(a.map((x) => (typeof x === 'string' ? JSON.parse(x) : x)), b);
        assert.deepEqual(fast.usage, slow.usage);
        assert.equal(fast.done, true);
        // The plain content chunks went through as text; the usage-only chunk was parsed.
        assert.equal(typeof a[1], 'string');
        assert.ok(a.some((x) => typeof x !== 'string'));
      });
    }

    it('still raises error events, whatever else the event holds', () => {
      const tx = openai.createStreamTransformer({ includeUsage: false, created: 0, passThrough: true });
      assert.throws(() => tx.push(ev('{"error":{"message":"overloaded"}}'), []), (e: unknown) => e instanceof UpstreamError && e.kind === 'stream_error' && e.message === 'overloaded');
      assert.throws(() => tx.push(ev('{"id":"c","choices":[],"error":{"message":"mid"},"usage":null}'), []), (e: unknown) => e instanceof UpstreamError && e.message === 'mid');
      assert.throws(() => tx.push(ev('not json'), []), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response');
    });
  });

  describe('hostile upstreams (regressions found by test/gateway/fuzz.test.ts)', () => {
    const chunkText = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}';

    it('an event of several data lines (legal SSE) never goes out as raw text: it would read as several lines, or events', () => {
      for (const includeUsage of [false, true]) {
        const tx = openai.createStreamTransformer({ includeUsage, created: 0, passThrough: true });
        const out: (ChatChunk | string)[] = [];
        // Pretty-printed over three data lines: the parser joins them with LF; still valid JSON.
        tx.push(ev(JSON.stringify(JSON.parse(chunkText), null, 1)), out);
        assert.equal(out.length, 1);
        assert.ok(typeof out[0] !== 'string' || !out[0].includes('\n'), 'no line feed in pass-through text');
        assert.equal((typeof out[0] === 'string' ? JSON.parse(out[0]) : out[0]).choices[0].delta.content, 'hi');
        // The same trick with a payload that smuggles a [DONE] between the lines is not JSON: bad_response.
        assert.throws(() => tx.push(ev(`${chunkText.slice(0, -1)}\n\ndata: [DONE]\n}`), out), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response');
      }
    });

    it('a parsed event must be an object with a choices array (a usage-only one gets an empty one)', () => {
      const tx = openai.createStreamTransformer({ includeUsage: true, created: 0, passThrough: true });
      for (const bad of ['[]', '[1]', '{"usage":7}', '{"id":"x","choices":5,"usage":null,"x":1}']) {
        assert.throws(() => tx.push(ev(bad), []), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response', bad);
      }
      const out: (ChatChunk | string)[] = [];
      tx.push(ev('{"id":"x","object":"chat.completion.chunk","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}'), out);
      assert.deepEqual((out[0] as ChatChunk).choices, []);
      assert.equal(tx.usage?.total_tokens, 3);
    });

    it('an error event\'s message is redacted and clipped: it reaches the client when it comes mid-stream', () => {
      const key = secrets.add('upstream-key-not-shaped-like-one-42');
      const tx = openai.createStreamTransformer({ includeUsage: false, created: 0, passThrough: true });
      for (const data of [
        JSON.stringify({ error: { message: `bad key ${key}`, type: 'auth' } }),
        JSON.stringify({ error: `bad key ${key} ${'x'.repeat(100_000)}` }),
        JSON.stringify({ error: { message: 'Bearer sk-abcdefghijklmnopqrstuvwxyz' } }),
      ]) {
        assert.throws(() => tx.push(ev(data), []), (e: unknown) => {
          assert.ok(e instanceof UpstreamError && e.kind === 'stream_error');
          assert.ok(!e.message.includes(key) && !e.message.includes('sk-abcdefghijklmnop'), e.message);
          assert.ok(e.message.length < 400, `${e.message.length} characters`);
          return true;
        });
      }
    });

    it('usage whose counts are not counts is not priced (was NaN / negative / 1e308 in cost headers)', () => {
      const read = (usage: string) => openai.readResponse!(Buffer.from(`{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[],"usage":${usage}}`), 0).usage;
      for (const bad of ['{"prompt_tokens":"3","completion_tokens":1,"total_tokens":4}', '{"prompt_tokens":1,"completion_tokens":-5,"total_tokens":-4}', '{"prompt_tokens":1e308,"completion_tokens":1,"total_tokens":1e308}', '{"prompt_tokens":1}', '"lots"', '7']) {
        assert.equal(read(bad), null, bad);
        const tx = openai.createStreamTransformer({ includeUsage: true, created: 0, passThrough: true });
        tx.push(ev(`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":${bad}}`), []);
        assert.equal(tx.usage, null, bad);
      }
      assert.deepEqual(read('{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}'), { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 });
      // The slow path (an answer with its own "switchyard" key) checks the same way.
      assert.equal(openai.readResponse!(Buffer.from('{"switchyard":1,"choices":[],"usage":{"prompt_tokens":"x","completion_tokens":1}}'), 0).usage, null);
    });
  });

  describe('readResponse: the answer\'s text, usage read without a full parse', () => {
    const answer = '{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"the \\"usage\\" is {not} here"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":0}}}';
    const read = (s: string) => openai.readResponse!(Buffer.from(s), 0);

    it('forwards the text unchanged and reads usage', () => {
      const r = read(answer);
      assert.equal(r.json, answer);
      assert.deepEqual(r.usage, JSON.parse(answer).usage);
      assert.equal(read(`\n  ${answer}\n`).json, answer, 'surrounding whitespace trimmed');
      assert.equal(read(answer.replace(/,"usage":.*}$/, '}')).usage, null);
      assert.equal(read(answer.replace(/"usage":.*}$/, '"usage":null}')).usage, null);
    });

    it('takes the parsing path for anything unusual, with the same result', () => {
      const spaced = JSON.stringify(JSON.parse(answer), null, 2);
      assert.deepEqual(JSON.parse(read(spaced).json), JSON.parse(answer));
      assert.deepEqual(read(spaced).usage, JSON.parse(answer).usage);
      // Its own "switchyard" key would clash with the one the gateway adds: dropped.
      const own = answer.replace('"id":"x"', '"id":"x","switchyard":{"a":1}');
      assert.equal(JSON.parse(read(own).json).switchyard, undefined);
      assert.deepEqual(read(own).usage, JSON.parse(answer).usage);
    });

    it('rejects what is not a chat.completion as bad_response', () => {
      for (const bad of ['<html>502</html>', '{"error":"x"}', answer.slice(0, -5), '']) {
        assert.throws(() => read(bad), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response', bad);
      }
    });
  });

  it('validates the JSON answer shape', () => {
    const ok = { id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [] };
    assert.equal(openai.parseResponse(ok, 0), ok);
    assert.throws(() => openai.parseResponse({ error: 'x' }, 0), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response');
  });
});
