/**
 * Anthropic Messages API <-> OpenAI chat completions.
 *
 * Request: system/developer messages -> top-level `system`; user/assistant
 * messages keep their order, consecutive same-role messages merge into one
 * (the API wants alternation); text and image parts become content blocks;
 * tools, tool calls and tool results become tool definitions, tool_use and
 * tool_result blocks (anthropic-tools.ts; a tool result joins the user turn
 * after the call, ahead of any text, as the API wants); `max_tokens` is
 * required upstream, so the backend's default (else 1024) fills in; `stop` ->
 * `stop_sequences`; temperature is clamped to Anthropic's [0, 1] (OpenAI
 * allows up to 2).
 * Not expressible (-> UpstreamError 'unsupported', so the chain moves to a
 * model that can serve it): n > 1, audio and file parts, non-function tools.
 *
 * Response: text blocks -> `content`; tool_use blocks -> `tool_calls`
 * (`function_call` for a legacy `functions` client), `content` null when
 * there is no text; thinking blocks are dropped.
 *
 * Streaming event sequence handled:
 *   message_start -> first chunk, delta {role: 'assistant', content: ''}
 *   content_block_start (tool_use) -> delta {tool_calls: [{index, id, type, function: {name, arguments: ''}}]}
 *   content_block_delta (text_delta) -> delta {content}
 *   content_block_delta (input_json_delta) -> delta {tool_calls: [{index, function: {arguments}}]}
 *   content_block_stop (tool_use that sent no arguments) -> arguments '{}'
 *   other content_block_start / content_block_stop, ping -> nothing
 *   message_delta -> remembers stop_reason and output usage
 *   message_stop -> final chunk with finish_reason, then a usage chunk when asked
 *   error -> UpstreamError 'stream_error'
 * `index` in tool_calls counts tool calls (0, 1, ...), not content blocks: a
 * text block before the first call is block 0 upstream.
 */
import { invalid } from '../errors.ts';
import type { SseEvent } from '../streaming/sse-parser.ts';
import {
  functionCallUse, legacyCallId, pushToolUses, standInTools, toolCallIdOf, toolChoiceOf, toolResultOf, toolsOf,
  type AnthropicTool, type AnthropicToolChoice, type ToolResultBlock, type ToolUseBlock,
} from './anthropic-tools.ts';
import { tokenCount } from './cost.ts';
import { clip, UpstreamError } from './failure.ts';
import { redact } from './redact.ts';
import type {
  Backend, ChatChunk, ChatCompletion, ChatMessage, ChatRequest, ContentPart, FinishReason, ProviderAdapter, ResponseContext,
  StreamContext, StreamItem, StreamTransformer, UpstreamRequestSpec, Usage,
} from './types.ts';

export const ANTHROPIC_VERSION = '2023-06-01';
export const DEFAULT_MAX_TOKENS = 1024;

/** What a user or assistant message's parts become (also the content of a tool_result). */
export type Block =
  | { type: 'text'; text: string }
  | { type: 'image'; source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string } };

type MessageBlock = Block | ToolUseBlock | ToolResultBlock;

interface AnthropicMessage { role: 'user' | 'assistant'; content: MessageBlock[] }

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
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
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

/** Consecutive same-role messages merge: the API wants user and assistant turns to alternate. */
function append(messages: AnthropicMessage[], role: 'user' | 'assistant', blocks: MessageBlock[]): void {
  if (blocks.length === 0) return;
  const last = messages[messages.length - 1];
  if (last && last.role === role) last.content.push(...blocks);
  else messages.push({ role, content: blocks });
}

/**
 * Tool results open the user turn that follows the calls ("messages following
 * tool_use blocks must begin with tool_result blocks"): a result goes after
 * the results already there but ahead of any text.
 */
function appendResult(messages: AnthropicMessage[], r: ToolResultBlock): void {
  const last = messages[messages.length - 1];
  if (!last || last.role !== 'user') { messages.push({ role: 'user', content: [r] }); return; }
  let at = 0;
  while (at < last.content.length && last.content[at].type === 'tool_result') at++;
  last.content.splice(at, 0, r);
}

