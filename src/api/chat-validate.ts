/**
 * POST /v1/chat/completions request checks: raw JSON -> ChatInput, or a 400
 * naming the offending parameter (OpenAI's `param`), in the style of
 * validate.ts: hand-written, one sentence a client can act on per failure.
 *
 * Known OpenAI fields are type- and range-checked here, so a bad request
 * costs no upstream round trip and gets the same answer whichever model it
 * would have reached. Unknown fields pass through untouched: OpenAI-compatible
 * servers take extras (vLLM's top_k, repetition_penalty), and rejecting them
 * would make Switchyard the only hop that cannot forward them. Switchyard's own
 * fields (cost_weight) are removed before the request goes upstream.
 */
import { invalid } from '../errors.ts';
import { ROUTER_ALIASES } from '../config/schema.ts';
import type { ChatMessage, ChatRequest } from '../providers/types.ts';
import { describe, type Json } from './validate.ts';

export interface ChatInput {
  /** What goes upstream: the client's request minus Switchyard-only fields. */
  request: ChatRequest;
  /** `model` as sent. */
  model: string;
  /** `model` was a router alias (auto, router, MoM). */
  routed: boolean;
  /** The request's cost_weight (lambda); undefined = the server's default. */
  costWeight: number | undefined;
  stream: boolean;
  includeUsage: boolean;
}

/** Fields only Switchyard reads; never forwarded. */
export const SWITCHYARD_FIELDS: readonly string[] = ['cost_weight'];

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
/** Content part types OpenAI defines; anything else is a typo or a dialect we cannot forward faithfully. */
const PART_TYPES = new Set(['text', 'image_url', 'input_audio', 'file', 'refusal']);
const MAX_MODEL_CHARS = 256;
const MAX_STOP = 4;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Optional number in [min, max]; null counts as absent (SDKs send explicit nulls). */
function range(o: Json, k: string, min: number, max: number): void {
  const v = o[k];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !(v >= min && v <= max)) throw invalid(k, `must be a number from ${min} to ${max}, got ${describe(v)}`);
}

function positiveInt(o: Json, k: string): void {
  const v = o[k];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw invalid(k, `must be a positive integer, got ${describe(v)}`);
}

function ofType(o: Json, k: string, type: 'boolean' | 'string' | 'object' | 'array'): void {
  const v = o[k];
  if (v === undefined || v === null) return;
  const ok = type === 'array' ? Array.isArray(v) : type === 'object' ? isObj(v) : typeof v === type;
  if (!ok) throw invalid(k, `must be ${type === 'array' || type === 'object' ? `an ${type}` : `a ${type}`}, got ${describe(v)}`);
}

function content(m: Json, at: string): void {
  const c = m.content;
  if (c === undefined || c === null) {
    // An assistant turn that only calls tools has no content.
    if (m.role === 'assistant' && (m.tool_calls !== undefined || m.function_call !== undefined)) return;
    throw invalid(`${at}.content`, `is required for a "${String(m.role)}" message`);
  }
  if (typeof c === 'string') return;
  if (!Array.isArray(c)) throw invalid(`${at}.content`, `must be a string or an array of content parts, got ${describe(c)}`);
  for (let j = 0; j < c.length; j++) {
    const p = c[j];
    const pat = `${at}.content[${j}]`;
    if (!isObj(p)) throw invalid(pat, `must be a content part object, got ${describe(p)}`);
    if (typeof p.type !== 'string' || !PART_TYPES.has(p.type)) throw invalid(`${pat}.type`, `must be one of ${[...PART_TYPES].join(', ')}, got ${describe(p.type)}`);
    if (p.type === 'text' && typeof p.text !== 'string') throw invalid(`${pat}.text`, `must be a string, got ${describe(p.text)}`);
    if (p.type === 'image_url' && !(isObj(p.image_url) && typeof p.image_url.url === 'string')) throw invalid(`${pat}.image_url`, 'must be an object with a "url" string');
  }
}

function messages(v: unknown): ChatMessage[] {
  if (v === undefined) throw invalid('messages', 'is required (a non-empty array of messages)');
  if (!Array.isArray(v)) throw invalid('messages', `must be an array of messages, got ${describe(v)}`);
  if (v.length === 0) throw invalid('messages', 'must not be empty');
  for (let i = 0; i < v.length; i++) {
    const m = v[i];
    const at = `messages[${i}]`;
    if (!isObj(m)) throw invalid(at, `must be a message object, got ${describe(m)}`);
    if (typeof m.role !== 'string' || !ROLES.has(m.role)) throw invalid(`${at}.role`, `must be one of ${[...ROLES].join(', ')}, got ${describe(m.role)}`);
    content(m, at);
    if (m.name !== undefined && typeof m.name !== 'string') throw invalid(`${at}.name`, `must be a string, got ${describe(m.name)}`);
  }
  return v as ChatMessage[];
}

