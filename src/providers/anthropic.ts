/**
 * Anthropic Messages API <-> OpenAI chat completions.
 *
 * Request: system/developer messages -> top-level `system`; user/assistant
 * messages keep their order, consecutive same-role messages merge into one
 * (the API wants alternation); text and image parts become content blocks;
 * `max_tokens` is required upstream, so the backend's default (else 1024)
 * fills in; `stop` -> `stop_sequences`; temperature is clamped to
 * Anthropic's [0, 1] (OpenAI allows up to 2).
 * Not expressible (-> UpstreamError 'unsupported', so the chain moves to a
 * model that can serve it): n > 1, tools / tool messages, audio parts.
 *
 * Streaming event sequence handled:
 *   message_start -> first chunk, delta {role: 'assistant', content: ''}
 *   content_block_start / content_block_stop / ping -> nothing
 *   content_block_delta (text_delta) -> delta {content}
 *   message_delta -> remembers stop_reason and output usage
 *   message_stop -> final chunk with finish_reason, then a usage chunk when asked
 *   error -> UpstreamError 'stream_error'
 */
import type { SseEvent } from '../streaming/sse-parser.ts';
import { UpstreamError } from './failure.ts';
import type {
  Backend, ChatChunk, ChatCompletion, ChatMessage, ChatRequest, ContentPart, FinishReason, ProviderAdapter, StreamContext,
  StreamItem, StreamTransformer, UpstreamRequestSpec, Usage,
} from './types.ts';

export const ANTHROPIC_VERSION = '2023-06-01';
export const DEFAULT_MAX_TOKENS = 1024;

type Block =
  | { type: 'text'; text: string }
  | { type: 'image'; source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string } };

interface AnthropicMessage { role: 'user' | 'assistant'; content: Block[] }

interface AnthropicRequest {
  model: string;
  max_tokens: number;
  messages: AnthropicMessage[];
  system?: string;
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  stream?: boolean;
  metadata?: { user_id: string };
}

function textOf(content: ChatMessage['content']): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  let s = '';
  for (const p of content) {
    if (p.type !== 'text') throw new UpstreamError('unsupported', `anthropic: a system message part of type "${p.type}" is not supported`);
    s += (s ? '\n' : '') + (p as { text: string }).text;
  }
  return s;
}

const DATA_URL = /^data:([^;,]+);base64,(.*)$/s;

function blocksOf(content: ChatMessage['content']): Block[] {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  const out: Block[] = [];
  for (const p of content as ContentPart[]) {
    if (p.type === 'text') out.push({ type: 'text', text: (p as { text: string }).text });
    else if (p.type === 'image_url') {
      const url = (p as { image_url: { url: string } }).image_url.url;
      const m = DATA_URL.exec(url);
      out.push(m ? { type: 'image', source: { type: 'base64', media_type: m[1], data: m[2] } } : { type: 'image', source: { type: 'url', url } });
    } else throw new UpstreamError('unsupported', `anthropic: content part type "${p.type}" is not supported`);
  }
  return out;
}

export function toAnthropicRequest(req: ChatRequest, backend: Pick<Backend, 'upstreamModel' | 'defaultMaxTokens'>): AnthropicRequest {
  if (req.n !== undefined && req.n !== null && req.n !== 1) throw new UpstreamError('unsupported', 'anthropic: n > 1 is not supported');
  if (req.tools !== undefined || req.functions !== undefined) throw new UpstreamError('unsupported', 'anthropic: tools are not supported by this gateway yet');
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  for (const m of req.messages) {
    if (m.role === 'system' || m.role === 'developer') { const t = textOf(m.content); if (t) system.push(t); continue; }
    if (m.role !== 'user' && m.role !== 'assistant') throw new UpstreamError('unsupported', `anthropic: role "${m.role}" is not supported`);
    const blocks = blocksOf(m.content);
    if (blocks.length === 0) continue;
    const last = messages[messages.length - 1];
    if (last && last.role === m.role) last.content.push(...blocks);
    else messages.push({ role: m.role, content: blocks });
  }
  const out: AnthropicRequest = {
    model: backend.upstreamModel,
    max_tokens: req.max_completion_tokens ?? req.max_tokens ?? backend.defaultMaxTokens ?? DEFAULT_MAX_TOKENS,
    messages,
  };
  if (system.length) out.system = system.join('\n\n');
  if (req.stop !== undefined && req.stop !== null) out.stop_sequences = typeof req.stop === 'string' ? [req.stop] : [...req.stop];
  if (typeof req.temperature === 'number') out.temperature = Math.min(1, Math.max(0, req.temperature));
  if (typeof req.top_p === 'number') out.top_p = req.top_p;
  if (req.stream) out.stream = true;
  if (typeof req.user === 'string' && req.user) out.metadata = { user_id: req.user };
  return out;
}

function buildRequest(req: ChatRequest, backend: Backend): UpstreamRequestSpec {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: req.stream ? 'text/event-stream' : 'application/json',
    'anthropic-version': ANTHROPIC_VERSION,
  };
  if (backend.apiKey !== '') headers['x-api-key'] = backend.apiKey;
  if (backend.headers) Object.assign(headers, backend.headers);
  return { path: '/v1/messages', headers, body: JSON.stringify(toAnthropicRequest(req, backend)) };
}

