/**
 * API-key check: `Authorization: Bearer <key>` or `x-api-key: <key>`.
 *
 * Keys are compared as SHA-256 digests with timingSafeEqual against every
 * configured key (no early exit), so response time says nothing about how much
 * of a guess matched or which key it was. ~1 µs a request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

export type KeyCheck = (authorization: string, xApiKey: string) => boolean;

/** undefined when no keys are configured: the edge then skips the check entirely. */
export function makeKeyCheck(keys: readonly string[]): KeyCheck | undefined {
  if (keys.length === 0) return undefined;
  const digests = keys.map(digest);
  const matches = (candidate: string): boolean => {
    if (candidate.length === 0) return false;
    const d = digest(candidate);
    let ok = false;
    for (const k of digests) ok = timingSafeEqual(d, k) || ok;
    return ok;
  };
  return (authorization, xApiKey) => {
    // RFC 7235: the scheme is case-insensitive.
    const bearer = authorization.length > 7 && authorization.slice(0, 7).toLowerCase() === 'bearer ' ? authorization.slice(7).trim() : '';
    return matches(bearer) || matches(xApiKey.trim());
  };
}
