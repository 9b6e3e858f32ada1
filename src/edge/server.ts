/**
 * The HTTP server: a uWS App with Switchyard's routes, and its life cycle
 * (listen -> load -> drain -> close).
 *
 * buildApp is a pure function of its dependencies, so the same routes can be
 * mounted on one App per worker thread if the end-to-end benchmark shows it
 * pays (uWS supports an App per thread on a shared port); today there is one
 * App on the main thread.
 *
 * Routes are matched by path with `any` and the method is checked here, so a
 * wrong method gets 405 with an Allow header rather than falling through to
 * the 404 catch-all. Auth runs before the method check and before 404, so an
 * unauthenticated client learns nothing about which routes exist.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { uws, UWS_NATIVE, LISTEN_EXCLUSIVE_PORT, type TemplatedApp, type us_listen_socket } from './uws.ts';
import { Exchange, Lifecycle, tooLarge } from './exchange.ts';
import { makeKeyCheck } from './auth.ts';
import { ApiError } from '../errors.ts';
import { channels } from '../diagnostics.ts';
import { Engine } from '../api/engine.ts';
import { handleRoute } from '../api/route.ts';
import { handleEmbeddings } from '../api/embeddings.ts';
import { handleHealth, type HealthInfo } from '../api/health.ts';
import type { Config } from '../config/schema.ts';

export type BodyHandler = (body: Buffer, engine: Engine) => string | Promise<string>;

const POST_ROUTES: readonly (readonly [string, BodyHandler])[] = [
  ['/v1/route', handleRoute],
  ['/v1/embeddings', handleEmbeddings],
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

  app.any('/*', (res, req) => {
    const x = new Exchange(res, req.getMethod(), req.getUrl(), life);
    if (check && !check(req.getHeader('authorization'), req.getHeader('x-api-key'))) return x.sendError(new ApiError('unauthorized'));
    const shown = x.path.length > 100 ? `${x.path.slice(0, 100)}...` : x.path;
    x.sendError(new ApiError('not_found', `No route ${x.method.toUpperCase()} ${shown}; routes are GET /health, POST /v1/route, POST /v1/embeddings.`));
  });
  return app;
}

export interface Server {
  readonly host: string;
  /** The bound port (the ephemeral one when config.server.port is 0). */
  readonly port: number;
  readonly engine: Engine;
  readonly uwsNative: boolean;
  /** Loads embedder + profile; /health says "loading" and /v1/* answer 503 until it resolves. */
  load(): Promise<void>;
  /** Requests currently being served (body upload, embedding or response). */
  inFlight(): number;
  /**
   * Graceful stop: refuse new connections, let in-flight requests finish (at
   * most `timeoutMs`, default server.shutdown_timeout_ms), drop remaining
   * connections, release the embedder. Idempotent. Resolves `drained: false`
   * if the deadline cut requests off.
   */
  close(opts?: { timeoutMs?: number }): Promise<{ drained: boolean }>;
}

/**
 * Listens with LIBUS_LISTEN_EXCLUSIVE_PORT. uWS otherwise sets SO_REUSEPORT, and
 * a second Switchyard (a stale instance, a typo'd deploy) on the same port
 * silently shares the traffic instead of failing. One App per thread, if the
 * benchmark ever calls for it, is the case that needs SO_REUSEPORT back: the
 * threads' Apps would listen without this flag. The (host, port, options, cb)
 * overload exists on the binding but not in the bundled .d.ts.
 */
function listen(app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> {
  type Listen4 = (host: string, port: number, options: number, cb: (s: us_listen_socket | false) => void) => void;
  return new Promise((resolve, reject) => {
    (app.listen as unknown as Listen4).call(app, host, port, LISTEN_EXCLUSIVE_PORT, (s) =>
      (s ? resolve(s) : reject(new Error(`cannot listen on ${host}:${port} (address in use or not available)`))));
  });
}

/** Starts listening; does not load the profile (call load(): main does it right after, tests when they choose). */
export async function startServer(config: Readonly<Config>): Promise<Server> {
  const engine = new Engine(config);
  const life = new Lifecycle();
  const health: HealthInfo = { uwsNative: UWS_NATIVE, startedAt: performance.now() };
  if (!UWS_NATIVE) channels.uwsFallback.publish({ message: 'uWebSockets.js is running its JS fallback, not the native build: expect about half the throughput' });
  const app = buildApp({ engine, life, config, health });
  const socket = await listen(app, config.server.host, config.server.port);
  const port = uws.us_socket_local_port(socket as never);
  if (channels.serverListening.hasSubscribers) channels.serverListening.publish({ host: config.server.host, port, uwsNative: UWS_NATIVE });

  let closing: Promise<{ drained: boolean }> | undefined;
  const close = async (timeoutMs: number): Promise<{ drained: boolean }> => {
    const t0 = performance.now();
    life.closing = true;
    channels.serverClosing.publish({ inFlight: life.inFlight });
    uws.us_listen_socket_close(socket);
    const drained = await life.idle(timeoutMs);
    // idle() resolves from inside the last response's uWS callback, before uWS
    // uncorks and hands the bytes to the kernel; closing now would lose them.
    // One macrotask later they are in the socket buffer. (A response larger than
    // the kernel buffer to a slow reader can still be cut: uWS has no "flushed"
    // event for HTTP. Ours are KB-sized except big /v1/embeddings batches.)
    await yieldToLoop();
    // Drops idle keep-alive connections (and, past the deadline, unfinished
    // requests: their onAborted runs). Without it, open keep-alive sockets keep
    // the process alive. Missing from the bundled .d.ts, present on the binding.
    (app as unknown as { close?: () => void }).close?.();
    await engine.close();
    channels.serverClosed.publish({ drained, inFlight: life.inFlight, ms: performance.now() - t0 });
    return { drained };
  };

  return {
    host: config.server.host,
    port,
    engine,
    uwsNative: UWS_NATIVE,
    load: () => engine.load(),
    inFlight: () => life.inFlight,
    close: (opts = {}) => (closing ??= close(opts.timeoutMs ?? config.server.shutdown_timeout_ms)),
  };
}
