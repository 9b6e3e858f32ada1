import { it } from 'node:test';
import assert from 'node:assert/strict';
import { LruCache } from '../../src/routing/cache.ts';

it('evicts the least recently used entry; get refreshes recency', () => {
  const c = new LruCache<string, number>(3);
  c.set('a', 1); c.set('b', 2); c.set('c', 3);
  assert.equal(c.get('a'), 1); // a is now newest: order b, c, a
  c.set('d', 4);               // evicts b
  assert.equal(c.peek('b'), undefined);
  assert.deepEqual([...c.keys()], ['c', 'a', 'd']);
  assert.equal(c.size, 3);
  assert.equal(c.evictions, 1);
  c.set('c', 30);              // update refreshes without evicting
  assert.deepEqual([...c.keys()], ['a', 'd', 'c']);
  assert.equal(c.get('c'), 30);
  assert.equal(c.get('zz'), undefined);
  assert.equal(c.hits, 2);
  assert.equal(c.misses, 1);
});

it('capacity 0 stores nothing; capacity 1 keeps the last', () => {
  const z = new LruCache<string, number>(0);
  z.set('a', 1);
  assert.equal(z.get('a'), undefined);
  assert.equal(z.size, 0);
  const one = new LruCache<string, number>(1);
  one.set('a', 1); one.set('b', 2);
  assert.deepEqual([...one.keys()], ['b']);
  assert.throws(() => new LruCache(-1), RangeError);
  assert.throws(() => new LruCache(1.5), RangeError);
});

it('stays O(1): 200k operations at capacity 1,000 in well under a second', () => {
  const c = new LruCache<number, number>(1000);
  const t0 = performance.now();
  for (let i = 0; i < 200_000; i++) { c.set(i % 3000, i); c.get((i * 7) % 3000); }
  assert.equal(c.size, 1000);
  assert.ok(performance.now() - t0 < 1000);
});
