/**
 * Real Switchyard replicas for the several-replica suites (issue 12): each is
 * its own process (`node --min-semi-space-size=16 --import tsx src/main.ts`,
 * as `npm start` runs it) with a temporary YAML config, its own state
 * directory and port, and the same Redis (SWITCHYARD_REDIS_URL) and key prefix.
 *
 *   const redis = await startRedis();
 *   const set = await startReplicas({ n: 3, redisUrl: redis.url, config: { providers: {...} } });
 *   await fetch(`${set.replicas[0].base}/v1/route`, ...);
 *   await set.replicas[1].kill();      // SIGKILL
 *   await set.replicas[1].restart();   // same port, same state dir, waits for /health 200
 *   await set.stop();                  // SIGTERM every replica, remove the temp dirs
 *
 * Ports are probed free on 127.0.0.1 and kept across restart (a load balancer
 * config names them); a port taken between the probe and the bind fails the
 * start ("cannot listen"), and the start is retried on another port.
 * The child's environment drops every inherited SWITCHYARD_* variable so a
 * developer's shell cannot change what a test runs; `env` adds provider keys.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT } from '../../src/fit/options.ts';

export interface Replica {
  /** 0-based position in its set. */
  readonly index: number;
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly base: string;
  readonly stateDir: string;
  /** The running process (replaced by restart), or undefined after stop/kill. */
  proc(): ChildProcess | undefined;
  /** Everything the process wrote to stdout and stderr so far (all runs). */
  log(): string;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful drain); resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Starts again on the same port and state dir; resolves once /health answers 200. */
  restart(): Promise<void>;
}

export interface ReplicaSet {
  readonly replicas: Replica[];
  /** Key prefix every replica of the set uses (state.redis.key_prefix): sets on one Redis do not see each other. */
  readonly prefix: string;
  /** Stops every replica still running and removes the temp directories. */
  stop(): Promise<void>;
}

export interface ReplicaOptions {
  /** Replicas (default 3). */
  n?: number;
  /** Shared by every replica (SWITCHYARD_REDIS_URL); omit for replicas without Redis. */
  redisUrl?: string;
  /** Config merged over the harness's (server.host/port/threads, state.dir, state.redis.key_prefix); YAML-shaped object. */
  config?: Record<string, unknown>;
  /** Per-replica config on top of `config` (index -> object). */
  perReplica?: (index: number) => Record<string, unknown>;
  /** Extra environment (provider keys, SWITCHYARD_* settings). */
  env?: Record<string, string>;
  /** server.threads (default 1). */
  threads?: number;
  /** state.redis.key_prefix (default a random one per set). */
  prefix?: string;
  /** How long a replica may take to answer /health 200 (default 60 s: the machine is shared). */
  readyTimeoutMs?: number;
}

const live = new Set<ChildProcess>();
process.on('exit', () => { for (const p of live) p.kill('SIGKILL'); });

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

function merge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' && !Array.isArray(a[k]) ? merge(a[k], v) : v;
  return out;
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHYARD_')) env[k] = v;
  return { ...env, ...extra };
}

async function healthy(base: string): Promise<boolean> {
  try {
    const r = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2_000) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch { return false; }
}

async function startOne(index: number, opts: ReplicaOptions, prefix: string, root: string): Promise<Replica> {
  const stateDir = mkdtempSync(join(root, `replica-${index}-`));
  const configPath = join(stateDir, 'switchyard.yaml');
  let port = 0;
  let proc: ChildProcess | undefined;
  let out = '';
  const readyMs = opts.readyTimeoutMs ?? 60_000;

  const writeConfig = () => {
    const base = {
      server: { host: '127.0.0.1', port, threads: opts.threads ?? 1 },
      state: { dir: join(stateDir, 'state'), redis: { key_prefix: prefix } },
    };
    const cfg = merge(merge(base, opts.config ?? {}), opts.perReplica?.(index) ?? {});
    // JSON is YAML: no serialiser needed, and no YAML-quoting surprises.
    writeFileSync(configPath, JSON.stringify(cfg, null, 2));
  };

  const launch = async (): Promise<void> => {
    writeConfig();
    const env = cleanEnv({ ...(opts.env ?? {}), SWITCHYARD_CONFIG: configPath, ...(opts.redisUrl ? { SWITCHYARD_REDIS_URL: opts.redisUrl } : {}) });
    const p = spawn(process.execPath, ['--min-semi-space-size=16', '--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(p);
    p.stdout!.setEncoding('utf8');
    p.stderr!.setEncoding('utf8');
    p.stdout!.on('data', (d: string) => { out += d; });
    p.stderr!.on('data', (d: string) => { out += d; });
    p.once('exit', () => live.delete(p));
    proc = p;
    const base = `http://127.0.0.1:${port}`;
    const end = Date.now() + readyMs;
    while (Date.now() < end) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`replica ${index} exited (${p.exitCode ?? p.signalCode}) before ready:\n${out}`);
      if (await healthy(base)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    p.kill('SIGKILL');
    throw new Error(`replica ${index}: /health not 200 within ${readyMs} ms:\n${out}`);
  };

  const gone = async (p: ChildProcess | undefined): Promise<number | null> => {
    if (!p) return null;
    if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
    return new Promise((r) => p.once('exit', (code) => r(code)));
  };

  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try { await launch(); break; } catch (e) {
      // Only a lost port race is worth another port; anything else is the test's answer.
      if (attempt >= 3 || !/cannot listen/.test((e as Error).message)) throw e;
    }
  }

  return {
    index,
    get port() { return port; },
    get base() { return `http://127.0.0.1:${port}`; },
    stateDir,
    proc: () => (proc && proc.exitCode === null && proc.signalCode === null ? proc : undefined),
    log: () => out,
    async kill() { const p = proc; p?.kill('SIGKILL'); await gone(p); },
    async stop() {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
      p.kill('SIGTERM');
      // A drain that hangs must not hang the suite: SIGKILL after 15 s (the exit code then says so: null).
      const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
      try { return await gone(p); } finally { clearTimeout(t); }
    },
    async restart() { await launch(); },
  };
}

/** Starts `n` replicas (in parallel) and resolves once every one answers /health 200. */
export async function startReplicas(opts: ReplicaOptions = {}): Promise<ReplicaSet> {
  const n = opts.n ?? 3;
  const prefix = opts.prefix ?? `sy-test-${randomBytes(4).toString('hex')}`;
  const root = mkdtempSync(join(tmpdir(), 'switchyard-replicas-'));
  const settled = await Promise.allSettled(Array.from({ length: n }, (_, i) => startOne(i, opts, prefix, root)));
  const replicas = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async () => {
    await Promise.all(replicas.map(async (r) => { const code = await r.stop(); void code; }));
    rmSync(root, { recursive: true, force: true });
  };
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) { await stop(); throw failed.reason; }
  return { replicas, prefix, stop };
}