export function toAnthropicRequest(req: ChatRequest, backend: Pick<Backend, 'upstreamModel' | 'defaultMaxTokens'>): AnthropicRequest {
  if (req.n !== undefined && req.n !== null && req.n !== 1) throw new UpstreamError('unsupported', 'anthropic: n > 1 is not supported');
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  let fnCall = ''; // id given to the latest legacy function_call, for the function message that answers it
  const msgs = req.messages;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    switch (m.role) {
      case 'system': case 'developer': { const t = textOf(m.content); if (t) system.push(t); break; }
      case 'user': append(messages, 'user', blocksOf(m.content)); break;
      case 'assistant': {
        const blocks: MessageBlock[] = blocksOf(m.content);
        if (m.tool_calls !== undefined && m.tool_calls !== null) pushToolUses(m.tool_calls, `messages[${i}]`, blocks);
        if (m.function_call !== undefined && m.function_call !== null) {
          fnCall = legacyCallId(i);
          blocks.push(functionCallUse(m.function_call, `messages[${i}]`, fnCall));
        }
        append(messages, 'assistant', blocks);
        break;
      }
      case 'tool': case 'function': {
        const id = m.role === 'tool' ? toolCallIdOf(m, `messages[${i}]`) : fnCall;
        if (id === '') throw invalid(`messages[${i}]`, 'is a "function" message with no assistant function_call before it to answer');
        appendResult(messages, toolResultOf(id, typeof m.content === 'string' ? m.content : blocksOf(m.content)));
        break;
      }
      default: throw new UpstreamError('unsupported', `anthropic: role "${m.role}" is not supported`);
    }
  }
  // Anthropic needs at least one user/assistant turn; OpenAI accepts a system-only
  // conversation, so this is a format limit (next candidate), not a bad request.
  if (messages.length === 0) throw new UpstreamError('unsupported', 'anthropic: a conversation of only system/developer messages cannot be sent (Anthropic needs at least one user or assistant message)');
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
  const tools = toolsOf(req);
  if (tools) {
    out.tools = tools;
    const choice = toolChoiceOf(req);
    if (choice) out.tool_choice = choice;
  } else {
    const standIns = standInTools(messages);
    if (standIns) { out.tools = standIns; out.tool_choice = { type: 'none' }; }
  }
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

interface AnthropicUsage { input_tokens?: unknown; output_tokens?: unknown; cache_creation_input_tokens?: unknown; cache_read_input_tokens?: unknown }

/**
 * Cached prompt tokens are billed apart upstream but are still prompt tokens
 * to an OpenAI client. Anything that is not a count (a string would
 * concatenate, a negative would subtract) counts as 0: the usage the client
 * gets is Switchyard's own output.
 */
function promptTokens(u: AnthropicUsage): number {
  return tokenCount(u.input_tokens) + tokenCount(u.cache_creation_input_tokens) + tokenCount(u.cache_read_input_tokens);
}

/** `usage` of a message or event: an object, or nothing to read. */
function usageIn(v: unknown): AnthropicUsage {
  return v !== null && typeof v === 'object' ? v as AnthropicUsage : {};
}

const str = (v: unknown, fallback: string): string => (typeof v === 'string' ? v : fallback);

