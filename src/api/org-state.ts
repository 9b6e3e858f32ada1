/**
 * What an organisation's preferences and feedback do to routing, compiled
 * once per organisation per HTTP thread and kept in memory, so a routed
 * request pays one Map lookup and one Atomics.load for it.
 *
 * Invalidation across threads: one generation counter in a SharedArrayBuffer
 * (shared[ORG_STATE_KEY], one for the process). A write (PUT/DELETE of a
 * preference, a feedback, a reset) bumps it after the store committed; every
 * thread compares it with the generation its compiled map was built at and
 * drops the whole map when it moved. Coarse (one organisation's change
 * recompiles every organisation on next use, ~tens of µs each), but a change
 * is rare next to requests and the check is one load.
 *
 * Compiled per organisation (for the loaded router profile):
 *   allowed     mask without excluded_models and every model of
 *               excluded_providers (null: no exclusion)
 *   bias        -PREFERRED_BONUS on models of preferred_providers, added to
 *               their score (null: none)
 *   feedback    per cluster, each model's scored answers (count, error sum):
 *               Router's `feedback` option, which updates the prompt's
 *               estimate with them (prior strength PRIOR_STRENGTH)
 *   costWeight  default_cost_weight, else the profile's λ x the
 *               default_optimization factor; undefined when neither is set
 *   memory      the task memory of corrected prompts (null: no feedback)
 *
 * Store failure while compiling: the organisation routes as if it had set
 * nothing (safe defaults), and the next request tries again.
 *
 * Across replicas (issue 12; the Redis store, where every replica reads the
 * same preferences and feedback): a write also PUBLISHes the organisation on
 * the bus (`org-state`); every thread of every other replica hears it and
 * drops that organisation's compiled state, so its next request recompiles
 * (in effect in milliseconds). A message can be lost (Redis down at that moment, a
 * subscriber reconnecting), so a compiled entry is also re-checked every
 * CHECK_MS: one GET of the organisation's version (OrgStore.generation;
 * every write INCRs it) and a re-read only when it moved. The check runs
 * beside the request, which is served from the entry it has: a request never
 * waits on Redis for it, and while Redis is down the last compiled state
 * keeps applying.
 */
import { ApiError } from '../errors.ts';
import type { Engine, Ready } from './engine.ts';
import { catalogOf } from './catalog.ts';
import { OPTIMIZATION_LAMBDA, fromRows, safeDefaults, type Known, type Preferences } from './preferences-schema.ts';
import { MEMORY_DEFAULTS, TaskMemory } from '../routing/task-memory.ts';
import type { ModelFeedbackRow, TaskFeedbackRow } from '../store/org-types.ts';
import type { FeedbackEvidence } from '../routing/router.ts';
import { hostname } from 'node:os';

/** Key of the generation counter in the server's `shared` bag. */
export const ORG_STATE_KEY = 'orgState';

export function createOrgStateBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(4);
}

/** Subtracted from a preferred provider's models' score (errors are in [0, 1]: 0.05 = five points of error rate). */
export const PREFERRED_BONUS = 0.05;

/**
 * Pseudo-observations behind the profile's error estimate in the feedback
 * posterior: posterior = (PRIOR_STRENGTH x prior + sum of (1 - score)) / (PRIOR_STRENGTH + n),
 * the prior being the profile's estimate for the prompt (Router `feedback`).
 * 10: ten answers scored 0 move a 0.2 prior to 0.6.
 */
export const PRIOR_STRENGTH = 10;

/** Bus topic of organisation-state changes (message: `<replica id>\t<org>`). */
export const ORG_STATE_TOPIC = 'org-state';

/**
 * With a store shared by replicas: how old a compiled entry may get before
 * its version is checked (the bound on staleness when a bus message is lost).
 * Costs one GET per active organisation per thread per period.
 */
export const CHECK_MS = 1_000;

/** This process among the replicas: its own messages are skipped (the shared counter already told every thread). */
const REPLICA_ID = `${hostname()}:${process.pid}`;

/** How many corrected prompts the task memory is built from (newest first). */
const MEMORY_ROWS = 2_000;

export interface CompiledOrg {
  readonly org: string;
  readonly prefs: Preferences;
  /** false: nothing here changes a decision (the /v1/route decision cache serves this organisation). */
  readonly routingEffect: boolean;
  readonly allowed: Uint8Array | null;
  readonly bias: Float64Array | null;
  readonly feedbackEvidence: ReadonlyMap<number, FeedbackEvidence> | null;
  readonly costWeight: number | undefined;
  readonly excludedModels: ReadonlySet<string>;
  readonly memory: TaskMemory | null;
  readonly feedback: readonly ModelFeedbackRow[];
}

export function knownOf(engine: Engine): Known {
  const c = catalogOf(engine);
  const models = new Set<string>();
  const providers = new Set<string>();
  for (const e of c.entries) { models.add(e.name); models.add(e.id); providers.add(e.provider); }
  const r = engine.ready;
  if (r) for (const m of r.router.models) models.add(m);
  return { models, providers };
}

