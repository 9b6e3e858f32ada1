/**
 * What can go wrong talking to an upstream, as data: a `kind`, whether the
 * next candidate may be tried, and whether bytes already reached the client.
 * Kinds are a closed set so the fallback chain, the circuit breaker and the
 * error body all switch on the same values.
 *
 * Messages are redacted where they are built (see redact.ts): an upstream 401
 * body can quote the key it was sent, and undici errors can carry headers.
 */

export type FailureKind =
  /** TCP/TLS connect failed or timed out: the request never reached the upstream. */
  | 'connect'
  /** No response byte within first_byte_ms. */
  | 'first_byte_timeout'
  /** total_ms elapsed. */
  | 'timeout'
  /** Connection reset / closed before or during the response. */
  | 'network'
  | 'rate_limited'
  | 'http_5xx'
  /** 401/403: our key or account is wrong; the client cannot fix it, another model may work. */
  | 'auth'
  /** Any other 4xx: the request itself is at fault; surfaced to the client, not retried. */
  | 'http_4xx'
  /** 2xx with a body that is not what the provider's protocol promises. */
  | 'bad_response'
  /** An error event inside a 2xx stream (e.g. Anthropic `overloaded_error`). */
  | 'stream_error'
  /** The request cannot be expressed for this provider (e.g. n > 1 on Anthropic). */
  | 'unsupported'
  /** The client went away; nothing to retry for. */
  | 'aborted'
  /** Skipped: the model's circuit breaker is open. */
  | 'circuit_open'
  /** No configured backend for the model, or all of them are marked down. */
  | 'no_backend';

const RETRYABLE: ReadonlySet<FailureKind> = new Set<FailureKind>([
  'connect', 'first_byte_timeout', 'timeout', 'network', 'rate_limited', 'http_5xx', 'auth', 'bad_response', 'stream_error',
  'unsupported', 'circuit_open', 'no_backend',
]);

/** Failures that say something about the model's health (feed the circuit breaker). */
const HEALTH: ReadonlySet<FailureKind> = new Set<FailureKind>([
  'connect', 'first_byte_timeout', 'timeout', 'network', 'rate_limited', 'http_5xx', 'bad_response', 'stream_error',
]);

export function isRetryableKind(kind: FailureKind): boolean {
  return RETRYABLE.has(kind);
}

export function countsAgainstHealth(kind: FailureKind): boolean {
  return HEALTH.has(kind);
}

export class UpstreamError extends Error {
  override name = 'UpstreamError';
  /** May the next candidate be tried? False once bytes reached the client, whatever the kind. */
  readonly retryable: boolean;
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status: number | undefined = undefined,
    /** Bytes of this response were already sent to the client. */
    readonly afterFirstByte = false,
  ) {
    super(message);
    this.retryable = !afterFirstByte && isRetryableKind(kind);
  }

  /** Same failure, now known to have happened after the client got bytes. */
  withFirstByteSent(): UpstreamError {
    return this.afterFirstByte ? this : new UpstreamError(this.kind, this.message, this.status, true);
  }
}

/**
 * HTTP status of a non-2xx upstream response -> kind. Below 400 (a redirect:
 * undici does not follow them; a 304) the upstream is misconfigured or broken,
 * not the request: bad_response, so the next candidate is tried.
 */
export function kindForStatus(status: number): FailureKind {
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'http_5xx';
  if (status === 401 || status === 403) return 'auth';
  if (status >= 400) return 'http_4xx';
  return 'bad_response';
}

/** Upstream text quoted in a failure message: at most `max` characters (an error event can be megabytes). */
export function clip(s: string, max = 300): string {
  return s.length > max ? s.slice(0, max) + '...' : s;
}

/** undici / Node socket errors -> kind (our own timers and client aborts are classified by upstream.ts first). */
export function kindForNetworkError(err: unknown): FailureKind {
  const code = (err as { code?: string } | null)?.code ?? '';
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'CERT_HAS_EXPIRED':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      return 'connect';
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'first_byte_timeout';
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    default:
      return 'network';
  }
}
