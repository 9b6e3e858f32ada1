/**
 * Portkey's open-source gateway as a comparison point: installed from the npm
 * registry into a cache folder under os.tmpdir() (reused between runs, never
 * into this repo), started on Node as a child process, routed to the mock
 * with its per-request headers (x-portkey-provider: openai,
 * x-portkey-custom-host: <mock>/v1). Everything here can fail for reasons
 * outside this project (no registry, a changed build layout): callers print
 * the reason and carry on without the Portkey rows.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild, trackChild } from './children.ts';
import { treeRssMiB } from './rss.ts';

export const PORTKEY_VERSION = '1.15.2';
const PKG = '@portkey-ai/gateway';

export interface PortkeyProc {
  port: number;
  pid: number | undefined;
  version: string;
  /** The last lines the gateway printed (its errors go to the console). */
  logTail(): string;
  rssMiB(): number | null;
  stop(): Promise<void>;
}

/** Returns the installed package directory, installing it if needed; throws with the reason otherwise. */
export function installPortkey(version = PORTKEY_VERSION): { dir: string; cached: boolean } {
  const prefix = join(tmpdir(), `switchyard-bench-portkey-${version}`);
  const dir = join(prefix, 'node_modules', ...PKG.split('/'));
  const installed = (): boolean => {
    try { return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version === version && existsSync(join(dir, 'build/start-server.js')); } catch { return false; }
  };
  if (installed()) return { dir, cached: true };
  // One metadata look-up first: with no registry, npm install would retry for minutes.
  const probe = spawnSync('npm', ['view', `${PKG}@${version}`, 'version', '--fetch-retries=0', '--fetch-timeout=15000'], { encoding: 'utf8', timeout: 30_000 });
  if (probe.status !== 0 || probe.stdout.trim() !== version) throw new Error(`npm registry not reachable or ${PKG}@${version} not found: ${(probe.stderr || probe.error?.message || probe.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  mkdirSync(prefix, { recursive: true });
  // --ignore-scripts: its postinstall is patch-package, which has no patches in the published tarball.
  const r = spawnSync('npm', ['install', '--prefix', prefix, '--save-exact', '--ignore-scripts', '--no-audit', '--no-fund', `${PKG}@${version}`], { cwd: prefix, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0 || !installed()) throw new Error(`npm install ${PKG}@${version} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-5).join(' | ')}`);
  return { dir, cached: false };
}

/**
 * Starts build/start-server.js (the package's node entry; `--port=N`, and
 * `--headless` skips the log-streaming console UI, which NODE_ENV=production
 * also skips: its Docker image runs that way, so this is its fast configuration).
 */
export async function startPortkey(dir: string, port: number): Promise<PortkeyProc> {
  const child = trackChild(spawn(process.execPath, [join(dir, 'build/start-server.js'), `--port=${port}`, '--headless'], {
    cwd: dir, env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'],
  }));
  let log = '';
  const keep = (d: Buffer): void => { log = (log + d.toString()).slice(-16_384); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`portkey exited ${child.exitCode}: ${log.slice(-800)}`);
    const up = await fetch(`http://127.0.0.1:${port}/`).then(async (r) => { await r.arrayBuffer(); return true; }, () => false);
    if (up) break;
    if (Date.now() > deadline) { await stopChild(child); throw new Error(`portkey not answering on ${port} after 30 s: ${log.slice(-800)}`); }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    port, pid: child.pid, version: PORTKEY_VERSION,
    logTail: () => log,
    rssMiB: () => treeRssMiB(child.pid),
    stop: () => stopChild(child),
  };
}

/** The headers that make Portkey forward an OpenAI-format call to `baseUrl` (which includes /v1). */
export function portkeyHeaders(baseUrl: string, apiKey: string): Record<string, string> {
  return { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': baseUrl, authorization: `Bearer ${apiKey}` };
}
