/** Shared by the issue-11 (second half) suites: a gateway with two organisations and a default one, and keyed HTTP calls. */
import { createHash } from 'node:crypto';
import { startGateway, openaiModel, anthropicModel, startMocks, type Gateway, type Mocks } from '../gateway/helpers.ts';

export const KEY_A = 'sk-org-pref-a-0123456789abcdef';
export const KEY_B = 'sk-org-pref-b-0123456789abcdef';
export const KEY_FLAT = 'sk-org-pref-flat-0123456789';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
export const TENANTS = [{ id: 'org_a', key_sha256: [sha(KEY_A)] }, { id: 'org_b', key_sha256: [sha(KEY_B)] }];
export const ROUTABLE = ['gpt-4-1106-preview', 'claude-v2', 'mistralai/mistral-7b-chat'];

export interface OrgGateway { gw: Gateway; mocks: Mocks; close(): Promise<void> }

export async function startOrgGateway(overrides: Record<string, unknown> = {}): Promise<OrgGateway> {
  const mocks = await startMocks({ chunks: 3 });
  const gw = await startGateway({
    models: [
      openaiModel('gpt-4-1106-preview', mocks.oa, { pricing: { currency: 'USD', prompt_per_1m: 10, completion_per_1m: 30 } }),
      anthropicModel('claude-v2', mocks.an, { upstream_model: 'claude-2.1', pricing: { currency: 'USD', prompt_per_1m: 8, completion_per_1m: 24 } }),
      openaiModel('mistralai/mistral-7b-chat', mocks.oa, { pricing: { currency: 'USD', prompt_per_1m: 0.2, completion_per_1m: 0.2 } }),
    ],
  }, { server: { api_keys: [KEY_FLAT], threads: 1 }, tenants: TENANTS, ...overrides });
  return { gw, mocks, close: async () => { await gw.close(); await mocks.close(); } };
}

export interface Res { status: number; headers: Headers; text: string; json: any }

export async function call(base: string, key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  const r = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* CSV, SSE */ }
  return { status: r.status, headers: r.headers, text, json };
}

/** Polls until `f` returns a value (activity rows are written up to state.logs.flush_ms after the response). */
export async function eventually<T>(f: () => Promise<T | undefined>, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
