/**
 * POST /v1/responses request checks: raw JSON -> ResponsesInput, or a 400
 * naming the offending parameter (OpenAI's `param`), in the style of
 * chat-validate.ts. Every shape is normalised here (string input -> one user
 * message, content parts -> their canonical form, every input item given an
 * `id`), so translation (responses-translate.ts) reads typed data only.
 *
 * Unlike chat, unknown fields are not forwarded anywhere: a Responses request
 * is translated field by field, so there is nothing to pass them through to.
 * Fields whose meaning Switchyard cannot honour (background, conversation,
 * prompt templates, non-function tools) are a 400 naming them rather than
 * silently ignored; ones that only tune OpenAI's own service (include,
 * reasoning, truncation, service_tier, prompt_cache_key, ...) are accepted
 * and not acted on, as a client sending them expects an answer, not an error.
 */
import { randomUUID } from 'node:crypto';
import { invalid } from '../errors.ts';
import { ROUTER_ALIASES } from '../config/schema.ts';
import { describe, type Json } from './validate.ts';

export type MessageRole = 'user' | 'system' | 'developer' | 'assistant';

export type InputPart =
  | { type: 'input_text'; text: string }
  | { type: 'output_text'; text: string; annotations: unknown[] }
  | { type: 'refusal'; refusal: string }
  | { type: 'input_image'; image_url: string; detail: string };

export interface MessageItem { type: 'message'; id: string; role: MessageRole; content: InputPart[]; status: 'completed' }
export interface FunctionCallItem { type: 'function_call'; id: string; call_id: string; name: string; arguments: string; status: 'completed' }
export interface FunctionCallOutputItem { type: 'function_call_output'; id: string; call_id: string; output: string; status: 'completed' }
/** One input item as GET /v1/responses/{id}/input_items lists it. */
export type InputItem = MessageItem | FunctionCallItem | FunctionCallOutputItem;
/**
 * `{type: "item_reference", id}`: an earlier response's output item, by id
 * (the Vercel AI SDK sends these for assistant turns when store is on). The
 * handler replaces it with the stored item (responses-refs.ts); `at` is the
 * param path for its errors.
 */
export interface ItemReference { type: 'item_reference'; id: string; at: string }

/** Responses' flat function tool, as echoed in the response object. */
export interface FunctionTool { type: 'function'; name: string; description: string | null; parameters: Json | null; strict: boolean | null }

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; name: string };

export type TextFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema: Json; description?: string; strict?: boolean | null };

export interface ResponsesInput {
  model: string;
  /** `model` was a router alias (auto, router, MoM). */
  routed: boolean;
  /** Switchyard's extension, as on chat: lambda for this request; undefined = the server default. */
  costWeight: number | undefined;
  /** Item references are resolved against the store before translation (responses-refs.ts). */
  input: (InputItem | ItemReference)[];
  instructions: string | null;
  previousResponseId: string | null;
  store: boolean;
  stream: boolean;
  tools: FunctionTool[];
  toolChoice: ToolChoice;
  parallelToolCalls: boolean;
  temperature: number | null;
  topP: number | null;
  maxOutputTokens: number | null;
  text: { format: TextFormat; verbosity?: string };
  metadata: Record<string, string>;
  user: string | null;
}

const MAX_MODEL_CHARS = 256;
const MAX_ID_CHARS = 256;
const MAX_TOOL_NAME = 64;
// OpenAI's documented metadata limits.
const MAX_META_KEYS = 16;
const MAX_META_KEY = 64;
const MAX_META_VALUE = 512;

const ROLES = new Set<string>(['user', 'system', 'developer', 'assistant']);
/** Parameters that would change what the response means, which a translation to chat cannot honour. */
const UNSUPPORTED: readonly [string, string][] = [
  ['conversation', 'Conversations objects are not supported; chain responses with "previous_response_id"'],
  ['prompt', 'prompt templates are not supported; send "input" and "instructions"'],
];

/**
 * JSON Schemas (tool parameters, text.format.schema) are echoed in the
 * response object and its events, serialised after the upstream answered: a
 * schema nested deep enough to overflow JSON.stringify's stack would fail
 * there, after the upstream call was paid for. Real schemas are a few levels
 * deep (OpenAI's strict mode allows 10 levels of nesting).
 */