/** The prior's error for (cluster, model): the profile's estimate, 0.5 where the profile has none. */
export function priorError(r: Ready, cluster: number, m: number): number {
  const e = r.profile.errors[cluster * r.router.models.length + m];
  return e === e ? e : 0.5;
}

export function posterior(prior: number, n: number, errSum: number): number {
  return (PRIOR_STRENGTH * prior + errSum) / (PRIOR_STRENGTH + n);
}

function compile(engine: Engine, org: string, prefRows: { key: string; value: string }[], fb: ModelFeedbackRow[], tasks: TaskFeedbackRow[]): CompiledOrg {
  const known = knownOf(engine);
  const { prefs } = fromRows(prefRows, known);
  const r = engine.ready;
  let allowed: Uint8Array | null = null, bias: Float64Array | null = null;
  let evidence: Map<number, FeedbackEvidence> | null = null;
  let costWeight: number | undefined;
  let memory: TaskMemory | null = null;
  const excludedModels = new Set<string>(prefs.excluded_models);
  if (r) {
    const models = r.router.models, M = models.length;
    const cat = catalogOf(engine);
    const providerOf = (name: string) => cat.find(name)?.provider;
    const exProv = new Set(prefs.excluded_providers), prefProv = new Set(prefs.preferred_providers);
    for (let m = 0; m < M; m++) {
      const p = providerOf(models[m]);
      const entry = cat.find(models[m]);
      const out = excludedModels.has(models[m]) || (entry !== undefined && excludedModels.has(entry.id)) || (p !== undefined && exProv.has(p));
      if (out) { allowed ??= new Uint8Array(M).fill(1); allowed[m] = 0; excludedModels.add(models[m]); }
      if (p !== undefined && prefProv.has(p)) { bias ??= new Float64Array(M); bias[m] = -PREFERRED_BONUS; }
    }
    // Catalog models outside the profile (media, web search) under an excluded provider: /v1/auto/* never ranks them.
    for (const e of cat.entries) if (exProv.has(e.provider)) { excludedModels.add(e.name); excludedModels.add(e.id); }
    for (const row of fb) {
      const m = r.router.modelIndex.get(row.model);
      if (m === undefined || row.cluster < 0 || row.cluster >= r.profile.k) continue;
      evidence ??= new Map();
      let cell = evidence.get(row.cluster);
      if (!cell) { cell = { n: new Float64Array(M), errSum: new Float64Array(M) }; evidence.set(row.cluster, cell); }
      cell.n[m] = row.n;
      cell.errSum[m] = row.errSum;
    }
    const base = r.defaultCostWeight;
    if (prefs.default_cost_weight !== null) costWeight = prefs.default_cost_weight;
    else if (prefs.default_optimization !== 'balanced') costWeight = base * OPTIMIZATION_LAMBDA[prefs.default_optimization];
    if (tasks.length > 0 && r.source.kind === 'sync') {
      // Sized to the rows read (at most MEMORY_ROWS): 1.5 KB per prompt at dim 384, per organisation per thread.
      memory = new TaskMemory(r.profile.dim, { ...MEMORY_DEFAULTS, capacity: tasks.length });
      for (const t of tasks) {
        const label = t.correct ? t.classifiedTask : t.suggestedTask;
        if (label === null) continue;
        memory.add(r.source.embedder.embedSync(t.prompt), label);
      }
      if (memory.size === 0) memory = null;
    }
  }
  const routingEffect = allowed !== null || bias !== null || evidence !== null || costWeight !== undefined;
  return { org, prefs, routingEffect, allowed, bias, feedbackEvidence: evidence, costWeight, excludedModels, memory, feedback: fb };
}

function empty(org: string): CompiledOrg {
  return { org, prefs: safeDefaults(), routingEffect: false, allowed: null, bias: null, feedbackEvidence: null, costWeight: undefined, excludedModels: new Set(), memory: null, feedback: [] };
}

interface Entry {
  readonly v: CompiledOrg;
  /** OrgStore.generation when read (0 without one). */
  readonly version: number;
  /** Date.now() of the last read or version check. */
  checkedAt: number;
  checking: boolean;
}

/** One per Engine (per HTTP thread). */
export class OrgStates {
  private readonly gen: Int32Array;
  private seen = -1;
  private readonly compiled = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<CompiledOrg>>();
  /**
   * The Ready the entries were compiled against: entries made before the
   * router was ready (no masks), or for a profile a hot reload replaced
   * (masks and feedback indexed by its models; issue 13), are dropped when it changes.
   */
  private readyAt: Ready | undefined;
  /** Per organisation: how often another replica's change dropped it (a read begun before a drop is not cached). */
  private readonly dropped = new Map<string, number>();
  /** The store is shared with other replicas: listen on the bus and re-check entries (see the header). */
  private readonly shared: boolean;

