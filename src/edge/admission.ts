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
 * thread). What tokens_per_minute counts: input AND output tokens. At
 * admission only the input estimate is known; when the upstream answers, the
 * gateway's org:request event (its activity-log row: prompt and completion
 * tokens the upstream reported, by request id) settles the difference
 * (actual prompt + completion − estimate) against the same budgets, so the
 * next request sees the true spend. Requests whose upstream reports no usage
 * keep their estimate. The pending estimates wait in a per-thread Map for at
 * most PENDING_MS (a stream can last that long) and PENDING_MAX entries.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { ApiError } from '../errors.ts';
import { CHANNEL_NAMES, channels } from '../diagnostics.ts';
import { estimateTokens } from '../routing/tokens.ts';
import { detectPii, jsonStrings } from '../routing/pii.ts';
import type { RateLimiter, Admission } from '../store/rate-limit.ts';
import type { Caller } from './auth.ts';

const ESTIMATE_SCAN = 8192;
const PENDING_MS = 15 * 60_000;
const PENDING_MAX = 100_000;

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
  readonly requestId: string;
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
  /** Unsubscribes the usage settlement (server close). */
  stop(): void;
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

interface Pending { caller: Caller; estimate: number; at: number }
interface UsageRow { row?: { requestId: string; promptTokens: number | null; completionTokens: number | null } }

/** The gate for one server: `limiter` null when no budgets are configured; `tokenBudgets`: some budget limits tokens (then usage is settled). */
export function makeGate(limiter: RateLimiter | null, tokenBudgets = false): Gate {
  const pending = new Map<string, Pending>();
  const settle = limiter === null || !tokenBudgets ? null : (raw: unknown) => {
    const row = (raw as UsageRow).row;
    if (row === undefined) return;
    const p = pending.get(row.requestId);
    if (p === undefined) return;
    pending.delete(row.requestId);
    if (row.promptTokens === null && row.completionTokens === null) return;
    void limiter.settle(p.caller, (row.promptTokens ?? 0) + (row.completionTokens ?? 0) - p.estimate);
  };
  if (settle !== null) diagnostics_channel.subscribe(CHANNEL_NAMES.orgRequest, settle);
  const remember = (q: GateRequest, estimate: number) => {
    const now = Date.now();
    // Insertion order is age order: drop the expired (and the oldest past the cap) from the front.
    for (const [id, p] of pending) { if (now - p.at < PENDING_MS && pending.size < PENDING_MAX) break; pending.delete(id); }
    pending.set(q.requestId, { caller: q.caller, estimate, at: now });
  };
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
      // Guarded routes are the ones that call a model: their usage comes back on org:request.
      if (settle !== null && guarded) remember(q, tokens);
      return a.headers;
    };
    const a = limiter.admit(c, tokens);
    return a instanceof Promise ? a.then(done) : done(a);
  };
  return { limits: limiter !== null, admit, stop: () => { if (settle !== null) diagnostics_channel.unsubscribe(CHANNEL_NAMES.orgRequest, settle); } };
}
