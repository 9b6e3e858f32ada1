/** The mock upstream is test infrastructure; these pin its wire format and knobs. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { startMockUpstream, DEFAULT_REPLAY_DIR, type MockUpstream } from '../../scripts/mock-upstream.ts';
import { loadRecordedResponsesDir } from '../../scripts/mock-replay.ts';
import { parseSseBuffer } from '../../src/streaming/sse-parser.ts';
import { ROOT } from '../../src/fit/options.ts';

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('mock upstream', () => {
  let mock: MockUpstream;
  before(async () => { mock = await startMockUpstream({ replay: true, chunks: 6 }); });
  after(() => mock.close());

  it('replays the recorded answer of the requested model for a known prompt (JSON and stream, both APIs)', async () => {
    const rec = loadRecordedResponsesDir(DEFAULT_REPLAY_DIR);
    assert.ok(rec.rows > 2000);
    const [prompt, answers] = [...rec.byPrompt].find(([, a]) => (a.get('claude-v2') ?? '').length > 20)!;
    const want = answers.get('claude-v2')!;
    const messages = [{ role: 'system', content: 'sys' }, { role: 'user', content: prompt }];

    const j = await (await post(`${mock.url}/v1/chat/completions`, { model: 'claude-v2', messages })).json() as { choices: { message: { content: string } }[] };
    assert.equal(j.choices[0].message.content, want);

    const s = await (await post(`${mock.url}/v1/chat/completions`, { model: 'claude-v2', messages, stream: true })).text();
    const text = parseSseBuffer(new TextEncoder().encode(s)).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data).choices[0]?.delta.content ?? '').join('');
    assert.equal(text, want);

    const a = await (await post(`${mock.url}/v1/messages`, { model: 'claude-v2', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text', text: prompt }] }] })).json() as { content: { text: string }[] };
    assert.equal(a.content[0].text, want);

    const other = await (await post(`${mock.url}/v1/chat/completions`, { model: 'claude-v2', messages: [{ role: 'user', content: 'never seen' }] })).json() as { choices: { message: { content: string } }[] };
    assert.equal(other.choices[0].message.content, 'This is a deterministic answer from');
    assert.equal(mock.stats().replayHits, 3);
  });

  it('answers forced statuses in each API\'s error format, and 404 elsewhere', async () => {
    const o = await post(`${mock.url}/v1/chat/completions`, { model: 'x', messages: [] }, { 'x-mock-status': '429' });
    assert.equal(o.status, 429);
    assert.equal((await o.json() as { error: { type: string } }).error.type, 'rate_limit_error');
    const a = await post(`${mock.url}/v1/messages`, { model: 'x', messages: [] }, { 'x-mock-status': '529' });
    assert.equal(a.status, 529);
    assert.equal((await a.json() as { type: string }).type, 'error');
    assert.equal((await post(`${mock.url}/v2/nothing`, {})).status, 404);
  });

  it('fails a configured fraction of requests with 500, reproducibly', async () => {
    const m = await startMockUpstream({ failureRate: 0.5, seed: 42 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) statuses.push((await post(`${m.url}/v1/chat/completions`, { model: 'x', messages: [] })).status);
      const fails = statuses.filter((s) => s === 500).length;
      assert.ok(fails > 8 && fails < 32, `${fails} of 40 failed`);
      assert.equal(m.stats().byStatus['500'], fails);
    } finally { await m.close(); }
  });

  it('numbers and pads generic chunks when asked, and counts stream backpressure', async () => {
    const m = await startMockUpstream({ chunks: 4, numbered: true, chunkBytes: 64, chunkIntervalMs: 1 });
    try {
      const s = await (await post(`${m.url}/v1/chat/completions`, { model: 'x', messages: [], stream: true })).text();
      const pieces = parseSseBuffer(new TextEncoder().encode(s)).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data).choices[0]?.delta.content ?? '').filter(Boolean);
      assert.deepEqual(pieces.map((p: string) => p.match(/^<(\d+)>/)?.[1]), ['0', '1', '2', '3']);
      assert.ok(pieces.every((p: string) => p.length === 64));
      const st = m.stats().stream;
      assert.equal(st.responses, 1);
      assert.equal(st.bytes, Buffer.byteLength(s));
      assert.equal(st.blockedWrites, 0, 'a reader that keeps up never blocks the mock');
      assert.equal(st.open, 0);
    } finally { await m.close(); }
    // Default off: the generic wire format is unchanged.
    const d = await (await post(`${mock.url}/v1/chat/completions`, { model: 'x', messages: [{ role: 'user', content: 'never seen' }] })).json() as { choices: { message: { content: string } }[] };
    assert.doesNotMatch(d.choices[0].message.content, /<\d+>/);
  });

  it('runs from the command line and prints its port', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/mock-upstream.ts'), '--port', '0', '--chunks', '3'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = await once(child.stdout, 'data') as [Buffer];
      const { port } = JSON.parse(line.toString());
      const r = await post(`http://127.0.0.1:${port}/v1/chat/completions`, { model: 'x', messages: [] });
      assert.equal((await r.json() as { usage: { completion_tokens: number } }).usage.completion_tokens, 3);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
});
