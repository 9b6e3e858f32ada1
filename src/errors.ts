/**
 * The error catalogue: every error a client can see has a stable string code,
 * an HTTP status and a default message, here and nowhere else. Handlers throw
 * `ApiError(code, message, field)`; the edge turns any thrown value into the
 * response body with `errorReply`, the one place that does so.
 *
 * Codes are API: clients switch on them. Add codes; never rename or reuse one.
 */

export const ERRORS = {
  invalid_request: { status: 400, message: 'The request is invalid.' },
  unauthorized: { status: 401, message: 'Missing or invalid API key: send "Authorization: Bearer <key>" or "x-api-key: <key>".' },
  not_found: { status: 404, message: 'No such route.' },
  method_not_allowed: { status: 405, message: 'Method not allowed on this route.' },
  payload_too_large: { status: 413, message: 'The request body is larger than the configured limit.' },
  /** A valid request that the profile cannot serve: no allowed model has an error estimate for the prompt's cluster. */
  no_candidate: { status: 422, message: 'None of the allowed models has an error estimate for this prompt.' },
  internal_error: { status: 500, message: 'Internal error.' },
  router_not_ready: { status: 503, message: 'The router profile is still loading; retry shortly.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES: readonly ErrorCode[] = Object.keys(ERRORS) as ErrorCode[];

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  /** The request field at fault (dotted path), when there is one. */
  readonly field: string | undefined;
  constructor(readonly code: ErrorCode, message?: string, field?: string) {
    super(message ?? ERRORS[code].message);
    this.status = ERRORS[code].status;
    this.field = field;
  }
}

/** 400 naming the field: the message always starts with the field so a client (or a test) can find it. */
export function invalid(field: string, problem: string): ApiError {
  return new ApiError('invalid_request', `"${field}" ${problem}`, field);
}

export interface ErrorReply {
  status: number;
  code: ErrorCode;
  /** `{"error": {"code", "message"[, "field"]}}` */
  body: string;
  /** The original value when it was not an ApiError (a bug): for diagnostics, never for the client. */
  internal?: unknown;
}

/**
 * Any thrown value -> response. Unknown errors become 500 `internal_error`
 * with the generic message: their text may hold paths or internals, so it goes
 * to the diagnostics channel (via `internal`), not to the client.
 */
export function errorReply(err: unknown): ErrorReply {
  if (err instanceof ApiError) {
    const e: Record<string, string> = { code: err.code, message: err.message };
    if (err.field !== undefined) e.field = err.field;
    return { status: err.status, code: err.code, body: JSON.stringify({ error: e }) };
  }
  const code: ErrorCode = 'internal_error';
  return { status: ERRORS[code].status, code, body: JSON.stringify({ error: { code, message: ERRORS[code].message } }), internal: err };
}
