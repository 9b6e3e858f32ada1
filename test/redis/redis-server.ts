/**
 * A real redis-server for the Redis suites (issue 12): started by the test on a
 * free loopback port, with no persistence unless asked, in its own temp
 * directory, killed at exit. `.ci/run` installs the Debian package when the
 * binary is missing; a machine without it fails the suite with that message
 * (it is never skipped: CI must run these tests).
 *
 *   const r = await startRedis();   // r.url = redis://127.0.0.1:<port>
 *   await r.kill();                 // SIGKILL: Redis lost under load
 *   await r.restart();              // same port, empty (or from AOF with appendonly)
 *   await r.stop();
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
  /** Start again on the same port (after kill or stop). */
  restart(): Promise<void>;
  /** SIGTERM and remove the directory. */
  stop(): Promise<void>;
  /** Runs redis-cli against it (FLUSHALL between tests, CONFIG SET, DEBUG SLEEP). */
  cli(...args: string[]): string;
}

function redisBinary(): string {
  try { return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim(); } catch {
    throw new Error('redis-server not found: install the Debian package (apt-get install -y redis-server); .ci/run does this in CI');
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

async function waitFor(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await cond()) return; await new Promise((r) => setTimeout(r, 25)); }
  throw new Error(`redis test server: ${what} within ${ms} ms`);
}

const live = new Set<ChildProcess>();
process.on('exit', () => { for (const p of live) p.kill('SIGKILL'); });

/**
 * `conf`: a config file's text, written to the server's directory and passed
 * first (Sentinel needs a file it can rewrite: `conf: 'sentinel monitor …'`
 * with `sentinel: true`). `sentinel`: run as a Sentinel (`--sentinel`), without
 * the data-server flags. `port`: a fixed port (a cluster's nodes, a Sentinel's
 * master); otherwise a free one.
 */
export async function startRedis(opts: { appendonly?: boolean; args?: string[]; conf?: string; sentinel?: boolean } = {}): Promise<TestRedis> {
  const bin = redisBinary();
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-redis-'));
  const confPath = join(dir, 'redis.conf');
  if (opts.conf !== undefined) writeFileSync(confPath, opts.conf);
  let port = 0;
  let proc: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const data = opts.sentinel ? ['--sentinel'] : ['--save', '', '--appendonly', opts.appendonly ? 'yes' : 'no'];
    const args = [...(opts.conf !== undefined ? [confPath] : []), '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...data, '--protected-mode', 'no', '--loglevel', 'warning', ...(opts.args ?? [])];
    const p = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(p);
    let err = '';
    p.stderr!.on('data', (d) => { err += String(d); });
    p.once('exit', () => live.delete(p));
    proc = p;
    await waitFor(async () => { if (p.exitCode !== null) throw new Error(`redis-server exited ${p.exitCode}: ${err}`); return accepts(port); }, 10_000, `port ${port} accepting`);
  };
  // A free port can be taken between the probe and the bind: try a few.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try { await launch(); break; } catch (e) { if (attempt >= 4) throw e; }
  }
  const gone = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((r) => p.once('exit', () => r()));
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async kill() { proc?.kill('SIGKILL'); await gone(); },
    async restart() { await launch(); },
    async stop() { proc?.kill('SIGTERM'); await gone(); rmSync(dir, { recursive: true, force: true }); },
    cli: (...args) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }),
  };
}
