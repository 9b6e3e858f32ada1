/**
 * Router profile: the fitted state of the UniRoute router, on disk in
 * native-models/<name>/ as a JSON manifest plus little-endian binary tables.
 *
 *   profile.json    manifest (format, version, embedder, models, K, files + sha256)
 *   centroids.f32   K x dim Float32, rows L2-normalised
 *   errors.f32      K x M Float32 expected error (1 - score); NaN = unknown
 *   counts.u32      K x M Uint32 labelled samples behind each cell
 *   embedder.json + idf.f32   the native embedder's tables, when it is the native one
 *   points.f32      (router.kind "neighbours" only) N x dim Float32 labelled prompt vectors
 *   labels.f32      (router.kind "neighbours" only) N x M Float32 error per prompt; NaN = unknown
 *
 * `router` (optional; absent = clusters, as every profile before issue 13)
 * says which router decides: "clusters" (UniRoute, centroids + errors) or
 * "neighbours" (k nearest labelled prompts, shrunk toward the clusters'
 * estimate: src/routing/neighbours.ts). A neighbours profile carries the
 * cluster tables too: they are its prior and its cluster_id.
 *
 * Loading validates every field and every table length, checks each file's
 * sha256, and refuses an embedder whose id, dim or hash differ from the ones
 * the profile was fitted with. Every failure names the file and the field.
 *
 * The three tables are loaded into SharedArrayBuffers, so a loaded Profile can
 * be posted to worker threads (the HTTP threads of src/edge/threads.ts, the
 * pools) and every thread reads the same memory: structured clone shares a
 * typed array's SharedArrayBuffer instead of copying it. A K=10,000 profile's
 * centroids are 15 MB; one copy serves every thread.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const PROFILE_FORMAT = 'switchyard-router-profile';
export const PROFILE_VERSION = 1;

export interface ModelEntry {
  name: string;
  /** USD per 1M tokens; `estimated` says whether it was inferred from observed costs. */
  pricing: { input_per_1m: number; output_per_1m: number; estimated: boolean } | null;
  /** Blended USD per 1,000 requests at the fitting data's token mix: the cost used in the score. */
  cost_per_1k: number;
}

export interface Assignment {
  /** 'hard': the nearest cluster's errors; 'soft': softmax(sim / temperature) over the `top` nearest. */
  mode: 'hard' | 'soft';
  temperature: number;
  top: number;
}

export interface ProfileManifest {
  format: typeof PROFILE_FORMAT;
  version: number;
  name: string;
  created: string;
  embedder: { id: string; dim: number; hash: string };
  k: number;
  models: ModelEntry[];
  /**
   * cost_norm(m) = ln(cost_per_1k(m) / min) / ln(max / min), in [0, 1]: the
   * cheapest model 0, the dearest 1. The score is error + lambda * cost_norm.
   */
  cost_normalisation: { kind: 'log-range'; min_per_1k: number; max_per_1k: number };
  assignment: Assignment;
  default_cost_weight: number;
  fit: Record<string, unknown>;
  files: { centroids: string; errors: string; counts: string; points?: string; labels?: string };
  sha256: Record<string, string>;
  router?: RouterSpec;
}

export type RouterSpec =
  | { kind: 'clusters' }
  /**
   * k nearest labelled prompts; alpha: prior strength of the clusters' estimate; samples: N rows in points/labels;
   * nprobe: the inverted file's clusters scanned per decision (absent = DEFAULT_NPROBE in neighbours.ts; 0 or "all" = exact).
   */
  | { kind: 'neighbours'; k: number; alpha: number; samples: number; nprobe?: number | 'all' };

/** The router kind a manifest asks for ("clusters" when absent). */
export const routerKind = (m: ProfileManifest): RouterSpec['kind'] => m.router?.kind ?? 'clusters';

