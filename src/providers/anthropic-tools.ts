/**
 * OpenAI function calling -> Anthropic tool use, request side (the response
 * side is part of the response conversion in anthropic.ts).
 *
 *   tools[].function {name, description, parameters} -> tools[] {name, description, input_schema}
 *   functions[] (legacy)                              -> the same
 *   tool_choice auto | required | none | {function}   -> tool_choice {type: auto | any | none | tool}
 *   function_call (legacy) auto | none | {name}       -> the same
 *   parallel_tool_calls: false, or legacy functions   -> tool_choice.disable_parallel_tool_use
 *   assistant tool_calls[] / function_call            -> tool_use blocks after the text
 *   tool / function messages                          -> tool_result blocks opening a user turn
 *
 * Two kinds of refusal. A call in the history that no model could take as it
 * is (arguments that are not a JSON object, a missing id or name) is the
 * client's error: an ApiError naming the field, which the fallback chain
 * passes through untried (400 invalid_request with OpenAI's `param`). A
 * feature Anthropic has no counterpart for (custom tools, allowed_tools) is
 * UpstreamError 'unsupported', so the chain moves to a model that may serve it.
 */
import { invalid } from '../errors.ts';
import type { Block } from './anthropic.ts';
import { UpstreamError } from './failure.ts';
import { wantsFunctionCall, type ChatMessage, type ChatRequest } from './types.ts';

export interface AnthropicTool { name: string; description?: string; input_schema: Record<string, unknown> }

