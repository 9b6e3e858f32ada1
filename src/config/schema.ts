/**
 * The server configuration: one JSON schema (compiled once by ajv in load.ts),
 * the defaults, and the env/flag table. Keys are snake_case in YAML and in the
 * typed Config alike, so there is no mapping layer to drift.
 *
 * Precedence: defaults < YAML (--config) < environment < command-line flags.
 * Unknown keys anywhere are an error naming the key (additionalProperties:
 * false at every level), so a typo fails at start-up instead of silently
 * falling back to a default.
 */
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Computed here rather than imported from src/fit/options.ts: that module pulls
// the fitting code (k-means, CSV) into the server's start-up for one constant.
export const DEFAULT_PROFILE_DIR = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'native-models/routerbench-default');

export interface Config {
  server: {
    host: string;
    /** 0 = an ephemeral port (tests); the bound port is reported by startServer. */
    port: number;
    /** Request body limit in bytes; larger bodies get 413 payload_too_large. */
    body_limit: number;
    /** How long close() waits for in-flight requests before dropping connections. */
    shutdown_timeout_ms: number;
    /** When non-empty, every route but /health needs one of these keys. */
    api_keys: string[];
  };
  router: {
    /** Profile directory (profile.json + tables). */
    profile: string;
    /** lambda used when a request omits cost_weight; null = the profile's default_cost_weight. */
    default_cost_weight: number | null;
    /** Entries in the /v1/route decision cache; 0 disables it. */
    cache_size: number;
  };
  embedder: {
    kind: 'native' | 'onnx';
    /** native: tables directory (default: the profile directory); onnx: the model directory (required). */
    dir: string | null;
  };
  /** Worker threads of the embedding pool (ONNX embedder only; the native embedder runs inline). */
  workers: number;
  limits: {
    /** Max characters of a prompt or of one /v1/embeddings input. */
    input_chars: number;
    /** Max inputs in one /v1/embeddings request. */
    embedding_inputs: number;
  };
  // providers: issue 4 adds the upstream provider section here (and to CONFIG_SCHEMA
  // and defaults below). Until then additionalProperties: false rejects it as unknown.
}

export function defaults(): Config {
  return {
    server: { host: '127.0.0.1', port: 8080, body_limit: 1024 * 1024, shutdown_timeout_ms: 10_000, api_keys: [] },
    router: { profile: DEFAULT_PROFILE_DIR, default_cost_weight: null, cache_size: 10_000 },
    embedder: { kind: 'native', dir: null },
    // One core stays with the event loop (uWS + inline routing); at least one worker.
    workers: Math.max(1, Math.min(8, availableParallelism() - 1)),
    limits: { input_chars: 65_536, embedding_inputs: 256 },
  };
}

const int = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum });

export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      properties: {
        host: { type: 'string', minLength: 1 },
        port: int(0, 65535),
        // Floor: an error body must fit; ceiling: one body is buffered in memory whole.
        body_limit: int(1024, 256 * 1024 * 1024),
        shutdown_timeout_ms: int(0, 10 * 60_000),
        api_keys: { type: 'array', items: { type: 'string', minLength: 1, pattern: '^[\\x21-\\x7e]+$' } },
      },
    },
    router: {
      type: 'object',
      additionalProperties: false,
      properties: {
        profile: { type: 'string', minLength: 1 },
        default_cost_weight: { type: ['number', 'null'], minimum: 0 },
        cache_size: int(0, 10_000_000),
      },
    },
    embedder: {
      type: 'object',
      additionalProperties: false,
      properties: {
        kind: { enum: ['native', 'onnx'] },
        dir: { type: ['string', 'null'], minLength: 1 },
      },
      if: { properties: { kind: { const: 'onnx' } } },
      then: { properties: { dir: { type: 'string' } }, required: ['dir'] },
    },
    workers: int(1, 256),
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        input_chars: int(1, 16 * 1024 * 1024),
        embedding_inputs: int(1, 100_000),
      },
    },
    // providers: { ... }  <- issue 4
  },
} as const;

/** How a setting is parsed from an env var or flag string. */
export type SettingType = 'string' | 'integer' | 'number?' | 'path' | 'list';

export interface Setting {
  /** Dotted config path. */
  path: string;
  env: string;
  /** Long flag name without `--`; absent = env/YAML only (secrets do not belong in argv: `ps` shows it). */
  flag?: string;
  type: SettingType;
  help: string;
}

export const SETTINGS: readonly Setting[] = [
  { path: 'server.host', env: 'HOST', flag: 'host', type: 'string', help: 'listen address' },
  { path: 'server.port', env: 'PORT', flag: 'port', type: 'integer', help: 'listen port (0 = ephemeral)' },
  { path: 'server.body_limit', env: 'SWITCHYARD_BODY_LIMIT', flag: 'body-limit', type: 'integer', help: 'max request body bytes' },
  { path: 'server.shutdown_timeout_ms', env: 'SWITCHYARD_SHUTDOWN_TIMEOUT_MS', flag: 'shutdown-timeout-ms', type: 'integer', help: 'drain bound on SIGTERM/SIGINT' },
  { path: 'server.api_keys', env: 'SWITCHYARD_API_KEYS', type: 'list', help: 'comma-separated API keys (no flag: argv is visible in ps)' },
  { path: 'router.profile', env: 'SWITCHYARD_PROFILE', flag: 'profile', type: 'path', help: 'router profile directory' },
  { path: 'router.default_cost_weight', env: 'SWITCHYARD_COST_WEIGHT', flag: 'cost-weight', type: 'number?', help: 'default lambda ("profile" = the profile\'s)' },
  { path: 'router.cache_size', env: 'SWITCHYARD_CACHE_SIZE', flag: 'cache-size', type: 'integer', help: 'decision cache entries (0 = off)' },
  { path: 'embedder.kind', env: 'SWITCHYARD_EMBEDDER', flag: 'embedder', type: 'string', help: 'native | onnx' },
  { path: 'embedder.dir', env: 'SWITCHYARD_EMBEDDER_DIR', flag: 'embedder-dir', type: 'path', help: 'ONNX model dir (native: tables dir, default the profile dir)' },
  { path: 'workers', env: 'SWITCHYARD_WORKERS', flag: 'workers', type: 'integer', help: 'embedding worker threads (ONNX only)' },
  { path: 'limits.input_chars', env: 'SWITCHYARD_INPUT_CHARS', flag: 'input-chars', type: 'integer', help: 'max chars of a prompt / embeddings input' },
  { path: 'limits.embedding_inputs', env: 'SWITCHYARD_EMBEDDING_INPUTS', flag: 'embedding-inputs', type: 'integer', help: 'max inputs per /v1/embeddings call' },
];