  constructor(private readonly engine: Engine, buffer: SharedArrayBuffer | undefined) {
    this.gen = new Int32Array(buffer ?? createOrgStateBuffer());
    this.shared = engine.store.kind === 'redis' && engine.store.org.generation !== undefined;
    if (this.shared) {
      // Every thread hears the message itself (its Engine's own subscription), so it drops that one organisation only:
      // a feedback stream from many organisations elsewhere does not recompile every organisation here.
      engine.bus.subscribe(ORG_STATE_TOPIC, (m) => {
        const tab = m.indexOf('\t');
        if (tab < 0 || m.slice(0, tab) === REPLICA_ID) return;
        const org = m.slice(tab + 1);
        this.compiled.delete(org);
        this.pending.delete(org);
        this.dropped.set(org, (this.dropped.get(org) ?? 0) + 1);
      });
    }
  }

  /** After a committed write of `org`'s state: every thread recompiles on its next request; other replicas are told. */
  bump(org: string): void {
    Atomics.add(this.gen, 0, 1);
    // Best effort: a lost message is caught by the version check within CHECK_MS.
    if (this.shared) this.engine.bus.publish(ORG_STATE_TOPIC, `${REPLICA_ID}\t${org}`).catch(() => {});
  }

  /** The compiled state: synchronously when cached (the common case), else a Promise (a store read and a compile). */
  get(org: string): CompiledOrg | Promise<CompiledOrg> {
    const g = Atomics.load(this.gen, 0);
    const ready = this.engine.ready;
    if (g !== this.seen || ready !== this.readyAt) { this.compiled.clear(); this.pending.clear(); this.seen = g; this.readyAt = ready; }
    const c = this.compiled.get(org);
    if (c !== undefined) {
      if (this.shared && !c.checking && Date.now() - c.checkedAt >= CHECK_MS) this.check(org, c);
      return c.v;
    }
    let p = this.pending.get(org);
    if (p === undefined) {
      const at = g, drops = this.dropped.get(org);
      p = this.load(org).then(({ v, ok, version }) => {
        if (this.seen === at && this.dropped.get(org) === drops) { if (ok) this.compiled.set(org, { v, version, checkedAt: Date.now(), checking: false }); this.pending.delete(org); }
        return v;
      });
      this.pending.set(org, p);
    }
    return p;
  }

  /** Beside the request: has the organisation's version moved since `e` was read? Then read and compile again. */
  private check(org: string, e: Entry): void {
    e.checking = true;
    const at = this.seen;
    const done = () => { e.checking = false; e.checkedAt = Date.now(); };
    this.engine.store.org.generation!(org).then((version) => {
      if (this.seen !== at || this.compiled.get(org) !== e) return;
      if (version === e.version) { done(); return; }
      return this.load(org).then((r) => {
        if (r.ok && this.seen === at && this.compiled.get(org) === e) this.compiled.set(org, { v: r.v, version: r.version, checkedAt: Date.now(), checking: false });
        else done();
      });
    }).catch(done);
  }

  private async load(org: string): Promise<{ v: CompiledOrg; ok: boolean; version: number }> {
    const s = this.engine.store.org;
    try {
      // The version first: a write landing between it and the rows makes the next check re-read (never the reverse).
      const version = s.generation ? await s.generation(org) : 0;
      const [prefs, fb, tasks] = await Promise.all([s.preferences(org), s.modelFeedback(org), s.taskFeedback(org, MEMORY_ROWS)]);
      return { v: compile(this.engine, org, prefs, fb, tasks), ok: true, version };
    } catch {
      // The store failed: route as if nothing was set; not cached, so the next request tries again.
      return { v: empty(org), ok: false, version: 0 };
    }
  }
}

const states = new WeakMap<Engine, OrgStates>();

/** The Engine's OrgStates (shared[ORG_STATE_KEY] when the server made one; a private counter otherwise). */
export function orgStates(engine: Engine): OrgStates {
  let s = states.get(engine);
  if (s === undefined) { s = new OrgStates(engine, engine.shared[ORG_STATE_KEY]); states.set(engine, s); }
  return s;
}

/** A compiled org's exclusion applied to an explicitly named model: refused, never silently swapped. */
export function checkExplicit(o: CompiledOrg, model: string): void {
  if (o.excludedModels.has(model)) {
    throw new ApiError('model_excluded', `The model ${JSON.stringify(model)} is excluded by this organisation's preferences (excluded_models / excluded_providers); remove it there or pick another model.`, 'model');
  }
}

/** Runs `f` with the org's compiled state, synchronously when it is cached. */
export function withOrg<T>(engine: Engine, org: string, f: (o: CompiledOrg) => T): T | Promise<Awaited<T>> {
  const o = orgStates(engine).get(org);
  return o instanceof Promise ? o.then(f) as Promise<Awaited<T>> : f(o);
}