const MAX_SCHEMA_DEPTH = 64;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const given = (v: unknown): boolean => v !== undefined && v !== null;

/**
 * `msg_…`, `fc_…`, `resp_…`: a prefix and 32 hex digits, time-ordered: 12 of
 * the creation time in ms, then 20 random (80 bits from a v4 UUID, its fixed
 * version and variant digits skipped; randomUUID draws from a cached entropy
 * pool, ~0.1 µs). Why ordered: a response id is the store's (org, id) primary
 * key, and random keys make every put touch a random leaf of that index, one
 * more 4 KB page in each commit and checkpoint; ordered keys append at its
 * right edge (writer CPU per put 53-57 -> 42-49 µs at four rows a commit,
 * 77-85 -> 74 µs at one, 20k puts of 2.3 KB rows on the real schema, loaded
 * 2-core machine). Cost: an id shows when it was made (created_at says so
 * anyway); 80 random bits per millisecond keep ids unguessable and distinct.
 */
export function newId(prefix: string): string {
  const u = randomUUID();
  // u = xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx: 8 + 4 + 3 + 3 + 2 random digits.
  return prefix + Date.now().toString(16).padStart(12, '0') + u.slice(0, 8) + u.slice(9, 13) + u.slice(15, 18) + u.slice(20, 23) + u.slice(24, 26);
}

/** true if `v` nests arrays/objects deeper than `left` levels (recursion bounded by `left`). */
function tooDeep(v: unknown, left: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (left === 0) return true;
  for (const k in v) if (tooDeep((v as Json)[k], left - 1)) return true;
  return false;
}

function schema(v: unknown, at: string): Json {
  if (!isObj(v)) throw invalid(at, `must be a JSON Schema object, got ${describe(v)}`);
  if (tooDeep(v, MAX_SCHEMA_DEPTH)) throw invalid(at, `is nested more than ${MAX_SCHEMA_DEPTH} levels deep`);
  return v;
}

function range(o: Json, k: string, min: number, max: number): number | null {
  const v = o[k];
  if (!given(v)) return null;
  if (typeof v !== 'number' || !(v >= min && v <= max)) throw invalid(k, `must be a number from ${min} to ${max}, got ${describe(v)}`);
  return v;
}

function bool(o: Json, k: string, dflt: boolean, at = k): boolean {
  const v = o[k];
  if (!given(v)) return dflt;
  if (typeof v !== 'boolean') throw invalid(at, `must be a boolean, got ${describe(v)}`);
  return v;
}

function str(o: Json, k: string, at: string, max = Infinity): string {
  const v = o[k];
  if (typeof v !== 'string') throw invalid(at, `must be a string, got ${describe(v)}`);
  if (v.length > max) throw invalid(at, `must be at most ${max} characters, got ${v.length}`);
  return v;
}

function optStr(o: Json, k: string, at = k): string | null {
  return given(o[k]) ? str(o, k, at) : null;
}

/** A client-supplied item id (SDKs send output items back with theirs), or a fresh one. */
function itemId(it: Json, at: string, prefix: string): string {
  if (!given(it.id)) return newId(prefix);
  return str(it, 'id', `${at}.id`, MAX_ID_CHARS);
}

