/**
 * ClientGone: the edge's cheap stand-in for an AbortSignal (src/edge/exchange.ts).
 * The gateway and the upstream client only see the AbortHook interface, which a
 * real AbortSignal also satisfies; these are the semantics both must share.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientGone } from '../../src/edge/exchange.ts';
import type { AbortHook } from '../../src/providers/types.ts';

function hooks(): [string, () => { hook: AbortHook; abort(): void }][] {
  return [
    ['ClientGone', () => { const g = new ClientGone(); return { hook: g, abort: () => g.abort() }; }],
    ['AbortSignal', () => { const ac = new AbortController(); return { hook: ac.signal, abort: () => ac.abort() }; }],
  ];
}

describe('AbortHook semantics (ClientGone and AbortSignal alike)', () => {
  for (const [name, make] of hooks()) {
    it(`${name}: listeners run once, in order; removed ones do not; late ones never`, () => {
      const { hook, abort } = make();
      const log: string[] = [];
      const a = () => log.push('a'), b = () => log.push('b'), c = () => log.push('c');
      hook.addEventListener('abort', a, { once: true });
      hook.addEventListener('abort', b, { once: true });
      hook.addEventListener('abort', c, { once: true });
      hook.removeEventListener('abort', b);
      assert.equal(hook.aborted, false);
      abort();
      abort();
      assert.equal(hook.aborted, true);
      assert.deepEqual(log, ['a', 'c']);
      hook.addEventListener('abort', () => log.push('late'), { once: true });
      abort();
      assert.deepEqual(log, ['a', 'c']);
    });

    it(`${name}: removing the first listener keeps the rest`, () => {
      const { hook, abort } = make();
      const log: string[] = [];
      const a = () => log.push('a');
      hook.addEventListener('abort', a);
      hook.addEventListener('abort', () => log.push('b'));
      hook.removeEventListener('abort', a);
      hook.addEventListener('abort', () => log.push('c'));
      abort();
      assert.deepEqual(log, ['b', 'c']);
    });
  }
});
