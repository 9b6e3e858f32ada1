/**
 * Builds the one Config of a process: defaults < YAML < env < flags, validated
 * once by a compiled ajv schema and deep-frozen. Every error names the key and
 * where its value came from (file, env var or flag), so a bad deployment fails
 * at start-up with a message that says what to fix.
 *
 * Pure apart from reading the YAML file: argv, env and cwd are parameters, so
 * tests exercise precedence without touching process state.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { Ajv } from 'ajv';
import { CONFIG_SCHEMA, SETTINGS, defaults, type Config, type Setting } from './schema.ts';
import { providerProblems } from './providers.ts';
import { routingProblems } from './routing.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

// allErrors: report every bad key at once rather than one per restart.
const validate = new Ajv({ allErrors: true, allowUnionTypes: true, strict: true }).compile(CONFIG_SCHEMA);

export interface LoadOptions {
  argv?: readonly string[];
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
}

export interface Cli {
  help: boolean;
  configFile: string | undefined;
  flags: Record<string, string | undefined>;
}

export function parseCli(argv: readonly string[]): Cli {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  };
  for (const s of SETTINGS) if (s.flag) options[s.flag] = { type: 'string' };
  try {
    const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
    const flags: Record<string, string | undefined> = {};
    for (const s of SETTINGS) if (s.flag) flags[s.flag] = values[s.flag] as string | undefined;
    return { help: values.help === true, configFile: values.config as string | undefined, flags };
  } catch (e) {
    throw new ConfigError(`${(e as Error).message}\n${usage()}`);
  }
}

export function usage(): string {
  const rows = SETTINGS.filter((s) => s.flag).map((s) => `  --${s.flag!.padEnd(22)}${s.env.padEnd(32)}${s.help}`);
  return ['Usage: npm start -- [--config file.yaml] [flags]', '  --config FILE           SWITCHYARD_CONFIG               YAML config file', ...rows,
    '  (SWITCHYARD_API_KEYS: comma-separated API keys, env or YAML only)'].join('\n');
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

function setPath(target: Obj, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = target;
  for (const k of keys.slice(0, -1)) { if (!isObj(o[k])) o[k] = {}; o = o[k] as Obj; }
  o[keys[keys.length - 1]] = value;
}

/** Deep merge of plain objects; arrays and scalars replace. Records which layer set each leaf. */
function mergeInto(target: Obj, layer: Obj, source: string, sources: Map<string, string>, prefix = ''): void {
  for (const [k, v] of Object.entries(layer)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (isObj(v) && isObj(target[k])) mergeInto(target[k] as Obj, v, source, sources, path);
    else { target[k] = v; sources.set(path, source); }
  }
}

/** env/flag string -> typed value. Unparseable input is kept as the string so the schema error names the key. */
function fromString(s: Setting, raw: string, cwd: string): unknown {
  const t = raw.trim();
  switch (s.type) {
    case 'string': return t;
    case 'string?': return t === '' || t === 'off' ? null : t;
    case 'path': return t === '' ? t : resolve(cwd, t);
    case 'integer': return /^-?\d+$/.test(t) ? Number(t) : raw;
    case 'number?': return t === 'profile' || t === 'null' ? null : t !== '' && Number.isFinite(Number(t)) ? Number(t) : raw;
    case 'list': return t === '' ? [] : t.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
  }
}

