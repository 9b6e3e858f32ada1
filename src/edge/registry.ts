/**
 * The route registry: every endpoint is declared once, as data, and mounted
 * here on a uWS App with the hooks every request goes through.
 *
 * Adding an endpoint: write the handler in src/api/<family>.ts, then add one
 * line to ROUTES in src/edge/server.ts:
 *
 *   { method: 'GET', path: '/v1/responses/:id', dialect: 'openai', json: (q) => getResponse(q.params.id, q.engine) },
 *
 * - `method`: one or several; several routes may share a path with different
 *   methods (GET + DELETE /v1/responses/:id); any other method gets 405 with
 *   an Allow header listing them.
 * - `path`: static segments, `:name` segments (one segment, percent-decoded,
 *   never empty) and a final `*name` (the rest of the path, slashes
 *   included: `/v1/models/*id` serves `meta/llama-2-70b-chat`). Matching is
 *   uWS's own router (static > `:param` > `*`), so there is no regex or table
 *   lookup per request; the pattern's handler only picks the method.
 * - `dialect`: the error body shape ('openai' on OpenAI-compatible paths).
 * - `json` answers 200 with a JSON string (sync, or a Promise); `sink` gets a
 *   ResponseSink (src/api/sink.ts) to choose the status and headers or to
 *   stream SSE. A throw, sync or async, becomes the error reply in the dialect.
 * - `auth: false` skips the API-key check (/health); `hooks` run after auth and
 *   the method check, before the body is read (a throw is the reply:
 *   per-route checks). Rate limits and the PII guardrail are not hooks: they
 *   need the body (`limit`, `guard`: admission, src/edge/admission.ts).
 *
 * The hooks, in order, for every request (catch-all included):
 *   request id -> CORS (preflight answered here) -> auth -> method (405)
 *   -> path parameters (400 on bad percent-encoding) -> route hooks
 *   -> declared Content-Length over server.body_limit (413, then a bounded
 *   drain of the body before the close: Exchange.refuseBody) -> body read
 *   (POST/PUT/PATCH; the same 413 if it grows past the limit) -> admission
 *   (routes with `limit` or `guard`: 429, 400 pii_detected) -> handler.
 * Auth runs before the method check and before the 404, so an unauthenticated
 * client learns nothing about which routes exist.
 *
 * Per request, on top of the Exchange: one RequestContext, and (for body
 * routes) the one closure that receives the body, as before the registry.
 * Everything read from uWS's HttpRequest is read before the handler returns
 * (it is stack-allocated and gone after), which is why the context copies
 * the headers handlers need instead of exposing the request.
 */
import { randomBytes } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws.ts';
import { Exchange, tooLarge, type Lifecycle } from './exchange.ts';
import { SseResponse } from './sse-response.ts';
import type { Cors } from './cors.ts';
import { Tenancy, type Caller, type KeyCheck } from './auth.ts';
import { GateRefusal, type Gate } from './admission.ts';
import { ApiError, type ErrorDialect } from '../errors.ts';
import type { BinaryReply, ResponseSink } from '../api/sink.ts';
import type { Engine } from '../api/engine.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a handler learns about its request: copied from uWS before the first await. */
export interface RequestContext {
  /** Lower-case, as uWS reports it ('get', 'post', ...). */
  readonly method: string;
  /** The URL path, without the query string, not decoded. */
  readonly path: string;
  /** The raw query string after '?' ('' if none). */
  readonly query: string;
  /** Path parameters by name, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly contentType: string;
  readonly accept: string;
  /** This request's id: the client's sane x-request-id, or a generated one; on every response. */
  readonly requestId: string;
  /**
   * The caller's organisation (src/edge/auth.ts): the tenant whose key was
   * presented, DEFAULT_ORG for server.api_keys and when no keys are required.
   * Every read or write of stored data is scoped by it.
   */
  readonly org: string;
  /** Which key was presented (an id such as `env:ORG_A_KEY`, never the key); null when none is required. */
  readonly keyId: string | null;
  /** The whole identity: roles (hasRole(q.caller, 'admin')), rate-limit budgets, guardrail default. */
  readonly caller: Caller;
  /** The X-GR-Guardrails header on `guard` routes ('' when absent, and on other routes). */
  readonly guardrails: string;
  /** X-GR-Cache-TTL (else x-switchyard-cache-ttl) on `promptCache` routes ('' when absent, and on other routes). */
  readonly cacheTtl: string;
  readonly engine: Engine;
  /**
   * The request body (methods with a body); empty otherwise. A one-chunk body
   * is uWS's own memory, detached (length 0) once the handler's synchronous
   * part returns: parse or copy it before the first await.
   */
  readonly body: Buffer;
}

