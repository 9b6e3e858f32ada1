/**
 * OpenAI and OpenAI-compatible upstreams (vLLM, Together, OpenRouter, ...):
 * a pass-through. Two changes only:
 *  - `model` becomes the backend's upstream model name;
 *  - a streaming request always asks for `stream_options.include_usage`, so
 *    the gateway learns the token counts (cost accounting); the final
 *    usage-only chunk and the `usage: null` fields are dropped again when the
 *    client did not ask for them, so the client sees what OpenAI would send.
 */
import type { SseEvent } from '../streaming/sse-parser.ts';
import { UpstreamError } from './failure.ts';
import type { Backend, ChatChunk, ChatCompletion, ChatRequest, ProviderAdapter, StreamContext, StreamTransformer, UpstreamRequestSpec, Usage } from './types.ts';

function buildRequest(req: ChatRequest, backend: Backend): UpstreamRequestSpec {
  const body: ChatRequest = { ...req, model: backend.upstreamModel };
  if (req.stream) body.stream_options = { ...(req.stream_options ?? {}), include_usage: true };
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: req.stream ? 'text/event-stream' : 'application/json',
  };
  // No key configured (a local vLLM, the mock): send no credentials at all rather than "Bearer ".
  if (backend.apiKey !== '') headers.authorization = `Bearer ${backend.apiKey}`;
  if (backend.headers) Object.assign(headers, backend.headers);
  return { path: '/chat/completions', headers, body: JSON.stringify(body) };
}

function parseResponse(json: unknown): ChatCompletion {
  const j = json as ChatCompletion | null;
  if (j === null || typeof j !== 'object' || !Array.isArray(j.choices)) {
    throw new UpstreamError('bad_response', 'upstream chat.completion has no "choices" array');
  }
  return j;
}

function errorMessage(o: { error?: unknown }): string {
  const e = o.error as { message?: unknown } | string | undefined;
  if (typeof e === 'string') return e;
  return typeof e?.message === 'string' ? e.message : 'upstream stream error';
}

class OpenAiStream implements StreamTransformer {
  done = false;
  usage: Usage | null = null;
  constructor(private readonly includeUsage: boolean) {}

  push(ev: SseEvent, out: ChatChunk[]): void {
    const data = ev.data;
    if (data === '[DONE]') { this.done = true; return; }
    let chunk: ChatChunk & { error?: unknown };
    try { chunk = JSON.parse(data); } catch { throw new UpstreamError('bad_response', 'upstream stream event is not JSON'); }
    if (chunk === null || typeof chunk !== 'object') throw new UpstreamError('bad_response', 'upstream stream event is not an object');
    if (chunk.error !== undefined) throw new UpstreamError('stream_error', errorMessage(chunk));
    if (chunk.usage) this.usage = chunk.usage;
    if (this.includeUsage) { out.push(chunk); return; }
    if (Array.isArray(chunk.choices) && chunk.choices.length === 0 && chunk.usage) return; // the usage-only chunk
    if ('usage' in chunk) delete chunk.usage;
    out.push(chunk);
  }

  end(): void {}
}

export const openai: ProviderAdapter = {
  name: 'openai',
  defaultBaseUrl: 'https://api.openai.com/v1',
  buildRequest,
  parseResponse,
  createStreamTransformer: (ctx: StreamContext) => new OpenAiStream(ctx.includeUsage),
};