function part(p: unknown, at: string, role: MessageRole): InputPart {
  if (!isObj(p)) throw invalid(at, `must be a content part object, got ${describe(p)}`);
  switch (p.type) {
    case 'input_text': return { type: 'input_text', text: str(p, 'text', `${at}.text`) };
    // What SDKs send back when they replay an assistant output message as input.
    case 'output_text':
      if (role !== 'assistant') throw invalid(`${at}.type`, `"output_text" parts belong to assistant messages; a "${role}" message takes "input_text"`);
      return { type: 'output_text', text: str(p, 'text', `${at}.text`), annotations: [] };
    case 'refusal':
      if (role !== 'assistant') throw invalid(`${at}.type`, `"refusal" parts belong to assistant messages`);
      return { type: 'refusal', refusal: str(p, 'refusal', `${at}.refusal`) };
    case 'input_image': {
      if (role !== 'user') throw invalid(`${at}.type`, `"input_image" parts belong to user messages, not "${role}" ones`);
      if (given(p.file_id)) throw invalid(`${at}.file_id`, 'is not supported (no Files API here); send "image_url" (an https or data: URL)');
      const detail = given(p.detail) ? str(p, 'detail', `${at}.detail`) : 'auto';
      if (detail !== 'auto' && detail !== 'low' && detail !== 'high') throw invalid(`${at}.detail`, `must be one of auto, low, high, got ${describe(detail)}`);
      return { type: 'input_image', image_url: str(p, 'image_url', `${at}.image_url`), detail };
    }
    default:
      throw invalid(`${at}.type`, `must be one of input_text, input_image (or output_text, refusal in an assistant message), got ${describe(p.type)}`);
  }
}

function message(it: Json, at: string): MessageItem {
  const role = it.role;
  if (typeof role !== 'string' || !ROLES.has(role)) throw invalid(`${at}.role`, `must be one of ${[...ROLES].join(', ')}, got ${describe(role)}`);
  const r = role as MessageRole;
  const c = it.content;
  let content: InputPart[];
  if (typeof c === 'string') content = [r === 'assistant' ? { type: 'output_text', text: c, annotations: [] } : { type: 'input_text', text: c }];
  else if (Array.isArray(c)) content = c.map((p, j) => part(p, `${at}.content[${j}]`, r));
  else throw invalid(`${at}.content`, `must be a string or an array of content parts, got ${describe(c)}`);
  return { type: 'message', id: itemId(it, at, 'msg_'), role: r, content, status: 'completed' };
}

/** function_call_output's `output`: a string, or input_text parts (joined: chat's tool message holds text). */
function toolOutput(it: Json, at: string): string {
  const o = it.output;
  if (typeof o === 'string') return o;
  if (!Array.isArray(o)) throw invalid(`${at}.output`, `must be a string or an array of input_text parts, got ${describe(o)}`);
  let s = '';
  for (let j = 0; j < o.length; j++) {
    const p = o[j];
    if (!isObj(p) || p.type !== 'input_text') throw invalid(`${at}.output[${j}]`, 'must be an input_text part (images and files in tool output are not supported)');
    s += str(p, 'text', `${at}.output[${j}].text`);
  }
  return s;
}

function item(it: unknown, at: string): InputItem | ItemReference {
  if (!isObj(it)) throw invalid(at, `must be an input item object, got ${describe(it)}`);
  const type = it.type;
  // EasyInputMessage: {role, content} with no type is a message.
  if (type === undefined || type === 'message') return message(it, at);
  if (type === 'function_call') {
    const name = str(it, 'name', `${at}.name`, MAX_TOOL_NAME);
    if (name === '') throw invalid(`${at}.name`, 'must not be empty');
    const call = str(it, 'call_id', `${at}.call_id`, MAX_ID_CHARS);
    if (call === '') throw invalid(`${at}.call_id`, 'must not be empty');
    return { type: 'function_call', id: itemId(it, at, 'fc_'), call_id: call, name, arguments: str(it, 'arguments', `${at}.arguments`), status: 'completed' };
  }
  if (type === 'function_call_output') {
    const call = str(it, 'call_id', `${at}.call_id`, MAX_ID_CHARS);
    if (call === '') throw invalid(`${at}.call_id`, 'must not be empty');
    return { type: 'function_call_output', id: itemId(it, at, 'fco_'), call_id: call, output: toolOutput(it, at), status: 'completed' };
  }
  if (type === 'item_reference') {
    const id = str(it, 'id', `${at}.id`, MAX_ID_CHARS);
    if (id === '') throw invalid(`${at}.id`, 'must not be empty');
    return { type: 'item_reference', id, at };
  }
  throw invalid(`${at}.type`, `must be one of message, function_call, function_call_output, item_reference, got ${describe(type)}`);
}

