/**
 * Start-up checks of `routing` that the config schema cannot make: each YAML
 * router config against the rule schema (src/routing/rules-validate.ts, every
 * error naming `routing.configs[i].field`), duplicate names, the default
 * config, and ascending tier bounds. Model names are checked later, when the
 * configs are seeded (src/api/router-config-seed.ts): that needs the router
 * profile's model list, and loading config reads no other file.
 */
import { validateRouterConfigs } from '../routing/rules-validate.ts';
import { TIER_THRESHOLD_KEYS, validateThresholds } from '../routing/tiers.ts';
import type { RoutingConfig } from './schema.ts';

export function routingProblems(r: RoutingConfig): string[] {
  const out = validateRouterConfigs(r.configs, { at: 'routing.configs' }).map((e) => `"${e.field}" ${e.message}`);
  const names = r.configs.map((c) => c.name);
  if (r.default_config !== null && r.configs.length > 0 && !names.includes(r.default_config)) {
    // A default that names no YAML config must have been created through the admin API; checked per request (404).
    // Listing YAML configs and naming another default is almost certainly a typo.
    out.push(`"routing.default_config" names "${r.default_config}", which is not among routing.configs (${names.map((n) => JSON.stringify(n)).join(', ')})`);
  }
  out.push(...validateThresholds(r.tiers, TIER_THRESHOLD_KEYS, 'routing.tiers'));
  return out;
}
