import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { costUsd, estimateCost, estimatePromptTokens, promptChars, tokenCount, validUsage, TOKENS_PER_MESSAGE, DEFAULT_COMPLETION_TOKENS } from '../../src/providers/cost.ts';

const pricing = { prompt_per_1m: 3, completion_per_1m: 15 };

describe('cost', () => {
  it('actual cost = usage x price per million', () => {
    assert.equal(costUsd({ prompt_tokens: 1_000_000, completion_tokens: 0 }, pricing), 3);
    assert.equal(costUsd({ prompt_tokens: 2000, completion_tokens: 500 }, pricing), (2000 * 3 + 500 * 15) / 1e6);
    assert.equal(costUsd({ prompt_tokens: 0, completion_tokens: 0 }, pricing), 0);
  });

  it('counts prompt characters in strings and text parts, not images', () => {
    assert.equal(promptChars({ messages: [
      { role: 'system', content: 'abcd' },
      { role: 'user', content: [{ type: 'text', text: '12345678' }, { type: 'image_url', image_url: { url: 'data:x' } }] },
      { role: 'assistant', content: null },
    ] }), 12);
  });

  it('estimates prompt tokens as ceil(chars / 4) + per-message framing', () => {
    const req = { messages: [{ role: 'user' as const, content: 'x'.repeat(10) }] };
    assert.equal(estimatePromptTokens(req), 3 + TOKENS_PER_MESSAGE);
  });

  it('estimates completion from max_completion_tokens, max_tokens or the default', () => {
    const messages = [{ role: 'user' as const, content: 'x'.repeat(400) }];
    const p = 100 + TOKENS_PER_MESSAGE;
    assert.deepEqual(estimateCost({ messages, max_tokens: 50 }, pricing), { prompt_tokens: p, completion_tokens: 50, usd: (p * 3 + 50 * 15) / 1e6 });
    assert.equal(estimateCost({ messages, max_tokens: 50, max_completion_tokens: 20 }, pricing).completion_tokens, 20);
    assert.equal(estimateCost({ messages }, pricing).completion_tokens, DEFAULT_COMPLETION_TOKENS);
    assert.equal(estimateCost({ messages }, pricing, 10).completion_tokens, 10);
  });

  it('validUsage: an upstream usage is priced only when its counts are counts (regression: fuzz)', () => {
    const ok = { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 };
    assert.equal(validUsage(ok), ok);
    assert.deepEqual(validUsage({ prompt_tokens: 3, completion_tokens: 0 }), { prompt_tokens: 3, completion_tokens: 0 }, 'total_tokens is not needed for a cost');
    for (const bad of [null, 'lots', 7, [], {}, { prompt_tokens: '3', completion_tokens: 4 }, { prompt_tokens: 3, completion_tokens: -1 }, { prompt_tokens: 1e308, completion_tokens: 1 }, { prompt_tokens: 3, completion_tokens: { n: 4 } }]) {
      assert.equal(validUsage(bad), null, JSON.stringify(bad));
    }
    assert.deepEqual([3, 0, -1, '3', 1e308, null, undefined, 2.5].map(tokenCount), [3, 0, 0, 0, 0, 0, 0, 2.5]);
  });
});
