/**
 * Profile hot reload (issue 13): POST /v1/router/reload swaps the profile on
 * every HTTP thread without failing a request in flight; /health reports the
 * profile id and version; a bad profile is refused (422 profile_rejected) and
 * the old one stays; the decision cache never serves the old profile's
 * decisions; the admin role is required once the organisation defines roles.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertError, get, post, startTestServer, type TestServer } from './helpers.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/fit/options.ts';
import { loadProfile, saveProfile } from '../../src/routing/profile.ts';
import { writeSyntheticProfile } from './synthetic-profile.ts';

const root = mkdtempSync(join(tmpdir(), 'reload-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A copy of the default profile with another default λ (so decisions differ visibly) and name. */
function variant(name: string, lambda: number): string {
  const dir = join(root, name);
  cpSync(DEFAULT_PROFILE_DIR, dir, { recursive: true });
  const p = loadProfile(dir);
  p.manifest = { ...p.manifest, name, default_cost_weight: lambda };
  saveProfile(dir, p);
  return dir;
}

/** A copy whose errors table was edited after the manifest recorded its sha256. */
function corrupt(): string {
  const dir = join(root, 'corrupt');
  cpSync(DEFAULT_PROFILE_DIR, dir, { recursive: true });
  const f = join(dir, 'errors.f32');
  const b = readFileSync(f);
  b[0] ^= 0xff;
  writeFileSync(f, b);
  return dir;
}

const B = variant('reload-b', 0.9);
const BAD = corrupt();

async function health(base: string): Promise<any> {
  const r = await get(base, '/health');
  assert.equal(r.status, 200);
  return r.json;
}

/**
 * `clients` loops of /v1/route (distinct prompts: each misses the cache and
 * routes) until `stop` resolves; returns every status seen.
 */
async function hammer(base: string, clients: number, stop: Promise<void>): Promise<number[]> {
  const statuses: number[] = [];
  let done = false;
  void stop.then(() => { done = true; });
  let n = 0;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    while (!done) {
      const res = await fetch(`${base}/v1/route`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: `client ${c} prompt ${n++}: write a sorting function in Rust` }) });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
  }));
  return statuses;
}

async function reloadUnderLoad(s: TestServer, times: number): Promise<void> {
  const before = await health(s.base);
  let release!: () => void;
  const stop = new Promise<void>((r) => { release = r; });
  const load = hammer(s.base, 8, stop);
  const seen: number[] = [];
  try {
    for (let i = 0; i < times; i++) {
      // Let requests pile up between reloads, then swap.
      await new Promise((r) => setTimeout(r, 30));
      const r = await post(s.base, '/v1/router/reload', i % 2 === 0 ? { profile: B } : {});
      assert.equal(r.status, 200, JSON.stringify(r.json));
      seen.push(r.json.version);
    }
  } finally { release(); }
  const statuses = await load;
  assert.ok(statuses.length > times, `requests ran during the reloads (${statuses.length})`);
  const bad = statuses.filter((x) => x < 200 || x > 299);
  assert.deepEqual(bad, [], `${bad.length} of ${statuses.length} requests failed during ${times} reloads`);
  assert.deepEqual(seen, Array.from({ length: times }, (_, i) => before.profile_version + i + 1));
  const h = await health(s.base);
  assert.equal(h.profile_version, before.profile_version + times);
}

