/**
 * Runs wrk (a C load generator, so the generator itself costs little CPU on a
 * 2-core machine) as a separate process and parses its latency distribution.
 * Lua request generators are written to a temp dir; `bodies` become a rotating
 * list, `uniquePrompt` makes a fresh ~200-character prompt per request.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WrkResult {
  rps: number; p50_ms: number; p90_ms: number; p99_ms: number;
  /** From the done() hook's exact histogram read (wrk's --latency table stops at p99); NaN if it did not print. */
  p999_ms: number; max_ms: number;
  requests: number; non2xx: number; errors: number;
}

export function haveWrk(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined;
}

const luaString = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
/** Bytes as a Lua string literal: printable ASCII as is, every other byte as a 3-digit \ddd escape (binary-safe). */
const luaBytes = (b: Uint8Array) => {
  let s = '"';
  for (const x of b) s += x >= 0x20 && x < 0x7f && x !== 0x22 && x !== 0x5c ? String.fromCharCode(x) : `\\${String(x).padStart(3, '0')}`;
  return `${s}"`;
};

export interface WrkLoad {
  url: string;
  connections: number;
  threads: number;
  seconds: number;
  method?: 'GET' | 'POST';
  /** Bodies sent in rotation (a Uint8Array goes byte for byte: msgpack). */
  bodies?: (string | Uint8Array)[];
  /** Request paths (with query) sent in rotation, in step with `bodies`; default the URL's path. E.g. GET /v1/responses/{id} over many ids. */
  paths?: string[];
  /** Generate a unique ~200-char prompt per request (cache misses). */
  uniquePrompt?: boolean;
  /**
   * Like uniquePrompt, for any JSON body: each request is prefix + a unique
   * ~200-char prompt (no characters that need JSON escaping) + suffix, e.g. a
   * chat completion whose user message never repeats.
   */
  uniqueTemplate?: { prefix: string; suffix: string };
  headers?: Record<string, string>;
  /**
   * Milliseconds each connection waits after a response before its next
   * request (wrk's delay() hook, whole ms). A paced closed loop, not wrk2's
   * open loop: latency is timed from the send, so coordinated omission is not
   * corrected; it shows latency at a load below saturation.
   */
  delayMs?: number;
  /** Called with the wrk process once spawned (e.g. to register it for cleanup on Ctrl-C). */
  onSpawn?: (child: ChildProcess) => void;
}

function script(load: WrkLoad): string {
  const hdr = Object.entries({ 'content-type': 'application/json', ...(load.headers ?? {}) })
    .map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`).join('\n');
  // No response() hook: wrk would hand every response to Lua, costing the generator CPU
  // that the server under test needs on a 2-core machine. wrk counts non-2xx itself.
  // done() runs once at the end: exact percentiles from wrk's own histogram (microseconds).
  const done = `done = function(summary, latency, requests)
  for _, p in ipairs({50, 90, 99, 99.9}) do io.write(string.format("SY-PCT %g %d\\n", p, latency:percentile(p))) end
  io.write(string.format("SY-MAX %d\\n", latency.max))
end
`;
  const delay = load.delayMs ? `delay = function() return ${Math.max(1, Math.round(load.delayMs))} end\n` : '';
  const common = `wrk.method = "${load.method ?? 'POST'}"\n${hdr}\n${done}${delay}`;
  const template = load.uniqueTemplate ?? (load.uniquePrompt ? { prefix: '{"prompt":"', suffix: '","cost_weight":0.1}' } : undefined);
  if (template) {
    // Each wrk thread has its own Lua state: a per-thread id keeps prompts unique across threads.
    return `${common}
local words = {"route","model","prompt","quality","price","cluster","python","function","list","string","science","energy","planet","history","answer","question","explain","compute","value","number"}
local counter = 0
local nthreads = 0
-- setup() runs in the main Lua state; thread:set() defines the global "tid" in each thread's state.
setup = function(thread) nthreads = nthreads + 1; thread:set("tid", nthreads) end
request = function()
  counter = counter + 1
  local parts = {"Request " .. tostring(tid or 0) .. "-" .. tostring(counter) .. ":"}
  local x = counter * 7919 + (tid or 0) * 104729
  for i = 1, 26 do x = (x * 1103515245 + 12345) % 2147483648; parts[#parts + 1] = words[(x % #words) + 1] end
  local body = ${luaString(template.prefix)} .. table.concat(parts, " ") .. ${luaString(template.suffix)}
  return wrk.format(nil, nil, nil, body)
end
`;
  }
  const bodies = load.bodies ?? [''];
  const paths = load.paths ? `{${load.paths.map(luaString).join(',')}}` : 'nil';
  return `${common}
local bodies = {${bodies.map((b) => (typeof b === 'string' ? luaString(b) : luaBytes(b))).join(',')}}
local paths = ${paths}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, paths and paths[(i % #paths) + 1], nil, bodies[(i % #bodies) + 1])
end
`;
}

export async function runWrk(load: WrkLoad): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-wrk-'));
  const file = join(dir, 'load.lua');
  writeFileSync(file, script(load));
  const args = ['-t', String(load.threads), '-c', String(load.connections), '-d', `${load.seconds}s`, '--latency', '-s', file, load.url];
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('wrk', args);
    load.onSpawn?.(p);
    let s = '';
    p.stdout.on('data', (d) => { s += d; });
    p.stderr.on('data', (d) => { s += d; });
    p.on('error', reject);
    p.on('close', () => resolve(s));
  });
  const ms = (label: string) => {
    const m = out.match(new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)`, 'm'));
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN);
  const requests = Number(out.match(/(\d+) requests in/)?.[1] ?? NaN);
  const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const errs = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const errors = errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  if (!Number.isFinite(rps)) throw new Error(`wrk output not understood:\n${out}`);
  const exact = (p: string): number => Number(out.match(new RegExp(`^SY-PCT ${p.replace('.', '\\.')} (\\d+)$`, 'm'))?.[1] ?? NaN) / 1000;
  const pick = (p: string, label: string): number => (Number.isFinite(exact(p)) ? exact(p) : ms(label));
  const max_ms = Number(out.match(/^SY-MAX (\d+)$/m)?.[1] ?? NaN) / 1000;
  return { rps, p50_ms: pick('50', '50'), p90_ms: pick('90', '90'), p99_ms: pick('99', '99'), p999_ms: exact('99.9'), max_ms, requests, non2xx, errors };
}
