/**
 * The HTTP server: a uWS App with Switchyard's routes, and its life cycle
 * (listen -> load -> drain -> close).
 *
 * buildApp is a pure function of its dependencies, so the same routes are
 * mounted on one App per HTTP thread: with server.threads > 1, startServer
 * hands over to src/edge/threads.ts, and each thread (src/worker/http-thread.ts)
 * calls `serve` with its own Engine; with 1, `serve` runs here on the main thread.
 *
 * Routes are matched by path with `any` and the method is checked here, so a
 * wrong method gets 405 with an Allow header rather than falling through to
 * the 404 catch-all. Auth runs before the method check and before 404, so an
 * unauthenticated client learns nothing about which routes exist.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { uws, UWS_NATIVE, listen, closeApp, type TemplatedApp } from './uws.ts';
import { Exchange, Lifecycle, tooLarge } from './exchange.ts';
import { makeKeyCheck } from './auth.ts';
import { ApiError } from '../errors.ts';
import { channels } from '../diagnostics.ts';
import { Engine } from '../api/engine.ts';
import { handleRoute } from '../api/route.ts';
import { handleEmbeddings } from '../api/embeddings.ts';
import { handleHealth, type HealthInfo } from '../api/health.ts';
import { handleChat } from '../api/chat.ts';
import { handleModelHealth, handleModels } from '../api/models.ts';
import type { ResponseSink } from '../api/sink.ts';
import { SseResponse } from './sse-response.ts';
import { createModelHealthBuffer, MODEL_HEALTH_KEY } from '../providers/runtime.ts';
import type { ErrorDialect } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import { httpThreads, startThreads } from './threads.ts';

export type BodyHandler = (body: Buffer, engine: Engine) => string | Promise<string>;
/** Handlers that choose their own status and headers, or stream (SSE), through a ResponseSink. */
export type SinkHandler = (body: Buffer, engine: Engine, sink: ResponseSink) => void | Promise<void>;
/** GET handlers: the raw query string (after '?') in, a JSON body out. */
export type GetHandler = (query: string, engine: Engine) => string;

const POST_ROUTES: readonly (readonly [string, BodyHandler])[] = [
  ['/v1/route', handleRoute],
  ['/v1/embeddings', handleEmbeddings],
];

/** OpenAI-compatible routes answer errors in OpenAI's shape, so SDKs surface them. */
const SINK_ROUTES: readonly (readonly [string, SinkHandler, ErrorDialect])[] = [
  ['/v1/chat/completions', handleChat, 'openai'],
];

const GET_ROUTES: readonly (readonly [string, GetHandler, ErrorDialect])[] = [
  ['/v1/models', handleModels, 'openai'],
  ['/v1/model-health', handleModelHealth, 'switchyard'],
];

const ALLOW_GET = [['allow', 'GET']] as const;
const ALLOW_POST = [['allow', 'POST']] as const;

export interface AppDeps {
  engine: Engine;
  life: Lifecycle;
  config: Readonly<Config>;
  health: HealthInfo;
}

/** Runs a body handler inside the uWS data callback; a string reply is written at once, a Promise when it settles. */
function run(x: Exchange, handler: BodyHandler, body: Buffer, engine: Engine): void {
  let out: string | Promise<string>;
  try {
    out = handler(body, engine);
  } catch (err) {
    x.sendError(err);
    return;
  }
  if (typeof out === 'string') x.send(200, out);
  else out.then((s) => x.send(200, s), (err) => x.sendError(err));
}

/** Runs a sink handler inside the uWS data callback; a throw (sync or async) becomes the error reply or the stream's error event. */
function runSink(x: Exchange, handler: SinkHandler, body: Buffer, engine: Engine): void {
  const sink = new SseResponse(x);
  let out: void | Promise<void>;
  try {
    out = handler(body, engine, sink);
  } catch (err) {
    sink.fail(err);
    return;
  }
  if (out) out.catch((err) => sink.fail(err));
}