export function parseChatRequest(o: Json): ChatInput {
  const model = o.model;
  if (model === undefined) throw invalid('model', `is required: a configured model name, or ${ROUTER_ALIASES.map((a) => `"${a}"`).join(', ')} to let the router choose`);
  if (typeof model !== 'string' || model.length === 0 || model.length > MAX_MODEL_CHARS) throw invalid('model', `must be a model name (1-${MAX_MODEL_CHARS} characters), got ${describe(model)}`);
  messages(o.messages);

  ofType(o, 'stream', 'boolean');
  const stream = o.stream === true;
  const so = o.stream_options;
  let includeUsage = false;
  if (so !== undefined && so !== null) {
    if (!isObj(so)) throw invalid('stream_options', `must be an object, got ${describe(so)}`);
    if (!stream) throw invalid('stream_options', 'is only allowed when "stream" is true');
    ofType(so, 'include_usage', 'boolean');
    includeUsage = so.include_usage === true;
  }
  range(o, 'temperature', 0, 2);
  range(o, 'top_p', 0, 1);
  range(o, 'presence_penalty', -2, 2);
  range(o, 'frequency_penalty', -2, 2);
  positiveInt(o, 'max_tokens');
  positiveInt(o, 'max_completion_tokens');
  const n = o.n;
  if (n !== undefined && n !== null && n !== 1) throw invalid('n', `must be 1 (one choice per request through the gateway), got ${describe(n)}`);
  const stop = o.stop;
  if (stop !== undefined && stop !== null && typeof stop !== 'string') {
    if (!Array.isArray(stop) || stop.length > MAX_STOP || !stop.every((s) => typeof s === 'string')) throw invalid('stop', `must be a string or an array of at most ${MAX_STOP} strings, got ${describe(stop)}`);
  }
  const seed = o.seed;
  if (seed !== undefined && seed !== null && !(typeof seed === 'number' && Number.isSafeInteger(seed))) throw invalid('seed', `must be an integer, got ${describe(seed)}`);
  ofType(o, 'user', 'string');
  ofType(o, 'logprobs', 'boolean');
  const tl = o.top_logprobs;
  if (tl !== undefined && tl !== null && !(typeof tl === 'number' && Number.isInteger(tl) && tl >= 0 && tl <= 20)) throw invalid('top_logprobs', `must be an integer from 0 to 20, got ${describe(tl)}`);
  ofType(o, 'tools', 'array');
  ofType(o, 'response_format', 'object');
  if (isObj(o.response_format) && typeof o.response_format.type !== 'string') throw invalid('response_format.type', `must be a string, got ${describe(o.response_format.type)}`);
  ofType(o, 'metadata', 'object');

  let costWeight: number | undefined;
  const cw = o.cost_weight;
  // null = not given, as for OpenAI's own optional fields.
  if (cw !== undefined && cw !== null) {
    if (typeof cw !== 'number' || !(cw >= 0 && cw <= Number.MAX_VALUE)) throw invalid('cost_weight', `must be a finite number >= 0, got ${describe(cw)}`);
    costWeight = cw;
  }

  const request = { ...o } as ChatRequest;
  for (const k of SWITCHYARD_FIELDS) delete request[k];
  return { request, model, routed: ROUTER_ALIASES.includes(model), costWeight, stream, includeUsage };
}

function textOf(m: ChatMessage): string {
  const c = m.content;
  if (typeof c === 'string') return c;
  if (!Array.isArray(c)) return '';
  let s = '';
  for (const p of c) if (p.type === 'text') s += (s ? '\n' : '') + (p as { text: string }).text;
  return s;
}

/**
 * The text `auto` embeds. 'last_user_message': the last user turn (what the
 * router's profile was fitted on: single prompts), falling back to the whole
 * conversation when no user turn has text. 'conversation': every turn's text,
 * in order. Capped at `maxChars` (limits.input_chars, the embedder's bound):
 * a message keeps its head, a conversation its tail (the latest turns). The
 * upstream still gets every message whole. Empty when there is no text at all
 * (image-only input): the caller rejects that.
 */
export function routingText(msgs: readonly ChatMessage[], mode: 'last_user_message' | 'conversation', maxChars: number): string {
  if (mode === 'last_user_message') {
    for (let i = msgs.length - 1; i >= 0; i--) {
      if (msgs[i].role !== 'user') continue;
      const t = textOf(msgs[i]);
      if (t.trim() !== '') return t.length > maxChars ? t.slice(0, maxChars) : t;
    }
  }
  let s = '';
  for (const m of msgs) {
    const t = textOf(m);
    if (t !== '') s += (s ? '\n\n' : '') + t;
  }
  return s.length > maxChars ? s.slice(s.length - maxChars) : s;
}
