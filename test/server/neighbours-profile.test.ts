/**
 * The server serves cluster profiles only (issue 13): a neighbours profile
 * is refused at start with the reason, instead of being served from its
 * cluster tables alone (which would route worse than it was evaluated).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer } from './helpers.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/fit/options.ts';
import { loadProfile, saveProfile } from '../../src/routing/profile.ts';

describe('server start with a neighbours profile', () => {
  it('is refused naming router.kind; the same tables as a clusters profile start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nb-server-'));
    try {
      cpSync(DEFAULT_PROFILE_DIR, dir, { recursive: true });
      const p = loadProfile(dir);
      const M = p.models.length;
      p.manifest = { ...p.manifest, router: { kind: 'neighbours', k: 1, alpha: 1, samples: 1 } };
      p.points = p.centroids.slice(0, p.dim);
      p.labels = p.errors.slice(0, M);
      saveProfile(dir, p);
      const bad = await startTestServer({ router: { profile: dir } }, { load: false });
      try {
        await assert.rejects(bad.server.load(), /router\.kind "neighbours" is not served by the server yet/);
      } finally { await bad.close(); }
      p.manifest = { ...p.manifest, router: { kind: 'clusters' } };
      saveProfile(dir, p);
      const s = await startTestServer({ router: { profile: dir } });
      await s.close();
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
