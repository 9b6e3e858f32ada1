/** Child processes for end-to-end benchmarks: free ports, start, wait until healthy, stop. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { ROOT } from '../../src/fit/options.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => resolve(typeof a === 'object' && a ? a.port : 0)); });
    s.on('error', reject);
  });
}

export interface Proc { child: ChildProcess; port: number; stop(): Promise<void>; rssMiB(): number | null }

/** Starts `node --import tsx <script> ...args` from the repo root and waits for `ready(port)` to pass. */
export async function startNode(script: string, args: string[], port: number, ready: (port: number) => Promise<boolean>, env: NodeJS.ProcessEnv = {}): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => { log += d; });
  child.stderr!.on('data', (d) => { log += d; });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${script} exited ${child.exitCode}:\n${log}`);
    if (await ready(port).catch(() => false)) break;
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`${script} not ready in 30 s:\n${log}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child, port,
    stop: () => new Promise<void>((resolve) => { if (child.exitCode !== null) return resolve(); child.once('exit', () => resolve()); child.kill('SIGTERM'); setTimeout(() => child.kill('SIGKILL'), 5000).unref(); }),
    rssMiB: () => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1]);
        return Number.isFinite(kb) ? kb / 1024 : null;
      } catch { return null; }
    },
  };
}

export async function httpOk(url: string, init?: RequestInit): Promise<boolean> {
  const r = await fetch(url, init);
  await r.arrayBuffer();
  return r.ok;
}
