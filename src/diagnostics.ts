/**
 * Every diagnostics channel Switchyard publishes, in one place (undici's
 * core/diagnostics.js pattern). The hot path publishes only after checking
 * `hasSubscribers`, so an unobserved server pays one property read per event
 * and builds no message objects; logging, metrics and tests subscribe here.
 *
 * Message shapes are documented next to each channel and are part of the
 * contract for subscribers.
 */
import diagnostics_channel from 'node:diagnostics_channel';

export const CHANNEL_NAMES = {
  /** { host, port, uwsNative, threads } once the listen socket(s) are open. */
  serverListening: 'switchyard:server:listening',
  /** { reason, inFlight } when close() starts draining. */
  serverClosing: 'switchyard:server:closing',
  /** { drained: boolean, inFlight, ms } when the server has closed. */
  serverClosed: 'switchyard:server:closed',
  /** { profile, k, models, embedder, ms } when the router is ready. */
  profileLoaded: 'switchyard:profile:loaded',
  /** { error } when loading the profile or embedder failed. */
  profileFailed: 'switchyard:profile:failed',
  /** { profile, profile_id, version, dir, router, k, models, ms, source: 'api' | 'signal' | 'models' | 'bus' } after a hot reload swapped every Engine (src/api/profile-control.ts). */
  profileReloaded: 'switchyard:profile:reloaded',
  /** { dir, source, error } when a hot reload was refused (the previous profile stays) or could not be published to the other replicas. */
  profileReloadFailed: 'switchyard:profile:reload-failed',
  /** { message } at start-up if uWebSockets.js fell back to its JS implementation. */
  uwsFallback: 'switchyard:uws:fallback',
  /** { method, path, route, status, code, ms, aborted, requestId } after every response; status 0 and aborted: true when the client went away first. requestId = the response's x-request-id; route = the matched pattern ('' = no route). */
  httpResponse: 'switchyard:http:response',
  /** { model, clusterId, cacheHit: false, routingMs, embeddingMs } after a computed /v1/route decision; { cacheHit: true, routingMs, embeddingMs: 0 } after a cache hit. */
  routeDecision: 'switchyard:route:decision',
  /**
   * { model, reason, candidates, attempts, stream, status, costUsd, ms } after every
   * /v1/chat/completions call that reached the gateway (status 0 = the client went away;
   * for streams, published when the stream ends). attempts are AttemptRecords, redacted.
   */
  chatCompletion: 'switchyard:chat:completion',
  /**
   * { id, model, reason, candidates, attempts, stream, status, costUsd, stored, ms } after every
   * POST /v1/responses that reached the gateway, as chatCompletion (id: the response's resp_ id,
   * null when no upstream answered; stored: written to the store).
   */
  responseCreated: 'switchyard:responses:created',
  /** { error, method, path, requestId } for unexpected errors turned into 500 internal_error (HTTP threads forward theirs to the main thread). */
  internalError: 'switchyard:error:internal',
  /** { thread, code, error, restarting, fatal } when an HTTP thread exits unexpectedly (src/edge/threads.ts). */
  httpThreadExit: 'switchyard:http:thread-exit',
  /** { path, error } when the store's writer thread dies or its purge job fails (src/store/sqlite-link.ts). */
  storeError: 'switchyard:store:error',
  /** { path, count, ms } after the purge job deleted expired rows. */
  storePurged: 'switchyard:store:purged',
  /** { created, updated, unchanged } (config names) after the YAML's routing.configs were seeded into the store at start; `updated` replaced stored content, admin-API changes included (src/api/router-config-seed.ts). */
  routerConfigsSeeded: 'switchyard:router-configs:seeded',
  /** { org, keyId, limit: 'requests' | 'tokens', scope: 'organization' | 'key' } when a request is refused 429 rate_limit_exceeded (src/edge/admission.ts). */
  rateLimited: 'switchyard:limits:refused',
  /** { kinds } when the PII guardrail refused a request (never the values). */
  piiBlocked: 'switchyard:guardrail:pii',
  /**
   * { engine, row } after every routed request through the gateway (chat completions, responses), row being
   * the ActivityRow of src/store/org-types.ts (request id, org, endpoint, models requested/selected/executed,
   * reason, fallback chain, cluster, tokens, cost, latency, status, cache hit). `engine`: the Engine that
   * served it (a process with several servers, such as a test, has one subscriber per Engine). The activity
   * log (src/api/activity-log.ts) buffers these and writes them in batches.
   */
  orgRequest: 'switchyard:org:request',
} as const;

export const channels = {
  serverListening: diagnostics_channel.channel(CHANNEL_NAMES.serverListening),
  serverClosing: diagnostics_channel.channel(CHANNEL_NAMES.serverClosing),
  serverClosed: diagnostics_channel.channel(CHANNEL_NAMES.serverClosed),
  profileLoaded: diagnostics_channel.channel(CHANNEL_NAMES.profileLoaded),
  profileFailed: diagnostics_channel.channel(CHANNEL_NAMES.profileFailed),
  profileReloaded: diagnostics_channel.channel(CHANNEL_NAMES.profileReloaded),
  profileReloadFailed: diagnostics_channel.channel(CHANNEL_NAMES.profileReloadFailed),
  uwsFallback: diagnostics_channel.channel(CHANNEL_NAMES.uwsFallback),
  httpResponse: diagnostics_channel.channel(CHANNEL_NAMES.httpResponse),
  routeDecision: diagnostics_channel.channel(CHANNEL_NAMES.routeDecision),
  chatCompletion: diagnostics_channel.channel(CHANNEL_NAMES.chatCompletion),
  responseCreated: diagnostics_channel.channel(CHANNEL_NAMES.responseCreated),
  internalError: diagnostics_channel.channel(CHANNEL_NAMES.internalError),
  httpThreadExit: diagnostics_channel.channel(CHANNEL_NAMES.httpThreadExit),
  storeError: diagnostics_channel.channel(CHANNEL_NAMES.storeError),
  storePurged: diagnostics_channel.channel(CHANNEL_NAMES.storePurged),
  routerConfigsSeeded: diagnostics_channel.channel(CHANNEL_NAMES.routerConfigsSeeded),
  rateLimited: diagnostics_channel.channel(CHANNEL_NAMES.rateLimited),
  piiBlocked: diagnostics_channel.channel(CHANNEL_NAMES.piiBlocked),
  orgRequest: diagnostics_channel.channel(CHANNEL_NAMES.orgRequest),
} as const;
