/**
 * Shared by the rule-routing suites (issue 9): a Switchyard with a fresh
 * state.dir, router configs in YAML, and an "echo" upstream in OpenAI's
 * format that records every request and answers with what it received
 * (so a test can see the session history the server prepended, and the
 * overrides it forwarded).
 */
import { createServer, type Server as HttpServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { startServer, type Server } from '../../src/edge/server.ts';
import { KEYS } from '../gateway/helpers.ts';

export interface Echo {
  url: string;
  requests: any[];
  /** Next answers fail with this status (0 = answer). */
  failWith: number;
  /** Answer `ok <n messages>` instead of the JSON of every message (keeps session histories small). */
  short: boolean;
  close(): Promise<void>;
}

/** Content = JSON {n, roles, contents} of the messages received; tools -> one tool call; usage with cached tokens. */
export async function startEcho(): Promise<Echo> {
  const state: Echo = { url: '', requests: [], failWith: 0, short: false, close: async () => {} };
  const srv: HttpServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      state.requests.push(body);
      if (state.failWith) { res.writeHead(state.failWith, { 'content-type': 'application/json' }); res.end('{"error":{"message":"echo: failing"}}'); return; }
      const msgs = body.messages as { role: string; content: string }[];
      const content = state.short ? `ok ${msgs.length}` : JSON.stringify({ n: msgs.length, roles: msgs.map((m) => m.role), contents: msgs.map((m) => m.content) });
      const message: Record<string, unknown> = { role: 'assistant', content };
      if (Array.isArray(body.tools) && body.tools.length) message.tool_calls = [{ id: 'call_1', type: 'function', function: { name: body.tools[0].function?.name ?? 'f', arguments: '{"q":1}' } }];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'echo', object: 'chat.completion', created: 1, model: body.model,
        choices: [{ index: 0, message, finish_reason: message.tool_calls ? 'tool_calls' : 'stop' }],
        usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500, prompt_tokens_details: { cached_tokens: 300 } },
      }));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  state.url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/v1`;
  state.close = () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); });
  return state;
}

/** Profile models used as backends (smart routing chooses among the profile's models). */
export const CHEAP = 'mistralai/mistral-7b-chat';
export const STRONG = 'gpt-4-1106-preview';
export const MID = 'gpt-3.5-turbo-1106';

export function echoModels(echo: Echo | string): Record<string, unknown>[] {
  const url = typeof echo === 'string' ? echo : echo.url;
  const m = (name: string, p: number, c: number) => ({ name, api_format: 'openai', pricing: { prompt_per_1m: p, completion_per_1m: c }, backend_refs: [{ base_url: url, api_key_env: 'SWITCHYARD_TEST_OPENAI_KEY' }] });
  return [m(STRONG, 10, 30), m(MID, 1, 2), m(CHEAP, 0.2, 0.2)];
}

/** The YAML-side configs most tests use. */
export const PRODUCTION = {
  name: 'production-router', default_model: CHEAP, candidates: [MID],
  rules: [
    { name: 'hard', priority: 10, condition: { type: 'complexity', operator: 'gt', value: 0.45 }, model: STRONG },
    { name: 'refunds', priority: 5, condition: { type: 'keyword', keywords: ['refund', 'invoice'] }, model: MID },
    { name: 'long', priority: 5, condition: { type: 'token_count', operator: 'gte', value: 2000 }, model: STRONG },
  ],
};
export const LABELS = {
  name: 'labels', default_model: 'gpt-4o-mini',
  rules: [{ priority: 1, condition: { type: 'keyword', keywords: ['code', 'python'] }, model: 'gpt-4o' }],
};

export interface Rig { server: Server; base: string; dir: string; close(opts?: { keepDir?: boolean }): Promise<void> }

/** Switchyard on 127.0.0.1:0 with the echo models, the two configs, a temp (or given) state.dir. */
export async function startRig(providers: Record<string, unknown>[], overrides: Record<string, any> = {}, dir?: string): Promise<Rig> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'switchyard-rules-'));
  const config = loadConfig({
    env: { ...KEYS },
    overrides: {
      ...overrides,
      server: { host: '127.0.0.1', port: 0, threads: 1, ...overrides.server },
      providers: { models: providers },
      state: { dir: d },
      routing: { configs: [PRODUCTION, LABELS], extra_models: ['gpt-4o', 'gpt-4o-mini'], ...overrides.routing },
    },
  });
  const server = await startServer(config);
  await server.load();
  return {
    server, base: `http://127.0.0.1:${server.port}`, dir: d,
    close: async (o = {}) => { await server.close({ timeoutMs: 2000 }); if (!o.keepDir) rmSync(d, { recursive: true, force: true }); },
  };
}

export interface Reply { status: number; headers: Headers; json: any; text: string }

export async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
}

export const routeModel = (base: string, body: unknown, headers?: Record<string, string>) => call(base, 'POST', '/api/v1/route-model', body, headers);
export const invoke = (base: string, body: unknown, headers?: Record<string, string>) => call(base, 'POST', '/v1/model-router/invoke', body, headers);
export const user = (content: string) => [{ role: 'user', content }];