export function buildApp({ engine, life, config, health }: AppDeps): TemplatedApp {
  const app = uws.App();
  const check = makeKeyCheck(config.server.api_keys);
  const limit = config.server.body_limit;

  app.any('/health', (res, req) => {
    const x = new Exchange(res, req.getMethod(), '/health', life);
    if (x.method !== 'get') return x.sendError(new ApiError('method_not_allowed', '/health allows GET only.'), ALLOW_GET);
    const h = handleHealth(engine, health);
    x.send(h.status, h.body);
  });

  for (const [path, handler] of POST_ROUTES) {
    app.any(path, (res, req) => {
      // Everything read from `req` must be read now: it is stack-allocated by uWS and gone after return.
      const x = new Exchange(res, req.getMethod(), path, life);
      if (check && !check(req.getHeader('authorization'), req.getHeader('x-api-key'))) return x.sendError(new ApiError('unauthorized'));
      if (x.method !== 'post') return x.sendError(new ApiError('method_not_allowed', `${path} allows POST only.`), ALLOW_POST);
      const cl = req.getHeader('content-length');
      const declared = cl === '' ? -1 : Number(cl);
      // Refuse before reading a byte; close, since the body is still coming.
      if (declared > limit) return x.sendError(tooLarge(limit), undefined, true);
      x.readBody(limit, declared, (body) => run(x, handler, body, engine));
    });
  }

  for (const [path, handler, dialect] of SINK_ROUTES) {
    app.any(path, (res, req) => {
      const x = new Exchange(res, req.getMethod(), path, life);
      x.dialect = dialect;
      if (check && !check(req.getHeader('authorization'), req.getHeader('x-api-key'))) return x.sendError(new ApiError('unauthorized'));
      if (x.method !== 'post') return x.sendError(new ApiError('method_not_allowed', `${path} allows POST only.`), ALLOW_POST);
      const cl = req.getHeader('content-length');
      const declared = cl === '' ? -1 : Number(cl);
      if (declared > limit) return x.sendError(tooLarge(limit), undefined, true);
      x.readBody(limit, declared, (body) => runSink(x, handler, body, engine));
    });
  }

  for (const [path, handler, dialect] of GET_ROUTES) {
    app.any(path, (res, req) => {
      const x = new Exchange(res, req.getMethod(), path, life);
      x.dialect = dialect;
      if (check && !check(req.getHeader('authorization'), req.getHeader('x-api-key'))) return x.sendError(new ApiError('unauthorized'));
      if (x.method !== 'get') return x.sendError(new ApiError('method_not_allowed', `${path} allows GET only.`), ALLOW_GET);
      try {
        x.send(200, handler(req.getQuery() ?? '', engine));
      } catch (err) {
        x.sendError(err);
      }
    });
  }

  app.any('/*', (res, req) => {
    const x = new Exchange(res, req.getMethod(), req.getUrl(), life);
    if (check && !check(req.getHeader('authorization'), req.getHeader('x-api-key'))) return x.sendError(new ApiError('unauthorized'));
    const shown = x.path.length > 100 ? `${x.path.slice(0, 100)}...` : x.path;
    x.sendError(new ApiError('not_found', `No route ${x.method.toUpperCase()} ${shown}; routes are GET /health, POST /v1/route, POST /v1/embeddings, POST /v1/chat/completions, GET /v1/models, GET /v1/model-health.`));
  });
  return app;
}

export interface Server {
  readonly host: string;
  /** The bound port (the ephemeral one when config.server.port is 0). */
  readonly port: number;
  readonly engine: Engine;
  readonly uwsNative: boolean;
  /** HTTP threads serving the port (1: the main thread itself). */
  readonly threads: number;
  /** Loads embedder + profile; /health says "loading" and /v1/* answer 503 until it resolves. */
  load(): Promise<void>;
  /** Requests currently being served (body upload, embedding or response), all threads together. */
  inFlight(): number;
  /** The same, per HTTP thread. */
  inFlightPerThread(): number[];
  /**
   * Settles only if the server can no longer serve: HTTP threads crash-looping
   * (src/edge/threads.ts). main.ts then drains what is left and exits 1.
   */
  readonly fatal: Promise<Error>;
  /**
   * Graceful stop: refuse new connections, let in-flight requests finish (at
   * most `timeoutMs`, default server.shutdown_timeout_ms), drop remaining
   * connections, release the embedder. Idempotent. Resolves `drained: false`
   * if the deadline cut requests off.
   */
  close(opts?: { timeoutMs?: number }): Promise<{ drained: boolean }>;
  /** Stops listening and drops every connection now (in-flight requests are lost); a close() in progress then finishes at once. */
  drop(): void;
}

