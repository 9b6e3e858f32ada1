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

it('stays at capacity through 200k mixed sets and gets, and counts them', () => {
  // How fast is a benchmark's business (bench/); here only the bookkeeping.
  const c = new LruCache<number, number>(1000);
  for (let i = 0; i < 200_000; i++) { c.set(i % 3000, i); c.get((i * 7) % 3000); }
  assert.equal(c.size, 1000);
  assert.equal(c.hits + c.misses, 200_000);
  assert.ok(c.evictions > 0);
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

it('evicting under a stream of unique keys never iterates the Map (Map-order eviction was O(holes))', () => {
  // The old version evicted `map.keys().next().value`: V8's iterator steps over
  // every deleted entry, ~4 µs an eviction at 10k. The property that keeps the
  // new one O(1) is that nothing iterates the Map; checked by counting
  // iterator calls, not by timing (timed unit tests fail on a busy machine).
  const c = new LruCache<string, number>(1000);
  const calls = { n: 0 };
  const proto = Map.prototype as unknown as Record<string | symbol, (...a: unknown[]) => unknown>;
  const names: (string | symbol)[] = ['keys', 'values', 'entries', 'forEach', Symbol.iterator];
  const saved = names.map((k) => proto[k]);
  names.forEach((k, i) => { proto[k] = function (this: unknown, ...a: unknown[]) { calls.n++; return saved[i].apply(this, a); }; });
  try {
    for (let i = 0; i < 20_000; i++) if (c.get(`key ${i}`) === undefined) c.set(`key ${i}`, i);
    for (let i = 19_000; i < 20_000; i += 7) c.get(`key ${i}`); // hits relink too
  } finally {
    names.forEach((k, i) => { proto[k] = saved[i]; });
  }
  assert.equal(calls.n, 0, 'the cache iterated a Map');
  assert.equal(c.size, 1000);
  assert.equal(c.evictions, 19_000);
  assert.equal(c.peek('key 18999'), undefined);
  assert.equal(c.peek('key 19000'), 19_000);
});
