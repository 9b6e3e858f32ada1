/**
 * Config -> runtime routes: which backends serve each model, with keys read
 * from the environment (once, at start-up, registered for redaction).
 *
 * Backends are endpoints (provider, base URL, key); a model lists the
 * backends that serve it (`backend_refs`) and the name those upstreams know it
 * by. A backend shared by several models is one keep-alive pool and one
 * down-mark: refusing connections is a property of the endpoint, not of a model.
 *
 * The config module validates types and unknown keys; this checks what only
 * the providers know: provider names, references, the key variables' presence.
 */
import type { ModelRoute } from './gateway.ts';
import { getAdapter, providerNames } from './registry.ts';
import { resolveApiKey, secrets, type SecretRedactor } from './redact.ts';
import type { Timeouts } from './upstream.ts';
import type { Backend, Pricing } from './types.ts';

export interface BackendConfig {
  provider: string;
  /** Defaults to the adapter's public endpoint. */
  base_url?: string;
  /** Name of the environment variable holding the key (never the key itself). */
  api_key_env: string;
  headers?: Record<string, string>;
  default_max_tokens?: number;
}

export interface ModelConfig {
  /** Tried round-robin; at least one. */
  backend_refs: string[];
  /** The name the upstream knows the model by; defaults to the routing name. */
  upstream_model?: string;
  pricing?: Pricing;
  timeouts?: Partial<Timeouts>;
}

export interface ProvidersConfig {
  backends: Record<string, BackendConfig>;
  models: Record<string, ModelConfig>;
}

export class RoutesError extends Error {
  override name = 'RoutesError';
}

export function resolveRoutes(cfg: ProvidersConfig, env: NodeJS.ProcessEnv = process.env, redactor: SecretRedactor = secrets): Map<string, ModelRoute> {
  const keys = new Map<string, string>();
  for (const [id, b] of Object.entries(cfg.backends)) {
    try { getAdapter(b.provider); } catch { throw new RoutesError(`backends.${id}.provider: unknown provider "${b.provider}" (known: ${providerNames().join(', ')})`); }
    try { keys.set(id, resolveApiKey(b.api_key_env, env, redactor)); } catch (e) { throw new RoutesError(`backends.${id}.api_key_env: ${(e as Error).message}`); }
  }
  const routes = new Map<string, ModelRoute>();
  for (const [model, m] of Object.entries(cfg.models)) {
    if (m.backend_refs.length === 0) throw new RoutesError(`models.${model}.backend_refs: needs at least one backend`);
    const backends: Backend[] = m.backend_refs.map((ref, i) => {
      const b = cfg.backends[ref];
      if (!b) throw new RoutesError(`models.${model}.backend_refs[${i}]: no backend named "${ref}"`);
      const out: Backend = { id: ref, provider: b.provider, baseUrl: b.base_url ?? getAdapter(b.provider).defaultBaseUrl, upstreamModel: m.upstream_model ?? model, apiKey: keys.get(ref)! };
      if (b.headers) out.headers = b.headers;
      if (b.default_max_tokens !== undefined) out.defaultMaxTokens = b.default_max_tokens;
      return out;
    });
    routes.set(model, { id: model, backends, pricing: m.pricing ?? null, ...(m.timeouts ? { timeouts: m.timeouts } : {}) });
  }
  return routes;
}
