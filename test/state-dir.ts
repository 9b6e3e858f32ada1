/**
 * One temporary state directory per test process, removed at exit. Test
 * servers default to it so they neither write into the checkout's ./data nor
 * share one SQLite file across the test runner's parallel processes (which
 * works, WAL and busy_timeout, but couples unrelated suites).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let dir: string | undefined;

export function testStateDir(): string {
  if (dir === undefined) {
    const d = mkdtempSync(join(tmpdir(), 'switchyard-test-state-'));
    dir = d;
    process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}
