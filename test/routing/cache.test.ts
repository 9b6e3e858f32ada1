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

it('delete keeps the recency list intact; clear empties it', () => {
  const c = new LruCache<string, number>(4);
  for (const k of ['a', 'b', 'c', 'd']) c.set(k, k.charCodeAt(0));
  assert.equal(c.delete('b'), true);
  assert.equal(c.delete('b'), false);
  assert.deepEqual([...c.keys()], ['a', 'c', 'd']);
  c.get('a');
  c.set('e', 5);
  c.set('f', 6); // full again: evicts c, the least recent
  assert.deepEqual([...c.keys()], ['d', 'a', 'e', 'f']);
  assert.equal(c.peek('c'), undefined);
  assert.equal(c.get('d'), 100);
  c.clear();
  assert.equal(c.size, 0);
  assert.deepEqual([...c.keys()], []);
  c.set('x', 1);
  assert.deepEqual([...c.keys()], ['x']);
});

it('evicting under a stream of unique keys stays O(1) (Map-order eviction was O(holes))', () => {
  // The old version walked every deleted Map entry on each eviction: ~4 µs each at 10k.
  const c = new LruCache<string, number>(10_000);
  const keys = Array.from({ length: 200_000 }, (_, i) => `key ${i} `.padEnd(200, '.'));
  const t0 = performance.now();
  for (let i = 0; i < keys.length; i++) if (c.get(keys[i]) === undefined) c.set(keys[i], i);
  const us = (1000 * (performance.now() - t0)) / keys.length;
  assert.equal(c.size, 10_000);
  assert.equal(c.evictions, 190_000);
  assert.ok(us < 2, `${us.toFixed(2)} µs per miss + set`);
});
