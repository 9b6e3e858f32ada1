/**
 * Shapes shared by every provider adapter. The gateway speaks OpenAI's chat
 * completions dialect to its clients; each adapter is data (base URL, header
 * names) plus pure transforms between that dialect and its upstream's.
 * Only the fields the transforms read are typed; requests keep unknown fields
 * so the OpenAI pass-through forwards them untouched.
 */
import type { SseEvent } from '../streaming/sse-parser.ts';

export type Role = 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'function';

export interface TextPart { type: 'text'; text: string }
export interface ImagePart { type: 'image_url'; image_url: { url: string; detail?: string } }
export type ContentPart = TextPart | ImagePart | { type: string; [k: string]: unknown };

export interface ChatMessage {
  role: Role;
  content: string | ContentPart[] | null;
  name?: string;
  [k: string]: unknown;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  stop?: string | string[] | null;
  n?: number | null;
  user?: string;
  [k: string]: unknown;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: 'assistant'; content: string | null; refusal?: string | null; [k: string]: unknown };
    finish_reason: FinishReason | null;
    logprobs?: unknown;
  }[];
  usage?: Usage;
  [k: string]: unknown;
}

export interface ChatChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: {
    index: number;
    delta: { role?: 'assistant'; content?: string | null; [k: string]: unknown };
    finish_reason: FinishReason | null;
    logprobs?: unknown;
  }[];
  usage?: Usage | null;
  [k: string]: unknown;
}

/** USD per million tokens. */
export interface Pricing {
  prompt_per_1m: number;
  completion_per_1m: number;
}

/**
 * One upstream endpoint serving one model, resolved from config: the key is
 * already read from the environment variable the config names. `apiKey` must
 * never reach a log line or an error message (see redact.ts).
 */
export interface Backend {
  /** Stable id from config (used for round-robin and down-marking). */
  id: string;
  /** Registry name of the adapter: 'openai' | 'anthropic' | ... */
  provider: string;
  /**
   * Base URL as the provider's own SDK takes it: OpenAI-style includes the
   * version prefix (https://api.openai.com/v1), Anthropic's does not
   * (https://api.anthropic.com). Adapters append their path to it.
   */
  baseUrl: string;
  /** The model name the upstream expects (may differ from the routing name). */
  upstreamModel: string;
  /** '' = the config names no key variable: adapters send no credentials. */
  apiKey: string;
  /** Static extra headers (e.g. OpenRouter's HTTP-Referer, or x-mock-* in tests). */
  headers?: Readonly<Record<string, string>>;
  /** Anthropic requires max_tokens; used when the client sent none. */
  defaultMaxTokens?: number;
}

/** What an adapter asks the transport to send; the transport adds nothing but the host. */
export interface UpstreamRequestSpec {
  /** Appended to the path of backend.baseUrl. */
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** How the client wants the answer shaped, beyond what the upstream's reply says. */
export interface ResponseContext {
  /**
   * The request used the legacy `functions` API (see wantsFunctionCall): a
   * call comes back as `function_call` with finish_reason "function_call",
   * not `tool_calls`. Only adapters that translate calls read it.
   */
  functionCall?: boolean;
}

/**
 * The client speaks the legacy `functions` API (and not `tools`): it reads
 * `message.function_call`, so an adapter that translates calls answers in
 * that shape (the OpenAI pass-through needs nothing: its upstream does).
 */
export function wantsFunctionCall(req: ChatRequest): boolean {
  return req.functions !== undefined && req.functions !== null && (req.tools === undefined || req.tools === null);
}

export interface StreamContext extends ResponseContext {
  /** The client asked for a final usage chunk (stream_options.include_usage). */
  includeUsage: boolean;
  /** Unix seconds for chunks whose upstream carries no `created`. */
  created: number;
  /**
   * The consumer takes chunks as JSON text: an adapter whose upstream already
   * speaks OpenAI may push an event's data unparsed (a string) when it needs
   * no change. Default false: every item is a parsed ChatChunk.
   */
  passThrough?: boolean;
}

/**
 * One chunk of a stream: parsed, or (pass-through, see StreamContext) the
 * JSON text of an OpenAI chunk exactly as it goes to the client.
 */
export type StreamItem = ChatChunk | string;

/**
 * Upstream SSE events in, OpenAI chunks out. One instance per response;
 * push/end append to `out` instead of returning arrays so a stream costs no
 * allocation beyond the chunks themselves. An upstream error event throws an
 * UpstreamError (kind 'stream_error').
 */
export interface StreamTransformer {
  push(ev: SseEvent, out: StreamItem[]): void;
  /** Upstream body ended; appends closing chunks if any are due. */
  end(out: StreamItem[]): void;
  /** The upstream's terminal event was seen ([DONE], message_stop). */
  readonly done: boolean;
  /** Token usage reported by the upstream, whether or not the client asked for it. */
  readonly usage: Usage | null;
}

/**
 * A chat.completion as JSON text, ready to send, and what the gateway needs
 * from it without parsing it again.
 */
export interface CompletionText {
  /** One JSON object (a chat.completion). */
  json: string;
  usage: Usage | null;
}

export interface ProviderAdapter {
  readonly name: string;
  readonly defaultBaseUrl: string;
  buildRequest(req: ChatRequest, backend: Backend): UpstreamRequestSpec;
  /** Upstream JSON body -> OpenAI chat.completion. `created` is used when the upstream has none. */
  parseResponse(json: unknown, created: number, ctx?: ResponseContext): ChatCompletion;
  /**
   * Optional fast path: the upstream's body bytes -> the completion's JSON
   * text, without building the object when the upstream already speaks
   * OpenAI. Without it the gateway parses, calls parseResponse, and
   * serialises. Throws UpstreamError('bad_response') like parseResponse.
   */
  readResponse?(body: Buffer, created: number): CompletionText;
  createStreamTransformer(ctx: StreamContext): StreamTransformer;
}

/**
 * The part of AbortSignal the gateway uses to hear that the client went away.
 * A real AbortSignal satisfies it; the edge passes a cheaper object of its
 * own (src/edge/exchange.ts), since an AbortController per request plus its
 * listeners cost about 3 µs of the proxy path (profile, 64 connections).
 */
export interface AbortHook {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}