/** A string is the JSON 200; a BinaryReply (src/api/sink.ts) a 200 in another format with its content type. */
export type JsonHandler = (req: RequestContext) => string | BinaryReply | Promise<string | BinaryReply>;
export type SinkHandler = (req: RequestContext, sink: ResponseSink) => void | Promise<void>;
/** Runs before the body is read; throw an ApiError to answer instead of the handler. */
export type Hook = (req: RequestContext) => void;

export interface RouteDef {
  method: Method | readonly Method[];
  path: string;
  dialect: ErrorDialect;
  /** Default true: the API-key check (when keys are configured). */
  auth?: boolean;
  /**
   * Rate limits (src/edge/admission.ts) apply: default true for POST/PUT/PATCH
   * (they cost work), false for GET/DELETE. Admission runs after the body is
   * read (tokens are estimated from it); a refusal is the 429.
   */
  limit?: boolean;
  /** The PII guardrail applies (X-GR-Guardrails / the organisation's default): routes that send the prompt to a model. */
  guard?: boolean;
  /** The route reads X-GR-Cache-TTL / x-switchyard-cache-ttl into `cacheTtl` (the prompt cache, src/api/prompt-cache.ts). */
  promptCache?: boolean;
  hooks?: readonly Hook[];
  json?: JsonHandler;
  sink?: SinkHandler;
}

export interface MountOptions {
  engine: Engine;
  life: Lifecycle;
  check: KeyCheck | undefined;
  /** The caller when `check` is undefined (no keys configured): the default organisation with its limits. Default: Tenancy.PUBLIC. */
  anonymous?: Caller | null;
  /** Rate limits and guardrail (src/edge/admission.ts makeGate); absent = neither. */
  gate?: Gate;
  cors: Cors | null;
  bodyLimit: number;
}

const EMPTY_BODY = Buffer.alloc(0);
const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});
const BODY_METHODS = new Set(['post', 'put', 'patch']);
const CATCH_ALL_METHODS = 'GET, POST, PUT, PATCH, DELETE';

class Context implements RequestContext {
  body: Buffer = EMPTY_BODY;
  guardrails = '';
  cacheTtl = '';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly query: string,
    readonly params: Readonly<Record<string, string>>,
    readonly contentType: string,
    readonly accept: string,
    readonly requestId: string,
    readonly caller: Caller,
    readonly engine: Engine,
  ) {}
  get org(): string { return this.caller.org; }
  get keyId(): string | null { return this.caller.keyId; }
}

/**
 * Request ids: `req_` + 12 random hex digits per thread (each HTTP thread loads
 * this module anew) + a base-36 counter. ~24 ns against ~80 ns for
 * crypto.randomUUID (measured, node 20, this machine); unique across threads
 * and restarts with overwhelming probability, and they sort by arrival within
 * a thread, which helps reading logs.
 */
const ID_PREFIX = `req_${randomBytes(6).toString('hex')}`;
let idCounter = 0;

/** A client-sent id is kept when 1-128 chars of [A-Za-z0-9._:/+=@-]: safe in a header, a log line and JSON unescaped. */
export function requestId(sent: string): string {
  const n = sent.length;
  if (n > 0 && n <= 128) {
    let ok = true;
    for (let i = 0; i < n; i++) {
      const c = sent.charCodeAt(i);
      if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46 || c === 95 || c === 58 || c === 47 || c === 43 || c === 61 || c === 64)) { ok = false; break; }
    }
    if (ok) return sent;
  }
  return ID_PREFIX + (++idCounter).toString(36);
}

