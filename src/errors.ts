/**
 * The error catalogue: every error a client can see has a stable string code,
 * an HTTP status and a default message, here and nowhere else. Handlers throw
 * `ApiError(code, message, field)`; the edge turns any thrown value into the
 * response body with `errorReply`, the one place that does so.
 *
 * Codes are API: clients switch on them. Add codes; never rename or reuse one.
 */
import { PoolError } from './pool/errors.ts';
import { StoreError } from './store/types.ts';

export const ERRORS = {
  invalid_request: { status: 400, message: 'The request is invalid.' },
  unauthorized: { status: 401, message: 'Missing or invalid API key: send "Authorization: Bearer <key>" or "x-api-key: <key>".' },
  not_found: { status: 404, message: 'No such route.' },
  method_not_allowed: { status: 405, message: 'Method not allowed on this route.' },
  payload_too_large: { status: 413, message: 'The request body is larger than the configured limit.' },
  /** A valid request that the profile cannot serve: no allowed model has an error estimate for the prompt's cluster. */
  no_candidate: { status: 422, message: 'None of the allowed models has an error estimate for this prompt.' },
  /** /v1/chat/completions: `model` is neither a router alias nor a configured model (OpenAI's code for the same case). */
  model_not_found: { status: 404, message: 'The model does not exist or has no configured backend.' },
  /** /v1/responses: no stored response has this id (never stored, store: false, deleted or expired); also a `previous_response_id` naming none. */
  response_not_found: { status: 404, message: 'No response with this id exists.' },
  /** Every candidate's upstream refused the request as invalid (a non-retryable 4xx, or a feature no candidate supports). */
  upstream_rejected: { status: 400, message: 'The upstream rejected the request.' },
  /** Every candidate answered 429. */
  upstream_rate_limited: { status: 429, message: 'Every candidate model is rate-limited upstream; retry later.' },
  internal_error: { status: 500, message: 'Internal error.' },
  /** Every candidate failed (5xx, connection refused, stream errors, ...); `attempts` lists each. */
  upstream_error: { status: 502, message: 'Every candidate model failed upstream.' },
  router_not_ready: { status: 503, message: 'The router profile is still loading; retry shortly.' },
  /** A routed request found no model with a configured backend (providers.models). */
  no_backend: { status: 503, message: 'No candidate model has a configured backend.' },
  /**
   * A worker pool the request needed (ONNX embedding, large-K nearest-centroid
   * search) is closed: the server is shutting down. Retry elsewhere.
   */
  shutting_down: { status: 503, message: 'The server is shutting down; retry the request.' },
  /** The store (src/store/) failed a read or write: handlers map StoreError to this. Stored data is unavailable, routing is not. */
  store_unavailable: { status: 503, message: 'The response store is unavailable; retry shortly.' },
  /** Every candidate timed out (first byte or total). */
  upstream_timeout: { status: 504, message: 'Every candidate model timed out upstream.' },
  /** Rule routing (issue 9): no router config with this id or name (configName, router_config_id, /v1/router-configs/{ref}), or no default config. */
  router_config_not_found: { status: 404, message: 'No such router config.' },
  /** GET /v1/route-decisions/{id}: no stored decision with this id. */
  route_decision_not_found: { status: 404, message: 'No route decision with this id exists.' },
  /** A router config update or delete named a `version` that is no longer the stored one: re-read and retry. */
  config_version_conflict: { status: 409, message: 'The router config changed since the given version; read it again and retry.' },
  /** DELETE (or rename) of the default router config (routing.default_config). */
  default_config_protected: { status: 409, message: 'The default router config cannot be deleted or renamed; change routing.default_config first.' },
  /** Issue 11: the API key is valid but lacks the role the endpoint needs (e.g. admin; src/edge/auth.ts hasRole). */
  forbidden: { status: 403, message: 'This API key lacks the role this endpoint needs.' },
  /** Issue 11: the organisation's or the key's requests or tokens per minute are spent; Retry-After and x-ratelimit-* say when (OpenAI's code). */
  rate_limit_exceeded: { status: 429, message: 'Rate limit exceeded; retry after the Retry-After interval.' },
  /** Issue 12: the rate limits live in Redis, Redis cannot answer, and state.redis.rate_limit_failure is "closed" (fail closed). */
  rate_limiter_unavailable: { status: 503, message: 'The rate limiter (Redis) is unavailable and the server is configured to fail closed; retry shortly.' },
  /** Issue 11: X-GR-Guardrails: moderate (or the organisation's default) found personal data in the request; `kinds` names what, never the values. */
  pii_detected: { status: 400, message: 'The request contains personal data the guardrail blocks.' },
  /** POST /v1/model-router/invoke: the body does not match Feather's schema (FastAPI's 422; `detail` lists each problem). */
  validation_error: { status: 422, message: 'The request body does not match the schema.' },
  /** Issue 11: an explicitly named model is excluded by the organisation's preferences (excluded_models / excluded_providers). */
  model_excluded: { status: 400, message: 'The model is excluded by this organisation\'s preferences.' },
  /** Issue 11: DELETE /v1/preferences/{key} of a key the organisation has not set. */
  preference_not_found: { status: 404, message: 'This preference is not set.' },
  /** Issue 11: POST /v1/feedback names a request id with no activity-log row of this organisation (unknown, another organisation's, not yet flushed, or past retention). */
  request_not_found: { status: 404, message: 'No routed request with this id is known for this organisation.' },
  /** Issue 13: POST /v1/router/reload (or the profile an added model produced) was refused: unreadable, invalid tables, another embedder; the message says why, and the previous profile stays in service. */
  profile_rejected: { status: 422, message: 'The router profile was refused; the previous profile is still in service.' },
  /** Issue 13: POST /v1/router/models names a model the profile already has. */
  model_exists: { status: 409, message: 'The router profile already has a model of this name.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES: readonly ErrorCode[] = Object.keys(ERRORS) as ErrorCode[];

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  /** The request field at fault (dotted path), when there is one. */
  readonly field: string | undefined;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    field?: string,
    /** Extra members of the error object (e.g. upstream_error's `attempts`); never secrets. */
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message ?? ERRORS[code].message);
    this.status = ERRORS[code].status;
    this.field = field;
  }
}