/**
 * Starts listening; does not load the profile (call load(): main does it right
 * after, tests when they choose). server.threads > 1: one App per HTTP thread
 * (src/edge/threads.ts); 1: one App on this thread, listening exclusively
 * (LIBUS_LISTEN_EXCLUSIVE_PORT: a second Switchyard on the port fails to start
 * instead of silently sharing the traffic; see threads.ts for the threaded case).
 */
export async function startServer(config: Readonly<Config>): Promise<Server> {
  // Process-wide state every HTTP thread's Engine shares: model health (providers/health.ts).
  // Add entries here to give every thread another SharedArrayBuffer (threads.ts passes the bag on).
  const shared: Record<string, SharedArrayBuffer> = { [MODEL_HEALTH_KEY]: createModelHealthBuffer(config.providers) };
  // The JS fallback (node:http underneath) cannot share a port between threads.
  const threads = UWS_NATIVE ? httpThreads(config) : 1;
  if (!UWS_NATIVE) channels.uwsFallback.publish({ message: `uWebSockets.js is running its JS fallback, not the native build: expect about half the throughput${httpThreads(config) > 1 ? ', on 1 HTTP thread (server.threads needs the native build)' : ''}` });
  if (threads > 1) return startThreads(config, threads, shared);
  const server = await serve(config, new Engine(config, shared), { port: config.server.port, exclusive: true, thread: 0, threads: 1 });
  if (channels.serverListening.hasSubscribers) channels.serverListening.publish({ host: config.server.host, port: server.port, uwsNative: UWS_NATIVE, threads: 1 });
  return server;
}

export interface ServeOptions {
  port: number;
  /** true: listen exclusively (one App per process); false: SO_REUSEPORT, one of several HTTP threads' Apps. */
  exclusive: boolean;
  /** This App's thread index and the thread count, for /health. */
  thread: number;
  threads: number;
  /** Shared slot mirroring this App's in-flight count (threads.ts sums them). */
  inFlightSlot?: { counts: Int32Array; slot: number };
}

/** One App on the calling thread, listening; the Engine is the caller's (not loaded yet). */
export async function serve(config: Readonly<Config>, engine: Engine, opts: ServeOptions): Promise<Server> {
  const life = new Lifecycle(opts.inFlightSlot?.counts, opts.inFlightSlot?.slot);
  const health: HealthInfo = { uwsNative: UWS_NATIVE, startedAt: performance.now(), thread: opts.thread, threads: opts.threads };
  const app = buildApp({ engine, life, config, health });
  const socket = await listen(app, config.server.host, opts.port, opts.exclusive);
  const port = uws.us_socket_local_port(socket as never);
  // A closed listen socket must not be closed again (uWS frees it).
  let listening = true;
  const stopListening = () => { if (listening) { listening = false; uws.us_listen_socket_close(socket); } };

  let closing: Promise<{ drained: boolean }> | undefined;
  const close = async (timeoutMs: number): Promise<{ drained: boolean }> => {
    const t0 = performance.now();
    life.closing = true;
    channels.serverClosing.publish({ inFlight: life.inFlight });
    stopListening();
    const drained = await life.idle(timeoutMs);
    // idle() resolves from inside the last response's uWS callback, before uWS
    // uncorks and hands the bytes to the kernel; closing now would lose them.
    // One macrotask later they are in the socket buffer. (A response larger than
    // the kernel buffer to a slow reader can still be cut: uWS has no "flushed"
    // event for HTTP. Ours are KB-sized except big /v1/embeddings batches.)
    await yieldToLoop();
    // Drops idle keep-alive connections (and, past the deadline, unfinished
    // requests: their onAborted runs). Without it, open keep-alive sockets keep
    // the process alive.
    closeApp(app);
    await engine.close();
    channels.serverClosed.publish({ drained, inFlight: life.inFlight, ms: performance.now() - t0 });
    return { drained };
  };

  return {
    host: config.server.host,
    port,
    engine,
    uwsNative: UWS_NATIVE,
    threads: opts.threads,
    load: () => engine.load(),
    inFlight: () => life.inFlight,
    inFlightPerThread: () => [life.inFlight],
    fatal: new Promise<Error>(() => {}),
    close: (o = {}) => (closing ??= close(o.timeoutMs ?? config.server.shutdown_timeout_ms)),
    drop: () => { life.closing = true; stopListening(); closeApp(app); },
  };
}
