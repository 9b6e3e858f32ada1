/**
 * An organisation's compiled preferences and feedback (src/api/org-state.ts)
 * with the Redis store: when the bus message of a change never arrives, the
 * once-a-second version check (OrgStore.generation) still brings the change
 * in, and while Redis is down the last compiled state keeps routing.
 *
 * Two servers in this one process stand for two replicas: they share the
 * replica id (host:pid) the bus messages carry, so each skips the other's
 * messages as its own. That is the lost-message case, made certain.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis, type TestRedis } from './redis-server.ts';
import { startTestServer, type TestServer } from '../server/helpers.ts';
import { PROMPTS } from '../server/helpers.ts';

let redis: TestRedis;
let a: TestServer, b: TestServer;
const dirs: string[] = [];

before(async () => {
  redis = await startRedis();
  const server = () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-org-state-'));
    dirs.push(dir);
    return startTestServer({ state: { dir, redis: { url: redis.url, key_prefix: `orgstate-${process.pid}` } } });
  };
  [a, b] = await Promise.all([server(), server()]);
  // Each Engine connects in the background (a replica starts without Redis); wait for the connections.
  await Promise.all([a.server.engine.redis!.ready(), b.server.engine.redis!.ready()]);
});
after(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await redis?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function route(t: TestServer): Promise<string> {
  const r = await fetch(`${t.base}/v1/route`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: PROMPTS[0] }) });
  assert.equal(r.status, 200);
  return ((await r.json()) as { selected_model: string }).selected_model;
}

async function eventually(cond: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) { if (Date.now() > end) throw new Error(`timed out: ${what}`); await sleep(50); }
}

describe('org state across replicas without the bus', () => {
  it('a preference set through one server reaches the other by the version check alone; Redis down, the last compiled state holds', async () => {
    const victim = await route(b);
    // b has compiled the default organisation now; the change goes through a.
    const put = await fetch(`${a.base}/v1/preferences/excluded_models`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: [victim] }) });
    assert.equal(put.status, 200, await put.text());
    await eventually(async () => (await route(b)) !== victim, 'b stops choosing the excluded model');

    await redis.kill();
    await eventually(async () => b.server.engine.redis!.state().status === 'down', 'b sees Redis down');
    // Past a check period with Redis down: still excluded (the failed check keeps the compiled state).
    await sleep(1_500);
    for (let i = 0; i < 3; i++) assert.notEqual(await route(b), victim);

    // Redis returns empty (no persistence): the version is gone, so b drops the exclusion.
    await redis.restart();
    await eventually(async () => b.server.engine.redis!.state().status === 'ready', 'b reconnects');
    await eventually(async () => (await route(b)) === victim, 'b routes on the profile again');
  });
});