interface Compiled {
  def: RouteDef;
  body: boolean;
  limited: boolean;
  guarded: boolean;
  promptCache: boolean;
  hooks: readonly Hook[] | undefined;
}

/** One uWS pattern and the routes (one per method) declared on it. */
interface Group {
  pattern: string;
  uwsPattern: string;
  /** Parameter names in order (`:name` segments, then a `*name` rest). */
  names: string[];
  /** Characters before the `*` rest in the URL (the rest starts there); -1: no rest parameter. */
  restAt: number;
  /** true: the URL equals the pattern, so the Exchange can keep the pattern string. */
  isStatic: boolean;
  dialect: ErrorDialect;
  auth: boolean;
  byMethod: Map<string, Compiled>;
  allow: readonly (readonly [string, string])[];
  methods: string;
}

function methodsOf(def: RouteDef): readonly Method[] {
  return typeof def.method === 'string' ? [def.method] : def.method;
}

/** Groups the routes by path and checks the table: a mistake here is a start-up error, not a silent 404. */
export function compile(routes: readonly RouteDef[]): Group[] {
  const groups = new Map<string, Group>();
  for (const def of routes) {
    if (!def.path.startsWith('/')) throw new Error(`route ${def.path}: a path starts with "/"`);
    if ((def.json === undefined) === (def.sink === undefined)) throw new Error(`route ${def.path}: exactly one of json and sink`);
    let g = groups.get(def.path);
    if (g === undefined) {
      const segs = def.path.split('/');
      const names: string[] = [];
      let restAt = -1;
      const uwsSegs = segs.map((s, i) => {
        if (s.startsWith(':')) { names.push(s.slice(1)); return s; }
        if (s.startsWith('*')) {
          if (i !== segs.length - 1) throw new Error(`route ${def.path}: a *rest parameter must be the last segment`);
          names.push(s.slice(1));
          // The rest starts after "<static prefix>/": only static segments may precede it, so the offset is fixed.
          if (names.length > 1) throw new Error(`route ${def.path}: a *rest parameter cannot follow :params`);
          restAt = segs.slice(0, i).join('/').length + 1;
          return '*';
        }
        return s;
      });
      for (const n of names) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) throw new Error(`route ${def.path}: bad parameter name "${n}"`);
      g = {
        pattern: def.path, uwsPattern: uwsSegs.join('/'), names, restAt, isStatic: names.length === 0,
        dialect: def.dialect, auth: def.auth !== false, byMethod: new Map(), allow: [], methods: '',
      };
      groups.set(def.path, g);
    }
    if (g.dialect !== def.dialect) throw new Error(`route ${def.path}: every method on one path answers errors in one dialect`);
    if (g.auth !== (def.auth !== false)) throw new Error(`route ${def.path}: every method on one path has the same auth`);
    for (const m of methodsOf(def)) {
      const lower = m.toLowerCase();
      if (g.byMethod.has(lower)) throw new Error(`route ${m} ${def.path} is declared twice`);
      const body = BODY_METHODS.has(lower);
      g.byMethod.set(lower, { def, body, limited: def.limit ?? body, guarded: def.guard === true, promptCache: def.promptCache === true, hooks: def.hooks?.length ? def.hooks : undefined });
    }
  }
  for (const g of groups.values()) {
    g.methods = [...g.byMethod.keys()].map((m) => m.toUpperCase()).join(', ');
    g.allow = [['allow', g.methods]];
  }
  return [...groups.values()];
}

/** "GET /health, POST /v1/route, ...": what the 404 message lists. */
export function describeRoutes(routes: readonly RouteDef[]): string {
  const out: string[] = [];
  for (const r of routes) for (const m of methodsOf(r)) out.push(`${m} ${r.path}`);
  return out.join(', ');
}

function decodeParam(raw: string, name: string): string {
  if (raw.indexOf('%') < 0) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError('invalid_request', `The path parameter "${name}" is not valid percent-encoding.`, name);
  }
}

