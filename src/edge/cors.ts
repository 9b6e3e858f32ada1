/**
 * CORS for browser clients (server.cors.allowed_origins; empty = off, the default).
 *
 * What a browser needs, and nothing more:
 * - a preflight (OPTIONS with Origin and Access-Control-Request-Method) is
 *   answered 204 before auth (browsers never send credentials on a preflight),
 *   allowing the route's methods and the requested headers that are on
 *   ALLOWED_HEADERS (authorization, content-type, the openai SDK's
 *   x-stainless-* ...). An origin that is not allowed gets a 204 with no CORS
 *   headers: the browser then blocks the real request itself.
 * - actual responses from an allowed origin carry Access-Control-Allow-Origin
 *   and expose x-request-id and the x-switchyard-* headers (cost, model), which
 *   a page could not read otherwise.
 *
 * Cost: one getHeader('origin') a request when CORS is on, nothing when off.
 * The header lists are built once per origin seen and kept for the first 1,024
 * (the configured ones in practice), so answering allocates nothing.
 */
import type { HeaderList } from '../api/sink.ts';

/** Request headers a preflight may ask for; anything else is left out of the answer (and the browser refuses). */
const ALLOWED_HEADERS = new Set([
  'accept', 'authorization', 'content-type', 'x-api-key', 'x-request-id',
  'openai-organization', 'openai-project', 'openai-beta', 'anthropic-version', 'anthropic-beta',
  'idempotency-key', 'cache-control', 'pragma',
]);
/** The openai and anthropic SDKs (Stainless) send x-stainless-os, -lang, -retry-count, -timeout, ... */
const ALLOWED_PREFIX = 'x-stainless-';

/** Response headers a page may read. */
const EXPOSED = [
  'x-request-id', 'x-switchyard-model', 'x-switchyard-reason', 'x-switchyard-cluster', 'x-switchyard-candidates',
  'x-switchyard-estimated-cost-usd', 'x-switchyard-cost-usd',
].join(', ');

/**
 * 10 minutes: a changed allowlist reaches browsers within that; long enough that
 * a chat UI does not preflight every request. (Chrome caps it at 2 h anyway.)
 */
const MAX_AGE = '600';

export class Cors {
  private readonly any: boolean;
  private readonly origins: ReadonlySet<string>;
  private readonly actual = new Map<string, HeaderList>();

  constructor(allowed: readonly string[]) {
    this.any = allowed.includes('*');
    // Origins compare as serialised by browsers: scheme://host[:port], no trailing slash, lower-case.
    this.origins = new Set(allowed.map((o) => o.toLowerCase().replace(/\/+$/, '')));
  }

  /** null when nothing is configured: the edge then never reads the Origin header. */
  static from(allowed: readonly string[]): Cors | null {
    return allowed.length === 0 ? null : new Cors(allowed);
  }

  /** Headers for an actual response to `origin` ('' = none sent), or undefined when it is not allowed. */
  forOrigin(origin: string): HeaderList | undefined {
    if (origin === '') return undefined;
    const hit = this.actual.get(origin);
    if (hit !== undefined) return hit;
    if (!this.any && !this.origins.has(origin.toLowerCase())) return undefined;
    // Echoing the origin (rather than '*') even when everything is allowed keeps
    // the answer valid for credentialed requests too; Vary keeps caches honest.
    const list: HeaderList = [['access-control-allow-origin', origin], ['access-control-expose-headers', EXPOSED], ['vary', 'Origin']];
    // Bounded, whatever the config: with '*' a client can invent origins, and even a fixed
    // allowlist matches every case variant of an origin ("https://APP.example.com"), each its own key.
    if (this.actual.size < 1024) this.actual.set(origin, list);
    return list;
  }

  /**
   * The preflight answer's headers (after forOrigin allowed the origin).
   * `methods`: the route's, e.g. "GET, DELETE"; `requested`: Access-Control-Request-Headers.
   */
  preflight(origin: HeaderList, methods: string, requested: string): HeaderList {
    const out: [string, string][] = [
      ['access-control-allow-origin', origin[0][1]],
      ['access-control-allow-methods', methods],
      ['access-control-max-age', MAX_AGE],
      ['vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers'],
    ];
    const allowed = allowedHeaders(requested);
    if (allowed !== '') out.push(['access-control-allow-headers', allowed]);
    return out;
  }
}

/** The requested headers that are on the allowlist, comma-separated; bounded so a hostile header list costs little. */
export function allowedHeaders(requested: string): string {
  if (requested === '') return '';
  const keep: string[] = [];
  for (const raw of requested.slice(0, 4096).split(',', 64)) {
    const h = raw.trim().toLowerCase();
    if (ALLOWED_HEADERS.has(h) || (h.startsWith(ALLOWED_PREFIX) && h.length <= 64 && /^[a-z0-9-]+$/.test(h))) keep.push(h);
  }
  return keep.join(', ');
}
