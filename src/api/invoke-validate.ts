/**
 * POST /v1/model-router/invoke request validation, following Feather's
 * OpenAPI (InvokeRequest, MessageInput) field by field, with FastAPI's error
 * shape: every problem of the body in one 422 `{"detail": [{loc, msg, type,
 * input?, ctx?}]}`, `loc` from "body" down (["body", "messages", 0, "role"]),
 * `type` and `msg` as pydantic v2 words them, so a client written against
 * Feather reads them unchanged.
 *
 *   messages          required, [{role: string, content: string}] (extra keys: 422)
 *   router_config_id  UUID string or null
 *   config_overrides  object or null; keys: default_model, candidates,
 *                     cost_weight, temperature, max_tokens, top_p, stop,
 *                     response_format, tools, tool_choice (any other: 422
 *                     extra_forbidden)
 *   session_id        UUID string or null
 *   smart_routing     boolean, default false
 *   (any other field: 422 extra_forbidden; pydantic would ignore it, we
 *    refuse it so a typo such as "smart_route" is not silently ignored)
 *
 * Checks beyond the schema (a role no upstream accepts, an empty message
 * list) are 400 invalid_request in Feather's `{error, message}`: the body is
 * well-formed, its content is not usable.
 */
import { ApiError, invalid } from '../errors.ts';
import type { Json } from './validate.ts';

export interface Detail { loc: (string | number)[]; msg: string; type: string; input?: unknown; ctx?: Record<string, unknown> }

export interface Overrides {
  default_model?: string;
  candidates?: string[];
  cost_weight?: number;
  temperature?: number;
  max_tokens?: number;
  top_p?: number;
  stop?: string | string[];
  response_format?: { type: string; [k: string]: unknown };
  tools?: Record<string, unknown>[];
  tool_choice?: string | Record<string, unknown>;
}

export const OVERRIDE_KEYS: readonly (keyof Overrides)[] = ['default_model', 'candidates', 'cost_weight', 'temperature', 'max_tokens', 'top_p', 'stop', 'response_format', 'tools', 'tool_choice'];

export interface InvokeRequest {
  messages: { role: string; content: string }[];
  routerConfigId: string | null;
  overrides: Overrides;
  sessionId: string | null;
  smartRouting: boolean;
}

const FIELDS = new Set(['messages', 'router_config_id', 'config_overrides', 'session_id', 'smart_routing']);
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
/** Roles the upstream adapters accept as plain-text messages. */
export const ROLES: ReadonlySet<string> = new Set(['system', 'developer', 'user', 'assistant']);
/** Inputs echoed in `input` are cut to this many characters (a 1 MB string is not worth echoing). */
const ECHO_CHARS = 200;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const echo = (v: unknown): unknown => (typeof v === 'string' && v.length > ECHO_CHARS ? `${v.slice(0, ECHO_CHARS)}...` : isObj(v) || Array.isArray(v) ? undefined : v);