export interface Profile {
  manifest: ProfileManifest;
  dir: string | null;
  k: number;
  dim: number;
  models: string[];
  centroids: Float32Array;
  errors: Float32Array;
  counts: Uint32Array;
  /** Per-model normalised cost in [0, 1] (see cost_normalisation). */
  costNorm: Float64Array;
  /** router.kind "neighbours": N x dim labelled prompt vectors and N x M errors. */
  points?: Float32Array;
  labels?: Float32Array;
}

export class ProfileError extends Error {
  override name = 'ProfileError';
}

export function costNormalisation(costPer1k: readonly number[]): { min: number; max: number; norm: Float64Array } {
  const pos = costPer1k.filter((c) => c > 0);
  const min = pos.length ? Math.min(...pos) : 0;
  const max = pos.length ? Math.max(...pos) : 0;
  const span = max > min ? Math.log(max / min) : 0;
  const norm = Float64Array.from(costPer1k, (c) => (span > 0 ? Math.min(1, Math.max(0, Math.log(Math.max(c, min) / min) / span)) : 0));
  return { min, max, norm };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const bytesOf = (a: Float32Array | Uint32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function saveProfile(dir: string, p: Omit<Profile, 'dir' | 'costNorm'>): void {
  mkdirSync(dir, { recursive: true });
  const files: ProfileManifest['files'] = { centroids: 'centroids.f32', errors: 'errors.f32', counts: 'counts.u32' };
  const tables: Record<string, Uint8Array> = { centroids: bytesOf(p.centroids), errors: bytesOf(p.errors), counts: bytesOf(p.counts) };
  if (routerKind(p.manifest) === 'neighbours') {
    if (!p.points || !p.labels) throw new ProfileError('saveProfile: a neighbours profile needs points and labels');
    files.points = 'points.f32'; files.labels = 'labels.f32';
    tables.points = bytesOf(p.points); tables.labels = bytesOf(p.labels);
  }
  const sha256: Record<string, string> = {};
  for (const key of Object.keys(files) as (keyof typeof files)[]) {
    writeFileSync(join(dir, files[key]!), tables[key]);
    sha256[files[key]!] = sha(tables[key]);
  }
  const manifest: ProfileManifest = { ...p.manifest, k: p.k, files, sha256 };
  writeFileSync(join(dir, 'profile.json'), JSON.stringify(manifest, null, 2) + '\n');
}

function need(cond: unknown, where: string, msg: string): asserts cond {
  if (!cond) throw new ProfileError(`${where}: ${msg}`);
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Validates a parsed manifest field by field; throws ProfileError naming the field. */
export function validateManifest(m: unknown, where: string): ProfileManifest {
  need(typeof m === 'object' && m !== null && !Array.isArray(m), where, 'manifest must be a JSON object');
  const o = m as Record<string, any>;
  need(o.format === PROFILE_FORMAT, where, `"format" must be "${PROFILE_FORMAT}", got ${JSON.stringify(o.format)}`);
  need(o.version === PROFILE_VERSION, where, `"version" ${JSON.stringify(o.version)} is not supported (this build reads version ${PROFILE_VERSION})`);
  need(typeof o.name === 'string' && o.name.length > 0, where, '"name" must be a non-empty string');
  need(typeof o.embedder === 'object' && o.embedder !== null, where, '"embedder" must be an object');
  need(typeof o.embedder.id === 'string' && o.embedder.id.length > 0, where, '"embedder.id" must be a non-empty string');
  need(Number.isInteger(o.embedder.dim) && o.embedder.dim > 0, where, '"embedder.dim" must be a positive integer');
  need(typeof o.embedder.hash === 'string' && /^[0-9a-f]{16,}$/.test(o.embedder.hash), where, '"embedder.hash" must be a hex string');
  need(Number.isInteger(o.k) && o.k > 0, where, '"k" must be a positive integer');
  need(Array.isArray(o.models) && o.models.length > 0, where, '"models" must be a non-empty array');
  const seen = new Set<string>();
  o.models.forEach((mm: any, i: number) => {
    const f = `"models[${i}]`;
    need(typeof mm === 'object' && mm !== null, where, `${f}" must be an object`);
    need(typeof mm.name === 'string' && mm.name.length > 0, where, `${f}.name" must be a non-empty string`);
    need(!seen.has(mm.name), where, `${f}.name" duplicates "${mm.name}"`);
    seen.add(mm.name);
    need(isNum(mm.cost_per_1k) && mm.cost_per_1k >= 0, where, `${f}.cost_per_1k" must be a finite number >= 0`);
    if (mm.pricing !== null) {
      need(typeof mm.pricing === 'object', where, `${f}.pricing" must be an object or null`);
      need(isNum(mm.pricing.input_per_1m) && mm.pricing.input_per_1m >= 0, where, `${f}.pricing.input_per_1m" must be a number >= 0`);
      need(isNum(mm.pricing.output_per_1m) && mm.pricing.output_per_1m >= 0, where, `${f}.pricing.output_per_1m" must be a number >= 0`);
      need(typeof mm.pricing.estimated === 'boolean', where, `${f}.pricing.estimated" must be a boolean`);
    }
  });
  const cn = o.cost_normalisation;
  need(cn && cn.kind === 'log-range', where, '"cost_normalisation.kind" must be "log-range"');
  need(isNum(cn.min_per_1k) && isNum(cn.max_per_1k) && cn.min_per_1k >= 0 && cn.max_per_1k >= cn.min_per_1k, where, '"cost_normalisation" min_per_1k/max_per_1k must be numbers with 0 <= min <= max');
  const a = o.assignment;
  need(a && (a.mode === 'hard' || a.mode === 'soft'), where, '"assignment.mode" must be "hard" or "soft"');
  need(isNum(a.temperature) && a.temperature > 0, where, '"assignment.temperature" must be a number > 0');
  need(Number.isInteger(a.top) && a.top >= 1, where, '"assignment.top" must be an integer >= 1');
  need(isNum(o.default_cost_weight) && o.default_cost_weight >= 0, where, '"default_cost_weight" must be a number >= 0');
  need(o.files && typeof o.files.centroids === 'string' && typeof o.files.errors === 'string' && typeof o.files.counts === 'string', where, '"files" must name centroids, errors and counts');
  need(o.sha256 && typeof o.sha256 === 'object', where, '"sha256" must be an object');
  if (o.router !== undefined) {
    const r = o.router;
    need(typeof r === 'object' && r !== null && (r.kind === 'clusters' || r.kind === 'neighbours'), where, '"router.kind" must be "clusters" or "neighbours"');
    if (r.kind === 'neighbours') {
      need(Number.isInteger(r.k) && r.k >= 1, where, '"router.k" must be an integer >= 1');
      need(isNum(r.alpha) && r.alpha >= 0, where, '"router.alpha" must be a number >= 0');
      need(Number.isInteger(r.samples) && r.samples >= 1, where, '"router.samples" must be an integer >= 1');
      need(r.nprobe === undefined || r.nprobe === 'all' || (Number.isInteger(r.nprobe) && r.nprobe >= 0), where, `"router.nprobe" must be an integer >= 0 or "all" (0 and "all" = exact search), got ${JSON.stringify(r.nprobe)}`);
      need(typeof o.files.points === 'string' && typeof o.files.labels === 'string', where, '"files" must name points and labels for a neighbours router');
    }
  }
  return o as ProfileManifest;
}

function readTable(dir: string, file: string, expectBytes: number, expectSha: string | undefined): Uint8Array {
  const where = join(dir, file);
  let b: Buffer;
  try { b = readFileSync(where); } catch (e) { throw new ProfileError(`${where}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
  need(b.byteLength === expectBytes, where, `is ${b.byteLength} bytes, expected ${expectBytes}`);
  need(typeof expectSha === 'string', join(dir, 'profile.json'), `"sha256" has no entry for ${file}`);
  need(sha(b) === expectSha, where, 'sha256 does not match the manifest (corrupt or edited file)');
  // Copy into an aligned, shareable buffer of its own (Buffer pools are not 4-byte aligned).
  const out = new Uint8Array(new SharedArrayBuffer(b.byteLength));
  out.set(b);
  return out;
}

/** Refuses an embedder other than the one the profile was fitted with (id, dim and table/weight hash). */
export function checkEmbedder(m: ProfileManifest, embedder: EmbedderIdentity, where: string): void {
  need(embedder.id === m.embedder.id, where, `fitted with embedder "${m.embedder.id}", but the configured embedder is "${embedder.id}"`);
  need(embedder.dim === m.embedder.dim, where, `fitted with embedder dim ${m.embedder.dim}, but the configured embedder has dim ${embedder.dim}`);
  need(embedder.hash === m.embedder.hash, where, `fitted with embedder hash ${m.embedder.hash}, but the configured embedder's hash is ${embedder.hash} (same kind, different tables or weights)`);
}

export interface EmbedderIdentity { id: string; dim: number; hash: string }

/** Loads and validates a profile; when `embedder` is given, refuses one that differs from the fitted one. */
export function loadProfile(dir: string, embedder?: EmbedderIdentity): Profile {
  const where = join(dir, 'profile.json');
  let raw: string;
  try { raw = readFileSync(where, 'utf8'); } catch (e) { throw new ProfileError(`${where}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
  let parsed: unknown;
  try { parsed = JSON.parse(raw); } catch (e) { throw new ProfileError(`${where}: not valid JSON (${(e as Error).message})`); }
  const m = validateManifest(parsed, where);
  if (embedder) checkEmbedder(m, embedder, where);
  const k = m.k, dim = m.embedder.dim, M = m.models.length;
  const centroids = new Float32Array(readTable(dir, m.files.centroids, k * dim * 4, m.sha256[m.files.centroids]).buffer);
  const errors = new Float32Array(readTable(dir, m.files.errors, k * M * 4, m.sha256[m.files.errors]).buffer);
  const counts = new Uint32Array(readTable(dir, m.files.counts, k * M * 4, m.sha256[m.files.counts]).buffer);
  // Test first, build the message only for a bad entry: an eager join() per
  // entry cost ~0.45 µs, 1.7 s of start-up at K=10,000 x dim 384.
  for (let i = 0; i < centroids.length; i++) if (!Number.isFinite(centroids[i])) need(false, join(dir, m.files.centroids), `entry ${i} is not finite`);
  for (let i = 0; i < errors.length; i++) {
    const e = errors[i];
    if (!(e !== e || (e >= 0 && e <= 1))) need(false, join(dir, m.files.errors), `entry ${i} (cluster ${Math.floor(i / M)}, model "${m.models[i % M].name}") is ${e}, outside [0, 1]`);
  }
  const p = fromParts(m, dir, centroids, errors, counts);
  if (m.router?.kind === 'neighbours') {
    const n = m.router.samples;
    const points = new Float32Array(readTable(dir, m.files.points!, n * dim * 4, m.sha256[m.files.points!]).buffer);
    const labels = new Float32Array(readTable(dir, m.files.labels!, n * M * 4, m.sha256[m.files.labels!]).buffer);
    for (let i = 0; i < points.length; i++) if (!Number.isFinite(points[i])) need(false, join(dir, m.files.points!), `entry ${i} is not finite`);
    for (let i = 0; i < labels.length; i++) {
      const e = labels[i];
      if (!(e !== e || (e >= 0 && e <= 1))) need(false, join(dir, m.files.labels!), `entry ${i} (prompt ${Math.floor(i / M)}, model "${m.models[i % M].name}") is ${e}, outside [0, 1]`);
    }
    p.points = points; p.labels = labels;
  }
  return p;
}

export function fromParts(manifest: ProfileManifest, dir: string | null, centroids: Float32Array, errors: Float32Array, counts: Uint32Array): Profile {
  const models = manifest.models.map((x) => x.name);
  return {
    manifest, dir, k: manifest.k, dim: manifest.embedder.dim, models, centroids, errors, counts,
    costNorm: costNormalisation(manifest.models.map((x) => x.cost_per_1k)).norm,
  };
}
