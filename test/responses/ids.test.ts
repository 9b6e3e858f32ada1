/**
 * Response and item ids (responses-validate.ts newId): OpenAI's shape (a
 * prefix and 32 hex digits), time-ordered so the store's (org, id) index
 * grows at its right edge, and distinct.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { newId } from '../../src/api/responses-validate.ts';

it('a prefix, then 12 hex digits of the creation time in ms, then 20 random hex digits', () => {
  const before = Date.now();
  const id = newId('resp_');
  const after = Date.now();
  assert.match(id, /^resp_[0-9a-f]{32}$/);
  const ms = parseInt(id.slice(5, 17), 16);
  assert.ok(ms >= before && ms <= after, `${ms} not in [${before}, ${after}]`);
});

it('ids made later sort after earlier ones (a millisecond apart or more)', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) { ids.push(newId('resp_')); await sleep(2); }
  assert.deepEqual([...ids].sort(), ids);
});

it('distinct within one millisecond: the random part varies in every digit position', () => {
  const ids = Array.from({ length: 20_000 }, () => newId('msg_'));
  assert.equal(new Set(ids).size, ids.length);
  // No fixed digit left in the random part (a v4 UUID's version and variant digits are skipped).
  for (let pos = 4 + 12; pos < 4 + 32; pos++) assert.ok(new Set(ids.map((s) => s[pos])).size > 8, `digit ${pos - 4} barely varies`);
});
