/**
 * Profile hot reload and added models (issue 13): the one place that loads a
 * new profile while the server runs and hands it to every Engine.
 *
 * One ProfileOwner per process, in the thread that owns the disk: the main
 * thread with several HTTP threads (src/edge/threads.ts; the threads reach it
 * through their Engine's `control`, a proxy over the thread port), the only
 * thread otherwise (src/edge/server.ts). Its steps for a reload:
 *
 *   1. read and check the directory once (loadProfile: manifest fields, table
 *      sizes, sha256; the embedder: the native tables in that directory, or
 *      the configured ONNX / embedder.dir one, whose identity must match) —
 *      a failure is 422 profile_rejected with the reason, nothing changed;
 *   2. a fresh decision-cache buffer sized for the new model names, so no
 *      thread serves a decision of the old profile after its swap (the old
 *      buffer is dropped with the last Ready holding it);
 *   3. `apply`: every HTTP thread's Engine.swap (tables shared, not copied;
 *      a route pool for a large K built before the swap), then the main
 *      thread's mirror. Each Engine swaps its `ready` in one assignment; a
 *      request holds the Ready it started with, so none in flight fails.
 *      If a thread cannot swap (a route pool that cannot start), the ones
 *      that did are put back on the previous tables and it is a 422;
 *   4. publish on the bus (Redis pub/sub with state.redis: every replica's
 *      owner loads the same directory, which must therefore exist there too:
 *      a shared volume, or the same deploy artefact at the same path).
 *
 * Reloads and additions run one at a time (a promise chain): two concurrent
 * additions each start from the profile the previous one produced.
 *
 * An added model (POST /v1/router/models, src/api/router-admin.ts): rows
 * parsed and checked by the handler; here, embedded with the serving
 * embedder and estimated per cluster with the profile's own shrinkage
 * (src/fit/add-model.ts, the same code as `npm run fit -- --add-model`);
 * written as a new version directory (src/api/profile-versions.ts: temp
 * directory + rename, and current.json so a restart loads it); then reloaded
 * as above, and published with `persist`, so other replicas load the version
 * from the shared versions directory and record it as theirs.
 */
import { existsSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ApiError } from '../errors.ts';
import { channels } from '../diagnostics.ts';
import { NativeEmbedder } from '../routing/embedders/native.ts';
import type { Embedder } from '../routing/embedders/types.ts';
import { addModel, RowsError, type ClusterConfidence, type ModelRows } from '../fit/add-model.ts';
import { createDecisionCacheBuffer } from './route-cache.ts';
import { profileIdOf, readProfileTables, type Engine, type SharedTables, type SwapTables } from './engine.ts';
import { effectiveProfileDir, writePointer, writeVersion } from './profile-versions.ts';
import type { EmbedIdentity } from './embed-source.ts';
import type { Config } from '../config/schema.ts';

/** The bus topic (src/store/bus.ts) every replica's owner listens on. */
export const PROFILE_TOPIC = 'router.profile';

export interface ReloadResult {
  profile: string;
  profile_id: string;
  version: number;
  dir: string;
  router: 'clusters' | 'neighbours';
  k: number;
  models: string[];
  ms: number;
}

export interface AddModelInput {
  name: string;
  rows: ModelRows;
  costPer1k?: number;
  pricing?: { input_per_1m: number; output_per_1m: number } | null;
  prior?: 'coarse' | 'regression';
}

export interface AddModelReply {
  model: string;
  samples: number;
  global_error: number;
  cost_per_1k: number;
  clusters: ClusterConfidence[];
  reload: ReloadResult;
}

/** What an HTTP handler calls (Engine.control): the owner itself, or an HTTP thread's proxy to it. */
export interface ProfileControl {
  /** `dir` undefined: the configured profile (router.profile, or the newest version the models API wrote for it). */
  reload(dir?: string): Promise<ReloadResult>;
  addModel(input: AddModelInput): Promise<AddModelReply>;
}

/** An ApiError as it crosses a thread port (structured clone drops the class). */
export interface WireError { code: string; message: string; field?: string }