describe('POST /v1/router/reload, one HTTP thread', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(async () => { await s.close(); });

  it('/health reports the profile id, version 1 and the directory at start', async () => {
    const h = await health(s.base);
    assert.equal(h.profile_version, 1);
    assert.match(h.profile_id, /^[0-9a-f]{16}$/);
    assert.equal(h.router, 'clusters');
    assert.equal(h.profile, 'routerbench-default');
  });

  it('swaps in another directory: new id and version, new default λ, no stale cache hit; no body = the configured profile', async () => {
    const prompt = 'Explain the difference between a mutex and a semaphore.';
    const first = await post(s.base, '/v1/route', { prompt });
    const again = await post(s.base, '/v1/route', { prompt });
    assert.equal(again.json.cache_hit, true);
    const h0 = await health(s.base);

    const r = await post(s.base, '/v1/router/reload', { profile: B });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.object, 'router.profile');
    assert.equal(r.json.status, 'reloaded');
    assert.equal(r.json.profile, 'reload-b');
    assert.equal(r.json.version, h0.profile_version + 1);
    assert.equal(r.json.dir, B);
    const h1 = await health(s.base);
    assert.equal(h1.profile_version, h0.profile_version + 1);
    assert.notEqual(h1.profile_id, h0.profile_id);
    assert.equal(h1.profile_id, r.json.profile_id);
    assert.equal(h1.profile, 'reload-b');

    const after1 = await post(s.base, '/v1/route', { prompt });
    assert.equal(after1.json.cache_hit, false, 'the old profile\'s cached decision is not served');
    assert.equal(after1.json.cost_weight, 0.9);
    assert.notEqual(first.json.cost_weight, 0.9);

    const back = await post(s.base, '/v1/router/reload', '');
    assert.equal(back.status, 200, JSON.stringify(back.json));
    assert.equal(back.json.profile, 'routerbench-default');
    assert.equal(back.json.profile_id, h0.profile_id, 'the same files give the same id');
    assert.equal((await post(s.base, '/v1/route', { prompt })).json.cost_weight, first.json.cost_weight);
  });

  it('refuses a corrupt or missing profile with profile_rejected naming the reason; the old one keeps serving', async () => {
    const h0 = await health(s.base);
    const bad = await post(s.base, '/v1/router/reload', { profile: BAD });
    assertError(bad, 'profile_rejected', 'profile');
    assert.match(bad.json.error.message, /errors\.f32: sha256 does not match/);
    assert.match(bad.json.error.message, /previous profile .* is still in service/);
    const missing = await post(s.base, '/v1/router/reload', { profile: join(root, 'nope') });
    assertError(missing, 'profile_rejected', 'profile');
    assert.match(missing.json.error.message, /nope.*cannot read/);
    const h1 = await health(s.base);
    assert.equal(h1.profile_version, h0.profile_version);
    assert.equal(h1.profile_id, h0.profile_id);
    assert.equal((await post(s.base, '/v1/route', { prompt: 'still routing?' })).status, 200);
  });

  it('refuses another embedder\'s profile (the embedder check of the start)', async () => {
    const dir = join(root, 'other-embedder');
    cpSync(DEFAULT_PROFILE_DIR, dir, { recursive: true });
    const p = loadProfile(dir);
    p.manifest = { ...p.manifest, embedder: { ...p.manifest.embedder, hash: createHash('sha256').update('x').digest('hex') } };
    saveProfile(dir, p);
    const r = await post(s.base, '/v1/router/reload', { profile: dir });
    assertError(r, 'profile_rejected', 'profile');
    assert.match(r.json.error.message, /fitted with embedder hash/);
  });

  it('checks its body: profile must be a string, unknown fields refused', async () => {
    assertError(await post(s.base, '/v1/router/reload', { profile: 42 }), 'invalid_request', 'profile');
    assertError(await post(s.base, '/v1/router/reload', { profile: '' }), 'invalid_request', 'profile');
    assertError(await post(s.base, '/v1/router/reload', { dir: B }), 'invalid_request', 'dir');
    assertError(await post(s.base, '/v1/router/reload', '[1]'), 'invalid_request', 'body');
  });

  it('under load: 6 reloads while 8 clients route, zero non-2xx', async () => {
    await reloadUnderLoad(s, 6);
  });
});