/** Path parameters from uWS (`:name` by index) and the `*rest` from the URL; null when the rest is empty (no match). */
function readParams(g: Group, req: HttpRequest, url: string): Record<string, string> | null {
  const out: Record<string, string> = {};
  const n = g.restAt < 0 ? g.names.length : g.names.length - 1;
  for (let i = 0; i < n; i++) out[g.names[i]] = decodeParam(req.getParameter(i), g.names[i]);
  if (g.restAt >= 0) {
    const rest = url.slice(g.restAt);
    if (rest === '') return null;
    out[g.names[n]] = decodeParam(rest, g.names[n]);
  }
  return out;
}

/** Runs a JSON handler; a string reply is written at once, a Promise when it settles. */
function runJson(x: Exchange, handler: JsonHandler, ctx: Context): void {
  let out: string | BinaryReply | Promise<string | BinaryReply>;
  try {
    out = handler(ctx);
  } catch (err) {
    x.sendError(err);
    return;
  }
  if (typeof out === 'string') x.send(200, out);
  else if (out instanceof Promise) out.then((s) => sendOk(x, s), (err) => x.sendError(err));
  else sendOk(x, out);
}

function sendOk(x: Exchange, out: string | BinaryReply): void {
  if (typeof out === 'string') x.send(200, out);
  else x.send(200, out.body, undefined, false, out.contentType);
}

/** Runs a sink handler; a throw (sync or async) becomes the error reply or the stream's error event. */
function runSink(x: Exchange, handler: SinkHandler, ctx: Context): void {
  const sink = new SseResponse(x);
  let out: void | Promise<void>;
  try {
    out = handler(ctx, sink);
  } catch (err) {
    sink.fail(err);
    return;
  }
  if (out) out.catch((err) => sink.fail(err));
}

function dispatch(x: Exchange, c: Compiled, ctx: Context): void {
  if (c.def.json !== undefined) runJson(x, c.def.json, ctx);
  else runSink(x, c.def.sink!, ctx);
}

/** The gate's refusal (429 with Retry-After and x-ratelimit-*, 400 pii_detected), or any other throw, as the reply. */
function refuse(x: Exchange, err: unknown, close: boolean): void {
  if (err instanceof GateRefusal) x.sendError(err.error, err.headers, close);
  else x.sendError(err, undefined, close);
}

/** Admission (rate limits, guardrail), then the handler; the admitted response carries the x-ratelimit-* headers. */
function admitThenDispatch(x: Exchange, c: Compiled, ctx: Context, gate: Gate): void {
  let out: ReturnType<Gate['admit']>;
  try {
    out = gate.admit(ctx, c.limited, c.guarded);
  } catch (err) {
    return refuse(x, err, false);
  }
  if (out === null) return dispatch(x, c, ctx);
  if (out instanceof Promise) {
    // A one-chunk body is uWS's memory, gone once this callback returns: copy it before waiting (a networked limiter).
    if (ctx.body.length > 0) ctx.body = Buffer.from(ctx.body);
    out.then((h) => { withHeaders(x, h); dispatch(x, c, ctx); }, (err) => refuse(x, err, false));
    return;
  }
  withHeaders(x, out);
  dispatch(x, c, ctx);
}

function withHeaders(x: Exchange, h: readonly (readonly [string, string])[] | null): void {
  if (h === null || h.length === 0) return;
  x.extraHeaders = x.extraHeaders === undefined ? h : [...x.extraHeaders, ...h];
}

/** 204 to a CORS preflight: written here, inside the uWS callback (no cork needed), with no body. */
function answerPreflight(x: Exchange, headers: readonly (readonly [string, string])[] | undefined): void {
  x.done = true;
  const res = x.res;
  res.writeStatus('204 No Content').writeHeader('x-request-id', x.requestId);
  if (headers) for (const [k, v] of headers) res.writeHeader(k, v);
  res.endWithoutBody(undefined, x.draining);
  x.finished(204, undefined);
}

/**
 * Mounts `routes` on `app`, plus the catch-all: OPTIONS preflights (CORS on),
 * otherwise 404 listing the routes, in OpenAI's shape under /v1/.
 */
