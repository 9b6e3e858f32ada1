/**
 * Graceful shutdown with a stream in flight: close() lets it finish, and the
 * client receives it whole (valid chunked framing, the trailer comment,
 * [DONE]), on one HTTP thread and on two. Regression: ending a chunked
 * response with uWS's closeConnection flag wrote a "Connection: close" header
 * block into the body, and clients failed with "Expected LF after chunk data".
 */
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicModel, sseLines, startGateway, startMocks, user, type Mocks } from './helpers.ts';

let mocks: Mocks;
// 20 chunks 50 ms apart: a stream of about a second, so close() starts well inside it even on a loaded machine.
before(async () => { mocks = await startMocks({ chunks: 20, chunkIntervalMs: 50 }); });
after(async () => { await mocks.close(); });

for (const threads of [1, 2]) {
  it(`a stream in flight when close() starts is delivered whole (${threads} HTTP thread${threads > 1 ? 's' : ''})`, async () => {
    const gw = await startGateway({ models: [anthropicModel('claude-v2', mocks.an)] }, { server: { threads } });
    const res = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'claude-v2', stream: true, messages: user('a story') }) });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const read = async (until: (t: string) => boolean): Promise<void> => {
      while (!until(text)) {
        const { value, done } = await reader.read();
        if (done) return;
        text += decoder.decode(value, { stream: true });
      }
    };
    // In flight for real: the role chunk and a content chunk have arrived (not a fixed sleep, which
    // on a slow machine can end before the request is even sent, and then no drain is tested).
    await read((t) => sseLines(t).data.length >= 2);
    assert.ok(gw.server.inFlight() > 0, 'the stream is in flight when close() starts');
    const before = sseLines(text).data.length;
    assert.ok(before < 1 + 20 + 1 + 1, 'the stream had not ended before close()');
    const closing = gw.server.close({ timeoutMs: 5000 });
    await read(() => false);
    const { drained } = await closing;
    assert.equal(drained, true);
    const { data, comments } = sseLines(text);
    assert.equal(data.at(-1), '[DONE]');
    assert.equal(data.length, 1 + 20 + 1 + 1, 'role, 20 content chunks, finish, [DONE]');
    assert.ok(data.length > before, 'chunks were delivered after close() started');
    assert.ok(comments.some((c) => c.startsWith('switchyard ')));
  });
}
