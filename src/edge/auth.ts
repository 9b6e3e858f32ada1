/**
 * Who is calling: `Authorization: Bearer <key>` or `x-api-key: <key>` -> a
 * Caller (organisation, key id, roles, limit slots, guardrail default).
 *
 * Keys come from `server.api_keys` (the organisation "default") and from
 * `tenants:` (src/config/tenants.ts: env var names or SHA-256 digests, never
 * a key in the file). At start every key is reduced to its SHA-256 digest; a
 * request's key is hashed once and looked up by digest in a Map. Why that is
 * constant-time in what matters: the lookup's timing depends on the digest of
 * the presented key, which an attacker cannot steer towards a stored digest
 * byte by byte (that would need SHA-256 preimages), so response time says
 * nothing about how close a guess was or which key it resembled. Cost: one
 * SHA-256 of ~40 bytes (~1 µs) per request, two when both headers are sent
 * and the Bearer one does not match; independent of how many keys exist.
 *
 * The key itself never goes further than this file: handlers see the
 * organisation and a key id (`server.api_keys[0]`, `env:ORG_A_KEY`, a
 * configured id), never the key.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_ORG } from '../store/types.ts';
import { secrets } from '../providers/redact.ts';
import { tenantProblems, type GuardrailMode, type RateLimitConfig, type Role, type TenantConfig } from '../config/tenants.ts';
import type { Config } from '../config/schema.ts';
import { ApiError } from '../errors.ts';

export interface Caller {
  /** The organisation: every stored row the request reads or writes is scoped by it. */
  readonly org: string;
  /** Which key (never the key): null when the server requires none. */
  readonly keyId: string | null;
  readonly roles: readonly Role[];
  /**
   * Whether the caller's organisation defines roles (tenants[].roles or a key's
   * roles): only then do admin endpoints check them (requireAdmin). false for
   * server.api_keys and for a server without keys: a single tenant keeps full rights.
   */
  readonly rolesDefined: boolean;
  /** Guardrail mode when the request sends no X-GR-Guardrails header. */
  readonly guardrails: GuardrailMode;
  /** Rate-limit budgets this request draws on (indexes into Tenancy.budgets): the organisation's, the key's; -1 = unlimited. */
  readonly orgBudget: number;
  readonly keyBudget: number;
}

/** One rate-limit budget (an organisation's or a key's); the limiter keeps a cell per budget. */
export interface Budget {
  /** "org:org_a" or "key:org_a/env:ORG_A_KEY": for metrics and messages. */
  readonly name: string;
  readonly requestsPerMinute: number | null;
  readonly tokensPerMinute: number | null;
}

/** null: no valid key. */
export type KeyCheck = (authorization: string, xApiKey: string) => Caller | null;

export class TenancyError extends Error {
  override name = 'TenancyError';
}

/** Whether a caller holds a role. Admin endpoints use requireAdmin, which also lets a single tenant through. */
export function hasRole(c: Caller, role: Role): boolean {
  return c.roles.includes(role);
}

/**
 * The admin check for writes to shared configuration (router configs,
 * preferences, feedback resets, the router profile): 403 `forbidden` in the
 * route's error shape when the caller's organisation defines roles and this
 * key lacks `admin`. An organisation without roles, server.api_keys and a
 * server without keys keep full rights (one tenant, nothing to separate).
 * Usable as a registry hook (`hooks: [requireAdmin]`: runs before the body
 * is read) or called from a handler with the RequestContext.
 */
export function requireAdmin(q: { readonly caller: Caller; readonly method?: string; readonly path?: string }): void {
  const c = q.caller;
  if (!c.rolesDefined || hasRole(c, 'admin')) return;
  const what = q.method !== undefined && q.path !== undefined ? `${q.method.toUpperCase()} ${q.path.length > 100 ? `${q.path.slice(0, 100)}...` : q.path}` : 'This endpoint';
  throw new ApiError('forbidden', `${what} changes shared configuration and needs the admin role; key ${c.keyId ?? '(none)'} of organisation ${c.org} does not have it (tenants[].roles or tenants[].keys[].roles).`);
}

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

export class Tenancy {
  /** Every budget, in a fixed order derived from the config alone, so every HTTP thread numbers them alike. */
  readonly budgets: Budget[] = [];
  /** Who an unauthenticated request is when the server requires no key; null when keys are required. */
  readonly anonymous: Caller | null;
  /** undefined when no keys are configured: the edge then skips the check. */
  readonly check: KeyCheck | undefined;
  /** For /health-like routes (auth: false): the default organisation, no key, no budgets. */
  static readonly PUBLIC: Caller = Object.freeze({ org: DEFAULT_ORG, keyId: null, roles: [], rolesDefined: false, guardrails: 'off', orgBudget: -1, keyBudget: -1 });
  private readonly byDigest = new Map<string, Caller>();

