/**
 * What runs between reading a request's body and its handler on the routes
 * that cost work: the rate limits (src/store/rate-limit.ts) and the PII
 * guardrail (src/routing/pii.ts). The registry calls `admit` for a route
 * declared `limit` (default: every POST/PUT/PATCH route) or `guard` (the
 * routes that send the prompt to a model).
 *
 * Order: limits first (cheap, and they protect the guardrail's CPU), then the
 * guardrail. A request the guardrail refuses has used one request and its
 * tokens of the budget, as any refused request that reached the server.
 *
 * Tokens at admission: tokens.ts's estimate over the raw body text, which
 * counts JSON punctuation and field names too (an over-estimate of a few
 * tokens per message). Bodies over ESTIMATE_SCAN characters are estimated
 * from their first ESTIMATE_SCAN characters scaled by length (the scan costs
 * ~11 ns a character; a 1 MiB body scanned whole would be ~12 ms of the HTTP
 * thread). The estimate is corrected after the upstream answers when the
 * endpoint reports usage (settleTokens, from the gateway's diagnostics).
 */
import { ApiError } from '../errors.ts';
import { channels } from '../diagnostics.ts';
import { estimateTokens } from '../routing/tokens.ts';
import { detectPii, jsonStrings } from '../routing/pii.ts';
import type { RateLimiter, Admission } from '../store/rate-limit.ts';
import type { Caller } from './auth.ts';

const ESTIMATE_SCAN = 8192;

/** The body's estimated input tokens (see the header comment). */
export function bodyTokens(body: Buffer): number {
  const n = body.length;
  if (n === 0) return 0;
  if (n <= ESTIMATE_SCAN) return estimateTokens(body.toString('utf8'));
  // Sliced on bytes: a cut UTF-8 sequence becomes one U+FFFD, one token at most.
  return Math.ceil(estimateTokens(body.toString('utf8', 0, ESTIMATE_SCAN)) * (n / ESTIMATE_SCAN));
}

export interface GateRequest {
  readonly caller: Caller;
  readonly body: Buffer;
  /** The X-GR-Guardrails header ('' when absent). */
  readonly guardrails: string;
  readonly path: string;
}

export type GateHeaders = readonly (readonly [string, string])[] | null;

export interface Gate {
  /** false: no budget is configured, so `limit` routes need no admission (the registry then skips the call). */
  readonly limits: boolean;
  /** Headers for the response (x-ratelimit-*), or null for none. Throws the refusal (GateRefusal: the ApiError and its headers). */
  admit(q: GateRequest, limited: boolean, guarded: boolean): GateHeaders | Promise<GateHeaders>;
}

/** An ApiError that carries response headers (Retry-After, x-ratelimit-*). */
export class GateRefusal extends Error {
  constructor(readonly error: ApiError, readonly headers: readonly (readonly [string, string])[]) {
    super(error.message);
  }
}

function refuse(a: Admission, c: Caller, tokens: number): GateRefusal {
  const scope = a.scope === 'key' ? 'key' : 'organization';
  const msg = a.retryAfterS === null
    ? `This request's estimated ${tokens} input tokens exceed the ${scope}'s whole tokens_per_minute; it can never be admitted. Send less text or raise the limit.`
    : `Rate limit exceeded: the ${scope}'s ${a.limit === 'tokens' ? 'tokens_per_minute' : 'requests_per_minute'} is spent; retry in ${a.retryAfterS} s.`;
  if (channels.rateLimited.hasSubscribers) channels.rateLimited.publish({ org: c.org, keyId: c.keyId, limit: a.limit, scope });
  return new GateRefusal(new ApiError('rate_limit_exceeded', msg, undefined, { limit: a.limit, scope }), a.headers);
}

/** The guardrail mode of a request: its header, else the organisation's default. */
export function guardrailMode(header: string, c: Caller): 'off' | 'moderate' {
  if (header === '') return c.guardrails;
  const v = header.trim().toLowerCase();
  if (v === 'moderate' || v === 'off') return v;
  throw new ApiError('invalid_request', `"X-GR-Guardrails" must be "moderate" or "off", not ${JSON.stringify(header.slice(0, 64))}.`, 'X-GR-Guardrails');
}

/** Throws pii_detected naming the kinds when the body's strings hold personal data; no-op on a body that is not JSON (the handler refuses it). */
export function checkPii(body: Buffer): void {
  let parsed: unknown;
  try { parsed = JSON.parse(body.toString('utf8')); } catch { return; }
  const kinds = detectPii(jsonStrings(parsed).join('\n'));
  if (kinds.length === 0) return;
  if (channels.piiBlocked.hasSubscribers) channels.piiBlocked.publish({ kinds });
  throw new ApiError('pii_detected', `The request contains personal data (${kinds.join(', ')}); the guardrail (X-GR-Guardrails: moderate) blocks it before inference. Remove it and retry.`, undefined, { kinds });
}

/** The gate for one server: `limiter` null when no budgets are configured. */
export function makeGate(limiter: RateLimiter | null): Gate {
  const guard = (q: GateRequest, guarded: boolean) => {
    if (guarded && guardrailMode(q.guardrails, q.caller) === 'moderate') checkPii(q.body);
  };
  const admit = (q: GateRequest, limited: boolean, guarded: boolean): GateHeaders | Promise<GateHeaders> => {
    const c = q.caller;
    if (!limited || limiter === null || (c.orgBudget < 0 && c.keyBudget < 0)) { guard(q, guarded); return null; }
    const tokens = bodyTokens(q.body);
    const done = (a: Admission) => {
      if (!a.ok) throw refuse(a, c, tokens);
      guard(q, guarded);
      return a.headers;
    };
    const a = limiter.admit(c, tokens);
    return a instanceof Promise ? a.then(done) : done(a);
  };
  return { limits: limiter !== null, admit };
}
