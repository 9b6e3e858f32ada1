/**
 * The HTTP server: a uWS App with Switchyard's routes, and its life cycle
 * (listen -> load -> drain -> close).
 *
 * Routes are declared once, in `routes()` below, and mounted by the registry
 * (src/edge/registry.ts), which runs the hooks every request shares: request
 * id, CORS, auth, 405 with Allow, the body limit, the error dialect. Adding an
 * endpoint = a handler in src/api/<family>.ts and one line here:
 *
 *   { method: 'DELETE', path: '/v1/responses/:id', dialect: 'openai', json: (q) => deleteResponse(q.params.id, q.engine) },
 *
 * `json` handlers return the 200 body (a string, or a Promise of one);
 * `sink` handlers answer through a ResponseSink (their own status, headers,
 * or an SSE stream). `q` is the RequestContext: method, path, query, params,
 * content-type, accept, request id, caller, engine, body. Path patterns take
 * `:name` segments and a final `*name` rest (slashes included). The 404
 * message lists this table.
 *
 * buildApp is a pure function of its dependencies, so the same routes are
 * mounted on one App per HTTP thread: with server.threads > 1, startServer
 * hands over to src/edge/threads.ts, and each thread (src/worker/http-thread.ts)
 * calls `serve` with its own Engine; with 1, `serve` runs here on the main thread.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { uws, UWS_NATIVE, listen, closeApp, type TemplatedApp } from './uws.ts';
import { Lifecycle } from './exchange.ts';
import { requireAdmin, Tenancy } from './auth.ts';
import { scopedResponses } from '../store/scoped.ts';
import { makeGate } from './admission.ts';
import { createRateLimitBuffer, RATE_LIMIT_KEY } from '../store/rate-limit.ts';
import { buildLimiter, replicaBuffers, startReplicaSync } from '../api/replica-sync.ts';
import { metricsBuffers, setupMetrics } from '../metrics/index.ts';
import { Cors } from './cors.ts';
import { mountRoutes, type RouteDef } from './registry.ts';
import { channels } from '../diagnostics.ts';
import { Engine } from '../api/engine.ts';
import { handleRoute } from '../api/route.ts';
import { handleEmbeddings } from '../api/embeddings.ts';
import { handleHealth, type HealthInfo } from '../api/health.ts';
import { handleChat } from '../api/chat.ts';
import { handleCreateResponse, handleDeleteResponse, handleGetResponse, handleListInputItems } from '../api/responses.ts';
import { handleModel, handleModelHealth, handleModels } from '../api/models.ts';
import { handleModelQuery } from '../api/catalog-list.ts';
import { handleCatalogModel, handleFamilies, handleFamily, handlePriceTiers, handleSchema, handleTags, handleTaxonomy, handleValidate } from '../api/catalog-browse.ts';
import { handlePriceComparison, handleRecommend, handleSuggest } from '../api/auto-suggest.ts';
import { handleAutoRoute, handleModelsRoute } from '../api/auto-route.ts';
import { handleRouteModel } from '../api/route-model.ts';
import { handleGetRouteDecision, handleInvoke } from '../api/invoke.ts';
import { handleCreateConfig, handleDeleteConfig, handleGetConfig, handleListConfigs, handlePatchConfig, handleReplaceConfig } from '../api/router-configs.ts';
import { createRouterConfigsBuffer, ROUTER_CONFIGS_KEY } from '../api/router-config-registry.ts';
import { seedRouterConfigs, seedRouterConfigsRedis } from '../api/router-config-seed.ts';
import { usesRedisStore } from '../store/index.ts';
import { handleDeletePreference, handleGetPreferences, handlePutPreference, handleSuggestions } from '../api/preferences.ts';
import { handleAutoFeedback, handleFeedback, handleListFeedback, handleResetFeedback } from '../api/feedback.ts';
import { handleOrgLogs } from '../api/org-logs.ts';
import { handleAddModel, handleReload } from '../api/router-admin.ts';
import { ProfileOwner, type ReloadResult } from '../api/profile-control.ts';
import { createOrgStateBuffer, ORG_STATE_KEY } from '../api/org-state.ts';
import { startActivityLog } from '../api/activity-log.ts';
import { createPromptCacheBuffer, PROMPT_CACHE_KEY } from '../api/prompt-cache.ts';
import { createModelHealthBuffer, MODEL_HEALTH_KEY } from '../providers/runtime.ts';
import { createDecisionCacheFor, DECISION_CACHE_KEY } from '../api/route-cache.ts';
import type { Config } from '../config/schema.ts';
import { httpThreads, startThreads } from './threads.ts';

export type { RouteDef, RequestContext } from './registry.ts';

/**
 * Writes to configuration an organisation shares (its router configs,
 * preferences, feedback resets): the admin role when the organisation defines
 * roles (src/edge/auth.ts requireAdmin; 403 forbidden in the route's shape).
 */
