import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Balancer } from '../../src/providers/balancer.ts';
import type { Backend } from '../../src/providers/types.ts';

const b = (id: string): Backend => ({ id, provider: 'openai', baseUrl: 'http://x', upstreamModel: 'm', apiKey: 'k' });

describe('Balancer', () => {
  it('rotates round-robin per model, skips backends marked down until the mark expires', () => {
    let now = 0;
    const bal = new Balancer(() => now);
    const list = [b('a'), b('b'), b('c')];
    assert.deepEqual([1, 2, 3, 4].map(() => bal.pick('m', list)?.id), ['a', 'b', 'c', 'a']);
    assert.equal(bal.pick('other', list)?.id, 'a', 'each model has its own rotation');
    bal.markDown('c', 1000);
    assert.deepEqual([1, 2, 3].map(() => bal.pick('m', list)?.id), ['b', 'a', 'b']);
    now = 1000;
    assert.equal(bal.isDown('c'), false);
    assert.deepEqual([1, 2, 3].map(() => bal.pick('m', list)?.id), ['c', 'a', 'b']);
  });

  it('returns null when every backend is down or there is none', () => {
    const bal = new Balancer(() => 0);
    bal.markDown('a', 10);
    assert.equal(bal.pick('m', [b('a')]), null);
    assert.equal(bal.pick('m', []), null);
  });
});
