/**
 * Each HTTP thread's view of the router configs in the store, compiled, and
 * how a change made on one thread reaches the others without a restart.
 *
 * Mechanism: one Int32 generation counter in a SharedArrayBuffer of the
 * server's `shared` bag (ROUTER_CONFIGS_KEY; every thread's Engine gets the
 * same buffer). A thread that changed a config bumps it after the store
 * committed the write; every request reads it (one Atomics.load, a few ns)
 * and a thread whose snapshot is older re-reads the whole table from its own
 * read connection (one indexed SELECT: ~10 µs for a handful of configs) and
 * recompiles lazily, config by config, on first use. The generation is read
 * BEFORE the table, so a change that commits during a reload moves the
 * counter past what the reload records, and the next request reloads again:
 * a thread can serve a change one request late, never miss it.
 *
 * Why not a BroadcastChannel message per change: it arrives on a later turn
 * of the other thread's loop, so a request that the other thread served right
 * after the admin's 200 could still see the old config; the counter is
 * visible as soon as it is written. What is not covered: another process
 * writing the same state.dir (its counter is its own); that process's changes
 * show up here only after a restart or a change made here.
 *
 * The registry lives beside the Engine (a WeakMap), not in it: it needs only
 * engine.store, engine.config and engine.shared.
 */
import { compileConfig, type CompiledConfig, type RouterConfig } from '../routing/rules.ts';
import { DEFAULT_ORG, type StoredRouterConfig } from '../store/types.ts';
import { ApiError } from '../errors.ts';
import { storeFailure } from './responses-read.ts';
import type { Engine } from './engine.ts';

/** Key of the generation counter in the server's `shared` bag. */
export const ROUTER_CONFIGS_KEY = 'routerConfigs';

/** Main thread, once (startServer): one Int32, the generation of the router configs table. */
export function createRouterConfigsBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(4);
}

export interface ConfigEntry {
  readonly row: StoredRouterConfig;
  /** The RouterConfig with its id and version. */
  readonly config: RouterConfig;
  /** Compiled on first use in this thread. */
  compiled: CompiledConfig | undefined;
}

export interface Snapshot {
  readonly byId: ReadonlyMap<string, ConfigEntry>;
  readonly byName: ReadonlyMap<string, ConfigEntry>;
  readonly list: readonly ConfigEntry[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID.test(s);

/**
 * A config that needs the prompt's cluster gets it from the caller
 * (evaluate's `given`): the registry compiles with a clusterOf that must never
 * run, so a handler that forgot to compute the cluster fails loudly.
 */
const NO_CLUSTER_OF = (): number => { throw new Error('router config: the cluster must be computed by the handler and passed in `given`'); };

export function entryOf(row: StoredRouterConfig): ConfigEntry {
  const body = JSON.parse(row.config) as Omit<RouterConfig, 'id' | 'version'>;
  return { row, config: { ...body, name: row.name, id: row.id, version: row.version }, compiled: undefined };
}

export function compiledOf(e: ConfigEntry): CompiledConfig {
  return (e.compiled ??= compileConfig(e.config, { clusterOf: NO_CLUSTER_OF }));
}

export class RouterConfigRegistry {
  private readonly gen: Int32Array;
  private seen = -1;
  private snap: Snapshot | undefined;
  private loading: Promise<Snapshot> | undefined;

  constructor(private readonly engine: Engine) {
    // An Engine built without the server's bag (tests, scripts) gets a private counter.
    this.gen = new Int32Array(engine.shared[ROUTER_CONFIGS_KEY] ?? createRouterConfigsBuffer());
  }

  /** The current configs: synchronous when nothing changed since the last read (the common request). */
  snapshot(): Snapshot | Promise<Snapshot> {
    const g = Atomics.load(this.gen, 0);
    if (g === this.seen && this.snap !== undefined) return this.snap;
    return (this.loading ??= this.reload(g).finally(() => { this.loading = undefined; }));
  }

  private async reload(g: number): Promise<Snapshot> {
    const rows = await this.engine.store.routerConfigs.list(DEFAULT_ORG).catch(storeFailure);
    const byId = new Map<string, ConfigEntry>(), byName = new Map<string, ConfigEntry>();
    const old = this.snap;
    const list = rows.map((row) => {
      // Unchanged configs keep their compiled form.
      const prev = old?.byId.get(row.id);
      const e = prev && prev.row.version === row.version ? prev : entryOf(row);
      byId.set(row.id, e);
      byName.set(row.name, e);
      return e;
    });
    this.snap = { byId, byName, list };
    this.seen = g;
    return this.snap;
  }

  /** After a committed change: every thread (this one included) reloads on its next request. */
  changed(): void {
    Atomics.add(this.gen, 0, 1);
  }

  /** The configured default's name: routing.default_config, else the first YAML config; null = none. */
  defaultName(): string | null {
    const r = this.engine.config.routing;
    if (r.default_config !== null) return r.default_config;
    const first = r.configs[0]?.name;
    return typeof first === 'string' ? first : null;
  }

  /** A config by id or name, or by default when `ref` is undefined; 404 router_config_not_found otherwise. */
  static find(s: Snapshot, ref: string | undefined, defaultName: string | null, field: string): ConfigEntry {
    if (ref === undefined) {
      const e = defaultName === null ? undefined : s.byName.get(defaultName);
      if (e) return e;
      throw new ApiError('router_config_not_found', defaultName === null
        ? 'No default router config: set routing.default_config (or list routing.configs), or name a config.'
        : `The default router config "${defaultName}" (routing.default_config) does not exist.`, field);
    }
    const e = (isUuid(ref) ? s.byId.get(ref.toLowerCase()) : undefined) ?? s.byName.get(ref);
    if (e) return e;
    throw new ApiError('router_config_not_found', `No router config ${JSON.stringify(ref.length > 200 ? `${ref.slice(0, 200)}...` : ref)} exists.`, field);
  }
}

const registries = new WeakMap<Engine, RouterConfigRegistry>();

export function registryOf(engine: Engine): RouterConfigRegistry {
  let r = registries.get(engine);
  if (r === undefined) { r = new RouterConfigRegistry(engine); registries.set(engine, r); }
  return r;
}

/**
 * Names a rule, default_model or candidate may use: the configured providers'
 * models, the router profile's, and routing.extra_models. Profile names come
 * from the loaded profile, else none (the seed reads the manifest itself).
 */
export function knownModels(engine: Engine, profileModels: readonly string[] = engine.ready?.profile.models ?? []): Set<string> {
  return new Set([...engine.config.providers.models.map((m) => m.name), ...profileModels, ...engine.config.routing.extra_models]);
}

/**
 * A config's body as stored: the fields of RouterConfig but id and version,
 * in one fixed order, so the same content always serialises to the same text
 * (the YAML seed compares texts to decide whether a config changed).
 */
export function configBody(c: RouterConfig): string {
  const o: Record<string, unknown> = { name: c.name, default_model: c.default_model };
  if (c.candidates !== undefined) o.candidates = c.candidates;
  if (c.cost_weight !== undefined) o.cost_weight = c.cost_weight;
  o.rules = c.rules;
  return JSON.stringify(o);
}
