/**
 * GET /metrics wiring (issue 11): the spec and shared buffers startServer
 * creates once, and per HTTP thread a recorder plus the route.
 *
 *   startServer: metricsBuffers(config, routePatterns, threads) -> the shared bag
 *   buildApp:    setupMetrics(...) -> { route, stop }
 *
 * Auth: /metrics is behind the API key like every route unless
 * `metrics.public: true` (a Prometheus server on the same network then
 * scrapes it without a key; it shows organisation ids and model names, no
 * keys and no prompts). It is never rate-limited.
 */
import { readFileSync } from 'node:fs';
import { effectiveProfileDir } from '../api/profile-versions.ts';
import { join } from 'node:path';
import { metricsEnabled, type Config } from '../config/schema.ts';
import { DEFAULT_ORG } from '../store/types.ts';
import { createMetricsBuffers, makeSpec, Layout, readSpec, METRICS_KEY, METRICS_LAYOUT_KEY } from './layout.ts';
import { MetricsRecorder } from './recorder.ts';
import { CONTENT_TYPE, exposition } from './expose.ts';
import { redisExposition } from '../store/redis/stats.ts';
import type { RouteDef } from '../edge/registry.ts';
import type { Engine } from '../api/engine.ts';

export const METRICS_PATH = '/metrics';

/** The profile's model names and K, read from its manifest (none when it cannot be read: the load will report why). */
function profileLabels(dir: string): { models: string[]; k: number } {
  try {
    const m = JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8')) as { k?: number; models?: { name: string }[] };
    return { models: (m.models ?? []).map((x) => x.name), k: m.k ?? 1 };
  } catch {
    return { models: [], k: 1 };
  }
}

/** The shared bag entries for `threads` HTTP threads; {} when metrics are off. */
export function metricsBuffers(config: Readonly<Config>, routePatterns: readonly string[], threads: number): Record<string, SharedArrayBuffer> {
  if (!metricsEnabled(config)) return {};
  // The profile the server will load (with models added through the API, their version: src/api/profile-versions.ts).
  let dir = config.router.profile;
  try { dir = effectiveProfileDir(config); } catch { /* the load reports an unreadable current.json */ }
  const p = profileLabels(dir);
  const models = [...p.models, ...config.providers.models.map((m) => m.name), ...config.routing.extra_models];
  const orgs = [DEFAULT_ORG, ...config.tenants.map((t) => t.id)];
  const { layout, counters } = createMetricsBuffers(makeSpec([...routePatterns, METRICS_PATH], models, orgs, p.k, threads));
  return { [METRICS_LAYOUT_KEY]: layout, [METRICS_KEY]: counters };
}

export interface ThreadMetrics {
  /** GET /metrics, to mount with the other routes; null when metrics are off. */
  route: RouteDef | null;
  stop(): void;
}

const OFF: ThreadMetrics = { route: null, stop: () => {} };

/** One HTTP thread's recorder (region `thread`) and the /metrics route. */
export function setupMetrics(config: Readonly<Config>, engine: Engine, thread: number, routePatterns: () => readonly string[], inFlight: () => number): ThreadMetrics {
  if (!metricsEnabled(config)) return OFF;
  let bag: Record<string, SharedArrayBuffer> = engine.shared as Record<string, SharedArrayBuffer>;
  if (bag[METRICS_LAYOUT_KEY] === undefined || bag[METRICS_KEY] === undefined) {
    // Built without startServer's bag (a test's own App): a private one-thread set.
    bag = metricsBuffers(config, routePatterns(), 1);
    thread = 0;
  }
  const layout = new Layout(readSpec(bag[METRICS_LAYOUT_KEY]));
  const counters = bag[METRICS_KEY];
  const recorder = new MetricsRecorder(layout, counters, thread, engine, inFlight).start();
  const route: RouteDef = {
    method: 'GET', path: METRICS_PATH, dialect: 'switchyard', auth: !config.metrics.public, limit: false,
    json: async () => {
      recorder.sample();
      // Redis state and failure counters (issue 12; store/redis/stats.ts) follow the counters: '' without Redis.
      return { contentType: CONTENT_TYPE, body: Buffer.from((await exposition(layout, counters, layout.spec.threads)) + redisExposition(engine)) };
    },
  };
  return { route, stop: () => recorder.stop() };
}
