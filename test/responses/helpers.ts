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

/** What a scripted upstream answers: a chat.completion, SSE frames (optionally cut off), or a status with a body. */
export type Answer =
  | { json: unknown }
  /** holdAt: frames from this index on wait for release() (so a test can make an event land mid-stream, after the client saw the first ones). */
  | { sse: string[]; cut?: boolean; holdAt?: number }
  | { status: number; body: string };

export interface ScriptedUpstream {
  /** Base URL as openaiModel() takes it (with /v1). */
  url: string;
  /** Every request body received, parsed. */
  bodies: any[];
  /** Sends the held rest of every stream waiting at holdAt. */
  release(): void;
  close(): Promise<void>;
}

/** An OpenAI-format upstream that records each request and answers with `answer(body)`. */
export async function startScriptedUpstream(answer: (body: any) => Answer): Promise<ScriptedUpstream> {
  const { createServer } = await import('node:http');
  const bodies: any[] = [];
  let held: (() => void)[] = [];
  const srv = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { raw += c; });
    req.on('end', () => {
      let body: any = null;
      try { body = JSON.parse(raw); } catch { /* recorded as null */ }
      bodies.push(body);
      const a = answer(body);
      if ('status' in a) { res.writeHead(a.status, { 'content-type': 'application/json' }); res.end(a.body); return; }
      if ('json' in a) { const t = JSON.stringify(a.json); res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(t) }); res.end(t); return; }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const finish = (frames: string[]): void => {
        if (a.cut) { res.write(frames.join('')); setImmediate(() => res.destroy()); return; }
        res.end(frames.join(''));
      };
      if (a.holdAt === undefined) { finish(a.sse); return; }
      res.write(a.sse.slice(0, a.holdAt).join(''));
      held.push(() => finish(a.sse.slice(a.holdAt)));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/v1`;
  const release = (): void => { const h = held; held = []; for (const f of h) f(); };
  return { url, bodies, release, close: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }) };
}

const USAGE = { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 };

/** A chat.completion with this message and finish reason. */
export function completionOf(message: Record<string, unknown>, finish = 'stop'): unknown {
  return { id: 'chatcmpl-s', object: 'chat.completion', created: 1, model: 'scripted', choices: [{ index: 0, message: { role: 'assistant', content: null, ...message }, finish_reason: finish }], usage: USAGE };
}

/** The SSE frames an OpenAI upstream streams for this message: role, text pieces, tool-call pieces, finish, usage, [DONE]. */
export function streamOf(message: { content?: string; tool_calls?: { id: string; function: { name: string; arguments: string } }[] }, finish = 'stop'): string[] {
  const c = (delta: unknown, fr: string | null = null) => `data: ${JSON.stringify({ id: 'chatcmpl-s', object: 'chat.completion.chunk', created: 1, model: 'scripted', choices: [{ index: 0, delta, finish_reason: fr }] })}\n\n`;
  const out = [c({ role: 'assistant', content: '' })];
  const text = message.content ?? '';
  for (let i = 0; i < text.length; i += 4) out.push(c({ content: text.slice(i, i + 4) }));
  (message.tool_calls ?? []).forEach((tc, index) => {
    out.push(c({ tool_calls: [{ index, id: tc.id, type: 'function', function: { name: tc.function.name, arguments: '' } }] }));
    const a = tc.function.arguments;
    for (let i = 0; i < a.length; i += 5) out.push(c({ tool_calls: [{ index, function: { arguments: a.slice(i, i + 5) } }] }));
  });
  out.push(c({}, finish));
  out.push(`data: ${JSON.stringify({ id: 'chatcmpl-s', object: 'chat.completion.chunk', created: 1, model: 'scripted', choices: [], usage: USAGE })}\n\n`);
  out.push('data: [DONE]\n\n');
  return out;
}

/**
 * A plausible model: calls the first tool unless the last turn is a tool
 * result (saying "Let me check." first when the first user turn says "chatty"); answers JSON when asked for a schema; otherwise echoes how many
 * messages it got and the last one's text. max_completion_tokens below 5
 * cuts the answer (finish_reason "length").
 */
export function plausible(body: any): Answer {
  const msgs: any[] = body?.messages ?? [];
  const last = msgs[msgs.length - 1];
  let message: any;
  let finish = 'stop';
  if (Array.isArray(body?.tools) && body.tools.length > 0 && last?.role !== 'tool' && body.tool_choice !== 'none') {
    // "chatty" in the prompt: a text part before the call, as real models often write.
    const chatty = JSON.stringify(msgs.find((m) => m.role === 'user')?.content ?? '').includes('chatty');
    message = { content: chatty ? 'Let me check.' : '', tool_calls: [{ id: 'call_s1', type: 'function', function: { name: body.tools[0].function.name, arguments: '{"city":"Oslo"}' } }] };
    finish = 'tool_calls';
  } else if (body?.response_format?.type === 'json_schema' || body?.response_format?.type === 'json_object') {
    message = { content: '{"answer":42,"unit":"none"}' };
  } else {
    const text = typeof last?.content === 'string' ? last.content : JSON.stringify(last?.content);
    message = { content: `echo ${msgs.length}: ${text}` };
  }
  if (typeof body?.max_completion_tokens === 'number' && body.max_completion_tokens < 5) finish = 'length';
  return body?.stream ? { sse: streamOf(message, finish) } : { json: completionOf(message, finish) };
}
