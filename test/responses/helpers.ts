/**
 * Shared by the Responses API suites: a gateway (test/gateway/helpers.ts)
 * whose store lives in a fresh temporary directory, an in-memory
 * ResponseStore (with a switch that makes it fail) for handler-level tests,
 * a ResponseSink that records what a handler wrote, and an SSE event reader.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreError, type ResponseStore, type StoredResponse } from '../../src/store/types.ts';
import type { HeaderList, ResponseSink } from '../../src/api/sink.ts';
import type { AbortHook } from '../../src/providers/types.ts';
import { startGateway, type Gateway } from '../gateway/helpers.ts';

export { anthropicModel, openaiModel, startMocks, type Mocks } from '../gateway/helpers.ts';

/** startGateway with state.dir in a temporary directory, removed on close. */
export async function startResponsesGateway(providers: Record<string, unknown>, overrides: Record<string, unknown> = {}): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-responses-'));
  const gw = await startGateway(providers, { ...overrides, state: { dir, ...(overrides.state as object) } });
  return { ...gw, close: async () => { await gw.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** The ResponseStore contract in a Map, for tests only; `failing` makes every call reject with StoreError. */
export class MemoryStore implements ResponseStore {
  readonly rows = new Map<string, StoredResponse>();
  failing = false;
  puts = 0;
  private check(): void { if (this.failing) throw new StoreError('memory store: failing on purpose', '/nowhere/store.db'); }
  async put(r: StoredResponse): Promise<void> { this.check(); this.puts++; this.rows.set(`${r.org}\0${r.id}`, r); }
  async get(org: string, id: string): Promise<StoredResponse | undefined> { this.check(); return this.rows.get(`${org}\0${id}`); }
  async delete(org: string, id: string): Promise<boolean> { this.check(); return this.rows.delete(`${org}\0${id}`); }
  async purge(olderThan: number): Promise<number> {
    this.check();
    let n = 0;
    for (const [k, r] of this.rows) if (r.createdAt < olderThan) { this.rows.delete(k); n++; }
    return n;
  }
}

/** A ResponseSink that records: a JSON reply, or the SSE text written. */
export class RecordingSink implements ResponseSink {
  status = 0;
  body = '';
  headers: HeaderList = [];
  frames = '';
  opened = false;
  ended = false;
  readonly signal: AbortHook & { abort(): void } = (() => {
    const listeners: (() => void)[] = [];
    const s = {
      aborted: false,
      addEventListener: (_t: 'abort', l: () => void) => { if (!s.aborted) listeners.push(l); },
      removeEventListener: (_t: 'abort', l: () => void) => { const i = listeners.indexOf(l); if (i >= 0) listeners.splice(i, 1); },
      abort: () => { if (s.aborted) return; s.aborted = true; for (const l of listeners.splice(0)) l(); },
    };
    return s;
  })();
  send(status: number, body: string, headers: HeaderList = []): void { this.status = status; this.body = body; this.headers = headers; this.ended = true; }
  openStream(headers: HeaderList = []): void { this.opened = true; this.status = 200; this.headers = headers; }
  write(frames: string): boolean { this.frames += frames; return true; }
  drain(): Promise<void> { return Promise.resolve(); }
  end(frames = ''): void { this.frames += frames; this.ended = true; }
}

export interface SseEvent { event: string | null; data: any }

/** An SSE body -> its events (`event:` name and parsed `data:` JSON), in order. */
export function sseEvents(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    if (block.trim() === '') continue;
    let event: string | null = null;
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (data !== '') out.push({ event, data: JSON.parse(data) });
  }
  return out;
}

export async function post(base: string, body: unknown, path = '/v1/responses'): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* SSE */ }
  return { status: res.status, headers: res.headers, text, json };
}
