/**
 * package-lock.json keeps `npm ci` clean on every platform: each optional
 * dependency a locked package names has its own entry in the lock, even when
 * it is another platform's prebuild. msgpackr was dropped once (f02ec54)
 * because its lock listed only the linux prebuilds of msgpackr-extract: npm
 * ci then fails its lock check on every machine, this one included, with
 * "Missing: @msgpackr-extract/msgpackr-extract-darwin-arm64@3.0.7 from lock
 * file" (reproduced with that lock shape, npm 11). Such a lock comes from a
 * tool or an old npm pruning other platforms' optional packages; `npm install`
 * with a current npm writes them all.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../src/fit/options.ts';

type Entry = { version?: string; optionalDependencies?: Record<string, string>; dependencies?: Record<string, string> };
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: Record<string, Entry> };

/** Where npm would resolve `name` from the package at `at`: its own node_modules, then each parent's, then the root's. */
function resolve(at: string, name: string): Entry | undefined {
  let dir = at;
  for (;;) {
    const hit = lock.packages[`${dir ? `${dir}/` : ''}node_modules/${name}`];
    if (hit) return hit;
    if (dir === '') return undefined;
    const i = dir.lastIndexOf('node_modules/');
    dir = i <= 0 ? '' : dir.slice(0, i - 1);
  }
}

it('every optional dependency in package-lock.json has its own entry (npm ci\'s lock check)', () => {
  assert.ok(lock.lockfileVersion >= 2);
  const missing: string[] = [];
  let checked = 0;
  for (const [at, e] of Object.entries(lock.packages)) {
    for (const name of Object.keys(e.optionalDependencies ?? {})) {
      checked++;
      if (!resolve(at, name)) missing.push(`${name} (optional dependency of ${at || 'the root'})`);
    }
  }
  assert.deepEqual(missing, []);
  assert.ok(checked >= 6, 'msgpackr-extract alone names six platform prebuilds');
  assert.ok(resolve('node_modules/msgpackr-extract', '@msgpackr-extract/msgpackr-extract-win32-x64'));
});
