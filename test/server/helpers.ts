/** Shared by the server suites: a real server on an ephemeral port, and small HTTP helpers. */
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { startServer, type Server } from '../../src/edge/server.ts';
import { ERRORS, type ErrorCode } from '../../src/errors.ts';
import { testStateDir } from '../state-dir.ts';

export interface TestServer { server: Server; base: string; close(): Promise<void> }

function merge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof a[k] === 'object' ? merge(a[k], v) : v;
  return out;
}

/**
 * Starts on 127.0.0.1:0 with `overrides` over the defaults; loads the profile unless `load: false`.
 * One HTTP thread unless overridden (server.threads): starting worker threads costs ~0.5 s a server.
 */
export async function startTestServer(overrides: Record<string, unknown> = {}, opts: { load?: boolean } = {}): Promise<TestServer> {
  const config = loadConfig({ env: {}, overrides: merge({ server: { host: '127.0.0.1', port: 0, threads: 1 }, state: { dir: testStateDir() } }, overrides) });
  const server = await startServer(config);
  if (opts.load !== false) await server.load();
  return { server, base: `http://127.0.0.1:${server.port}`, close: async () => { await server.close({ timeoutMs: 2000 }); } };
}

export interface Reply { status: number; json: any; headers: Headers }

export async function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : body instanceof Uint8Array ? Buffer.from(body) : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text), headers: res.headers };
}

export async function get(base: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(base + path, { headers });
  return { status: res.status, json: JSON.parse(await res.text()), headers: res.headers };
}

/** Asserts an error reply: status from the catalogue, the code, and (when given) that the message and `field` name the field. */
export function assertError(r: Reply, code: ErrorCode, field?: string): void {
  assert.equal(r.status, ERRORS[code].status, `status for ${code}: ${JSON.stringify(r.json)}`);
  assert.equal(r.json?.error?.code, code, JSON.stringify(r.json));
  assert.equal(typeof r.json.error.message, 'string');
  if (field !== undefined) {
    assert.ok(r.json.error.message.includes(field), `message names "${field}": ${r.json.error.message}`);
    assert.equal(r.json.error.field, field);
  }
}

/** Everyday prompts of different kinds (code, fact, proof, translation, prose), for decision tests. */
export const PROMPTS = [
  'Write a Python function that reverses a linked list in place.',
  'What is the capital of Australia?',
  'Prove that the square root of 2 is irrational.',
  'Translate "good morning" into French and German.',
  'Summarise the causes of the First World War in three sentences.',
  'def fib(n): return n if n < 2 else fib(n-1) + fib(n-2)  # make this iterative',
];

/** Asserts an error in OpenAI's shape (the OpenAI-compatible paths): status, code, `type`, and `param` = the field (null when none). */
export function assertOpenAIError(r: Reply, code: ErrorCode, param: string | null = null, type = 'invalid_request_error'): void {
  assert.equal(r.status, ERRORS[code].status, `status for ${code}: ${JSON.stringify(r.json)}`);
  assert.equal(r.json?.error?.code, code, JSON.stringify(r.json));
  assert.equal(r.json.error.type, type, JSON.stringify(r.json));
  assert.equal(r.json.error.param, param, JSON.stringify(r.json));
  assert.equal(typeof r.json.error.message, 'string');
  if (param !== null) assert.ok(r.json.error.message.includes(param), `message names "${param}": ${r.json.error.message}`);
}
