/**
 * Organisations and their API keys (issue 11): the `tenants:` list of the
 * YAML, its JSON schema (mounted into CONFIG_SCHEMA by schema.ts) and the
 * checks a schema cannot express (ids unique, each key listed once).
 *
 *   tenants:
 *     - id: org_a
 *       keys_env: [ORG_A_KEY]              # names of env vars holding keys
 *       key_sha256: ["9f86d0…"]             # or SHA-256 digests (hex) of keys
 *       keys:                                # per-key detail, when a key needs its own
 *         - { id: ci, env: ORG_A_CI_KEY, limits: { requests_per_minute: 60 } }
 *         - { id: ops, sha256: "…", roles: [admin] }
 *       roles: [admin]                       # every key of the organisation
 *       limits: { requests_per_minute: 600, tokens_per_minute: 200000 }   # the organisation, all keys together
 *       key_limits: { requests_per_minute: 120 }                          # each key on its own
 *       guardrails: moderate                 # default X-GR-Guardrails
 *
 * A key never appears in the file: only an environment variable's name or the
 * key's digest (`printf %s "$KEY" | sha256sum`). The flat `server.api_keys`
 * stays: those keys belong to the organisation "default" (DEFAULT_ORG); a
 * tenants entry with `id: default` gives that organisation limits, roles and
 * a guardrail default (and, with no keys configured at all, applies to every
 * anonymous request).
 */
import { DEFAULT_ORG } from '../store/types.ts';

export const ROLES = ['admin'] as const;
export type Role = (typeof ROLES)[number];
export const GUARDRAIL_MODES = ['off', 'moderate'] as const;
export type GuardrailMode = (typeof GUARDRAIL_MODES)[number];

export interface RateLimitConfig {
  /** Requests admitted per rolling minute (GCRA: a burst of this many, then one per 60/N s). */
  requests_per_minute?: number;
  /** Estimated input tokens admitted per rolling minute (src/edge/limits.ts). */
  tokens_per_minute?: number;
}

export interface TenantKeyConfig {
  /** Shown as the key id (RequestContext.keyId, metrics, logs); default: `env:NAME` or `sha256:<first 12 hex>`. */
  id?: string;
  /** Name of the environment variable holding the key. Exactly one of env and sha256. */
  env?: string;
  /** Hex SHA-256 of the key. */
  sha256?: string;
  /** Added to the organisation's roles for this key. */
  roles?: Role[];
  /** This key's own budget (over the organisation's key_limits). */
  limits?: RateLimitConfig;
}

export interface TenantConfig {
  /** The organisation id: every stored row is scoped by it. */
  id: string;
  keys_env?: string[];
  key_sha256?: string[];
  keys?: TenantKeyConfig[];
  roles?: Role[];
  limits?: RateLimitConfig;
  key_limits?: RateLimitConfig;
  /** Guardrail mode when a request sends no X-GR-Guardrails header (default off). */
  guardrails?: GuardrailMode;
}

const ENV_NAME = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 256 } as const;
const SHA256 = { type: 'string', pattern: '^[0-9a-fA-F]{64}$' } as const;
const LIMITS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    // Ceilings keep the GCRA arithmetic (ms per unit x units) inside a float's exact integers.
    requests_per_minute: { type: 'integer', minimum: 1, maximum: 100_000_000 },
    tokens_per_minute: { type: 'integer', minimum: 1, maximum: 1_000_000_000 },
  },
} as const;
const ROLES_SCHEMA = { type: 'array', uniqueItems: true, items: { enum: ROLES } } as const;

export const TENANTS_SCHEMA = {
  type: 'array',
  maxItems: 100_000,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['id'],
    properties: {
      // Safe in a header, a metrics label and a log line unescaped.
      id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
      keys_env: { type: 'array', items: ENV_NAME },
      key_sha256: { type: 'array', items: SHA256 },
      keys: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          properties: {
            id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
            env: ENV_NAME,
            sha256: SHA256,
            roles: ROLES_SCHEMA,
            limits: LIMITS_SCHEMA,
          },
        },
      },
      roles: ROLES_SCHEMA,
      limits: LIMITS_SCHEMA,
      key_limits: LIMITS_SCHEMA,
      guardrails: { enum: GUARDRAIL_MODES },
    },
  },
} as const;

/** What the schema cannot say: ids unique, no key listed twice (by env name or digest). */
export function tenantProblems(tenants: readonly TenantConfig[]): string[] {
  const out: string[] = [];
  const ids = new Map<string, number>();
  const envs = new Map<string, string>();
  const digests = new Map<string, string>();
  tenants.forEach((t, i) => {
    const at = `tenants[${i}]`;
    const prev = ids.get(t.id);
    if (prev !== undefined) out.push(`"${at}.id": ${JSON.stringify(t.id)} is also tenants[${prev}].id`);
    ids.set(t.id, i);
    const seen = (map: Map<string, string>, key: string, where: string, what: string) => {
      const p = map.get(key);
      if (p !== undefined) out.push(`"${where}": ${what} is also listed at ${p} (a key belongs to one organisation, once)`);
      else map.set(key, where);
    };
    (t.keys_env ?? []).forEach((e, j) => seen(envs, e, `${at}.keys_env[${j}]`, `environment variable ${e}`));
    (t.key_sha256 ?? []).forEach((d, j) => seen(digests, d.toLowerCase(), `${at}.key_sha256[${j}]`, 'this digest'));
    (t.keys ?? []).forEach((k, j) => {
      if ((k.env === undefined) === (k.sha256 === undefined)) out.push(`"${at}.keys[${j}]": exactly one of env and sha256`);
      if (k.env !== undefined) seen(envs, k.env, `${at}.keys[${j}].env`, `environment variable ${k.env}`);
      if (k.sha256 !== undefined) seen(digests, k.sha256.toLowerCase(), `${at}.keys[${j}].sha256`, 'this digest');
    });
    const keyCount = (t.keys_env?.length ?? 0) + (t.key_sha256?.length ?? 0) + (t.keys?.length ?? 0);
    if (keyCount === 0 && t.id !== DEFAULT_ORG) out.push(`"${at}": organisation ${JSON.stringify(t.id)} has no keys (keys_env, key_sha256 or keys); only "${DEFAULT_ORG}" may have none (it holds server.api_keys)`);
  });
  return out;
}
