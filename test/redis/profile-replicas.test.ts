/**
 * Profile changes across replicas (issue 13 over issue 12's bus): real
 * replica processes on one Redis and one shared versions directory. A reload
 * on one replica is loaded by the other; a model added on one is served by
 * both and survives a restart; SIGHUP reloads the configured profile.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type TestRedis } from './redis-server.ts';
import { startReplicas, type ReplicaSet } from './replicas.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/fit/options.ts';
import { loadProfile, saveProfile } from '../../src/routing/profile.ts';

const root = mkdtempSync(join(tmpdir(), 'profile-replicas-'));
const versions = join(root, 'versions');

async function health(base: string): Promise<any> {
  const r = await fetch(`${base}/health`);
  return r.json();
}

async function until(what: string, f: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`not within ${ms} ms: ${what}`);
}

async function postJson(base: string, path: string, body: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

describe('profile reload and added models across replicas (Redis bus, shared versions_dir)', () => {
  let redis: TestRedis;
  let set: ReplicaSet;
  const B = join(root, 'variant');
  before(async () => {
    cpSync(DEFAULT_PROFILE_DIR, B, { recursive: true });
    const p = loadProfile(B);
    p.manifest = { ...p.manifest, name: 'replica-variant', default_cost_weight: 0.7 };
    saveProfile(B, p);
    redis = await startRedis();
    set = await startReplicas({ n: 2, redisUrl: redis.url, config: { router: { versions_dir: versions } } });
  });
  after(async () => {
    await set?.stop();
    await redis?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('a reload on one replica reaches the other', async () => {
    const [a, b] = set.replicas;
    const r = await postJson(a.base, '/v1/router/reload', { profile: B });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    await until('replica 1 on the variant', async () => (await health(b.base)).profile_id === r.json.profile_id);
    assert.equal((await health(b.base)).profile, 'replica-variant');
    const d = await postJson(b.base, '/v1/route', { prompt: 'hello there' });
    assert.equal(d.json.cost_weight, 0.7);
  });

  it('a model added on one replica is served by both, and by a restarted one', async () => {
    const [a, b] = set.replicas;
    const rows = Array.from({ length: 40 }, (_, i) => ({ prompt: `replica question ${i} about ${i % 2 ? 'code' : 'poetry'}`, score: i % 3 ? 1 : 0, cost_usd: 0.001 }));
    const r = await postJson(b.base, '/v1/router/models', { name: 'replica-added', rows });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    await until('replica 0 has the added model', async () => (await health(a.base)).models.includes('replica-added'));
    assert.equal(await a.stop(), 0);
    await a.restart();
    const h = await health(a.base);
    assert.ok(h.models.includes('replica-added'), 'survives a restart through the shared current.json');
    const d = await postJson(a.base, '/v1/route', { prompt: 'hello', available_models: ['replica-added'] });
    assert.equal(d.json.selected_model, 'replica-added');
  });

  it('SIGHUP reloads the configured profile (the newest version); the log says so', async () => {
    const a = set.replicas[0];
    const before = await health(a.base);
    a.proc()!.kill('SIGHUP');
    await until('version +1 after SIGHUP', async () => (await health(a.base)).profile_version === before.profile_version + 1).catch((e) => { console.log(a.log()); throw e; });
    const h = await health(a.base);
    assert.ok(h.models.includes('replica-added'));
    // The line reaches us through the child's stdout pipe, which can trail /health by a moment.
    await until('the reload logged', async () => /profile reloaded \(signal\)/.test(a.log()), 10_000).catch((e) => { console.log(a.log()); throw e; });
  });
});