describe('POST /v1/router/reload, two HTTP threads', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer({ server: { threads: 2 } }); });
  after(async () => { await s.close(); });

  it('under load: 6 reloads while 8 clients route, zero non-2xx; every thread reports the new version', async () => {
    await reloadUnderLoad(s, 6);
    // Fresh connections land on either thread (SO_REUSEPORT): all must agree.
    const versions = new Set<number>(), threads = new Set<number>();
    for (let i = 0; i < 16; i++) {
      const res = await fetch(`${s.base}/health`, { headers: { connection: 'close' } });
      const h = await res.json() as any;
      versions.add(h.profile_version); threads.add(h.thread);
    }
    assert.equal(versions.size, 1, `versions seen: ${[...versions]}`);
    assert.equal([...versions][0], 7);
  });

  it('a refused profile changes no thread', async () => {
    const h0 = await health(s.base);
    assertError(await post(s.base, '/v1/router/reload', { profile: BAD }), 'profile_rejected', 'profile');
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${s.base}/health`, { headers: { connection: 'close' } });
      const h = await res.json() as any;
      assert.equal(h.profile_id, h0.profile_id);
      assert.equal(h.profile_version, h0.profile_version);
    }
  });

  it('server.reload() (what SIGHUP calls) reloads every thread', async () => {
    const h0 = await health(s.base);
    const r = await s.server.reload(B, 'signal');
    assert.equal(r.version, h0.profile_version + 1);
    assert.equal((await health(s.base)).profile, 'reload-b');
  });
});

describe('POST /v1/router/reload and roles', () => {
  const ADMIN = 'reload-admin-key-0123456789', USER = 'reload-user-key-0123456789', FLAT = 'reload-flat-key-0123456789';
  const sha = (k: string) => createHash('sha256').update(k).digest('hex');
  let s: TestServer;
  before(async () => {
    s = await startTestServer({
      server: { api_keys: [FLAT] },
      tenants: [{ id: 'org_r', keys: [{ id: 'ops', sha256: sha(ADMIN), roles: ['admin'] }, { id: 'app', sha256: sha(USER) }] }],
    });
  });
  after(async () => { await s.close(); });

  it('401 without a key; 403 for a key without admin in an organisation with roles; 200 for admin and for flat api_keys', async () => {
    assertError(await post(s.base, '/v1/router/reload', {}), 'unauthorized');
    assertError(await post(s.base, '/v1/router/reload', {}, { authorization: `Bearer ${USER}` }), 'forbidden');
    assertError(await post(s.base, '/v1/router/models', { name: 'x', rows: [{ prompt: 'p', score: 1, cost_usd: 0.001 }] }, { authorization: `Bearer ${USER}` }), 'forbidden');
    assert.equal((await post(s.base, '/v1/router/reload', {}, { authorization: `Bearer ${ADMIN}` })).status, 200);
    assert.equal((await post(s.base, '/v1/router/reload', {}, { authorization: `Bearer ${FLAT}` })).status, 200);
  });
});

describe('POST /v1/router/reload with the route pool (router.nearest: pool)', () => {
  let s: TestServer;
  const p1 = join(root, 'pool-1'), p2 = join(root, 'pool-2');
  before(async () => {
    writeSyntheticProfile(p1, { k: 64, seed: 11, name: 'pool-a' });
    writeSyntheticProfile(p2, { k: 80, seed: 12, name: 'pool-b' });
    s = await startTestServer({ router: { profile: p1, nearest: 'pool' }, embedder: { kind: 'native', dir: DEFAULT_PROFILE_DIR }, workers: 2 });
  });
  after(async () => { await s.close(); });

  it('builds the new profile\'s pool before the swap: zero non-2xx under load, /health shows the new pool', async () => {
    assert.equal((await health(s.base)).routing, 'pool');
    let release!: () => void;
    const stop = new Promise<void>((r) => { release = r; });
    const load = hammer(s.base, 6, stop);
    try {
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 30));
        const r = await post(s.base, '/v1/router/reload', { profile: i % 2 === 0 ? p2 : p1 });
        assert.equal(r.status, 200, JSON.stringify(r.json));
      }
      const r = await post(s.base, '/v1/router/reload', { profile: p2 });
      assert.equal(r.json.k, 80);
    } finally { release(); }
    const statuses = await load;
    assert.deepEqual(statuses.filter((x) => x !== 200), [], `of ${statuses.length}`);
    const h = await health(s.base);
    assert.equal(h.profile, 'pool-b');
    assert.equal(h.routing, 'pool');
    assert.equal(h.route_pool.k, 80);
    const d = await post(s.base, '/v1/route', { prompt: 'which pool?' });
    assert.ok(d.json.cluster_id >= 0 && d.json.cluster_id < 80);
  });
});

describe('POST /v1/router/reload and an organisation\'s compiled preferences', () => {
  it('an excluded model stays excluded after a reload that reorders the models (masks are rebuilt for the new profile)', async () => {
    // The default profile with its models in reverse order (columns of errors and counts moved with them).
    const dir = join(root, 'reversed');
    cpSync(DEFAULT_PROFILE_DIR, dir, { recursive: true });
    const p = loadProfile(dir);
    const M = p.models.length, K = p.k;
    const order = p.models.map((_, i) => M - 1 - i);
    const errors = new Float32Array(K * M), counts = new Uint32Array(K * M);
    for (let k = 0; k < K; k++) for (let j = 0; j < M; j++) { errors[k * M + j] = p.errors[k * M + order[j]]; counts[k * M + j] = p.counts[k * M + order[j]]; }
    p.manifest = { ...p.manifest, name: 'reversed', models: order.map((i) => p.manifest.models[i]) };
    saveProfile(dir, { ...p, models: p.manifest.models.map((m) => m.name), errors, counts });
    const s = await startTestServer({ state: { dir: mkdtempSync(join(root, 'org-')) } });
    try {
      const victim = 'claude-v1';
      const put = await fetch(`${s.base}/v1/preferences/excluded_models`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: [victim] }) });
      assert.equal(put.status, 200, await put.text());
      const before1 = await post(s.base, '/v1/route', { prompt: 'Summarise this contract in plain English.', cost_weight: 0 });
      assert.equal(before1.json.all_scores[victim], undefined);
      assert.equal(Object.keys(before1.json.all_scores).length, M - 1);
      assert.equal((await post(s.base, '/v1/router/reload', { profile: dir })).status, 200);
      for (const prompt of ['Summarise this contract in plain English.', 'Write a Go HTTP server.', 'What is 17 * 23?']) {
        const d = await post(s.base, '/v1/route', { prompt, cost_weight: 0 });
        assert.equal(d.status, 200);
        assert.equal(d.json.all_scores[victim], undefined, `${victim} excluded after the reload`);
        assert.notEqual(d.json.selected_model, victim);
        assert.equal(Object.keys(d.json.all_scores).length, M - 1);
      }
    } finally { await s.close(); }
  });
});
