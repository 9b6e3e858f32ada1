/**
 * Checks on the providers section that a JSON schema cannot express: model
 * names unique and not a router alias, base URLs that parse, and every
 * api_key_env variable set in the environment the config was loaded with.
 *
 * A missing key variable is a start-up error (not a backend marked unusable
 * at request time): a deployment that forgot a secret should fail its
 * rollout, not answer 502 for one model until someone reads the logs. The
 * message names the variable and the config key, never a value. The key
 * itself is read again where backends are built (providers/routes.ts), so it
 * is never part of the frozen Config that threads and logs can see.
 */
import { ROUTER_ALIASES, type ProvidersConfig } from './schema.ts';
import { catalogProblems } from './catalog.ts';

export function providerProblems(p: ProvidersConfig, env: Readonly<Record<string, string | undefined>>): string[] {
  const out: string[] = [];
  const seen = new Map<string, number>();
  p.models.forEach((m, i) => {
    const at = `providers.models[${i}]`;
    if (ROUTER_ALIASES.includes(m.name)) out.push(`"${at}.name" must not be "${m.name}": ${ROUTER_ALIASES.join(', ')} mean "let the router choose"`);
    const first = seen.get(m.name);
    if (first !== undefined) out.push(`"${at}.name" repeats "${m.name}" (already providers.models[${first}])`);
    else seen.set(m.name, i);
    m.backend_refs.forEach((b, j) => {
      const bat = `${at}.backend_refs[${j}]`;
      if (b.base_url !== undefined) {
        try { new URL(b.base_url); } catch { out.push(`"${bat}.base_url" is not a valid URL`); }
      }
      if (b.api_key_env !== undefined) {
        const v = env[b.api_key_env];
        if (v === undefined || v === '') out.push(`"${bat}.api_key_env": environment variable ${b.api_key_env} is not set (it should hold the upstream API key)`);
      }
    });
    const t = { ...p.timeouts, ...m.timeouts };
    if (t.first_byte_ms > t.total_ms) out.push(`"${at}.timeouts": first_byte_ms (${t.first_byte_ms}) is over total_ms (${t.total_ms})`);
  });
  // Catalog ids, provider slugs and the input/output JSON schemas (issue 10).
  out.push(...catalogProblems(p.models));
  return out;
}
