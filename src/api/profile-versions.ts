/**
 * Profile versions written by the models API (POST /v1/router/models,
 * src/api/profile-control.ts), and which profile directory the server starts on.
 *
 * Layout, under `router.versions_dir` (default `<state.dir>/profiles`):
 *
 *   <name>-v1/ <name>-v2/ ...   complete profile directories (profile.json, tables,
 *                               the native embedder's embedder.json + idf.f32)
 *   current.json                {"base": <router.profile, absolute>, "dir": <newest version>, "written": ISO time}
 *
 * A version is written to a temporary directory beside its final name
 * (`.tmp-<name>-...`) and renamed into place, so a crash leaves either no
 * version or a complete one, never a half-written directory under a version's
 * name; current.json is likewise written to a temporary file and renamed.
 * (No fsync: a power cut right after the answer can lose the newest version,
 * and current.json may then name a directory that is not complete on disk; the
 * start then fails naming the file, it does not silently route on less.)
 *
 * Which directory the server loads (`effectiveProfileDir`): current.json's
 * `dir` when its `base` is the configured router.profile, else router.profile.
 * So models added through the API survive a restart, and pointing
 * router.profile elsewhere (a new deploy) starts on that profile, ignoring
 * versions derived from the old one. To drop the added models: delete
 * current.json (the versions stay on disk) and restart, or reload another
 * directory. A reload (POST /v1/router/reload, SIGHUP) does not write
 * current.json: it lasts until the next restart.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { saveProfile, type Profile } from '../routing/profile.ts';
import type { Config } from '../config/schema.ts';

export const POINTER_FILE = 'current.json';

type VersionConfig = Pick<Config, 'router' | 'state'>;

/** Where versions and current.json live. */
export function versionsDir(config: VersionConfig): string {
  return resolve(config.router.versions_dir ?? join(config.state.dir, 'profiles'));
}

interface Pointer { base: string; dir: string; written: string }

function readPointer(config: VersionConfig): Pointer | undefined {
  const file = join(versionsDir(config), POINTER_FILE);
  let raw: string;
  try { raw = readFileSync(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let p: unknown;
  try { p = JSON.parse(raw); } catch (e) { throw new Error(`${file}: not valid JSON (${(e as Error).message}); delete it to start on router.profile`); }
  const o = p as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || typeof o.base !== 'string' || typeof o.dir !== 'string') throw new Error(`${file}: must hold {"base": "...", "dir": "..."}; delete it to start on router.profile`);
  return { base: o.base, dir: o.dir, written: String(o.written ?? '') };
}

/** The profile directory to load at start (see the header). Throws naming current.json when it is unreadable. */
export function effectiveProfileDir(config: VersionConfig): string {
  const p = readPointer(config);
  if (p !== undefined && resolve(p.base) === resolve(config.router.profile)) return p.dir;
  return config.router.profile;
}

/** Records `dir` as the newest version derived from router.profile (tmp file + rename). */
export function writePointer(config: VersionConfig, dir: string): void {
  const root = versionsDir(config);
  mkdirSync(root, { recursive: true });
  const tmp = join(root, `.${POINTER_FILE}.${process.pid}.${Date.now()}.tmp`);
  const body: Pointer = { base: resolve(config.router.profile), dir: resolve(dir), written: new Date().toISOString() };
  writeFileSync(tmp, JSON.stringify(body, null, 2) + '\n');
  renameSync(tmp, join(root, POINTER_FILE));
}

/** A directory-name-safe form of a profile name. */
function slug(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 80);
  return s === '' ? 'profile' : s;
}

/** The next free version number for `name` (1 + the highest present). */
function nextVersion(root: string, stem: string): number {
  let n = 0;
  const re = new RegExp(`^${stem.replace(/[.]/g, '\\.')}-v(\\d+)$`);
  for (const f of existsSync(root) ? readdirSync(root) : []) {
    const m = re.exec(f);
    if (m) n = Math.max(n, Number(m[1]));
  }
  return n + 1;
}

/**
 * Writes `profile` as a new version directory: the files of `fromDir` (the
 * native embedder's tables among them) overwritten by the profile's tables and
 * manifest, in a temporary directory renamed into place. Returns the
 * version's absolute path. The base name drops a previous `-vN` suffix, so
 * versions of versions count on (`name-v1`, `name-v2`, ...).
 */
export function writeVersion(config: VersionConfig, profile: Omit<Profile, 'dir' | 'costNorm'>, fromDir: string | null): string {
  const root = versionsDir(config);
  mkdirSync(root, { recursive: true });
  const stem = slug(profile.manifest.name.replace(/-v\d+$/, ''));
  const tmp = mkdtempSync(join(root, `.tmp-${stem}-`));
  try {
    if (fromDir !== null) cpSync(fromDir, tmp, { recursive: true, filter: (src) => basename(src) !== POINTER_FILE });
    saveProfile(tmp, profile);
    // Two writers (two replicas on one shared volume) may race for a number: rename fails for the loser, which takes the next one.
    for (let attempt = 0; ; attempt++) {
      const dir = join(root, `${stem}-v${nextVersion(root, stem)}`);
      try {
        renameSync(tmp, dir);
        return dir;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== 'EEXIST' && code !== 'ENOTEMPTY') || attempt > 20) throw e;
      }
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