  constructor(apiKeys: readonly string[], tenants: readonly TenantConfig[], env: Readonly<Record<string, string | undefined>> = process.env) {
    const problems = tenantProblems(tenants);
    if (problems.length) throw new TenancyError(`config: ${problems.join('; ')}`);
    const def: TenantConfig = tenants.find((t) => t.id === DEFAULT_ORG) ?? { id: DEFAULT_ORG };
    const orgBudgets = new Map<string, number>();
    const orgBudget = (t: TenantConfig): number => {
      let b = orgBudgets.get(t.id);
      if (b === undefined) { b = this.budget(`org:${t.id}`, t.limits); orgBudgets.set(t.id, b); }
      return b;
    };
    const definesRoles = (t: TenantConfig) => (t.roles?.length ?? 0) > 0 || (t.keys ?? []).some((k) => (k.roles?.length ?? 0) > 0);
    const caller = (t: TenantConfig, keyId: string | null, roles: readonly Role[] | undefined, limits: RateLimitConfig | undefined, flat = false): Caller => Object.freeze({
      org: t.id,
      keyId,
      roles: Object.freeze([...new Set([...(t.roles ?? []), ...(roles ?? [])])]),
      rolesDefined: !flat && definesRoles(t),
      guardrails: t.guardrails ?? 'off',
      orgBudget: orgBudget(t),
      keyBudget: this.budget(`key:${t.id}/${keyId ?? 'anonymous'}`, limits ?? t.key_limits),
    });
    const add = (digestHex: string, c: Caller, where: string) => {
      const d = digestHex.toLowerCase();
      const prev = this.byDigest.get(d);
      // The same key under two names would make the organisation depend on declaration order.
      if (prev !== undefined) throw new TenancyError(`config: "${where}": this key is also the key ${prev.keyId} of organisation ${prev.org}`);
      this.byDigest.set(d, c);
    };
    const fromEnv = (name: string, where: string): string => {
      const v = env[name];
      if (v === undefined || v === '') throw new TenancyError(`config: "${where}": environment variable ${name} is not set (it should hold an API key)`);
      return secrets.add(v);
    };

    apiKeys.forEach((k, i) => add(hex(k), caller(def, `server.api_keys[${i}]`, undefined, undefined, true), `server.api_keys[${i}]`));
    tenants.forEach((t, i) => {
      (t.keys_env ?? []).forEach((name, j) => add(hex(fromEnv(name, `tenants[${i}].keys_env[${j}]`)), caller(t, `env:${name}`, undefined, undefined), `tenants[${i}].keys_env[${j}]`));
      (t.key_sha256 ?? []).forEach((d, j) => add(d, caller(t, `sha256:${d.slice(0, 12).toLowerCase()}`, undefined, undefined), `tenants[${i}].key_sha256[${j}]`));
      (t.keys ?? []).forEach((k, j) => {
        const where = `tenants[${i}].keys[${j}]`;
        const d = k.env !== undefined ? hex(fromEnv(k.env, `${where}.env`)) : k.sha256!;
        const id = k.id ?? (k.env !== undefined ? `env:${k.env}` : `sha256:${k.sha256!.slice(0, 12).toLowerCase()}`);
        add(d, caller(t, id, k.roles, k.limits), where);
      });
    });

    if (this.byDigest.size === 0) {
      this.check = undefined;
      this.anonymous = caller(def, null, undefined, undefined, true);
      return;
    }
    this.anonymous = null;
    const byDigest = this.byDigest;
    const lookup = (candidate: string): Caller | null => (candidate.length === 0 ? null : byDigest.get(hex(candidate)) ?? null);
    this.check = (authorization, xApiKey) => {
      // RFC 7235: the scheme is case-insensitive.
      const bearer = authorization.length > 7 && authorization.slice(0, 7).toLowerCase() === 'bearer ' ? authorization.slice(7).trim() : '';
      return lookup(bearer) ?? lookup(xApiKey.trim());
    };
  }

  /** A budget for `limits`, or -1 when it limits nothing. */
  private budget(name: string, limits: RateLimitConfig | undefined): number {
    const r = limits?.requests_per_minute ?? null;
    const t = limits?.tokens_per_minute ?? null;
    if (r === null && t === null) return -1;
    this.budgets.push(Object.freeze({ name, requestsPerMinute: r, tokensPerMinute: t }));
    return this.budgets.length - 1;
  }

  /** Organisations configured (the default one included when it has keys or settings). */
  static fromConfig(config: Pick<Config, 'server' | 'tenants'>, env?: Readonly<Record<string, string | undefined>>): Tenancy {
    return new Tenancy(config.server.api_keys, config.tenants, env);
  }
}

/** The flat-key check alone (tests, tools): every key is the default organisation's. */
export function makeKeyCheck(keys: readonly string[]): KeyCheck | undefined {
  return new Tenancy(keys, []).check;
}
