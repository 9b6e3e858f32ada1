/**
 * The Responses API over Chat Completions: a validated Responses request ->
 * the ChatRequest the gateway sends (any upstream format), and a chat answer
 * -> Responses output items and the response object. Pure functions: no
 * store, no transport; responses-stream.ts does the same for a chunk stream.
 *
 *   input items        message               -> chat message (role kept; text parts joined when that loses nothing)
 *                      function_call (1..n)  -> one assistant message's tool_calls (joining the assistant text before it)
 *                      function_call_output  -> tool message
 *   instructions       -> a leading system message (not carried along a chain, as OpenAI does)
 *   tools              {type, name, description, parameters, strict} -> {type, function: {...}}
 *   tool_choice        {type: "function", name} -> {type: "function", function: {name}}
 *   max_output_tokens  -> max_completion_tokens (OpenAI's current name; the Anthropic adapter reads it too)
 *   text.format        -> response_format (text: omitted)
 *
 * What can go wrong: an OpenAI-compatible server that only knows the legacy
 * `max_tokens` ignores max_completion_tokens, so the cap is not applied there;
 * an Anthropic-format upstream has no response_format (the Anthropic adapter
 * drops it, so a JSON schema is asked for but not enforced).
 */
import type { ChatCompletion, ChatMessage, ChatRequest, ContentPart, FinishReason } from '../providers/types.ts';
import { newId, type FunctionTool, type InputItem, type InputPart, type MessageItem, type ResponsesInput, type TextFormat, type ToolChoice } from './responses-validate.ts';

export interface OutputText { type: 'output_text'; text: string; annotations: unknown[]; logprobs: unknown[] }
export interface OutputRefusal { type: 'refusal'; refusal: string }
export type ItemStatus = 'in_progress' | 'completed' | 'incomplete';
export interface OutputMessage { id: string; type: 'message'; status: ItemStatus; content: (OutputText | OutputRefusal)[]; role: 'assistant' }
export interface OutputFunctionCall { id: string; type: 'function_call'; status: ItemStatus; arguments: string; call_id: string; name: string }
export type OutputItem = OutputMessage | OutputFunctionCall;

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** The response object (OpenAI's field order), plus Switchyard's `switchyard` member once known. */
export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  background: false;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  output: OutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  reasoning: { effort: null; summary: null };
  store: boolean;
  temperature: number | null;
  text: { format: TextFormat; verbosity?: string };
  tool_choice: ToolChoice;
  tools: FunctionTool[];
  top_p: number | null;
  truncation: 'disabled';
  usage: ResponsesUsage | null;
  user: string | null;
  metadata: Record<string, string>;
  switchyard?: Record<string, unknown>;
}

/**
 * Output item ids carry their response's id: `msg_` / `fc_` + the 32 hex
 * digits of `resp_…` + the item's index in 4 hex digits. An item_reference
 * (which names an item, not a response) then finds its response with one
 * store read, without an index of items. Ids stay opaque to clients.
 */
export function outputItemId(responseId: string, prefix: 'msg_' | 'fc_', index: number): string {
  return prefix + responseId.slice(5) + index.toString(16).padStart(4, '0');
}

