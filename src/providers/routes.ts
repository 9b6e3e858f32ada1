/**
 * Config (providers.models) -> runtime routes: which backends serve each
 * model, with keys read from the environment (once, at start-up, registered
 * for redaction).
 *
 * Each model names its wire format (api_format) and lists its endpoints
 * inline (`backend_refs`), balanced round-robin. A backend's id is
 * `<model>#<index>`: stable across threads and restarts, and free of URLs and
 * keys, so it can appear in responses and logs.
 *
 * The config module validates types, unknown keys and the key variables'
 * presence (config/providers.ts); this re-checks what it relies on, because
 * it can also be called with a hand-built config (tests, scripts).
 */
import type { ModelRoute } from './gateway.ts';
import { getAdapter, providerNames } from './registry.ts';
import { resolveApiKey, secrets, type SecretRedactor } from './redact.ts';
import type { Backend } from './types.ts';
import type { ProviderModelConfig } from '../config/schema.ts';

export type { ProviderModelConfig };

export class RoutesError extends Error {
  override name = 'RoutesError';
}

export function resolveRoutes(models: readonly ProviderModelConfig[], env: NodeJS.ProcessEnv = process.env, redactor: SecretRedactor = secrets): Map<string, ModelRoute> {
  const routes = new Map<string, ModelRoute>();
  models.forEach((m, i) => {
    const at = `providers.models[${i}]`;
    let adapter;
    try { adapter = getAdapter(m.api_format); } catch { throw new RoutesError(`${at}.api_format: unknown format "${m.api_format}" (known: ${providerNames().join(', ')})`); }
    if (routes.has(m.name)) throw new RoutesError(`${at}.name: "${m.name}" is configured twice`);
    if (m.backend_refs.length === 0) throw new RoutesError(`${at}.backend_refs: needs at least one backend`);
    const backends: Backend[] = m.backend_refs.map((b, j) => {
      let apiKey = '';
      if (b.api_key_env !== undefined) {
        try { apiKey = resolveApiKey(b.api_key_env, env, redactor); } catch (e) { throw new RoutesError(`${at}.backend_refs[${j}].api_key_env: ${(e as Error).message}`); }
      }
      const out: Backend = { id: `${m.name}#${j}`, provider: m.api_format, baseUrl: b.base_url ?? adapter.defaultBaseUrl, upstreamModel: m.upstream_model ?? m.name, apiKey };
      if (m.headers || b.headers) out.headers = { ...m.headers, ...b.headers };
      if (m.default_max_tokens !== undefined) out.defaultMaxTokens = m.default_max_tokens;
      return out;
    });
    const pricing = m.pricing ? { prompt_per_1m: m.pricing.prompt_per_1m, completion_per_1m: m.pricing.completion_per_1m } : null;
    routes.set(m.name, { id: m.name, backends, pricing, ...(m.timeouts ? { timeouts: m.timeouts } : {}) });
  });
  return routes;
}
