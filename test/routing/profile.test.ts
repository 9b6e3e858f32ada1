import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveProfile, loadProfile, ProfileError, costNormalisation } from '../../src/routing/profile.ts';
import { handProfile } from './helpers.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/fit/options.ts';
import { loadNativeTables, NativeEmbedder } from '../../src/routing/embedders/native.ts';

const ident = { id: 'test', dim: 8, hash: '0123456789abcdef' };

function saved(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sy-profile-'));
  saveProfile(dir, handProfile([[0.1, 0.2, NaN], [0.3, 0.4, 0.5]], [1, 10, 100]));
  return dir;
}

function editManifest(dir: string, edit: (m: any) => void): void {
  const p = join(dir, 'profile.json');
  const m = JSON.parse(readFileSync(p, 'utf8'));
  edit(m);
  writeFileSync(p, JSON.stringify(m));
}

describe('router profile', () => {
  it('round-trips tables, models and NaN (unknown) cells', () => {
    const src = handProfile([[0.1, 0.2, NaN], [0.3, 0.4, 0.5]], [1, 10, 100]);
    const dir = saved();
    const p = loadProfile(dir, ident);
    assert.deepEqual(p.models, ['m0', 'm1', 'm2']);
    assert.equal(p.k, 2);
    assert.deepEqual(p.centroids, src.centroids);
    assert.ok(Number.isNaN(p.errors[2]));
    assert.deepEqual([...p.errors].slice(3), [...src.errors].slice(3));
    assert.deepEqual(p.counts, src.counts);
    assert.deepEqual([...p.costNorm], [0, 0.5, 1]);
  });

  it('refuses a mismatched embedder, naming what differs', () => {
    const dir = saved();
    assert.throws(() => loadProfile(dir, { ...ident, id: 'other' }), /fitted with embedder "test", but the configured embedder is "other"/);
    assert.throws(() => loadProfile(dir, { ...ident, dim: 384 }), /dim 8, but the configured embedder has dim 384/);
    assert.throws(() => loadProfile(dir, { ...ident, hash: 'ffffffffffffffff' }), /hash/);
  });

  it('refuses corrupt tables: wrong size, wrong checksum, missing file', () => {
    let dir = saved();
    const c = readFileSync(join(dir, 'errors.f32')); c[0] ^= 1; writeFileSync(join(dir, 'errors.f32'), c);
    assert.throws(() => loadProfile(dir), /errors\.f32: sha256 does not match/);
    dir = saved();
    writeFileSync(join(dir, 'centroids.f32'), new Uint8Array(12));
    assert.throws(() => loadProfile(dir), /centroids\.f32: is 12 bytes, expected 64/);
    dir = saved();
    rmSync(join(dir, 'counts.u32'));
    assert.throws(() => loadProfile(dir), /counts\.u32: cannot read \(ENOENT\)/);
    assert.throws(() => loadProfile(join(dir, 'nope')), /profile\.json: cannot read/);
  });

  it('refuses bad manifests field by field', () => {
    const cases: [(m: any) => void, RegExp][] = [
      [(m) => { m.format = 'x'; }, /"format" must be/],
      [(m) => { m.version = 99; }, /"version" 99 is not supported/],
      [(m) => { m.k = 0; }, /"k" must be a positive integer/],
      [(m) => { m.models[1].name = 'm0'; }, /models\[1\]\.name" duplicates "m0"/],
      [(m) => { m.models[2].cost_per_1k = -1; }, /models\[2\]\.cost_per_1k"/],
      [(m) => { m.models[0].pricing = { input_per_1m: 'x' }; }, /models\[0\]\.pricing\.input_per_1m"/],
      [(m) => { m.assignment.mode = 'fuzzy'; }, /"assignment\.mode"/],
      [(m) => { m.embedder.hash = 'XYZ'; }, /"embedder\.hash"/],
      [(m) => { delete m.sha256['errors.f32']; }, /"sha256" has no entry for errors\.f32/],
      [(m) => { m.k = 3; }, /centroids\.f32: is 64 bytes, expected 96/],
    ];
    for (const [edit, re] of cases) {
      const dir = saved();
      editManifest(dir, edit);
      assert.throws(() => loadProfile(dir), (e: Error) => e instanceof ProfileError && re.test(e.message), String(re));
    }
    const dir = saved();
    writeFileSync(join(dir, 'profile.json'), '{not json');
    assert.throws(() => loadProfile(dir), /not valid JSON/);
  });

  it('refuses error cells outside [0, 1]', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-profile-'));
    saveProfile(dir, handProfile([[0.1, 1.5]], [1, 2]));
    assert.throws(() => loadProfile(dir), /cluster 0, model "m1"\) is 1\.5/);
  });

  it('refuses negative error cells and non-finite centroids, naming the entry', () => {
    const neg = mkdtempSync(join(tmpdir(), 'sy-profile-'));
    saveProfile(neg, handProfile([[0.1, 0.2], [-0.5, NaN]], [1, 2]));
    assert.throws(() => loadProfile(neg), /errors\.f32: entry 2 \(cluster 1, model "m0"\) is -0\.5/);
    const inf = mkdtempSync(join(tmpdir(), 'sy-profile-'));
    const p = handProfile([[0.1, 0.2]], [1, 2]);
    p.centroids[3] = Infinity;
    saveProfile(inf, p);
    assert.throws(() => loadProfile(inf), /centroids\.f32: entry 3 is not finite/);
  });

  it('cost normalisation: log range, cheapest 0, dearest 1', () => {
    const n = costNormalisation([0.1, 1, 10]);
    assert.deepEqual([...n.norm], [0, 0.5, 1]);
    assert.deepEqual([...costNormalisation([2, 2]).norm], [0, 0]);
  });

  it('the shipped default profile loads with the shipped embedder: 100 clusters, 11 RouterBench models', () => {
    const e = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
    const p = loadProfile(DEFAULT_PROFILE_DIR, e);
    assert.equal(p.k, 100);
    assert.equal(p.models.length, 11);
    assert.ok(p.models.includes('gpt-4-1106-preview') && p.models.includes('mistralai/mistral-7b-chat'));
  });
});