/**
 * Which body shape errors take. 'switchyard': `{"error": {"code", "message",
 * "field"?}}`. 'openai' (the OpenAI-compatible endpoints, so SDKs parse them):
 * `{"error": {"message", "type", "param", "code"}}` with `param` = the field.
 * 'twosignal' (POST /api/v1/route-model; 2Signal documents statuses, not a
 * body): `{"error": message, "code", "field"?}`, a flat string `error` as
 * JSON APIs of its kind answer. 'feather' (/v1/model-router/invoke,
 * /v1/route-decisions; Feather's ErrorResponse): `{"error": code, "message"}`,
 * except validation_error (422), FastAPI's `{"detail": [{loc, msg, type,
 * input?, ctx?}]}` from the error's `detail`.
 */
export type ErrorDialect = 'switchyard' | 'openai' | 'twosignal' | 'feather';

/** OpenAI's error `type` for a status (what its SDKs and clients key on). */
function openaiType(code: ErrorCode, status: number): string {
  if (code.startsWith('upstream_')) return code === 'upstream_rate_limited' ? 'rate_limit_error' : 'upstream_error';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return status === 503 ? 'service_unavailable' : 'server_error';
  return 'invalid_request_error';
}

function body(dialect: ErrorDialect, code: ErrorCode, status: number, message: string, field: string | undefined, details: Readonly<Record<string, unknown>> | undefined): string {
  if (dialect === 'openai') return JSON.stringify({ error: { message, type: openaiType(code, status), param: field ?? null, code, ...details } });
  if (dialect === 'feather') {
    if (code === 'validation_error' && Array.isArray(details?.detail)) return JSON.stringify({ detail: details.detail });
    return JSON.stringify(details ? { error: code, message, ...details } : { error: code, message });
  }
  if (dialect === 'twosignal') return JSON.stringify(field === undefined ? { error: message, code, ...details } : { error: message, code, field, ...details });
  const e: Record<string, unknown> = { code, message };
  if (field !== undefined) e.field = field;
  return JSON.stringify({ error: details ? { ...e, ...details } : e });
}

/** 400 naming the field: the message always starts with the field so a client (or a test) can find it. */
export function invalid(field: string, problem: string): ApiError {
  return new ApiError('invalid_request', `"${field}" ${problem}`, field);
}

export interface ErrorReply {
  status: number;
  code: ErrorCode;
  /** `{"error": {"code", "message"[, "field"]}}`, or OpenAI's shape (see ErrorDialect). */
  body: string;
  /** The original value when it was not an ApiError (a bug): for diagnostics, never for the client. */
  internal?: unknown;
}

/**
 * Any thrown value -> response. Unknown errors become 500 `internal_error`
 * with the generic message: their text may hold paths or internals, so it goes
 * to the diagnostics channel (via `internal`), not to the client.
 */
export function errorReply(err: unknown, dialect: ErrorDialect = 'switchyard'): ErrorReply {
  // A pool closed under a request (shutdown) is expected, not a bug. Its other
  // failures (a worker dying mid-task) stay 500s and reach the diagnostics channel.
  if (err instanceof PoolError && err.code === 'pool_closed') err = new ApiError('shutting_down');
  // A store failure is operational, not a bug: 503 with the catalogue's message
  // (a StoreError's own text names file paths, which clients have no use for).
  if (err instanceof StoreError) err = new ApiError('store_unavailable');
  if (err instanceof ApiError) return { status: err.status, code: err.code, body: body(dialect, err.code, err.status, err.message, err.field, err.details) };
  const code: ErrorCode = 'internal_error';
  const status = ERRORS[code].status;
  return { status, code, body: body(dialect, code, status, ERRORS[code].message, undefined, undefined), internal: err };
}