export type AnthropicToolChoice =
  | { type: 'auto' | 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export interface ToolUseBlock { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
export interface ToolResultBlock { type: 'tool_result'; tool_use_id: string; content?: string | Block[] }

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const given = (v: unknown): boolean => v !== undefined && v !== null;

/**
 * Anthropic's tool_use ids must match ^[a-zA-Z0-9_-]+$; OpenAI's are any
 * string, and ids another provider minted (dots, colons) end up in histories.
 * Applied to both the call and its result, so pairs still match.
 */
export function toolUseId(id: string): string {
  return id.replace(/[^a-zA-Z0-9_-]/g, '_');
}

/** A legacy function_call has no id: the assistant message's index stands in, and the function message answering it reuses it. */
export function legacyCallId(messageIndex: number): string {
  return `call_fn_${messageIndex}`;
}

function nonEmptyString(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') throw invalid(field, 'must be a non-empty string');
  return v;
}

function toolOf(f: unknown, at: string): AnthropicTool {
  if (!isObj(f)) throw invalid(at, 'must be a function definition object {name, description?, parameters?}');
  const name = nonEmptyString(f.name, `${at}.name`);
  const p = f.parameters;
  if (given(p) && !isObj(p)) throw invalid(`${at}.parameters`, 'must be a JSON Schema object');
  // Anthropic requires input_schema; OpenAI lets a function without parameters take none.
  const t: AnthropicTool = { name, input_schema: given(p) ? (p as Obj) : { type: 'object', properties: {} } };
  if (given(f.description)) {
    if (typeof f.description !== 'string') throw invalid(`${at}.description`, 'must be a string');
    if (f.description !== '') t.description = f.description;
  }
  return t;
}

/** tools (or legacy functions) -> Anthropic tool definitions; undefined when the request offers none. */
export function toolsOf(req: ChatRequest): AnthropicTool[] | undefined {
  const out: AnthropicTool[] = [];
  if (Array.isArray(req.tools)) {
    for (let i = 0; i < req.tools.length; i++) {
      const t: unknown = req.tools[i];
      const at = `tools[${i}]`;
      if (!isObj(t)) throw invalid(at, 'must be a tool object {type: "function", function: {...}}');
      if (t.type !== 'function') throw new UpstreamError('unsupported', `anthropic: tools of type ${JSON.stringify(t.type)} are not supported (only "function")`);
      out.push(toolOf(t.function, `${at}.function`));
    }
  } else if (given(req.functions)) {
    if (!Array.isArray(req.functions)) throw invalid('functions', 'must be an array of function definitions');
    for (let i = 0; i < req.functions.length; i++) out.push(toolOf(req.functions[i], `functions[${i}]`));
  }
  return out.length > 0 ? out : undefined;
}

/** tool_choice / function_call + parallel_tool_calls -> Anthropic's tool_choice; undefined = Anthropic's default (auto, parallel allowed). */
export function toolChoiceOf(req: ChatRequest): AnthropicToolChoice | undefined {
  const legacy = wantsFunctionCall(req);
  const field = legacy ? 'function_call' : 'tool_choice';
  const c = req[field];
  let choice: AnthropicToolChoice | undefined;
  if (!given(c)) choice = undefined;
  else if (c === 'auto') choice = { type: 'auto' };
  else if (c === 'none') return { type: 'none' }; // takes no disable_parallel_tool_use
  else if (c === 'required' && !legacy) choice = { type: 'any' };
  else if (isObj(c) && (legacy || c.type === 'function')) {
    const name = legacy ? c.name : isObj(c.function) ? c.function.name : undefined;
    choice = { type: 'tool', name: nonEmptyString(name, legacy ? 'function_call.name' : 'tool_choice.function.name') };
  } else if (isObj(c) && typeof c.type === 'string') {
    throw new UpstreamError('unsupported', `anthropic: tool_choice of type ${JSON.stringify(c.type)} is not supported`);
  } else {
    throw invalid(field, legacy ? 'must be "auto", "none" or {"name": ...}' : 'must be "auto", "required", "none" or {"type": "function", "function": {"name": ...}}');
  }
  // The legacy API returns at most one call (message.function_call).
  if (legacy || req.parallel_tool_calls === false) choice = { ...(choice ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return choice;
}

/**
 * A call's `arguments` (a JSON string) -> tool_use.input (an object). An
 * empty string stands for no arguments (some clients send "" for a call that
 * takes none); anything else must parse to an object.
 */
function inputOf(args: unknown, field: string): Record<string, unknown> {
  if (typeof args !== 'string') throw invalid(field, 'must be a string holding a JSON object');
  if (args.trim() === '') return {};
  let v: unknown;
  try { v = JSON.parse(args); } catch (e) {
    throw invalid(field, `is not valid JSON (${(e as Error).message}); an Anthropic-format model needs the call's input as a JSON object`);
  }
  if (!isObj(v)) throw invalid(field, 'must be a JSON object (an Anthropic-format model takes a tool call\'s input as an object)');
  return v;
}

/** An assistant message's tool_calls -> tool_use blocks, appended to `out` (after its text). */
export function pushToolUses(calls: unknown, at: string, out: (Block | ToolUseBlock | ToolResultBlock)[]): void {
  if (!Array.isArray(calls)) throw invalid(`${at}.tool_calls`, 'must be an array of tool calls');
  for (let j = 0; j < calls.length; j++) {
    const c: unknown = calls[j];
    const cat = `${at}.tool_calls[${j}]`;
    if (!isObj(c)) throw invalid(cat, 'must be a tool call object {id, type: "function", function: {name, arguments}}');
    if (given(c.type) && c.type !== 'function') throw new UpstreamError('unsupported', `anthropic: tool calls of type ${JSON.stringify(c.type)} are not supported (only "function")`);
    const id = nonEmptyString(c.id, `${cat}.id`);
    if (!isObj(c.function)) throw invalid(`${cat}.function`, 'must be an object {name, arguments}');
    const name = nonEmptyString(c.function.name, `${cat}.function.name`);
    out.push({ type: 'tool_use', id: toolUseId(id), name, input: inputOf(c.function.arguments, `${cat}.function.arguments`) });
  }
}

/** A legacy assistant function_call -> one tool_use block with a made-up id (see legacyCallId). */
export function functionCallUse(fc: unknown, at: string, id: string): ToolUseBlock {
  if (!isObj(fc)) throw invalid(`${at}.function_call`, 'must be an object {name, arguments}');
  const name = nonEmptyString(fc.name, `${at}.function_call.name`);
  return { type: 'tool_use', id, name, input: inputOf(fc.arguments, `${at}.function_call.arguments`) };
}

/**
 * A tool (or legacy function) message -> a tool_result block. `content` is a
 * plain string, kept as one, or the message's parts already converted to
 * blocks (text and images both travel in a tool_result); empty is left out.
 */
export function toolResultOf(id: string, content: string | Block[]): ToolResultBlock {
  const r: ToolResultBlock = { type: 'tool_result', tool_use_id: toolUseId(id) };
  if (content.length > 0) r.content = content;
  return r;
}

export function toolCallIdOf(m: ChatMessage, at: string): string {
  return nonEmptyString(m.tool_call_id, `${at}.tool_call_id`);
}

/**
 * Anthropic refuses tool_use / tool_result blocks in a request that defines no
 * tools ("Requests which include tool_use or tool_result blocks must define
 * tools"); OpenAI takes such a history without tools. Stand-ins named after
 * the calls in the history, with tool_choice none so none can be called.
 */
export function standInTools(messages: readonly { content: readonly { type: string; name?: string }[] }[]): AnthropicTool[] | undefined {
  const names = new Set<string>();
  for (const m of messages) for (const b of m.content) if (b.type === 'tool_use' && b.name) names.add(b.name);
  if (names.size === 0) return undefined;
  return [...names].map((name) => ({ name, description: 'Called earlier in this conversation; not offered for this turn.', input_schema: { type: 'object' } }));
}