/** The `resp_…` id an output item id was derived from, or null if it was not made by outputItemId. */
export function responseIdOfItem(itemId: string): string | null {
  const m = /^(?:msg|fc)_([0-9a-f]{32})[0-9a-f]{4}$/.exec(itemId);
  return m === null ? null : `resp_${m[1]}`;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function textOfParts(content: readonly InputPart[]): string | null {
  let s = '';
  for (const p of content) {
    if (p.type === 'input_text' || p.type === 'output_text') s += p.text;
    else if (p.type === 'refusal') s += p.refusal;
    else return null;
  }
  return s;
}

function messageOf(m: MessageItem): ChatMessage {
  const c = m.content;
  // One text part, or an assistant turn (chat assistants hold a string in every dialect): a string.
  if (c.length === 0) return { role: m.role, content: '' };
  if (c.length === 1 || m.role === 'assistant') {
    const s = textOfParts(c);
    if (s !== null) return { role: m.role, content: s };
  }
  const parts: ContentPart[] = c.map((p): ContentPart => {
    switch (p.type) {
      case 'input_text': case 'output_text': return { type: 'text', text: p.text };
      case 'refusal': return { type: 'text', text: p.refusal };
      case 'input_image': return { type: 'image_url', image_url: { url: p.image_url, detail: p.detail } };
    }
  });
  return { role: m.role, content: parts };
}

/** Input items -> chat messages, appended to `out` (the chain's messages, when continuing one). */
export function toChatMessages(items: readonly InputItem[], out: ChatMessage[] = []): ChatMessage[] {
  let callsOpen = false;
  for (const it of items) {
    if (it.type === 'message') { out.push(messageOf(it)); callsOpen = it.role === 'assistant'; continue; }
    if (it.type === 'function_call_output') { out.push({ role: 'tool', tool_call_id: it.call_id, content: it.output }); callsOpen = false; continue; }
    const call = { id: it.call_id, type: 'function', function: { name: it.name, arguments: it.arguments } };
    const last = out[out.length - 1];
    // Calls that follow an assistant turn (or other calls) belong to that turn, as chat models emit them.
    if (callsOpen && last !== undefined && last.role === 'assistant') {
      if (Array.isArray(last.tool_calls)) (last.tool_calls as unknown[]).push(call);
      else { last.tool_calls = [call]; if (last.content === '') last.content = null; }
    } else out.push({ role: 'assistant', content: null, tool_calls: [call] });
    callsOpen = true;
  }
  return out;
}

function formatOf(f: TextFormat): Record<string, unknown> | undefined {
  if (f.type === 'text') return undefined;
  if (f.type === 'json_object') return { type: 'json_object' };
  const js: Record<string, unknown> = { name: f.name, schema: f.schema };
  if (f.description !== undefined) js.description = f.description;
  if (f.strict !== undefined && f.strict !== null) js.strict = f.strict;
  return { type: 'json_schema', json_schema: js };
}

/** The chat request the gateway routes and sends: `messages` are already instructions + chain + input. */
export function chatRequestOf(r: ResponsesInput, messages: ChatMessage[]): ChatRequest {
  const req: ChatRequest = { model: r.model, messages };
  if (r.stream) req.stream = true;
  if (r.temperature !== null) req.temperature = r.temperature;
  if (r.topP !== null) req.top_p = r.topP;
  if (r.maxOutputTokens !== null) req.max_completion_tokens = r.maxOutputTokens;
  if (r.user !== null) req.user = r.user;
  if (r.tools.length > 0) {
    req.tools = r.tools.map((t) => {
      const fn: Record<string, unknown> = { name: t.name };
      if (t.description !== null) fn.description = t.description;
      if (t.parameters !== null) fn.parameters = t.parameters;
      if (t.strict !== null) fn.strict = t.strict;
      return { type: 'function', function: fn };
    });
    const c = r.toolChoice;
    req.tool_choice = typeof c === 'string' ? c : { type: 'function', function: { name: c.name } };
    // OpenAI's chat API refuses parallel_tool_calls without tools; its default is true, so only false is sent.
    if (!r.parallelToolCalls) req.parallel_tool_calls = false;
  }
  const rf = formatOf(r.text.format);
  if (rf !== undefined) req.response_format = rf;
  return req;
}

/** The response object before the model has answered (status in_progress, no output). */
export function responseShell(r: ResponsesInput, id: string, createdAt: number, model: string): ResponseObject {
  const text: ResponseObject['text'] = { format: r.text.format };
  if (r.text.verbosity !== undefined) text.verbosity = r.text.verbosity;
  return {
    id, object: 'response', created_at: createdAt, status: 'in_progress', background: false, error: null, incomplete_details: null,
    instructions: r.instructions, max_output_tokens: r.maxOutputTokens, model, output: [], parallel_tool_calls: r.parallelToolCalls,
    previous_response_id: r.previousResponseId, reasoning: { effort: null, summary: null }, store: r.store, temperature: r.temperature,
    text, tool_choice: r.toolChoice, tools: r.tools, top_p: r.topP, truncation: 'disabled', usage: null, user: r.user, metadata: r.metadata,
  };
}

const count = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);