function input(v: unknown, hasPrevious: boolean): (InputItem | ItemReference)[] {
  if (typeof v === 'string') return [{ type: 'message', id: newId('msg_'), role: 'user', content: [{ type: 'input_text', text: v }], status: 'completed' }];
  if (!given(v)) {
    if (hasPrevious) return [];
    throw invalid('input', 'is required: a string, or an array of input items');
  }
  if (!Array.isArray(v)) throw invalid('input', `must be a string or an array of input items, got ${describe(v)}`);
  if (v.length === 0 && !hasPrevious) throw invalid('input', 'must not be empty');
  const out = new Array<InputItem | ItemReference>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = item(v[i], `input[${i}]`);
  return out;
}

function tools(v: unknown): FunctionTool[] {
  if (!given(v)) return [];
  if (!Array.isArray(v)) throw invalid('tools', `must be an array of tools, got ${describe(v)}`);
  const seen = new Set<string>();
  return v.map((t, i) => {
    const at = `tools[${i}]`;
    if (!isObj(t)) throw invalid(at, `must be a tool object, got ${describe(t)}`);
    if (t.type !== 'function') throw invalid(`${at}.type`, `must be "function" (built-in tools such as web_search or file_search are not supported), got ${describe(t.type)}`);
    const name = str(t, 'name', `${at}.name`, MAX_TOOL_NAME);
    if (name === '') throw invalid(`${at}.name`, 'must not be empty');
    if (seen.has(name)) throw invalid(`${at}.name`, `duplicates tool name ${JSON.stringify(name)}`);
    seen.add(name);
    const p = t.parameters;
    if (given(p)) schema(p, `${at}.parameters`);
    const strict = t.strict;
    if (given(strict) && typeof strict !== 'boolean') throw invalid(`${at}.strict`, `must be a boolean, got ${describe(strict)}`);
    return { type: 'function', name, description: optStr(t, 'description', `${at}.description`), parameters: given(p) ? p as Json : null, strict: given(strict) ? strict as boolean : null };
  });
}

function toolChoice(v: unknown, defined: readonly FunctionTool[]): ToolChoice {
  if (!given(v)) return 'auto';
  if (v === 'none' || v === 'auto' || v === 'required') return v;
  if (isObj(v) && v.type === 'function') {
    const name = str(v, 'name', 'tool_choice.name');
    if (!defined.some((t) => t.name === name)) throw invalid('tool_choice.name', `names no tool in "tools": ${describe(name)}`);
    return { type: 'function', name };
  }
  throw invalid('tool_choice', `must be "none", "auto", "required" or {"type": "function", "name": ...}, got ${isObj(v) ? `an object of type ${describe(v.type)}` : describe(v)}`);
}

function textConfig(v: unknown): { format: TextFormat; verbosity?: string } {
  if (!given(v)) return { format: { type: 'text' } };
  if (!isObj(v)) throw invalid('text', `must be an object, got ${describe(v)}`);
  const out: { format: TextFormat; verbosity?: string } = { format: { type: 'text' } };
  if (given(v.verbosity)) {
    const vb = str(v, 'verbosity', 'text.verbosity');
    if (vb !== 'low' && vb !== 'medium' && vb !== 'high') throw invalid('text.verbosity', `must be one of low, medium, high, got ${describe(vb)}`);
    out.verbosity = vb;
  }
  const f = v.format;
  if (!given(f)) return out;
  if (!isObj(f)) throw invalid('text.format', `must be an object, got ${describe(f)}`);
  if (f.type === 'text' || f.type === 'json_object') out.format = { type: f.type };
  else if (f.type === 'json_schema') {
    const name = str(f, 'name', 'text.format.name', 64);
    if (name === '') throw invalid('text.format.name', 'must not be empty');
    const js: TextFormat = { type: 'json_schema', name, schema: schema(f.schema, 'text.format.schema') };
    if (given(f.description)) js.description = str(f, 'description', 'text.format.description');
    if (given(f.strict)) js.strict = bool(f, 'strict', false, 'text.format.strict');
    out.format = js;
  } else throw invalid('text.format.type', `must be one of text, json_object, json_schema, got ${describe(f.type)}`);
  return out;
}