class Collector {
  readonly detail: Detail[] = [];
  add(loc: (string | number)[], type: string, msg: string, input: unknown, ctx?: Record<string, unknown>): void {
    if (this.detail.length >= 50) return; // a bound on the answer for a body with thousands of bad items
    const d: Detail = { loc, msg, type };
    const e = echo(input);
    if (e !== undefined || input === null) d.input = input === null ? null : e;
    if (ctx) d.ctx = ctx;
    this.detail.push(d);
  }
  str(v: unknown, loc: (string | number)[]): v is string {
    if (typeof v === 'string') return true;
    this.add(loc, 'string_type', 'Input should be a valid string', v);
    return false;
  }
  num(v: unknown, loc: (string | number)[], min: number, max: number, int = false): v is number {
    if (typeof v !== 'number' || !Number.isFinite(v) || (int && !Number.isInteger(v))) {
      this.add(loc, int ? 'int_type' : 'float_type', int ? 'Input should be a valid integer' : 'Input should be a valid number', v);
      return false;
    }
    if (v < min) { this.add(loc, 'greater_than_equal', `Input should be greater than or equal to ${min}`, v, { ge: min }); return false; }
    if (v > max) { this.add(loc, 'less_than_equal', `Input should be less than or equal to ${max}`, v, { le: max }); return false; }
    return true;
  }
  uuid(v: unknown, loc: (string | number)[]): string | null {
    if (v === null || v === undefined) return null;
    if (typeof v !== 'string') { this.add(loc, 'uuid_type', 'UUID input should be a string, bytes or UUID object', v); return null; }
    if (!UUID.test(v)) { this.add(loc, 'uuid_parsing', 'Input should be a valid UUID', v, { error: 'invalid UUID: expected 32 hexadecimal digits, optionally in 8-4-4-4-12 groups' }); return null; }
    const h = v.replace(/-/g, '').toLowerCase();
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
}

function overrides(v: unknown, c: Collector): Overrides {
  const out: Overrides = {};
  if (v === null || v === undefined) return out;
  const at = ['body', 'config_overrides'];
  if (!isObj(v)) { c.add(at, 'dict_type', 'Input should be a valid dictionary', v); return out; }
  for (const k of Object.keys(v)) {
    const x = v[k];
    const loc = [...at, k];
    switch (k) {
      case 'default_model': if (c.str(x, loc)) out.default_model = x; break;
      case 'candidates':
        if (!Array.isArray(x)) { c.add(loc, 'list_type', 'Input should be a valid list', x); break; }
        if (x.every((m, i) => c.str(m, [...loc, i]))) out.candidates = x as string[];
        break;
      case 'cost_weight': if (c.num(x, loc, 0, 1e6)) out.cost_weight = x; break;
      case 'temperature': if (c.num(x, loc, 0, 2)) out.temperature = x; break;
      case 'max_tokens': if (c.num(x, loc, 1, 10_000_000, true)) out.max_tokens = x; break;
      case 'top_p': if (c.num(x, loc, 0, 1)) out.top_p = x; break;
      case 'stop':
        if (typeof x === 'string') out.stop = x;
        else if (Array.isArray(x) && x.length <= 4 && x.every((s, i) => c.str(s, [...loc, i]))) out.stop = x as string[];
        else if (!Array.isArray(x) || x.length > 4) c.add(loc, 'string_type', 'Input should be a valid string or a list of at most 4 strings', x);
        break;
      case 'response_format':
        if (!isObj(x)) { c.add(loc, 'dict_type', 'Input should be a valid dictionary', x); break; }
        if (x.type !== 'text' && x.type !== 'json_object' && x.type !== 'json_schema') {
          c.add([...loc, 'type'], 'literal_error', "Input should be 'text', 'json_object' or 'json_schema'", x.type, { expected: "'text', 'json_object' or 'json_schema'" });
          break;
        }
        out.response_format = x as Overrides['response_format'];
        break;
      case 'tools':
        if (!Array.isArray(x)) { c.add(loc, 'list_type', 'Input should be a valid list', x); break; }
        if (x.every((t, i) => isObj(t) || (c.add([...loc, i], 'dict_type', 'Input should be a valid dictionary', t), false))) out.tools = x as Record<string, unknown>[];
        break;
      case 'tool_choice':
        if (typeof x === 'string' || isObj(x)) out.tool_choice = x;
        else c.add(loc, 'string_type', 'Input should be a valid string or dictionary', x);
        break;
      default:
        c.add(loc, 'extra_forbidden', `Extra inputs are not permitted (accepted keys: ${OVERRIDE_KEYS.join(', ')})`, x);
    }
  }
  return out;
}

/** A parsed body -> InvokeRequest, or 422 validation_error with every problem; 400 for usable-shape-but-unusable content. */
export function parseInvokeRequest(o: unknown, maxChars: number): InvokeRequest {
  const c = new Collector();
  if (!isObj(o)) {
    c.add(['body'], 'model_attributes_type', 'Input should be a valid dictionary or object to extract fields from', o);
    throw validationError(c.detail);
  }
  for (const k of Object.keys(o)) if (!FIELDS.has(k)) c.add(['body', k], 'extra_forbidden', 'Extra inputs are not permitted', o[k]);
  const messages: { role: string; content: string }[] = [];
  const m = o.messages;
  if (m === undefined) c.add(['body', 'messages'], 'missing', 'Field required', undefined);
  else if (!Array.isArray(m)) c.add(['body', 'messages'], 'list_type', 'Input should be a valid list', m);
  else {
    m.forEach((x, i) => {
      const loc = ['body', 'messages', i];
      if (!isObj(x)) { c.add(loc, 'model_attributes_type', 'Input should be a valid dictionary or object to extract fields from', x); return; }
      for (const k of Object.keys(x)) if (k !== 'role' && k !== 'content') c.add([...loc, k], 'extra_forbidden', 'Extra inputs are not permitted', x[k]);
      let ok = true;
      if (x.role === undefined) { c.add([...loc, 'role'], 'missing', 'Field required', undefined); ok = false; } else ok = c.str(x.role, [...loc, 'role']) && ok;
      if (x.content === undefined) { c.add([...loc, 'content'], 'missing', 'Field required', undefined); ok = false; } else ok = c.str(x.content, [...loc, 'content']) && ok;
      if (ok) messages.push({ role: x.role as string, content: x.content as string });
    });
  }
  const routerConfigId = c.uuid(o.router_config_id, ['body', 'router_config_id']);
  const sessionId = c.uuid(o.session_id, ['body', 'session_id']);
  const ov = overrides(o.config_overrides, c);
  let smartRouting = false;
  if (o.smart_routing !== undefined) {
    if (typeof o.smart_routing === 'boolean') smartRouting = o.smart_routing;
    else c.add(['body', 'smart_routing'], 'bool_type', 'Input should be a valid boolean', o.smart_routing);
  }
  if (c.detail.length) throw validationError(c.detail);

  if (messages.length === 0) throw invalid('messages', 'must hold at least one message');
  let chars = 0;
  for (let i = 0; i < messages.length; i++) {
    if (!ROLES.has(messages[i].role)) throw invalid(`messages[${i}].role`, `must be one of ${[...ROLES].join(', ')}, got ${JSON.stringify(messages[i].role.slice(0, 40))}`);
    chars += messages[i].content.length;
  }
  if (chars > maxChars) throw invalid('messages', `hold ${chars} characters, over the limit of ${maxChars} (limits.input_chars)`);
  return { messages, routerConfigId, overrides: ov, sessionId, smartRouting };
}

export function validationError(detail: Detail[]): ApiError {
  const d = detail[0];
  return new ApiError('validation_error', `${d.loc.join('.')}: ${d.msg}`, d.loc.slice(1).join('.'), { detail });
}

/** Body bytes that are not JSON: FastAPI's json_invalid 422. Empty body: "body" missing. */
export function parseInvokeJson(body: Buffer): unknown {
  if (body.length === 0) throw validationError([{ loc: ['body'], msg: 'Field required', type: 'missing', input: null }]);
  const s = body.toString('utf8');
  try {
    return JSON.parse(s);
  } catch (e) {
    // V8 names the position, except for a body cut short: then it is the end.
    const pos = /position (\d+)/.exec((e as Error).message);
    return failJson(pos ? Number(pos[1]) : /end of JSON input/.test((e as Error).message) ? s.length : 0, (e as Error).message);
  }
}

function failJson(pos: number, error: string): never {
  throw validationError([{ loc: ['body', pos], msg: 'JSON decode error', type: 'json_invalid', input: {}, ctx: { error } }]);
}
