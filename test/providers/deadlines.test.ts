/**
 * Deadlines (src/providers/deadlines.ts). Nothing here assumes the event loop
 * runs on time: tests wait until the expected deadlines have fired (with a
 * generous cap), then check order and "never early". A stalled loop (a busy
 * machine, or the busy-wait below) may fire several due deadlines in one
 * go: they must still fire in due-time order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Deadline, Deadlines } from '../../src/providers/deadlines.ts';

/** An owner that records which of its deadlines fired. */
function owner(log: string[], name: string) {
  return { onDeadline: () => { log.push(name); } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `cond` holds; fails after 20 s (a safety net, not a timing assertion). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (const end = performance.now() + 20_000; performance.now() < end; ) {
    if (cond()) return;
    await sleep(5);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Blocks the event loop for `ms`: no timer can run meanwhile. */
function stall(ms: number): void {
  for (const end = performance.now() + ms; performance.now() < end; );
}

describe('Deadlines', () => {
  it('fires each armed deadline once, in deadline order across durations', async () => {
    const d = new Deadlines();
    const log: string[] = [];
    // One start for all four: with each arm() reading the clock itself, a 20 ms preemption
    // between two calls (a loaded machine) would legitimately reorder their due times.
    const t0 = performance.now();
    d.arm(new Deadline(owner(log, 'b60')), 60, t0);
    d.arm(new Deadline(owner(log, 'a20')), 20, t0);
    d.arm(new Deadline(owner(log, 'c40')), 40, t0);
    d.arm(new Deadline(owner(log, 'a20-2')), 20, t0);
    await until(() => log.length === 4, 'four deadlines');
    assert.deepEqual(log, ['a20', 'a20-2', 'c40', 'b60']);
    assert.equal(d.size, 0);
  });

  it('with the loop stalled past several deadlines, they fire in due-time order, not arming order', async () => {
    // The 60 ms list exists first (it was armed first): walking lists in
    // insertion order fired b60 before a20 here.
    const d = new Deadlines();
    const log: string[] = [];
    // One start for all four: with each arm() reading the clock itself, a 20 ms preemption
    // between two calls (a loaded machine) would legitimately reorder their due times.
    const t0 = performance.now();
    d.arm(new Deadline(owner(log, 'b60')), 60, t0);
    d.arm(new Deadline(owner(log, 'a20')), 20, t0);
    d.arm(new Deadline(owner(log, 'c40')), 40, t0);
    d.arm(new Deadline(owner(log, 'a20-2')), 20, t0);
    stall(80);
    await until(() => log.length === 4, 'four deadlines');
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
    // x and y were ahead of z in the same list: had they still been armed they would have fired before it.
    await until(() => log.length > 0, 'z');
    assert.deepEqual(log, ['z']);
    assert.equal(d.size, 0);
  });

  it('fires, never early, from an explicit start', async () => {
    // Not early is the contract; how late depends on the machine's load.
    const d = new Deadlines();
    let at = 0;
    const t0 = performance.now();
    d.arm(new Deadline({ onDeadline: () => { at = performance.now() - t0; } }), 50, t0);
    await until(() => at !== 0, 'the deadline');
    assert.ok(at >= 50, `fired after ${at} ms`);
  });

  it('re-arming moves a deadline; an owner may arm others from its callback', async () => {
    const d = new Deadlines();
    const log: string[] = [];
    let xAt = 0;
    const t0 = performance.now();
    const x = new Deadline({ onDeadline: () => { log.push('x'); xAt = performance.now() - t0; } });
    d.arm(x, 20, t0);
    d.arm(x, 60, t0); // moved, not duplicated
    const chain = new Deadline({ onDeadline: () => { log.push('first'); d.arm(new Deadline(owner(log, 'second')), 10); } });
    d.arm(chain, 30, t0);
    await until(() => log.length === 3, 'three deadlines');
    // 'second' is armed when 'first' fires: on time it precedes x; after a stall past 60 ms it may follow.
    assert.deepEqual([...log].sort(), ['first', 'second', 'x']);
    assert.ok(log.indexOf('first') < log.indexOf('second'));
    assert.ok(xAt >= 60, `x fired at its moved deadline, not its first: ${xAt} ms`);
    await sleep(20);
    assert.equal(log.length, 3, 'x fired once');
  });

  it('does not keep the process alive (the one timer is unref\'d)', async () => {
    const { spawnSync } = await import('node:child_process');
    const src = `import { Deadline, Deadlines } from ${JSON.stringify(new URL('../../src/providers/deadlines.ts', import.meta.url).href)};
      new Deadlines().arm(new Deadline({ onDeadline() { console.log('fired'); } }), 60000);`;
    // The child would sit out the 60 s deadline if the timer kept it alive; spawnSync's timeout kills it at 30 s.
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.error, undefined, 'exited by itself, not killed at the timeout');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
  });
});