const ADMIN = [requireAdmin] as const;

/**
 * Every endpoint, once. OpenAI-compatible paths answer errors in OpenAI's
 * shape (dialect 'openai') so SDKs surface `type`/`param`; the router's own
 * endpoints keep Switchyard's. /health is never behind the API key.
 */
export function routes(health: HealthInfo): readonly RouteDef[] {
  return [
    { method: 'GET', path: '/health', dialect: 'switchyard', auth: false, sink: (q, s) => { const h = handleHealth(q.engine, health); s.send(h.status, h.body); } },
    { method: 'POST', path: '/v1/route', dialect: 'switchyard', json: (q) => handleRoute(q.body, q.engine, q.contentType, q.accept, q.org, q.requestId) },
    { method: 'POST', path: '/v1/embeddings', dialect: 'openai', json: (q) => handleEmbeddings(q.body, q.engine) },
    { method: 'POST', path: '/v1/chat/completions', dialect: 'openai', guard: true, promptCache: true, sink: (q, s) => handleChat(q.body, q.engine, s, q) },
    { method: 'POST', path: '/v1/responses', dialect: 'openai', guard: true, promptCache: true, sink: (q, s) => handleCreateResponse(q.body, q.engine, scopedResponses(q.engine.store.responses, q.org), s, q.requestId, q.org, q.cacheTtl) },
    { method: 'GET', path: '/v1/responses/:id', dialect: 'openai', json: (q) => handleGetResponse(q.params.id, scopedResponses(q.engine.store.responses, q.org), q.query) },
    { method: 'DELETE', path: '/v1/responses/:id', dialect: 'openai', json: (q) => handleDeleteResponse(q.params.id, scopedResponses(q.engine.store.responses, q.org)) },
    { method: 'GET', path: '/v1/responses/:id/input_items', dialect: 'openai', json: (q) => handleListInputItems(q.params.id, q.query, scopedResponses(q.engine.store.responses, q.org)) },
    { method: 'GET', path: '/v1/models', dialect: 'openai', json: (q) => handleModels(q.query, q.engine) },
    { method: 'GET', path: '/v1/models/*id', dialect: 'openai', json: (q) => handleModel(q.params.id, q.engine) },
    { method: 'GET', path: '/v1/model-health', dialect: 'switchyard', json: (q) => handleModelHealth(q.query, q.engine) },
    // GreatRouter (issue 10, docs/greatrouter.md): catalog, suggestions, auto and explicit routing; OpenAI's error shape throughout.
    // uWS matches static > :param > *rest, so these coexist with /v1/models/*id (catalog-browse.ts says which wins where).
    { method: 'GET', path: '/v1/models/:provider/:model', dialect: 'openai', json: (q) => handleCatalogModel(q.params.provider, q.params.model, q.engine) },
    { method: 'GET', path: '/v1/models/:provider/:model/input-schema', dialect: 'openai', json: (q) => handleSchema(q.params.provider, q.params.model, 'input', q.engine) },
    { method: 'GET', path: '/v1/models/:provider/:model/output-schema', dialect: 'openai', json: (q) => handleSchema(q.params.provider, q.params.model, 'output', q.engine) },
    { method: 'POST', path: '/v1/models/:provider/:model/validate-input', dialect: 'openai', json: (q) => handleValidate(q.params.provider, q.params.model, 'input', q.body, q.engine) },
    { method: 'POST', path: '/v1/models/:provider/:model/validate-output', dialect: 'openai', json: (q) => handleValidate(q.params.provider, q.params.model, 'output', q.body, q.engine) },
    { method: 'POST', path: '/v1/models/query', dialect: 'openai', json: (q) => handleModelQuery(q.body, q.engine) },
    { method: 'GET', path: '/v1/models/tags', dialect: 'openai', json: (q) => handleTags(q.engine) },
    { method: 'GET', path: '/v1/models/price-tiers', dialect: 'openai', json: (q) => handlePriceTiers(q.engine) },
    { method: 'POST', path: '/v1/models/price-comparison', dialect: 'openai', json: (q) => handlePriceComparison(q.body, q.engine, q.org) },
    { method: 'POST', path: '/v1/models/recommend', dialect: 'openai', json: (q) => handleRecommend(q.body, q.engine) },
    { method: 'POST', path: '/v1/models/route', dialect: 'openai', guard: true, sink: (q, s) => handleModelsRoute(q.body, q.engine, s, q.org, q.requestId) },
    { method: 'POST', path: '/v1/auto/suggest', dialect: 'openai', json: (q) => handleSuggest(q.body, q.engine, q.org) },
    { method: 'POST', path: '/v1/auto/route', dialect: 'openai', guard: true, sink: (q, s) => handleAutoRoute(q.body, q.engine, s, q.org, q.requestId) },
    { method: 'GET', path: '/v1/catalog/taxonomy', dialect: 'openai', json: (q) => handleTaxonomy(q.engine) },
    { method: 'GET', path: '/v1/catalog/families', dialect: 'openai', json: (q) => handleFamilies(q.query, q.engine) },
    { method: 'GET', path: '/v1/catalog/families/*id', dialect: 'openai', json: (q) => handleFamily(q.params.id, q.engine) },
    // Rule routing (issue 9): 2Signal, Feather, and the router-config admin API (docs/rules-api.md).
    { method: 'POST', path: '/api/v1/route-model', dialect: 'twosignal', json: (q) => handleRouteModel(q.body, q.engine, q.org, q.requestId) },
    { method: 'POST', path: '/v1/model-router/invoke', dialect: 'feather', guard: true, sink: (q, s) => handleInvoke(q.body, q.engine, s, q.requestId, q.org) },
    { method: 'GET', path: '/v1/route-decisions/:id', dialect: 'feather', json: (q) => handleGetRouteDecision(q.params.id, q.engine, q.org) },
    { method: 'GET', path: '/v1/router-configs', dialect: 'switchyard', json: (q) => handleListConfigs(q.engine, q.org) },
    { method: 'POST', path: '/v1/router-configs', dialect: 'switchyard', hooks: ADMIN, sink: (q, s) => handleCreateConfig(q.body, q.engine, s, q.org) },
    { method: 'GET', path: '/v1/router-configs/:ref', dialect: 'switchyard', json: (q) => handleGetConfig(q.params.ref, q.engine, q.org) },
    { method: 'PUT', path: '/v1/router-configs/:ref', dialect: 'switchyard', hooks: ADMIN, json: (q) => handleReplaceConfig(q.params.ref, q.body, q.engine, q.org) },
    { method: 'PATCH', path: '/v1/router-configs/:ref', dialect: 'switchyard', hooks: ADMIN, json: (q) => handlePatchConfig(q.params.ref, q.body, q.engine, q.org) },
    { method: 'DELETE', path: '/v1/router-configs/:ref', dialect: 'switchyard', hooks: ADMIN, json: (q) => handleDeleteConfig(q.params.ref, q.query, q.engine, q.org) },
    // Preferences, feedback, activity log (issue 11; docs/org.md): always the caller's organisation.
    { method: 'GET', path: '/v1/preferences', dialect: 'openai', sink: (q, s) => handleGetPreferences(q.engine, q.org, s) },
    { method: 'GET', path: '/v1/preferences/suggestions', dialect: 'openai', json: (q) => handleSuggestions(q.engine, q.org) },
    { method: 'PUT', path: '/v1/preferences/:key', dialect: 'openai', limit: false, hooks: ADMIN, json: (q) => handlePutPreference(q.engine, q.org, q.params.key, q.body) },
    { method: 'DELETE', path: '/v1/preferences/:key', dialect: 'openai', hooks: ADMIN, json: (q) => handleDeletePreference(q.engine, q.org, q.params.key) },
    { method: 'GET', path: '/v1/feedback', dialect: 'switchyard', json: (q) => handleListFeedback(q.engine, q.org) },
    { method: 'POST', path: '/v1/feedback', dialect: 'switchyard', limit: false, json: (q) => handleFeedback(q.engine, q.org, q.body) },
    { method: 'DELETE', path: '/v1/feedback', dialect: 'switchyard', hooks: ADMIN, json: (q) => handleResetFeedback(q.engine, q.org, q.query) },
    { method: 'POST', path: '/v1/auto/feedback', dialect: 'openai', limit: false, json: (q) => handleAutoFeedback(q.engine, q.org, q.body) },
    { method: 'GET', path: '/v1/org/logs', dialect: 'openai', json: (q) => handleOrgLogs(q.engine, q.org, q.query) },
    // Issue 13: hot reload and added models (src/api/router-admin.ts; admin role when the organisation defines roles).
    { method: 'POST', path: '/v1/router/reload', dialect: 'switchyard', limit: false, hooks: ADMIN, json: (q) => handleReload(q.body, q.engine) },
    { method: 'POST', path: '/v1/router/models', dialect: 'switchyard', limit: false, hooks: ADMIN, json: (q) => handleAddModel(q.body, q.query, q.contentType, q.engine) },
  ];
}