/** Chat usage -> Responses usage; null when the upstream sent none (or nonsense). */
export function usageOf(u: unknown): ResponsesUsage | null {
  if (!isObj(u)) return null;
  const input = count(u.prompt_tokens);
  const output = count(u.completion_tokens);
  const pd = u.prompt_tokens_details;
  const cd = u.completion_tokens_details;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: isObj(pd) ? count(pd.cached_tokens) : 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: isObj(cd) ? count(cd.reasoning_tokens) : 0 },
    total_tokens: typeof u.total_tokens === 'number' ? count(u.total_tokens) : input + output,
  };
}

/** finish_reason -> the response's status and incomplete_details. */
export function statusOf(finish: FinishReason | string | null | undefined): { status: 'completed' | 'incomplete'; details: ResponseObject['incomplete_details'] } {
  if (finish === 'length') return { status: 'incomplete', details: { reason: 'max_output_tokens' } };
  if (finish === 'content_filter') return { status: 'incomplete', details: { reason: 'content_filter' } };
  return { status: 'completed', details: null };
}

export function messageItem(id: string, text: string, refusal: string, status: ItemStatus): OutputMessage {
  const content: OutputMessage['content'] = [];
  if (text !== '' || refusal === '') content.push({ type: 'output_text', text, annotations: [], logprobs: [] });
  if (refusal !== '') content.push({ type: 'refusal', refusal });
  return { id, type: 'message', status, content, role: 'assistant' };
}

/** A tool call from an upstream (untrusted shape) -> a function_call item; non-string arguments are serialised. */
function callItem(tc: unknown, status: ItemStatus, id: string): OutputFunctionCall | null {
  if (!isObj(tc)) return null;
  const fn = isObj(tc.function) ? tc.function : {};
  const args = typeof fn.arguments === 'string' ? fn.arguments : fn.arguments === undefined ? '' : JSON.stringify(fn.arguments);
  return {
    id, type: 'function_call', status, arguments: args,
    call_id: typeof tc.id === 'string' && tc.id !== '' ? tc.id : newId('call_'), name: typeof fn.name === 'string' ? fn.name : '',
  };
}

/** A chat.completion -> output items (text first, then calls, as chat models order them) and the status. */
export function outputOf(c: ChatCompletion, responseId: string): { output: OutputItem[]; status: 'completed' | 'incomplete'; details: ResponseObject['incomplete_details'] } {
  const choice = Array.isArray(c.choices) ? c.choices[0] : undefined;
  const msg: Record<string, unknown> = isObj(choice) && isObj(choice.message) ? choice.message : {};
  const { status, details } = statusOf(isObj(choice) ? choice.finish_reason as string : null);
  const itemStatus: ItemStatus = status === 'completed' ? 'completed' : 'incomplete';
  const output: OutputItem[] = [];
  const text = typeof msg.content === 'string' ? msg.content : '';
  const refusal = typeof msg.refusal === 'string' ? msg.refusal : '';
  const calls = Array.isArray(msg.tool_calls) ? msg.tool_calls : [];
  // A turn that only calls tools has no message item; an empty answer still gets one (with empty text).
  if (text !== '' || refusal !== '' || calls.length === 0) output.push(messageItem(outputItemId(responseId, 'msg_', 0), text, refusal, itemStatus));
  for (const tc of calls) {
    const item = callItem(tc, itemStatus, outputItemId(responseId, 'fc_', output.length));
    if (item) output.push(item);
  }
  return { output, status, details };
}

/** Output items -> the assistant turn a continuation replays (stored with the response). */
export function outputMessages(output: readonly OutputItem[]): ChatMessage[] {
  let text = '';
  const calls: unknown[] = [];
  for (const it of output) {
    if (it.type === 'message') {
      for (const p of it.content) text += p.type === 'output_text' ? p.text : p.refusal;
    } else calls.push({ id: it.call_id, type: 'function', function: { name: it.name, arguments: it.arguments } });
  }
  const m: ChatMessage = { role: 'assistant', content: calls.length > 0 && text === '' ? null : text };
  if (calls.length > 0) m.tool_calls = calls;
  return [m];
}
