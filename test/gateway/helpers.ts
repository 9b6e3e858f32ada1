/**
 * Shared by the gateway suites: a real server (startServer on port 0) whose
 * providers point at mock upstreams, and small HTTP/SSE helpers.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import { loadConfig } from '../../src/config/load.ts';
import { testStateDir } from '../state-dir.ts';
import { startServer, type Server } from '../../src/edge/server.ts';
import type { ProviderModelConfig } from '../../src/config/schema.ts';
import { startMockUpstream, type MockUpstream, type MockOptions } from '../../scripts/mock-upstream.ts';

export { waitFor, closedPort } from '../providers/helpers.ts';

/** Keys live in the environment only; the config names the variables. */
export const KEYS = {
  SWITCHYARD_TEST_OPENAI_KEY: 'sk-test-gw-openai-0123456789abcdef',
  SWITCHYARD_TEST_ANTHROPIC_KEY: 'sk-ant-test-gw-0123456789abcdef',
} as const;
for (const [k, v] of Object.entries(KEYS)) process.env[k] = v;

export interface Mocks { oa: MockUpstream; an: MockUpstream; close(): Promise<void> }

/** Two mock upstreams: one answering in OpenAI's format, one in Anthropic's (the mock speaks both; separate instances keep the stats apart). */
export async function startMocks(opts: MockOptions = {}): Promise<Mocks> {
  const [oa, an] = await Promise.all([startMockUpstream(opts), startMockUpstream(opts)]);
  return { oa, an, close: async () => { await Promise.all([oa.close(), an.close()]); } };
}

export function openaiModel(name: string, mock: MockUpstream | string, extra: Partial<ProviderModelConfig> = {}): ProviderModelConfig {
  const url = typeof mock === 'string' ? mock : `${mock.url}/v1`;
  return { name, api_format: 'openai', backend_refs: [{ base_url: url, api_key_env: 'SWITCHYARD_TEST_OPENAI_KEY' }], ...extra };
}

export function anthropicModel(name: string, mock: MockUpstream | string, extra: Partial<ProviderModelConfig> = {}): ProviderModelConfig {
  const url = typeof mock === 'string' ? mock : mock.url;
  return { name, api_format: 'anthropic', backend_refs: [{ base_url: url, api_key_env: 'SWITCHYARD_TEST_ANTHROPIC_KEY' }], ...extra };
}

export interface Gateway { server: Server; base: string; close(): Promise<void> }

/** Starts Switchyard on 127.0.0.1:0 with these providers (and other config overrides), profile loaded. */
export async function startGateway(providers: Record<string, unknown>, overrides: Record<string, unknown> = {}): Promise<Gateway> {
  const config = loadConfig({ env: { ...KEYS }, overrides: { state: { dir: testStateDir() }, ...overrides, server: { host: '127.0.0.1', port: 0, ...(overrides.server as object) }, providers } });
  const server = await startServer(config);
  await server.load();
  return { server, base: `http://127.0.0.1:${server.port}`, close: async () => { await server.close({ timeoutMs: 2000 }); } };
}

export interface ChatReply { status: number; headers: Headers; json: any; text: string }

export async function chat(base: string, body: unknown, headers: Record<string, string> = {}): Promise<ChatReply> {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* SSE */ }
  return { status: res.status, headers: res.headers, json, text };
}

/** An SSE body -> its `data:` payloads and comments, in order. */
export function sseLines(text: string): { data: string[]; comments: string[] } {
  const data: string[] = [];
  const comments: string[] = [];
  for (const block of text.split('\n\n')) {
    for (const line of block.split('\n')) {
      if (line.startsWith('data: ')) data.push(line.slice(6));
      else if (line.startsWith(':')) comments.push(line.slice(1).trim());
    }
  }
  return { data, comments };
}

export const user = (content: string) => [{ role: 'user', content }];

/**
 * A minimal OpenAI-format upstream whose failure can be switched on and off
 * (for the circuit breaker closing again): 500 while failing, else a fixed
 * chat.completion.
 */
export async function startFlipUpstream(): Promise<{ url: string; failing: boolean; calls: number; close(): Promise<void> }> {
  const state = { url: '', failing: true, calls: 0, close: async () => {} };
  const srv: HttpServer = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.calls++;
      if (state.failing) { res.writeHead(500, { 'content-type': 'application/json' }); res.end('{"error":{"message":"flip: failing"}}'); return; }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'flip', object: 'chat.completion', created: 1, model: 'flip', choices: [{ index: 0, message: { role: 'assistant', content: 'flip ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } }));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  state.url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/v1`;
  state.close = () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); });
  return state;
}