function readYaml(file: string): Obj {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    throw new ConfigError(`config: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let doc: unknown;
  try { doc = parseYaml(text); } catch (e) { throw new ConfigError(`config: ${file} is not valid YAML: ${(e as Error).message}`); }
  if (doc === null || doc === undefined) return {};
  if (!isObj(doc)) throw new ConfigError(`config: ${file} must hold a mapping of keys, got ${Array.isArray(doc) ? 'a list' : typeof doc}`);
  // Paths in a file are relative to the file, not to wherever the server was started.
  const base = dirname(file);
  const fix = (o: unknown, key: string) => { if (isObj(o) && typeof o[key] === 'string' && o[key] !== '') o[key] = resolve(base, o[key] as string); };
  fix(doc.router, 'profile');
  fix(doc.embedder, 'dir');
  fix(doc.state, 'dir');
  return doc;
}

function describeErrors(errors: NonNullable<typeof validate.errors>, sources: Map<string, string>): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of errors) {
    // if/then failures repeat the inner error; the inner one is the useful one.
    if (e.keyword === 'if') continue;
    const at = e.instancePath.slice(1).replaceAll('/', '.');
    let key = at, msg: string;
    switch (e.keyword) {
      case 'additionalProperties':
        key = at ? `${at}.${e.params.additionalProperty}` : String(e.params.additionalProperty);
        msg = `unknown key "${key}"`;
        break;
      case 'required':
        key = at ? `${at}.${e.params.missingProperty}` : String(e.params.missingProperty);
        msg = `"${key}" is required${key === 'embedder.dir' ? ' when embedder.kind is onnx' : ''}`;
        break;
      case 'enum':
        msg = `"${key}" must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
        if (key === 'server.threads') msg += ' when embedder.kind is onnx (its embedding pool is per process)';
        break;
      default:
        // The onnx branch's `then` demands a string dir; null (the default) means it was never set.
        msg = e.schemaPath.includes('/then/') && key === 'embedder.dir'
          ? '"embedder.dir" is required when embedder.kind is onnx (the model directory)'
          // Its schema is a union (integer or "auto"): ajv's "must match pattern ^auto$" for 1.5 would confuse.
          : key === 'server.threads' && (e.keyword === 'type' || e.keyword === 'pattern')
            ? '"server.threads" must be an integer from 1 to 256 or "auto"'
            : `"${key}" ${e.message}`;
    }
    const from = sources.get(key) ?? [...sources.entries()].find(([p]) => p.startsWith(`${key}.`) || key.startsWith(`${p}.`))?.[1];
    const line = from ? `${msg} (from ${from})` : msg;
    if (!seen.has(line)) { seen.add(line); out.push(line); }
  }
  return out.join('; ');
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/**
 * The whole precedence chain. Throws ConfigError naming the key and its source.
 * `config` overrides (objects, e.g. from a test) go in after the YAML, before env.
 */
export function loadConfig(opts: LoadOptions & { overrides?: Record<string, unknown> } = {}): Readonly<Config> {
  const env = opts.env ?? {};
  const cwd = opts.cwd ?? process.cwd();
  const cli = parseCli(opts.argv ?? []);
  const sources = new Map<string, string>();
  const cfg = defaults() as unknown as Obj;

  const file = cli.configFile ?? env.SWITCHYARD_CONFIG;
  if (file) {
    const path = resolve(cwd, file);
    mergeInto(cfg, readYaml(path), path, sources);
  }
  if (opts.overrides) mergeInto(cfg, structuredClone(opts.overrides), 'overrides', sources);
  for (const s of SETTINGS) {
    const raw = env[s.env];
    if (raw === undefined) continue;
    setPath(cfg, s.path, fromString(s, raw, cwd));
    sources.set(s.path, `env ${s.env}=${JSON.stringify(raw)}`);
  }
  for (const s of SETTINGS) {
    const raw = s.flag ? cli.flags[s.flag] : undefined;
    if (raw === undefined) continue;
    setPath(cfg, s.path, fromString(s, raw, cwd));
    sources.set(s.path, `flag --${s.flag}=${JSON.stringify(raw)}`);
  }
  if (!validate(cfg)) throw new ConfigError(`config: ${describeErrors(validate.errors ?? [], sources)}`);
  const problems = providerProblems((cfg as unknown as Config).providers, env).concat(routingProblems((cfg as unknown as Config).routing));
  if (problems.length) throw new ConfigError(`config: ${problems.join('; ')}`);
  return deepFreeze(cfg as unknown as Config);
}
