import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Deadline, Deadlines } from '../../src/providers/deadlines.ts';

/** An owner that records which of its deadlines fired, and when. */
function owner(log: string[], name: string) {
  return { onDeadline: () => { log.push(name); } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Deadlines', () => {
  it('fires each armed deadline once, in deadline order across durations', async () => {
    const d = new Deadlines();
    const log: string[] = [];
    d.arm(new Deadline(owner(log, 'b60')), 60);
    d.arm(new Deadline(owner(log, 'a20')), 20);
    d.arm(new Deadline(owner(log, 'c40')), 40);
    d.arm(new Deadline(owner(log, 'a20-2')), 20);
    await sleep(120);
    assert.deepEqual(log, ['a20', 'a20-2', 'c40', 'b60']);
    assert.equal(d.size, 0);
  });

  it('a disarmed deadline never fires; the others still do', async () => {
    const d = new Deadlines();
    const log: string[] = [];
    const x = new Deadline(owner(log, 'x'));
    const y = new Deadline(owner(log, 'y'));
    const z = new Deadline(owner(log, 'z'));
    d.arm(x, 30); d.arm(y, 30); d.arm(z, 30);
    d.disarm(y);
    d.disarm(x); // the head: the timer still fires for it, finds it gone, handles z
    d.disarm(y); // twice is harmless
    assert.equal(d.size, 1);
    await sleep(90);
    assert.deepEqual(log, ['z']);
  });

  it('fires, never early, from an explicit start', async () => {
    // Not early is the contract; how late depends on the machine's load, so
    // the upper bound only says "it did fire" (a busy CI machine delays timers).
    const d = new Deadlines();
    let at = 0;
    const t0 = performance.now();
    d.arm(new Deadline({ onDeadline: () => { at = performance.now() - t0; } }), 50, t0);
    for (const end = performance.now() + 10_000; at === 0 && performance.now() < end; ) await sleep(10);
    assert.ok(at >= 50 && at < 10_000, `fired after ${at} ms`);
  });

  it('re-arming moves a deadline; an owner may arm others from its callback', async () => {
    const d = new Deadlines();
    const log: string[] = [];
    const x = new Deadline(owner(log, 'x'));
    d.arm(x, 20);
    d.arm(x, 60); // moved, not duplicated
    const chain = new Deadline({ onDeadline: () => { log.push('first'); d.arm(new Deadline(owner(log, 'second')), 10); } });
    d.arm(chain, 30);
    await sleep(130);
    assert.deepEqual(log, ['first', 'second', 'x']);
  });

  it('does not keep the process alive (the one timer is unref\'d)', async () => {
    const { spawnSync } = await import('node:child_process');
    const src = `import { Deadline, Deadlines } from ${JSON.stringify(new URL('../../src/providers/deadlines.ts', import.meta.url).href)};
      new Deadlines().arm(new Deadline({ onDeadline() { console.log('fired'); } }), 60000);`;
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.ok(performance.now() - t0 < 15_000);
  });
});