function metadata(v: unknown): Record<string, string> {
  if (!given(v)) return {};
  if (!isObj(v)) throw invalid('metadata', `must be an object of string values, got ${describe(v)}`);
  const keys = Object.keys(v);
  if (keys.length > MAX_META_KEYS) throw invalid('metadata', `may hold at most ${MAX_META_KEYS} keys, got ${keys.length}`);
  const out: Record<string, string> = {};
  for (const k of keys) {
    const shown = k.length > 64 ? `${k.slice(0, 64)}...` : k;
    if (k.length > MAX_META_KEY) throw invalid(`metadata.${shown}`, `key must be at most ${MAX_META_KEY} characters, got ${k.length}`);
    const val = v[k];
    if (typeof val !== 'string') throw invalid(`metadata.${shown}`, `must be a string, got ${describe(val)}`);
    if (val.length > MAX_META_VALUE) throw invalid(`metadata.${shown}`, `must be at most ${MAX_META_VALUE} characters, got ${val.length}`);
    // defineProperty, not assignment: a "__proto__" key (an own key after JSON.parse) stays a plain key.
    Object.defineProperty(out, k, { value: val, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export function parseResponsesRequest(o: Json): ResponsesInput {
  const model = o.model;
  if (model === undefined || model === null) throw invalid('model', `is required: a configured model name, or ${ROUTER_ALIASES.map((a) => `"${a}"`).join(', ')} to let the router choose`);
  if (typeof model !== 'string' || model.length === 0 || model.length > MAX_MODEL_CHARS) throw invalid('model', `must be a model name (1-${MAX_MODEL_CHARS} characters), got ${describe(model)}`);

  for (const [k, why] of UNSUPPORTED) if (given(o[k])) throw invalid(k, `is not supported: ${why}`);
  if (o.background === true) throw invalid('background', 'is not supported: responses run in the foreground (omit it or send false)');
  bool(o, 'background', false);

  let previousResponseId: string | null = null;
  if (given(o.previous_response_id)) {
    previousResponseId = str(o, 'previous_response_id', 'previous_response_id', MAX_ID_CHARS);
    if (previousResponseId === '') throw invalid('previous_response_id', 'must not be empty');
  }
  const items = input(o.input, previousResponseId !== null);
  const instructions = optStr(o, 'instructions');
  const defined = tools(o.tools);
  const choice = toolChoice(o.tool_choice, defined);

  const mot = o.max_output_tokens;
  let maxOutputTokens: number | null = null;
  if (given(mot)) {
    if (typeof mot !== 'number' || !Number.isSafeInteger(mot) || mot < 1) throw invalid('max_output_tokens', `must be a positive integer, got ${describe(mot)}`);
    maxOutputTokens = mot;
  }

  const user = optStr(o, 'user');
  if (user !== null && user.length > MAX_ID_CHARS) throw invalid('user', `must be at most ${MAX_ID_CHARS} characters, got ${user.length}`);
  if (given(o.stream_options) && !isObj(o.stream_options)) throw invalid('stream_options', `must be an object, got ${describe(o.stream_options)}`);
  if (given(o.include) && !Array.isArray(o.include)) throw invalid('include', `must be an array, got ${describe(o.include)}`);
  if (given(o.reasoning) && !isObj(o.reasoning)) throw invalid('reasoning', `must be an object, got ${describe(o.reasoning)}`);

  let costWeight: number | undefined;
  const cw = o.cost_weight;
  if (given(cw)) {
    if (typeof cw !== 'number' || !(cw >= 0 && cw <= Number.MAX_VALUE)) throw invalid('cost_weight', `must be a finite number >= 0, got ${describe(cw)}`);
    costWeight = cw;
  }

  return {
    model,
    routed: ROUTER_ALIASES.includes(model),
    costWeight,
    input: items,
    instructions,
    previousResponseId,
    store: bool(o, 'store', true),
    stream: bool(o, 'stream', false),
    tools: defined,
    toolChoice: choice,
    parallelToolCalls: bool(o, 'parallel_tool_calls', true),
    temperature: range(o, 'temperature', 0, 2),
    topP: range(o, 'top_p', 0, 1),
    maxOutputTokens,
    text: textConfig(o.text),
    metadata: metadata(o.metadata),
    user,
  };
}
