/**
 * API keys come from environment variables named in config. They are sent
 * upstream and must never come back out: not in an error body, not in a log
 * line, not in a diagnostics message. Two nets:
 *  1. every key actually loaded is registered and replaced verbatim wherever
 *     it appears (an upstream 401 body may quote it, an undici error may carry
 *     request headers);
 *  2. key-shaped text (Bearer tokens, sk-..., x-api-key values) is masked even
 *     when it is not one of ours, e.g. a key from another system in a message.
 * Keys shorter than MIN_SECRET_LENGTH are not registered: masking a 3-letter
 * string would shred every message, and no real provider key is that short.
 */

export const REDACTED = '[REDACTED]';
export const MIN_SECRET_LENGTH = 8;

const PATTERNS: readonly RegExp[] = [
  /(\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi,
  /(\b(?:x-api-key|api[_-]?key|authorization)["']?\s*[:=]\s*["']?)[^\s"',;}]{8,}/gi,
  /()\b(?:sk|pk|rk)-[A-Za-z0-9_-]{12,}/g,
];

export class SecretRedactor {
  private readonly secrets = new Set<string>();
  private sorted: string[] = [];

  /** Registers a secret value; returns it so `key = redactor.add(env[name])` reads naturally. */
  add(secret: string): string {
    if (secret.length >= MIN_SECRET_LENGTH && !this.secrets.has(secret)) {
      this.secrets.add(secret);
      // Longest first, so a key that contains another is masked whole.
      this.sorted = [...this.secrets].sort((x, y) => y.length - x.length);
    }
    return secret;
  }

  redact(text: string): string {
    let s = text;
    for (const k of this.sorted) if (s.includes(k)) s = s.split(k).join(REDACTED);
    for (const re of PATTERNS) s = s.replace(re, (_m, prefix: string) => prefix + REDACTED);
    return s;
  }
}

/**
 * The process-wide redactor: keys are registered when backends are resolved,
 * and every upstream error message passes through it before it is stored.
 */
export const secrets = new SecretRedactor();

export function redact(text: string): string {
  return secrets.redact(text);
}

export class MissingApiKeyError extends Error {
  override name = 'MissingApiKeyError';
}

/**
 * Reads a key from the environment variable `envName` and registers it.
 * The error names the variable, never a value.
 */
export function resolveApiKey(envName: string, env: NodeJS.ProcessEnv = process.env, redactor: SecretRedactor = secrets): string {
  const v = env[envName];
  if (v === undefined || v === '') throw new MissingApiKeyError(`environment variable ${envName} is not set (it should hold the upstream API key)`);
  return redactor.add(v);
}