export function mountRoutes(app: TemplatedApp, routes: readonly RouteDef[], o: MountOptions): void {
  const { engine, life, check, cors, bodyLimit, gate } = o;
  const anonymous = o.anonymous ?? Tenancy.PUBLIC;
  const notFound = describeRoutes(routes);

  /** The prologue every request shares: id, CORS, preflight, auth. null = answered already. */
  const prologue = (x: Exchange, req: HttpRequest, auth: boolean, methods: string): Caller | null => {
    x.requestId = requestId(req.getHeader('x-request-id'));
    if (cors !== null) {
      const allowed = cors.forOrigin(req.getHeader('origin'));
      x.extraHeaders = allowed;
      if (x.method === 'options' && req.getHeader('access-control-request-method') !== '') {
        answerPreflight(x, allowed && cors.preflight(allowed, methods, req.getHeader('access-control-request-headers')));
        return null;
      }
    }
    if (!auth) return Tenancy.PUBLIC;
    if (check === undefined) return anonymous;
    const caller = check(req.getHeader('authorization'), req.getHeader('x-api-key'));
    if (caller === null) x.sendError(new ApiError('unauthorized'));
    return caller;
  };

  for (const g of compile(routes)) {
    app.any(g.uwsPattern, (res: HttpResponse, req: HttpRequest) => {
      const url = g.isStatic ? g.pattern : req.getUrl();
      const method = req.getMethod();
      const x = new Exchange(res, method, url, life);
      x.dialect = g.dialect;
      x.route = g.pattern;
      const caller = prologue(x, req, g.auth, g.methods);
      if (caller === null) return;
      const c = g.byMethod.get(method);
      if (c === undefined) return x.sendError(new ApiError('method_not_allowed', `${g.pattern} allows ${g.methods} only.`), g.allow);
      let params: Readonly<Record<string, string>> = NO_PARAMS;
      if (!g.isStatic) {
        try {
          const p = readParams(g, req, url);
          if (p === null) return x.sendError(notFoundError(x, notFound));
          params = p;
        } catch (err) {
          return x.sendError(err);
        }
      }
      const ctx = new Context(method, url, req.getQuery() ?? '', params, req.getHeader('content-type'), req.getHeader('accept'),
        x.requestId, caller, engine);
      if (c.hooks !== undefined) {
        try {
          for (const h of c.hooks) h(ctx);
        } catch (err) {
          return x.sendError(err, undefined, c.body);
        }
      }
      const gated = gate !== undefined && ((c.limited && gate.limits) || c.guarded);
      if (c.guarded && gated) ctx.guardrails = req.getHeader('x-gr-guardrails');
      if (c.promptCache) ctx.cacheTtl = req.getHeader('x-gr-cache-ttl') || req.getHeader('x-switchyard-cache-ttl');
      if (!c.body) return gated ? admitThenDispatch(x, c, ctx, gate) : dispatch(x, c, ctx);
      const cl = req.getHeader('content-length');
      const declared = cl === '' ? -1 : Number(cl);
      // Refuse before reading a byte (413, then a bounded drain of the body before closing).
      if (declared > bodyLimit) return x.refuseBody(bodyLimit, req.getHeader('expect'));
      x.readBody(bodyLimit, declared, gated
        ? (body) => { ctx.body = body; admitThenDispatch(x, c, ctx, gate); }
        : (body) => { ctx.body = body; dispatch(x, c, ctx); });
    });
  }

  app.any('/*', (res, req) => {
    const x = new Exchange(res, req.getMethod(), req.getUrl(), life);
    // Unknown /v1/ paths are OpenAI-compatible territory: SDKs parse the error there.
    if (x.path.startsWith('/v1/')) x.dialect = 'openai';
    if (prologue(x, req, true, CATCH_ALL_METHODS) === null) return;
    x.sendError(notFoundError(x, notFound));
  });
}

function notFoundError(x: Exchange, routes: string): ApiError {
  const shown = x.path.length > 100 ? `${x.path.slice(0, 100)}...` : x.path;
  return new ApiError('not_found', `No route ${x.method.toUpperCase()} ${shown}; routes are ${routes}.`);
}