export function finishReason(stop: string | null | undefined): FinishReason | null {
  switch (stop) {
    case 'end_turn': case 'stop_sequence': case 'pause_turn': return 'stop';
    case 'max_tokens': case 'model_context_window_exceeded': return 'length';
    case 'tool_use': return 'tool_calls';
    case 'refusal': return 'content_filter';
    case null: case undefined: return null;
    default: return 'stop';
  }
}

interface AnthropicUsage { input_tokens?: number; output_tokens?: number; cache_creation_input_tokens?: number | null; cache_read_input_tokens?: number | null }

/** Cached prompt tokens are billed apart upstream but are still prompt tokens to an OpenAI client. */
function promptTokens(u: AnthropicUsage): number {
  return (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
}

function usageOf(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function parseResponse(json: unknown, created: number): ChatCompletion {
  const j = json as { id?: string; model?: string; content?: { type: string; text?: string }[]; stop_reason?: string | null; usage?: AnthropicUsage } | null;
  if (j === null || typeof j !== 'object' || !Array.isArray(j.content)) throw new UpstreamError('bad_response', 'anthropic message has no "content" array');
  let text = '';
  for (const b of j.content) if (b.type === 'text' && typeof b.text === 'string') text += b.text;
  const u = j.usage ?? {};
  return {
    id: j.id ?? 'msg',
    object: 'chat.completion',
    created,
    model: j.model ?? '',
    choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finishReason(j.stop_reason) }],
    usage: usageOf(promptTokens(u), u.output_tokens ?? 0),
  };
}

class AnthropicStream implements StreamTransformer {
  done = false;
  usage: Usage | null = null;
  private id = '';
  private model = '';
  private prompt = 0;
  private completion = 0;
  private stop: FinishReason | null = null;
  private started = false;
  constructor(private readonly ctx: StreamContext) {}

  private chunk(delta: ChatChunk['choices'][0]['delta'], finish: FinishReason | null): ChatChunk {
    const c: ChatChunk = { id: this.id, object: 'chat.completion.chunk', created: this.ctx.created, model: this.model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] };
    if (this.ctx.includeUsage) c.usage = null;
    return c;
  }

  push(ev: SseEvent, out: StreamItem[]): void {
    // The `event:` line names the type, and so does data.type; data is authoritative (the event line is optional in the spec).
    let d: { type?: string; [k: string]: any };
    try { d = JSON.parse(ev.data); } catch { throw new UpstreamError('bad_response', `anthropic stream event "${ev.event}" is not JSON`); }
    switch (d.type ?? ev.event) {
      case 'message_start': {
        const m = d.message ?? {};
        this.id = m.id ?? '';
        this.model = m.model ?? '';
        const u: AnthropicUsage = m.usage ?? {};
        this.prompt = promptTokens(u);
        this.completion = u.output_tokens ?? 0;
        this.started = true;
        out.push(this.chunk({ role: 'assistant', content: '' }, null));
        return;
      }
      case 'content_block_delta': {
        const delta = d.delta ?? {};
        if (delta.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') out.push(this.chunk({ content: delta.text }, null));
        return; // thinking / input_json deltas have no chat-completions equivalent here
      }
      case 'message_delta': {
        if (d.delta?.stop_reason !== undefined) this.stop = finishReason(d.delta.stop_reason);
        const u: AnthropicUsage | undefined = d.usage;
        if (u) {
          if (typeof u.output_tokens === 'number') this.completion = u.output_tokens; // cumulative, not a delta
          if (typeof u.input_tokens === 'number') this.prompt = promptTokens(u);
        }
        return;
      }
      case 'message_stop': {
        if (!this.started) throw new UpstreamError('bad_response', 'anthropic stream: message_stop before message_start');
        this.done = true;
        this.usage = usageOf(this.prompt, this.completion);
        out.push(this.chunk({}, this.stop ?? 'stop'));
        if (this.ctx.includeUsage) {
          out.push({ id: this.id, object: 'chat.completion.chunk', created: this.ctx.created, model: this.model, choices: [], usage: this.usage });
        }
        return;
      }
      case 'error': {
        const e = d.error ?? {};
        throw new UpstreamError('stream_error', `anthropic ${e.type ?? 'error'}: ${e.message ?? 'stream error'}`);
      }
      default:
        return; // ping, content_block_start, content_block_stop, and event types added later
    }
  }

  end(): void {
    // A stream cut before message_stop still leaves what was counted so far, for cost accounting.
    if (!this.done && this.started) this.usage = usageOf(this.prompt, this.completion);
  }
}

export const anthropic: ProviderAdapter = {
  name: 'anthropic',
  defaultBaseUrl: 'https://api.anthropic.com',
  buildRequest,
  parseResponse,
  createStreamTransformer: (ctx: StreamContext) => new AnthropicStream(ctx),
};
