/**
 * The prompt cache's Redis level (issue 12): two servers (separate state
 * directories, one Redis) share answers. A MISS on A is a HIT on B without
 * an upstream call (chat JSON and streams, and /v1/responses, where B's hit
 * is a new response); another organisation never hits; with Redis killed
 * each server still answers MISS then HIT from its local cache, never a 5xx;
 * a slow Redis (DEBUG SLEEP past state.redis.command_timeout_ms) is a miss.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { startRedis, type TestRedis } from './redis-server.ts';
import { KEY_A, KEY_B, call, startOrgGateway, type OrgGateway } from '../org/helpers.ts';

let redis: TestRedis;
let a: OrgGateway, b: OrgGateway;
const dirs: string[] = [];
const TTL = { 'x-gr-cache-ttl': '300' };

async function replica(url: string): Promise<OrgGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-pc-redis-'));
  dirs.push(dir);
  // Stored data stays on each replica's SQLite: this suite is about the cache alone.
  const g = await startOrgGateway({ state: { dir, redis: { url, store: 'sqlite', command_timeout_ms: 500 } } });
  await g.gw.server.engine.redis!.ready();
  return g;
}

before(async () => {
  redis = await startRedis({ args: ['--enable-debug-command', 'yes'] });
  a = await replica(redis.url);
  b = await replica(redis.url);
});
after(async () => {
  await a?.close();
  await b?.close();
  await redis?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const calls = (g: OrgGateway) => g.mocks.oa.stats().requests + g.mocks.an.stats().requests;
const chat = (g: OrgGateway, key: string, content: string, extra: Record<string, unknown> = {}) =>
  call(g.gw.base, key, 'POST', '/v1/chat/completions', { model: 'auto', messages: [{ role: 'user', content }], ...extra }, TTL);

describe('prompt cache level 2 (Redis)', () => {
  it('a MISS on A is a HIT on B, with no upstream call on B; the answer is the same', async () => {
    const miss = await chat(a, KEY_A, 'What is the boiling point of water?');
    assert.equal(miss.status, 200, miss.text);
    assert.equal(miss.headers.get('x-cache'), 'MISS');
    const nb = calls(b);
    const hit = await chat(b, KEY_A, 'What is the boiling point of water?');
    assert.equal(hit.headers.get('x-cache'), 'HIT', hit.text);
    assert.equal(calls(b), nb, 'B called no upstream');
    assert.deepEqual(hit.json.choices, miss.json.choices);
    assert.equal(hit.json.switchyard.cost_usd, 0);
    const keys = redis.cli('--scan', '--pattern', '*pcache*').trim().split('\n').filter(Boolean);
    assert.ok(keys.length >= 1 && keys.every((k) => k.includes('{org_a}')), `keys carry the organisation: ${keys.join(' ')}`);
  });

  it('another organisation never hits the entry', async () => {
    await chat(a, KEY_A, 'Who wrote Hamlet?');
    const other = await chat(b, KEY_B, 'Who wrote Hamlet?');
    assert.equal(other.headers.get('x-cache'), 'MISS');
  });

  it('a streamed answer is shared too, replayed as the same stream', async () => {
    const miss = await chat(a, KEY_A, 'Count to five.', { stream: true });
    assert.equal(miss.headers.get('x-cache'), 'MISS');
    const hit = await chat(b, KEY_A, 'Count to five.', { stream: true });
    assert.equal(hit.headers.get('x-cache'), 'HIT');
    assert.equal(hit.text, miss.text);
  });

  it('/v1/responses: a MISS on A is a HIT on B, as a new response stored on B', async () => {
    const body = { model: 'auto', input: 'Name a prime number above 100.' };
    const miss = await call(a.gw.base, KEY_A, 'POST', '/v1/responses', body, TTL);
    assert.equal(miss.headers.get('x-cache'), 'MISS');
    const nb = calls(b);
    const hit = await call(b.gw.base, KEY_A, 'POST', '/v1/responses', body, TTL);
    assert.equal(hit.headers.get('x-cache'), 'HIT', hit.text);
    assert.equal(calls(b), nb);
    assert.notEqual(hit.json.id, miss.json.id);
    assert.equal((await call(b.gw.base, KEY_A, 'GET', `/v1/responses/${hit.json.id}`)).status, 200);
  });

  it('a slow Redis (DEBUG SLEEP past command_timeout_ms): the lookup is a miss, answered upstream, no error', async () => {
    await chat(a, KEY_A, 'Asked while Redis sleeps.');
    const sleeper = spawn('redis-cli', ['-p', String(redis.port), 'DEBUG', 'SLEEP', '2'], { stdio: 'ignore' });
    const done = once(sleeper, 'exit');
    try {
      await new Promise((r) => setTimeout(r, 150));
      const nb = calls(b);
      const r = await chat(b, KEY_A, 'Asked while Redis sleeps.');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-cache'), 'MISS', 'the Redis entry could not be read in time');
      assert.equal(calls(b), nb + 1, 'answered upstream');
    } finally {
      await done;
    }
  });

  it('Redis killed: each server still answers, MISS then HIT locally, B\'s earlier hit still local; never a 5xx', async () => {
    await chat(a, KEY_A, 'Warm B before the outage.');
    assert.equal((await chat(b, KEY_A, 'Warm B before the outage.')).headers.get('x-cache'), 'HIT');
    await redis.kill();
    try {
      const still = await chat(b, KEY_A, 'Warm B before the outage.');
      assert.equal(still.status, 200);
      assert.equal(still.headers.get('x-cache'), 'HIT', 'the Redis hit was copied into B\'s local cache');
      for (const g of [a, b]) {
        const m = await chat(g, KEY_A, `During the outage on ${g === a ? 'A' : 'B'}.`);
        assert.equal(m.status, 200, m.text);
        assert.equal(m.headers.get('x-cache'), 'MISS');
        const h = await chat(g, KEY_A, `During the outage on ${g === a ? 'A' : 'B'}.`);
        assert.equal(h.status, 200);
        assert.equal(h.headers.get('x-cache'), 'HIT');
      }
      // A's outage entry never reached Redis: B misses it (and answers).
      const miss = await chat(b, KEY_A, 'During the outage on A.');
      assert.equal(miss.status, 200);
      assert.equal(miss.headers.get('x-cache'), 'MISS');
    } finally {
      await redis.restart();
    }
  });
});
