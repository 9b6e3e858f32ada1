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
before(async () => { mocks = await startMocks({ chunks: 20, chunkIntervalMs: 20 }); });
after(async () => { await mocks.close(); });

for (const threads of [1, 2]) {
  it(`a stream in flight when close() starts is delivered whole (${threads} HTTP thread${threads > 1 ? 's' : ''})`, async () => {
    const gw = await startGateway({ models: [anthropicModel('claude-v2', mocks.an)] }, { server: { threads } });
    const text = fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'claude-v2', stream: true, messages: user('a story') }) }).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 150)); // a few chunks in
    const { drained } = await gw.server.close({ timeoutMs: 5000 });
    assert.equal(drained, true);
    const { data, comments } = sseLines(await text);
    assert.equal(data.at(-1), '[DONE]');
    assert.equal(data.length, 1 + 20 + 1 + 1, 'role, 20 content chunks, finish, [DONE]');
    assert.ok(comments.some((c) => c.startsWith('switchyard ')));
  });
}
