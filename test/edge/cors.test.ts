/**
 * Cors (src/edge/cors.ts) as a unit: which origins get headers, the preflight
 * answer, and the bound on its per-origin header cache. Origins compare
 * case-insensitively, so every case variant of an allowed origin is allowed;
 * each used to get its own cache entry, and a client sending
 * "http://a.EXAMPLE", "http://A.example", ... grew the Map without bound
 * (2^letters variants, a few hundred bytes each, in every HTTP thread).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cors, allowedHeaders } from '../../src/edge/cors.ts';

/** The i-th case variant of `s` (bit j of i upper-cases letter j). */
function variant(s: string, i: number): string {
  let out = '', j = 0;
  for (const ch of s) {
    if (/[a-z]/.test(ch)) { out += (i >> j) & 1 ? ch.toUpperCase() : ch; j++; } else out += ch;
  }
  return out;
}

describe('Cors', () => {
  it('allows configured origins (any case, trailing slash in the config ignored), refuses others', () => {
    const c = new Cors(['https://app.example.com/']);
    const h = c.forOrigin('https://app.example.com');
    assert.deepEqual(h?.find(([k]) => k === 'access-control-allow-origin'), ['access-control-allow-origin', 'https://app.example.com']);
    assert.ok(c.forOrigin('https://APP.example.com'));
    assert.equal(c.forOrigin('https://evil.example.com'), undefined);
    assert.equal(c.forOrigin(''), undefined);
    assert.equal(allowedHeaders('Authorization, X-Evil, x-stainless-os'), 'authorization, x-stainless-os');
  });

  it('keeps a bounded cache however many case variants of an allowed origin a client sends', () => {
    const origin = 'https://chat.example.com';
    const c = new Cors([origin]);
    for (let i = 0; i < 5000; i++) {
      const v = variant(origin, i);
      const h = c.forOrigin(v);
      assert.ok(h, v);
      // Each answer still echoes the origin the request sent.
      assert.equal(h![0][1], v);
    }
    const size = (c as unknown as { actual: Map<string, unknown> }).actual.size;
    assert.ok(size <= 1024, `cache holds ${size} entries`);
  });
});
