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
 * visible as soon as it is written. Other replicas (issue 12): with Redis, a
 * change is announced on the bus and each replica bumps its own counter
 * (replica-sync.ts). What is not covered: another process writing the same
 * state.dir without Redis (its counter is its own); that process's changes
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
import { announceConfigChange } from './replica-sync.ts';

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

interface OrgView { seen: number; snap: Snapshot | undefined; loading: Promise<Snapshot> | undefined }

/** A snapshot, or the promise of one: the common request takes the synchronous branch. */
type Maybe<T> = T | Promise<T>;

const pick = (s: Snapshot, ref: string): ConfigEntry | undefined => (isUuid(ref) ? s.byId.get(ref.toLowerCase()) : undefined) ?? s.byName.get(ref);

export class RouterConfigRegistry {
  private readonly gen: Int32Array;
  private readonly orgs = new Map<string, OrgView>();

  constructor(private readonly engine: Engine) {
    // An Engine built without the server's bag (tests, scripts) gets a private counter.
    this.gen = new Int32Array(engine.shared[ROUTER_CONFIGS_KEY] ?? createRouterConfigsBuffer());
  }

  /**
   * One organisation's own configs: synchronous when nothing changed since the
   * last read (the common request). One counter for every organisation: a
   * change anywhere makes each organisation's view reload once, on its next use.
   */
  snapshot(org: string = DEFAULT_ORG): Maybe<Snapshot> {
    const g = Atomics.load(this.gen, 0);
    let v = this.orgs.get(org);
    if (v === undefined) { v = { seen: -1, snap: undefined, loading: undefined }; this.orgs.set(org, v); }
    if (g === v.seen && v.snap !== undefined) return v.snap;
    const view = v;
    return (view.loading ??= this.reload(org, view, g).finally(() => { view.loading = undefined; }));
  }

  private async reload(org: string, v: OrgView, g: number): Promise<Snapshot> {
    const rows = await this.engine.store.routerConfigs.list(org).catch(storeFailure);
    const byId = new Map<string, ConfigEntry>(), byName = new Map<string, ConfigEntry>();
    const old = v.snap;
    const list = rows.map((row) => {
      // Unchanged configs keep their compiled form.
      const prev = old?.byId.get(row.id);
      const e = prev && prev.row.version === row.version ? prev : entryOf(row);
      byId.set(row.id, e);
      byName.set(row.name, e);
      return e;
    });
    v.snap = { byId, byName, list };
    v.seen = g;
    return v.snap;
  }

  /** After a committed change: every thread (this one included) reloads on its next request, and every other replica on Redis hears of it (replica-sync.ts). */
  changed(): void {
    this.invalidate();
    announceConfigChange(this.engine);
  }

  /** Every thread of this process reloads on its next request (a change made here, or heard from another replica). */
  invalidate(): void {
    Atomics.add(this.gen, 0, 1);
  }

  /** The configured default's name: routing.default_config, else the first YAML config; null = none. */
  defaultName(): string | null {
    const r = this.engine.config.routing;
    if (r.default_config !== null) return r.default_config;
    const first = r.configs[0]?.name;
    return typeof first === 'string' ? first : null;
  }

  /**
   * The config a routing request of `org` uses: `ref` (an id or a name; the
   * default config's name when undefined) among the organisation's own
   * configs, else among the default organisation's (the YAML configs and
   * those its admins made): shared configs an organisation may shadow by name
   * but never change. 404 router_config_not_found when neither has it.
   */
  resolve(org: string, ref: string | undefined, field: string): Maybe<ConfigEntry> {
    const name = ref ?? this.defaultName();
    const own = this.snapshot(org);
    if (org === DEFAULT_ORG) return own instanceof Promise ? own.then((s) => found(s, undefined, name, ref, field)) : found(own, undefined, name, ref, field);
    const shared = this.snapshot(DEFAULT_ORG);
    if (own instanceof Promise || shared instanceof Promise) return Promise.all([own, shared]).then(([a, b]) => found(a, b, name, ref, field));
    return found(own, shared, name, ref, field);
  }
}

function found(own: Snapshot, shared: Snapshot | undefined, name: string | null, ref: string | undefined, field: string): ConfigEntry {
  const e = name === null ? undefined : pick(own, name) ?? (shared && pick(shared, name));
  if (e) return e;
  if (ref === undefined) {
    throw new ApiError('router_config_not_found', name === null
      ? 'No default router config: set routing.default_config (or list routing.configs), or name a config.'
      : `The default router config "${name}" (routing.default_config) does not exist.`, field);
  }
  throw new ApiError('router_config_not_found', `No router config ${JSON.stringify(ref.length > 200 ? `${ref.slice(0, 200)}...` : ref)} exists.`, field);
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