export function toWire(e: unknown): WireError {
  if (e instanceof ApiError) return { code: e.code, message: e.message, field: e.field };
  return { code: 'internal_error', message: e instanceof Error ? e.message : String(e) };
}

export function fromWire(w: WireError): ApiError {
  return new ApiError(w.code as ApiError['code'], w.message, w.field);
}

interface BusMessage { origin: string; dir: string; persist: boolean; profile_id: string }

/**
 * The tables for `dir`, read once (engine.ts readProfileTables, the start's
 * read): the profile, checked against the embedder that will serve it. With
 * the native embedder and no embedder.dir, the embedder's tables are the
 * directory's own; otherwise the running embedder stays and `current` is its
 * identity.
 */
export function readTables(config: Pick<Config, 'embedder'>, dir: string, current: EmbedIdentity): SharedTables {
  // The profile's own file first: "no profile here" reads better than the embedder's tables missing.
  if (!existsSync(join(dir, 'profile.json'))) throw new Error(`${join(dir, 'profile.json')}: cannot read (${existsSync(dir) ? 'no profile.json in the directory' : 'no such directory'})`);
  return readProfileTables(config, dir, current);
}

/**
 * The serving embedder as an Embedder (embedMany) for add-model. The native
 * one embeds on this thread (~15-50 µs a prompt): with one HTTP thread that is
 * the serving thread, so each batch (embedAll: 64 prompts) first yields to the
 * event loop and requests interleave instead of waiting for every row. An
 * async backend (ONNX) gets one call per prompt (its pool batches them).
 */
function embedderOf(engine: Engine): Embedder {
  const r = engine.require();
  if (r.source.kind === 'sync') {
    const e = r.source.embedder;
    return { id: e.id, dim: e.dim, hash: e.hash, embed: (t) => e.embed(t), embedMany: async (texts) => { await yieldToLoop(); return e.embedMany(texts); }, close: async () => {} };
  }
  const b = r.source.backend;
  return {
    id: b.id, dim: b.dim, hash: b.hash,
    embed: (t) => b.embed(t),
    async embedMany(texts) {
      const vs = await Promise.all(texts.map((t) => b.embed(t)));
      const out = new Float32Array(texts.length * b.dim);
      vs.forEach((v, i) => out.set(v, i * b.dim));
      return out;
    },
    close: async () => {},
  };
}

export class ProfileOwner implements ProfileControl {
  /** Identifies this process's messages on the bus (its own come back with Redis). */
  readonly origin = randomUUID();
  private chain: Promise<unknown> = Promise.resolve();
  private generation = 1;
  /** What every Engine serves now; undefined until the first reload (the start's tables are then rebuilt from engine.ready). */
  private current: SwapTables | undefined;
  private unsubscribe: (() => void) | undefined;

  /**
   * `engine`: this thread's Engine (it serves, or mirrors the HTTP threads);
   * `apply`: hand tables to every Engine of the process, resolving when all swapped.
   */
  constructor(private readonly config: Readonly<Config>, private readonly engine: Engine, private readonly apply: (t: SwapTables) => Promise<void>) {}