export interface AppDeps {
  engine: Engine;
  life: Lifecycle;
  config: Readonly<Config>;
  health: HealthInfo;
}

/** What each App subscribed to diagnostics channels (metrics recorder, token settlement), removed when its server closes. */
const metricsStops = new WeakMap<TemplatedApp, () => void>();

export function buildApp({ engine, life, config, health }: AppDeps): TemplatedApp {
  const app = uws.App();
  // This thread's activity log subscriber (state.logs.enabled; activity-log.ts).
  startActivityLog(engine);
  // Each HTTP thread resolves the same keys (env copied at thread start) and numbers the budgets alike.
  const tenancy = Tenancy.fromConfig(config);
  // Embedded (shared memory), or Redis with the embedded one as the fail-open fallback (api/replica-sync.ts).
  const limiter = buildLimiter(engine, tenancy.budgets);
  // With Redis: model health merged across replicas, router-config changes heard from them (api/replica-sync.ts).
  const sync = startReplicaSync(engine);
  const table = routes(health);
  // GET /metrics and this thread's counters (src/metrics/); stopped when the server closes.
  const metrics = setupMetrics(config, engine, health.thread, () => table.map((r) => r.path), () => life.inFlight);
  const gate = makeGate(limiter, tenancy.budgets.some((b) => b.tokensPerMinute !== null));
  metricsStops.set(app, () => { metrics.stop(); gate.stop(); sync.stop(); });
  mountRoutes(app, metrics.route === null ? table : [...table, metrics.route], {
    engine, life,
    check: tenancy.check,
    anonymous: tenancy.anonymous,
    gate,
    cors: Cors.from(config.server.cors.allowed_origins),
    bodyLimit: config.server.body_limit,
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
  /**
   * Hot reload (SIGHUP in main.ts; POST /v1/router/reload): `dir` or the
   * configured profile, on every HTTP thread (src/api/profile-control.ts).
   * Rejects with ApiError profile_rejected (the old profile stays) or router_not_ready.
   */
  reload(dir?: string, source?: string): Promise<ReloadResult>;
}

/**
 * Starts listening; does not load the profile (call load(): main does it right
 * after, tests when they choose). server.threads > 1: one App per HTTP thread
 * (src/edge/threads.ts); 1: one App on this thread, listening exclusively
 * (LIBUS_LISTEN_EXCLUSIVE_PORT: a second Switchyard on the port fails to start
 * instead of silently sharing the traffic; see threads.ts for the threaded case).
 */
export async function startServer(config: Readonly<Config>): Promise<Server> {
  // Keys resolved once here, so a missing env var or a duplicate key is a start-up error before any thread boots.
  const budgets = Tenancy.fromConfig(config).budgets.length;
  // Process-wide state every HTTP thread's Engine shares: model health (providers/health.ts).
  // Add entries here to give every thread another SharedArrayBuffer (threads.ts passes the bag on).
  const shared: Record<string, SharedArrayBuffer> = { [MODEL_HEALTH_KEY]: createModelHealthBuffer(config.providers), [DECISION_CACHE_KEY]: createDecisionCacheFor(config), [ROUTER_CONFIGS_KEY]: createRouterConfigsBuffer() };
  // Rate-limit state (src/store/rate-limit.ts): one GCRA cell pair per budget, shared so a limit holds across threads.
  if (budgets > 0) shared[RATE_LIMIT_KEY] = createRateLimitBuffer(budgets);
  // YAML router configs into the store, once, before any thread serves (the YAML wins for the names it lists; router-config-seed.ts).
  if (usesRedisStore(config)) await seedRouterConfigsRedis(config);
  else seedRouterConfigs(config);
  // Preferences and feedback: one generation counter, so a change through one thread reaches every thread's compiled state (org-state.ts).
  shared[ORG_STATE_KEY] = createOrgStateBuffer();
  // The prompt cache (X-GR-Cache-TTL): one ShmCache for every HTTP thread, state.prompt_cache.size_mb (prompt-cache.ts).
  shared[PROMPT_CACHE_KEY] = createPromptCacheBuffer(config);
  // Redis counters and the other replicas' model health (issue 12; api/replica-sync.ts).
  Object.assign(shared, replicaBuffers(config));
  // The JS fallback (node:http underneath) cannot share a port between threads.
  const threads = UWS_NATIVE ? httpThreads(config) : 1;
  // Metrics counters: one region per HTTP thread, labelled from the route table, the profile and the tenants (src/metrics/layout.ts).
  Object.assign(shared, metricsBuffers(config, routes({ uwsNative: UWS_NATIVE, startedAt: 0, thread: 0, threads }).map((r) => r.path), threads));
  if (!UWS_NATIVE) channels.uwsFallback.publish({ message: `uWebSockets.js is running its JS fallback, not the native build: expect about half the throughput${httpThreads(config) > 1 ? ', on 1 HTTP thread (server.threads needs the native build)' : ''}` });
  if (threads > 1) return startThreads(config, threads, shared);
  const engine = new Engine(config, shared);
  const server = await serve(config, engine, { port: config.server.port, exclusive: true, thread: 0, threads: 1 });
  if (channels.serverListening.hasSubscribers) channels.serverListening.publish({ host: config.server.host, port: server.port, uwsNative: UWS_NATIVE, threads: 1 });
  // One thread: it owns hot reloads itself (with several, the main thread does: threads.ts).
  const owner = new ProfileOwner(config, engine, (t) => engine.swap(t));
  engine.control = owner;
  return {
    ...server,
    load: () => server.load().then(() => owner.listen()),
    reload: (dir, source) => owner.reload(dir, source),
    close: (o) => { owner.close(); return server.close(o); },
  };
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
  life.linger = { bytes: config.server.linger_bytes, ms: config.server.linger_ms };
  const health: HealthInfo = { uwsNative: UWS_NATIVE, startedAt: performance.now(), thread: opts.thread, threads: opts.threads };
  const app = buildApp({ engine, life, config, health });
  let socket: Awaited<ReturnType<typeof listen>>;
  try {
    socket = await listen(app, config.server.host, opts.port, opts.exclusive);
  } catch (e) {
    // The Engine holds the store's link to its writer thread (a ref'd port while
    // a write is pending, a reader connection): release it, or a failed start
    // leaves the process unable to exit.
    await engine.close();
    throw e;
  }
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
    metricsStops.get(app)?.();
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
    // An HTTP thread's control is its proxy to the main thread (http-thread.ts).
    reload: (dir) => (engine.control ? engine.control.reload(dir) : Promise.reject(new Error('no profile control'))),
  };
}
