/**
 * One contract suite run against every registered provider (hono's
 * common.case.test.ts idea): whatever the upstream dialect, the gateway's
 * client sees the same OpenAI answers. A new provider must add a backend
 * factory here (and its dialect to the mock) or this file fails.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { providerNames, getAdapter } from '../../src/providers/registry.ts';
import { ChatGateway } from '../../src/providers/gateway.ts';
import { HealthTracker } from '../../src/providers/health.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import type { Backend, ChatChunk, ChatRequest } from '../../src/providers/types.ts';
import { startMockUpstream, type MockUpstream } from '../../scripts/mock-upstream.ts';
import { anthropicBackend, openaiBackend } from './helpers.ts';

const FACTORIES: Record<string, (url: string, headers?: Record<string, string>) => Backend> = {
  openai: (url, h) => openaiBackend(url, 'contract-openai', 'upstream-model', h),
  anthropic: (url, h) => anthropicBackend(url, 'contract-anthropic', 'upstream-model', h),
};

const REQ: ChatRequest = { model: 'auto', messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'Say something nice.' }], max_tokens: 64 };

for (const name of providerNames()) {
  describe(`provider contract: ${name}`, () => {
    let mock: MockUpstream;
    let client: UpstreamClient;
    let gw: ChatGateway;
    before(async () => {
      mock = await startMockUpstream({ chunks: 7 });
      client = new UpstreamClient();
      const make = FACTORIES[name];
      assert.ok(make, `no backend factory for provider "${name}" in providers.test.ts`);
      gw = new ChatGateway({ models: new Map([['m', { id: 'm', backends: [make(mock.url)], pricing: { prompt_per_1m: 1, completion_per_1m: 1 } }]]), client, health: new HealthTracker() });
    });
    after(async () => { await client.close(); await mock.close(); });

    it('has a name and a default base URL', () => {
      const a = getAdapter(name);
      assert.equal(a.name, name);
      assert.doesNotThrow(() => new URL(a.defaultBaseUrl));
    });

    it('answers a JSON request with an OpenAI chat.completion', async () => {
      const r = await gw.chat(REQ, ['m']);
      assert.ok(!r.stream);
      if (r.stream) return;
      const c = r.completion;
      assert.equal(c.object, 'chat.completion');
      assert.equal(typeof c.id, 'string');
      assert.equal(c.model, 'upstream-model');
      assert.equal(c.choices.length, 1);
      assert.equal(c.choices[0].message.role, 'assistant');
      assert.equal(c.choices[0].message.content, 'This is a deterministic answer from the');
      assert.equal(c.choices[0].finish_reason, 'stop');
      assert.equal(c.usage?.completion_tokens, 7);
      assert.equal(c.usage?.total_tokens, (c.usage?.prompt_tokens ?? 0) + 7);
      assert.ok((r.costUsd ?? 0) > 0);
    });

    for (const includeUsage of [true, false]) {
      it(`streams ordered OpenAI chunks (include_usage ${includeUsage})`, async () => {
        const r = await gw.chat({ ...REQ, stream: true, stream_options: { include_usage: includeUsage } }, ['m']);
        assert.ok(r.stream);
        if (!r.stream) return;
        const chunks: ChatChunk[] = [];
        for await (const c of r.chunks) chunks.push(c);
        assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && typeof c.id === 'string' && typeof c.created === 'number'));
        assert.equal(chunks[0].choices[0].delta.role, 'assistant', 'role in the first chunk');
        const withChoice = chunks.filter((c) => c.choices.length > 0);
        assert.equal(withChoice.map((c) => c.choices[0].delta.content ?? '').join(''), 'This is a deterministic answer from the');
        assert.deepEqual(withChoice.map((c) => c.choices[0].finish_reason).filter((f) => f !== null), ['stop'], 'one finish_reason, on the last choice chunk');
        assert.equal(withChoice.at(-1)?.choices[0].finish_reason, 'stop');
        const usageChunks = chunks.filter((c) => c.usage);
        if (includeUsage) {
          assert.equal(usageChunks.length, 1);
          assert.equal(chunks.at(-1), usageChunks[0], 'usage comes last');
          assert.deepEqual(chunks.at(-1)?.choices, []);
          assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
        } else {
          assert.equal(usageChunks.length, 0);
          assert.ok(chunks.every((c) => !('usage' in c)));
        }
        const s = await r.finished;
        assert.equal(s.error, undefined);
        assert.equal(s.usage?.completion_tokens, 7, 'usage is known to the gateway either way');
      });
    }

    it('sends the key only in its own auth header, and the configured extra headers', () => {
      const spec = getAdapter(name).buildRequest(REQ, FACTORIES[name]('http://x', { 'x-extra': 'y' }));
      const withKey = Object.entries(spec.headers).filter(([, v]) => v.includes('sk-'));
      assert.equal(withKey.length, 1);
      assert.ok(!spec.body.includes('sk-'));
      assert.equal(spec.headers['x-extra'], 'y');
    });
  });
}