function usageOf(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

type AnthropicContent = { type: string; text?: string; id?: string; name?: string; input?: unknown };

function parseResponse(json: unknown, created: number, ctx?: ResponseContext): ChatCompletion {
  const j = json as { id?: unknown; model?: unknown; content?: (AnthropicContent | null)[]; stop_reason?: string | null; usage?: unknown } | null;
  if (j === null || typeof j !== 'object' || !Array.isArray(j.content)) throw new UpstreamError('bad_response', 'anthropic message has no "content" array');
  let text = '';
  let calls: { id: string; type: 'function'; function: { name: string; arguments: string } }[] | undefined;
  for (const b of j.content) {
    if (b === null || typeof b !== 'object') continue;
    if (b.type === 'text' && typeof b.text === 'string') text += b.text;
    else if (b.type === 'tool_use') {
      if (typeof b.id !== 'string' || typeof b.name !== 'string') throw new UpstreamError('bad_response', 'anthropic tool_use block without an id or name');
      (calls ??= []).push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } });
    }
  }
  const message: ChatCompletion['choices'][0]['message'] = { role: 'assistant', content: calls && text === '' ? null : text, refusal: null };
  let finish = finishReason(j.stop_reason);
  if (calls) {
    if (ctx?.functionCall) {
      message.function_call = calls[0].function;
      if (finish === 'tool_calls') finish = 'function_call';
    } else message.tool_calls = calls;
  }
  const u = usageIn(j.usage);
  return {
    id: str(j.id, 'msg'),
    object: 'chat.completion',
    created,
    model: str(j.model, ''),
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
    usage: usageOf(promptTokens(u), tokenCount(u.output_tokens)),
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
  /** Content block index -> tool call index, for the tool_use blocks seen so far (holes: other blocks). */
  private toolAt: number[] = [];
  /** Per tool call: whether any of its arguments went out yet. */
  private argsSent: boolean[] = [];
  /** Per tool call: the start event's `input` (Anthropic sends {}, the whole input comes as deltas). */
  private startInput: unknown[] = [];
  constructor(private readonly ctx: StreamContext) {}

  /** One tool call's delta: `tool_calls[{index, ...}]`, or for a legacy client `function_call` (the first call only). */
  private callDelta(index: number, call: { id?: string; type?: 'function'; function: { name?: string; arguments: string } }): ChatChunk['choices'][0]['delta'] | null {
    if (!this.ctx.functionCall) return { tool_calls: [{ index, ...call }] };
    return index === 0 ? { function_call: call.function } : null;
  }

  private toolIndex(blockIndex: unknown): number {
    const i = typeof blockIndex === 'number' ? this.toolAt[blockIndex] : undefined;
    return i === undefined ? -1 : i;
  }

  private chunk(delta: ChatChunk['choices'][0]['delta'], finish: FinishReason | null): ChatChunk {
    const c: ChatChunk = { id: this.id, object: 'chat.completion.chunk', created: this.ctx.created, model: this.model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] };
    if (this.ctx.includeUsage) c.usage = null;
    return c;
  }

  push(ev: SseEvent, out: StreamItem[]): void {
    // The `event:` line names the type, and so does data.type; data is authoritative (the event line is optional in the spec).
    let d: { type?: string; [k: string]: any };
    try { d = JSON.parse(ev.data); } catch { throw new UpstreamError('bad_response', redact(clip(`anthropic stream event "${ev.event}" is not JSON`))); }
    if (d === null || typeof d !== 'object') throw new UpstreamError('bad_response', redact(clip(`anthropic stream event "${ev.event}" is not an object`)));
    switch (d.type ?? ev.event) {
      case 'message_start': {
        const m = d.message ?? {};
        this.id = str(m.id, '');
        this.model = str(m.model, '');
        const u = usageIn(m.usage);
        this.prompt = promptTokens(u);
        this.completion = tokenCount(u.output_tokens);
        this.started = true;
        out.push(this.chunk({ role: 'assistant', content: '' }, null));
        return;
      }
      case 'content_block_start': {
        const b = d.content_block ?? {};
        if (b.type !== 'tool_use') return;
        if (typeof b.id !== 'string' || typeof b.name !== 'string') throw new UpstreamError('bad_response', 'anthropic stream: tool_use block without an id or name');
        const index = this.argsSent.length;
        if (typeof d.index === 'number') this.toolAt[d.index] = index;
        this.argsSent.push(false);
        this.startInput.push(b.input);
        const delta = this.callDelta(index, { id: b.id, type: 'function', function: { name: b.name, arguments: '' } });
        if (delta) out.push(this.chunk(delta, null));
        return;
      }
      case 'content_block_delta': {
        const delta = d.delta ?? {};
        if (delta.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') out.push(this.chunk({ content: delta.text }, null));
        else if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string' && delta.partial_json !== '') {
          const index = this.toolIndex(d.index);
          if (index < 0) throw new UpstreamError('bad_response', 'anthropic stream: input_json_delta outside a tool_use block');
          this.argsSent[index] = true;
          const c = this.callDelta(index, { function: { arguments: delta.partial_json } });
          if (c) out.push(this.chunk(c, null));
        }
        return; // thinking deltas have no chat-completions equivalent
      }
      case 'content_block_stop': {
        // A call that takes no input may stream no input_json_delta at all; the JSON answer says "{}" for it.
        const index = this.toolIndex(d.index);
        if (index < 0 || this.argsSent[index]) return;
        this.argsSent[index] = true;
        const input = this.startInput[index];
        const c = this.callDelta(index, { function: { arguments: JSON.stringify(input !== null && typeof input === 'object' ? input : {}) } });
        if (c) out.push(this.chunk(c, null));
        return;
      }
      case 'message_delta': {
        if (d.delta?.stop_reason !== undefined) {
          this.stop = finishReason(d.delta.stop_reason);
          if (this.stop === 'tool_calls' && this.ctx.functionCall) this.stop = 'function_call';
        }
        const u = usageIn(d.usage);
        if (typeof u.output_tokens === 'number') this.completion = tokenCount(u.output_tokens); // cumulative, not a delta
        if (typeof u.input_tokens === 'number') this.prompt = promptTokens(u);
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
        // Quoted to the client if bytes went out already: clipped, and redacted (it may quote the key).
        const e = d.error ?? {};
        throw new UpstreamError('stream_error', redact(clip(`anthropic ${str(e.type, 'error')}: ${str(e.message, 'stream error')}`)));
      }
      default:
        return; // ping, and event types added later
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
