import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkStream } from '../../src/streaming/chunk-stream.ts';
import { openai } from '../../src/providers/openai.ts';
import { anthropic } from '../../src/providers/anthropic.ts';
import { UpstreamError } from '../../src/providers/failure.ts';

const enc = new TextEncoder();
const chunk = (content: string) => `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`;

/** A fake upstream body that counts how far it has been read. */
function source(parts: string[], opts: { failAt?: number } = {}) {
  const s = { pulled: 0, cancelled: false, body: null as unknown as AsyncIterable<Uint8Array>, cancel() { s.cancelled = true; } };
  s.body = {
    async *[Symbol.asyncIterator]() {
      for (let i = 0; i < parts.length; i++) {
        if (i === opts.failAt) throw new UpstreamError('network', 'socket hang up');
        s.pulled++;
        yield enc.encode(parts[i]);
      }
    },
  };
  return s;
}

const tx = () => openai.createStreamTransformer({ includeUsage: false, created: 0 });

describe('ChunkStream', () => {
  it('pulls the upstream only as fast as it is consumed (backpressure by pulling)', async () => {
    // Event boundaries deliberately fall inside upstream reads.
    const wire = chunk('a') + chunk('b') + chunk('c') + chunk('d') + 'data: [DONE]\n\n';
    const parts = Array.from({ length: 10 }, (_, i) => wire.slice((i * wire.length) / 10, ((i + 1) * wire.length) / 10));
    const src = source(parts);
    const s = new ChunkStream(src, tx(), performance.now());
    await s.peek();
    const afterPeek = src.pulled;
    assert.ok(afterPeek < parts.length / 2, `peek read ${afterPeek} of ${parts.length} parts`);
    const first = await s.next();
    assert.equal(first.value?.choices[0].delta.content, 'a');
    assert.equal(src.pulled, afterPeek, 'handing out a buffered chunk reads nothing');
    const rest: string[] = [];
    for await (const c of s) rest.push(c.choices[0].delta.content as string);
    assert.deepEqual(rest, ['b', 'c', 'd']);
    const sum = await s.finished;
    assert.equal(sum.error, undefined);
    assert.equal(sum.chunks, 4);
    assert.ok(sum.ttfbMs >= 0);
  });

  it('nextBatch() hands out one upstream read at a time, pass-through items as text; complete once the terminal event is in', async () => {
    const passTx = () => openai.createStreamTransformer({ includeUsage: false, created: 0, passThrough: true });
    const src = source([chunk('a') + chunk('b'), chunk('c'), chunk('d') + 'data: [DONE]\n\n']);
    const s = new ChunkStream(src, passTx(), 0);
    await s.peek();
    const batches: (string | object)[][] = [];
    for (let b = await s.nextBatch(); b !== null; b = await s.nextBatch()) {
      batches.push(b);
      if (batches.length < 3) assert.equal(s.complete, false);
    }
    assert.deepEqual(batches.map((b) => b.length), [2, 1, 1]);
    assert.ok(batches.flat().every((x) => typeof x === 'string'), 'plain chunks stay text');
    assert.deepEqual(batches.flat().map((x) => JSON.parse(x as string).choices[0].delta.content), ['a', 'b', 'c', 'd']);
    assert.equal(s.complete, true);
    assert.equal((await s.finished).chunks, 4);

    // Iterating a pass-through stream still yields objects.
    const it2 = new ChunkStream(source([chunk('x'), 'data: [DONE]\n\n']), passTx(), 0);
    const got: unknown[] = [];
    for await (const c of it2) got.push(c);
    assert.equal((got[0] as { choices: { delta: { content: string } }[] }).choices[0].delta.content, 'x');
  });

  it('complete stays false when the stream failed', async () => {
    const s = new ChunkStream(source([chunk('a')]), tx(), 0);
    assert.equal((await s.nextBatch())?.length, 1);
    await assert.rejects(s.nextBatch(), /ended before/);
    assert.equal(s.complete, false);
  });

  it('an error before any chunk was handed out stays retryable', async () => {
    const s = new ChunkStream(source(['data: {"error":{"message":"busy"}}\n\n']), tx(), 0);
    await assert.rejects(s.peek(), (e: unknown) => e instanceof UpstreamError && e.retryable && !e.afterFirstByte);
  });

  it('a role-only opening chunk is not the first byte: an error right after it is still retryable', async () => {
    const start = 'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":3}}}\n\n';
    const overloaded = 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n';
    const s = new ChunkStream(source([start, 'event: ping\ndata: {"type":"ping"}\n\n', overloaded]), anthropic.createStreamTransformer({ includeUsage: false, created: 0 }), 0);
    await assert.rejects(s.peek(), (e: unknown) => e instanceof UpstreamError && e.kind === 'stream_error' && e.retryable);

    const delta = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n';
    const ok = new ChunkStream(source([start, delta, overloaded]), anthropic.createStreamTransformer({ includeUsage: false, created: 0 }), 0);
    await ok.peek();
    assert.deepEqual((await ok.next()).value?.choices[0].delta, { role: 'assistant', content: '' });
    assert.deepEqual((await ok.next()).value?.choices[0].delta, { content: 'Hi' });
    await assert.rejects(ok.next(), (e: unknown) => e instanceof UpstreamError && e.afterFirstByte);
  });

  it('an error after a chunk was handed out is marked afterFirstByte and not retryable', async () => {
    const src = source([chunk('a'), chunk('b')], { failAt: 1 });
    const s = new ChunkStream(src, tx(), 0);
    assert.equal((await s.next()).value?.choices[0].delta.content, 'a');
    await assert.rejects(s.next(), (e: unknown) => e instanceof UpstreamError && e.afterFirstByte && !e.retryable && e.kind === 'network');
    assert.equal(src.cancelled, true);
    assert.equal((await s.finished).error?.kind, 'network');
  });

  it('a first event that only looks like a chunk fails peek() and cancels the upstream (regression: fuzz)', async () => {
    // Object-shaped text passes through unparsed; peek() parses it. It used to throw a bare
    // SyntaxError / TypeError and leave the upstream request open until its total deadline.
    for (const bad of ['{"choices":[{"delta":}', '{"choices":[null]}', '{"choices":5}', '{"id":"x"}']) {
      const s0 = { cancelled: false, cancel() { s0.cancelled = true; }, body: { [Symbol.asyncIterator]: () => ({ next: (() => { let n = 0; return () => (n++ === 0 ? Promise.resolve({ value: enc.encode(`data: ${bad}\n\n`), done: false }) : new Promise<IteratorResult<Uint8Array>>(() => {})); })() }) } };
      const s = new ChunkStream(s0, openai.createStreamTransformer({ includeUsage: false, created: 0, passThrough: true }), 0);
      await assert.rejects(s.peek(), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response' && e.retryable, bad);
      assert.equal(s0.cancelled, true, `${bad}: the upstream request is cancelled`);
      assert.equal((await s.finished).error?.kind, 'bad_response');
    }
  });

  it('a line longer than the SSE bound fails the stream as bad_response (regression: fuzz)', async () => {
    const huge = 'data: ' + 'q'.repeat(17 * 1024 * 1024);
    const src = source([huge.slice(0, 9e6), huge.slice(9e6)]);
    const s = new ChunkStream(src, tx(), 0);
    await assert.rejects(s.peek(), (e: unknown) => e instanceof UpstreamError && e.kind === 'bad_response' && /longer than/.test(e.message));
    assert.equal(src.cancelled, true);
  });

  it('a stream that ends without its terminal event is an error', async () => {
    const s = new ChunkStream(source([chunk('a')]), tx(), 0);
    await s.next();
    await assert.rejects(s.next(), (e: unknown) => e instanceof UpstreamError && e.afterFirstByte && /ended before/.test(e.message));
  });

  it('return() (consumer gone) cancels the upstream', async () => {
    const src = source([chunk('a'), chunk('b'), 'data: [DONE]\n\n']);
    const s = new ChunkStream(src, tx(), 0);
    for await (const _ of s) break;
    assert.equal(src.cancelled, true);
    assert.equal((await s.finished).error?.kind, 'aborted');
  });
});
