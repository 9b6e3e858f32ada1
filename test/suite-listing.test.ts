/**
 * `node --test` given no files runs nothing and exits 0, so the test script lists
 * files explicitly; this guards against a new *.test.ts that the script forgets.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../src/fit/options.ts';

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

it('package.json "test" lists every test file', () => {
  const script: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.test;
  const listed = new Set(script.split(/\s+/).filter((w) => w.endsWith('.test.ts')));
  const files = walk(join(ROOT, 'test')).filter((f) => f.endsWith('.test.ts')).map((f) => relative(ROOT, f));
  assert.ok(files.length > 5);
  assert.deepEqual(files.filter((f) => !listed.has(f)), [], 'test files missing from the test script');
  assert.deepEqual([...listed].filter((f) => !files.includes(f)), [], 'test script names files that do not exist');
});