  /** Listens for other replicas' reloads (state.redis; a local bus only echoes this process's own). */
  listen(): void {
    this.unsubscribe ??= this.engine.bus.subscribe(PROFILE_TOPIC, (raw) => {
      let m: BusMessage;
      try { m = JSON.parse(raw); } catch { return; }
      if (m.origin === this.origin || typeof m.dir !== 'string') return;
      // Idempotent: a replica already on that profile (the message repeated, or it loaded it itself) does nothing.
      if (this.engine.ready?.profileId === m.profile_id) return;
      this.serial(async () => {
        if (this.engine.ready?.profileId === m.profile_id) return;
        const r = await this.doReload(m.dir, m.persist);
        channels.profileReloaded.publish({ ...r, source: 'bus' });
      }).catch((error: unknown) => channels.profileReloadFailed.publish({ dir: m.dir, source: 'bus', error }));
    });
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  reload(dir?: string, source = 'api'): Promise<ReloadResult> {
    return this.serial(async () => {
      const target = dir ?? this.defaultDir();
      try {
        const r = await this.doReload(target, false);
        await this.publish(r, false);
        channels.profileReloaded.publish({ ...r, source });
        return r;
      } catch (error) {
        channels.profileReloadFailed.publish({ dir: target, source, error });
        throw error;
      }
    });
  }

  addModel(input: AddModelInput): Promise<AddModelReply> {
    return this.serial(async () => {
      const r = this.engine.require();
      if (r.router.modelIndex.has(input.name)) throw new ApiError('model_exists', `The router profile already has a model ${JSON.stringify(input.name)}; add it under another name.`, 'name');
      let added;
      try {
        added = await addModel(r.profile, embedderOf(this.engine), input.name, input.rows, { costPer1k: input.costPer1k, pricing: input.pricing, prior: input.prior });
      } catch (e) {
        if (e instanceof RowsError) throw new ApiError('invalid_request', e.message, 'rows');
        throw e;
      }
      const dir = writeVersion(this.config, added.profile, r.profile.dir);
      const reload = await this.doReload(dir, true);
      await this.publish(reload, true);
      channels.profileReloaded.publish({ ...reload, source: 'models' });
      return { model: input.name, samples: added.samples, global_error: added.globalError, cost_per_1k: added.costPer1k, clusters: added.clusters, reload };
    });
  }

  /** router.profile, or the newest version the models API wrote for it (profile-versions.ts). */
  private defaultDir(): string {
    try { return effectiveProfileDir(this.config); } catch (e) { throw new ApiError('profile_rejected', (e as Error).message, 'profile'); }
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.chain.then(f);
    this.chain = p.catch(() => {});
    return p;
  }

  private async publish(r: ReloadResult, persist: boolean): Promise<void> {
    const m: BusMessage = { origin: this.origin, dir: r.dir, persist, profile_id: r.profile_id };
    // Redis down: this replica has reloaded; the others catch up at their next reload or restart (bus.ts: at-most-once).
    await this.engine.bus.publish(PROFILE_TOPIC, JSON.stringify(m)).catch((error: unknown) => channels.profileReloadFailed.publish({ dir: r.dir, source: 'bus-publish', error }));
  }

  private async doReload(dirIn: string, persist: boolean): Promise<ReloadResult> {
    const t0 = performance.now();
    const r = this.engine.require();
    const dir = resolve(dirIn);
    let tables: SharedTables;
    try {
      tables = readTables(this.config, dir, r.embedder);
    } catch (e) {
      throw new ApiError('profile_rejected', `${(e as Error).message}; the previous profile (${r.profile.manifest.name}, ${r.profileId}) is still in service`, 'profile');
    }
    const previous = this.current ?? { profile: r.profile, native: r.source.kind === 'sync' && r.source.embedder instanceof NativeEmbedder ? r.source.embedder.tables : null, generation: r.generation };
    const next: SwapTables = { ...tables, generation: this.generation + 1, cache: createDecisionCacheBuffer(this.config.router.cache_size, tables.profile.models) };
    try {
      await this.apply(next);
    } catch (e) {
      // Some Engines may have swapped: put every one back on the previous tables (a new generation, a fresh cache).
      const back: SwapTables = { ...previous, generation: this.generation + 2, cache: createDecisionCacheBuffer(this.config.router.cache_size, previous.profile.models) };
      await this.apply(back).then(() => { this.current = back; this.generation = back.generation; }, () => {});
      throw new ApiError('profile_rejected', `${(e as Error).message}; the previous profile (${r.profile.manifest.name}, ${r.profileId}) is still in service`, 'profile');
    }
    this.current = next;
    this.generation = next.generation;
    if (persist) writePointer(this.config, dir);
    const p = tables.profile;
    return {
      profile: p.manifest.name, profile_id: profileIdOf(p), version: next.generation, dir: join(dir),
      router: p.manifest.router?.kind ?? 'clusters', k: p.k, models: p.models, ms: Math.round((performance.now() - t0) * 10) / 10,
    };
  }
}
