/** Starts scripts/mock-upstream.ts in a child process (see mock-child.ts) and reads its stats over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { ROOT } from '../../src/fit/options.ts';
import type { MockOptions, MockStats } from '../../scripts/mock-upstream.ts';
import { stopChild, trackChild } from './children.ts';
import { treeRssMiB } from './rss.ts';

export interface MockProc {
  port: number;
  child: ChildProcess;
  stats(): Promise<MockStats>;
  resetStats(): Promise<MockStats>;
  rssMiB(): number | null;
  stop(): Promise<void>;
}

export async function startMockProc(opts: MockOptions): Promise<MockProc> {
  const child = trackChild(fork('bench/lib/mock-child.ts', [JSON.stringify(opts)], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [ready] = await Promise.race([
    once(child, 'message') as Promise<[{ ready: boolean; port: number }]>,
    once(child, 'exit').then(([code]) => { throw new Error(`mock upstream exited ${code} before listening`); }),
  ]).finally(() => clearTimeout(timer));
  let seq = 0;
  const ask = (cmd: 'stats' | 'reset'): Promise<MockStats> => new Promise((resolve, reject) => {
    const id = ++seq;
    const onMsg = (m: { id?: number; stats?: MockStats }): void => { if (m.id === id) { child.off('message', onMsg); resolve(m.stats!); } };
    child.on('message', onMsg);
    if (!child.send({ id, cmd })) { child.off('message', onMsg); reject(new Error('mock upstream IPC closed')); }
  });
  return {
    port: ready.port, child,
    stats: () => ask('stats'),
    resetStats: () => ask('reset'),
    rssMiB: () => treeRssMiB(child.pid),
    stop: () => stopChild(child),
  };
}
