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
import { providerNames } from '../providers/registry.ts';
import { CATALOG_SCHEMA, type CatalogConfig } from './catalog.ts';
import { TENANTS_SCHEMA, type TenantConfig } from './tenants.ts';

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
    /**
     * Lingering close after a 413 (src/edge/exchange.ts refuseBody): the rest of
     * the refused body is read and discarded, at most this many bytes and this
     * long, before the connection closes, so the client reads the 413 instead of
     * an EPIPE/reset. 0 bytes or 0 ms = close at once.
     */
    linger_bytes: number;
    linger_ms: number;
    /** How long close() waits for in-flight requests before dropping connections. */
    shutdown_timeout_ms: number;
    /** When non-empty, every route but /health needs one of these keys. */
    api_keys: string[];
    /**
     * HTTP threads: each runs its own uWS App on the same port (SO_REUSEPORT;
     * src/edge/threads.ts). "auto" = the number of cores. 1 = the App runs on
     * the main thread, no worker threads. Default and its measurements: DEFAULT_THREADS.
     */
    threads: number | 'auto';
    /** Browser access (src/edge/cors.ts): origins allowed to call the API, e.g. "http://localhost:3000"; "*" = any; empty = no CORS (default). */
    cors: { allowed_origins: string[] };
  };
  router: {
    /** Profile directory (profile.json + tables). */
    profile: string;
    /** lambda used when a request omits cost_weight; null = the profile's default_cost_weight. */
    default_cost_weight: number | null;
    /**
     * Entries in the /v1/route decision cache; 0 disables it. One cache for the
     * process (src/api/route-cache.ts): cache_size x (24 + slot) bytes of shared
     * memory, the slot sized for the profile (1,024 B for the default).
     */
    cache_size: number;
    /**
     * Where the nearest-centroid search runs: "inline" on the HTTP thread,
     * "pool" in piscina route workers, "auto" = dispatchFor in src/pool/pool.ts
     * (the pool only for K >= ROUTE_POOL_MIN_K with cores to spare).
     */
    nearest: 'auto' | 'inline' | 'pool';
    /**
     * Where POST /v1/router/models writes profile versions and current.json
     * (src/api/profile-versions.ts); null = <state.dir>/profiles. With several
     * replicas it must be one shared volume (every replica loads the version
     * one of them wrote).
     */
    versions_dir: string | null;
  };
  embedder: {
    kind: 'native' | 'onnx';
    /** native: tables directory (default: the profile directory); onnx: the model directory (required). */
    dir: string | null;
    /** ONNX micro-batching: most texts in one pool task (1 = off). */
    batch_max_size: number;
    /** ONNX micro-batching: longest a text waits for a batch while every worker is busy. */
    batch_max_wait_ms: number;
    /**
     * Extra `model` names POST /v1/embeddings answers with the router's own
     * embedder (e.g. "text-embedding-3-small", so OpenAI clients work with their
     * default). Off (empty) by default: such a name then gets a 400 rather than
     * vectors from a model the client did not ask for.
     */
    aliases: string[];
  };
  /**
   * Worker threads of the embedding pool (ONNX embedder only; the native
   * embedder runs inline), and of the route pool for profiles with
   * K >= ROUTE_POOL_MIN_K, shared out over the HTTP threads (pool.ts routePoolThreads).
   */
  workers: number;
  limits: {
    /** Max characters of a prompt or of one /v1/embeddings input. */
    input_chars: number;
    /** Max inputs in one /v1/embeddings request. */
    embedding_inputs: number;
  };
  /** The OpenAI-compatible gateway's upstreams (POST /v1/chat/completions); see docs/gateway.md. */
  providers: ProvidersConfig;
  /** What outlives a request (src/store/): the embedded SQLite store. */
  state: StateConfig;
  /** Rule routing (issue 9): router configs, tiers, sessions; see docs/rules-api.md. */
  routing: RoutingConfig;
  /** Organisations, their keys, limits and guardrail defaults (src/config/tenants.ts; README "Operating"). */
  tenants: TenantConfig[];
  /**
   * GET /metrics (src/metrics/): `enabled` false (or "off" from --metrics /
   * SWITCHYARD_METRICS) subscribes nothing and serves no /metrics; `public`
   * serves it without an API key.
   */
  metrics: { enabled: boolean | 'on' | 'off'; public: boolean };
}

export interface RoutingConfig {
  /**
   * Router configs (src/routing/rules.ts RouterConfig, without id/version),
   * seeded into the store at every start: the YAML is authoritative for the
   * names it lists (src/api/router-config-seed.ts says exactly how).
   */
  configs: Record<string, unknown>[];
  /** The config used when a request names none; null = the first of `configs` (none: requests must name one). */
  default_config: string | null;
  /** Model names rules may name besides providers.models and the router profile's (labels for POST /api/v1/route-model). */
  extra_models: string[];
  /** Price tier bounds, blended USD per 1M tokens (src/routing/tiers.ts). */
  tiers: { economy: number; standard: number };
  sessions: {
    /** Estimated tokens (routing/tokens.ts) of a session's history prepended to a call, newest messages first. */
    token_budget: number;
    /** Messages kept per session in the store (older ones are deleted on append). */
    max_messages: number;
  };
}

export interface StateConfig {
  /** Directory of the SQLite file (switchyard.db); created on start. Relative: to the YAML file, or to the working directory. */
  dir: string;
  responses: {
    /** Stored Responses API responses are deleted this many days after creation; 0 = kept until deleted. */
    ttl_days: number;
  };
  /** How often the writer thread deletes expired rows (reads never return them in between). */
  purge_interval_ms: number;
  /** Activity log (issue 11, GET /v1/org/logs; src/api/activity-log.ts). */
  logs: {
    /** true / "on" (the flag and env var give strings): every routed request is logged; false / "off": nothing subscribes. */
    enabled: boolean | 'on' | 'off';
    /** Rows older than this are deleted (checked every purge_interval_ms); 0 = kept. */
    retention_days: number;
    /** Each HTTP thread writes its buffered rows at least this often (and at 500 rows). */
    flush_ms: number;
    /**
     * Whether the decision-only endpoints (POST /v1/route, /api/v1/route-model: no model is
     * called) are logged too. Off keeps the log for the requests that call a model and spares the
     * hottest endpoint the store's per-row cost (docs/org.md, "Cost per request").
     */
    decisions: boolean | 'on' | 'off';
  };
  /** Prompt cache (X-GR-Cache-TTL; src/api/prompt-cache.ts): one shared-memory cache for every HTTP thread. */
  prompt_cache: {
    /** Size of the shared buffer in MiB; 0 turns the cache off. */
    size_mb: number;
    /** Largest cached answer in KiB (a slot); larger answers are not cached. */
    slot_kb: number;
  };
  /**
   * Several replicas on one Redis (issue 12; docs/replicas.md). `url` null:
   * the embedded defaults only (SQLite, shared memory across HTTP threads).
   */
  redis: RedisConfig;
}

export interface RedisConfig {
  /**
   * redis://[user:pass@]host:port[/db] or rediss:// (TLS); null = off. Sentinel
   * and Cluster: `sentinels` / `cluster_nodes` below (the url then gives the
   * credentials and db only).
   */
  url: string | null;
  /** Every key starts with `<key_prefix>:v<schema>:`; replicas sharing one Redis for separate deployments use different prefixes. */
  key_prefix: string;
  /**
   * Where stored data (responses, sessions, preferences, feedback, configs,
   * route decisions, activity log) lives with Redis on: "redis" (shared by
   * every replica) or "sqlite" (each replica's own file; only the caches,
   * limits, health and config notifications go through Redis).
   */
  store: 'redis' | 'sqlite';
  /** Rate limits when Redis cannot answer: "open" admits (counted per replica meanwhile), "closed" answers 503. */
  rate_limit_failure: 'open' | 'closed';
  /** A command not answered in this time fails (the caller degrades; see docs/replicas.md). */
  command_timeout_ms: number;
  connect_timeout_ms: number;
  /** Each replica publishes its model-health counts this often and reads the others' back: the staleness bound. */
  health_sync_ms: number;
  /** Activity log stream: at most this many entries (XADD MAXLEN ~). */
  log_max_len: number;
  /** Sentinel: [{host, port}] and the master group's name. */
  sentinels: { host: string; port: number }[];
  sentinel_name: string | null;
  /** Cluster: seed nodes [{host, port}]; keys of one family share a hash tag. */
  cluster_nodes: { host: string; port: number }[];
}

export interface Timeouts { connect_ms: number; first_byte_ms: number; total_ms: number }

export interface BackendRefConfig {
  /** Default: the api_format's public endpoint (https://api.openai.com/v1, https://api.anthropic.com). */
  base_url?: string;
  /**
   * Name of the environment variable holding the key (never the key itself).
   * Omitted: no credentials are sent (a local vLLM, the mock upstream).
   * A named variable that is unset or empty is a start-up error.
   */
  api_key_env?: string;
  headers?: Record<string, string>;
}

export interface ProviderModelConfig {
  /** Routing name: a profile model name to be routable by `auto`, any name to be callable explicitly. */
  name: string;
  api_format: string;
  /** The name the upstream knows the model by; default `name`. */
  upstream_model?: string;
  /** USD per million tokens; `currency` may be omitted (USD is the only one). */
  pricing?: { currency?: 'USD'; prompt_per_1m: number; completion_per_1m: number };
  /** Balanced round-robin; at least one. */
  backend_refs: BackendRefConfig[];
  /** Over providers.timeouts, key by key. */
  timeouts?: Partial<Timeouts>;
  /** Static headers sent with every request to this model (a backend's own headers win). */
  headers?: Record<string, string>;
  /** Anthropic requires max_tokens: used when the client sends none (default 1024). */
  default_max_tokens?: number;
  /** GreatRouter catalog metadata (src/config/catalog.ts, docs/greatrouter.md); omitted = defaults. */
  catalog?: CatalogConfig;
}

export interface HealthConfig {
  failure_threshold: number;
  failure_ratio: number;
  min_samples: number;
  window_size: number;
  window_ms: number;
  cooldown_ms: number;
  probe_timeout_ms: number;
  latency_target_ms: number;
  latency_weight: number;
}

export interface ProvidersConfig {
  models: ProviderModelConfig[];
  /** What `auto` embeds: the last user message, or the whole conversation. */
  route_on: 'last_user_message' | 'conversation';
  health: HealthConfig;
  /** Defaults for every model's timeouts. */
  timeouts: Timeouts;
  /** How long a backend that refused a connection is skipped. */
  backend_down_ms: number;
}

/** `model` values that mean "let the router choose". */
export const ROUTER_ALIASES: readonly string[] = ['auto', 'router', 'MoM'];

/**
 * server.threads default: "auto" (one HTTP thread per core), chosen from
 * `npm run bench:http` (= --threads 1,2 there) on the 2-core dev machine, run of
 * 2026-11-23 18:36 UTC in bench/results/http.json: wrk, 64 connections, one wrk
 * thread on the same two cores; requests/s, p99, and the ratio to the 1-thread
 * bare uWS server that the targets are defined on:
 *
 *   scenario                      1 thread                2 threads ("auto")
 *   supplied 384-float embedding  24.3k  5.0 ms  19%      41.7k  3.8 ms  32%   (target 25%)
 *   unique prompts (misses)       28.0k  5.2 ms  21%      47.4k  5.6 ms  36%   (target 30%)
 *   repeated prompts (hits)      115.2k  1.6 ms  81%      83.8k  3.3 ms  59%   (target 45%)
 *
 * Two threads take both CPU-bound scenarios over their targets with 1.7x the
 * throughput; one thread reaches neither. The cost is on cache hits: they are
 * so cheap that wrk is the bottleneck, and with two server threads plus wrk on
 * two cores one server thread always shares a core with wrk, so hits lose ~27%
 * throughput (still over target) and their p99 goes from 1.6 to 3.3 ms. That
 * contention comes from the load generator sharing the server's two cores,
 * which a deployment does not do. Memory: ~30 MB RSS per extra thread at
 * start (the decision cache is one for the process). With the ONNX embedder "auto"
 * means 1 (its embedding pool is per process).
 *
 * The gateway (POST /v1/chat/completions, model "auto", proxied to the mock
 * upstream) agrees, measured after its hot-path rework with
 * `npm run bench:gateway -- --only load[,ttfb,portkey] [--threads 1]`,
 * 2026-11-23 19:39 and 19:48 UTC, machine otherwise idle: JSON at 64
 * connections 17.1k rps with 1 thread vs 19.0k with 2 (30% vs 33% of the
 * mock alone), SSE 13.6k vs 14.4k (30% vs 31%); at 1 connection the added
 * p50 is the same (0.120 vs 0.127 ms: a connection is served by one thread
 * either way). The mock and wrk share the two cores, which caps the gain.
 */
export const DEFAULT_THREADS: number | 'auto' = 'auto';

export function defaults(): Config {
  return {
    server: { host: '127.0.0.1', port: 8080, body_limit: 1024 * 1024, linger_bytes: 64 * 1024 * 1024, linger_ms: 5_000, shutdown_timeout_ms: 10_000, api_keys: [], threads: DEFAULT_THREADS, cors: { allowed_origins: [] } },
    router: { profile: DEFAULT_PROFILE_DIR, default_cost_weight: null, cache_size: 10_000, nearest: 'auto', versions_dir: null },
    embedder: { kind: 'native', dir: null, batch_max_size: 32, batch_max_wait_ms: 2, aliases: [] },
    // One core stays with the event loop (uWS + inline routing); at least one worker.
    workers: Math.max(1, Math.min(8, availableParallelism() - 1)),
    limits: { input_chars: 65_536, embedding_inputs: 256 },
    providers: {
      models: [],
      route_on: 'last_user_message',
      // Same values as providers/health.ts DEFAULT_HEALTH (a test checks they agree).
      health: {
        failure_threshold: 5, failure_ratio: 0.5, min_samples: 20, window_size: 100, window_ms: 60_000,
        cooldown_ms: 30_000, probe_timeout_ms: 30_000, latency_target_ms: 2_000, latency_weight: 0.1,
      },
      timeouts: { connect_ms: 5_000, first_byte_ms: 60_000, total_ms: 600_000 },
      backend_down_ms: 10_000,
    },
    // 30 days: what OpenAI documents for stored responses.
    state: {
      dir: './data', responses: { ttl_days: 30 }, purge_interval_ms: 60 * 60_000,
      logs: { enabled: true, retention_days: 30, flush_ms: 250, decisions: true },
      prompt_cache: { size_mb: 32, slot_kb: 32 },
      redis: {
        url: null, key_prefix: 'switchyard', store: 'redis', rate_limit_failure: 'open',
        command_timeout_ms: 500, connect_timeout_ms: 2_000, health_sync_ms: 1_000, log_max_len: 1_000_000,
        sentinels: [], sentinel_name: null, cluster_nodes: [],
      },
    },
    routing: { configs: [], default_config: null, extra_models: [], tiers: { economy: 1, standard: 5 }, sessions: { token_budget: 4_000, max_messages: 200 } },
    tenants: [],
    metrics: { enabled: true, public: false },
  };
}

const int = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum });

const HEADERS_SCHEMA = {
  type: 'object',
  // RFC 9110 token names; values without CR/LF/NUL (no header injection).
  propertyNames: { pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' },
  additionalProperties: { type: 'string', pattern: '^[^\\r\\n\\u0000]*$' },
} as const;

const HOST_PORT = {
  type: 'object', additionalProperties: false, required: ['host', 'port'],
  properties: { host: { type: 'string', minLength: 1 }, port: int(1, 65_535) },
} as const;

const TIMEOUT_KEYS = {
  connect_ms: int(1, 10 * 60_000),
  first_byte_ms: int(1, 60 * 60_000),
  total_ms: int(1, 24 * 60 * 60_000),
};

const PROVIDERS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    models: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'api_format', 'backend_refs'],
        properties: {
          // Visible ASCII without ',': names go into response headers (x-switchyard-candidates is a comma list).
          name: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x2b\\x2d-\\x7e]+$' },
          api_format: { enum: providerNames() },
          upstream_model: { type: 'string', minLength: 1 },
          pricing: {
            type: 'object',
            additionalProperties: false,
            required: ['prompt_per_1m', 'completion_per_1m'],
            properties: {
              currency: { enum: ['USD'] },
              prompt_per_1m: { type: 'number', minimum: 0 },
              completion_per_1m: { type: 'number', minimum: 0 },
            },
          },
          backend_refs: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              additionalProperties: false,
              properties: {
                base_url: { type: 'string', pattern: '^https?://[^\\s]+$' },
                // A variable name, so a pasted key (sk-...) is refused rather than treated as a name.
                api_key_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
                headers: HEADERS_SCHEMA,
              },
            },
          },
          timeouts: { type: 'object', additionalProperties: false, properties: TIMEOUT_KEYS },
          headers: HEADERS_SCHEMA,
          default_max_tokens: int(1, 10_000_000),
          catalog: CATALOG_SCHEMA,
        },
      },
    },
    route_on: { enum: ['last_user_message', 'conversation'] },
    health: {
      type: 'object',
      additionalProperties: false,
      properties: {
        failure_threshold: int(1, 1_000_000),
        failure_ratio: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
        min_samples: int(1, 1_000_000),
        window_size: int(1, 10_000),
        window_ms: int(1, 24 * 60 * 60_000),
        cooldown_ms: int(0, 24 * 60 * 60_000),
        probe_timeout_ms: int(1, 24 * 60 * 60_000),
        latency_target_ms: int(0, 10 * 60_000),
        latency_weight: { type: 'number', minimum: 0, maximum: 1000 },
      },
    },
    timeouts: { type: 'object', additionalProperties: false, properties: TIMEOUT_KEYS },
    backend_down_ms: int(0, 24 * 60 * 60_000),
  },
} as const;

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
        // Discarding costs a read syscall per chunk, no memory; the bounds keep a
        // client that uploads forever from holding the connection (and a slot of
        // the drain) forever.
        linger_bytes: int(0, 1024 * 1024 * 1024),
        linger_ms: int(0, 10 * 60_000),
        shutdown_timeout_ms: int(0, 10 * 60_000),
        api_keys: { type: 'array', items: { type: 'string', minLength: 1, pattern: '^[\\x21-\\x7e]+$' } },
        // An integer 1..256 or the string "auto" (minimum applies to numbers only, pattern to strings only).
        threads: { type: ['integer', 'string'], minimum: 1, maximum: 256, pattern: '^auto$' },
        cors: {
          type: 'object',
          additionalProperties: false,
          properties: {
            // An origin as browsers send it (scheme://host[:port], no path or trailing slash), or "*".
            allowed_origins: { type: 'array', items: { type: 'string', maxLength: 512, pattern: '^(\\*|[a-zA-Z][a-zA-Z0-9+.-]*://[^/\\s]+)$' } },
          },
        },
      },
    },
    router: {
      type: 'object',
      additionalProperties: false,
      properties: {
        profile: { type: 'string', minLength: 1 },
        default_cost_weight: { type: ['number', 'null'], minimum: 0 },
        cache_size: int(0, 10_000_000),
        nearest: { enum: ['auto', 'inline', 'pool'] },
        versions_dir: { type: ['string', 'null'], minLength: 1 },
      },
    },
    embedder: {
      type: 'object',
      additionalProperties: false,
      properties: {
        kind: { enum: ['native', 'onnx'] },
        dir: { type: ['string', 'null'], minLength: 1 },
        batch_max_size: int(1, 1024),
        batch_max_wait_ms: int(0, 1000),
        aliases: { type: 'array', uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 256 } },
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
    providers: PROVIDERS_SCHEMA,
    state: {
      type: 'object',
      additionalProperties: false,
      properties: {
        dir: { type: 'string', minLength: 1 },
        responses: {
          type: 'object',
          additionalProperties: false,
          // Fractions allowed (0.5 = 12 hours); ten years at most.
          properties: { ttl_days: { type: 'number', minimum: 0, maximum: 3650 } },
        },
        // Floor: a purge is a range scan and a write transaction, not something to run in a loop.
        purge_interval_ms: int(1_000, 7 * 24 * 60 * 60_000),
        logs: {
          type: 'object',
          additionalProperties: false,
          properties: { enabled: { enum: [true, false, 'on', 'off'] }, retention_days: { type: 'number', minimum: 0, maximum: 3650 }, flush_ms: int(10, 60_000), decisions: { enum: [true, false, 'on', 'off'] } },
        },
        prompt_cache: {
          type: 'object',
          additionalProperties: false,
          properties: { size_mb: int(0, 16_384), slot_kb: int(1, 1_024) },
        },
        redis: {
          type: 'object',
          additionalProperties: false,
          properties: {
            url: { type: ['string', 'null'], pattern: '^rediss?://' },
            key_prefix: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
            store: { enum: ['redis', 'sqlite'] },
            rate_limit_failure: { enum: ['open', 'closed'] },
            command_timeout_ms: int(1, 60_000),
            connect_timeout_ms: int(1, 60_000),
            health_sync_ms: int(50, 60_000),
            log_max_len: int(1_000, 1_000_000_000),
            sentinels: { type: 'array', items: HOST_PORT },
            sentinel_name: { type: ['string', 'null'], minLength: 1 },
            cluster_nodes: { type: 'array', items: HOST_PORT },
          },
        },
      },
    },
    routing: {
      type: 'object',
      additionalProperties: false,
      properties: {
        // Each config's own fields are checked by src/routing/rules-validate.ts (config/routing.ts), naming routing.configs[i].field.
        configs: { type: 'array', maxItems: 10_000, items: { type: 'object' } },
        default_config: { type: ['string', 'null'], minLength: 1 },
        extra_models: { type: 'array', uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 256 } },
        tiers: {
          type: 'object',
          additionalProperties: false,
          required: ['economy', 'standard'],
          properties: { economy: { type: 'number', minimum: 0 }, standard: { type: 'number', minimum: 0 } },
        },
        sessions: {
          type: 'object',
          additionalProperties: false,
          properties: { token_budget: int(0, 10_000_000), max_messages: int(1, 100_000) },
        },
      },
    },
    tenants: TENANTS_SCHEMA,
    // enabled: a boolean in YAML; "on"/"off" from the flag and env var (settings are strings there).
    metrics: { type: 'object', additionalProperties: false, properties: { enabled: { enum: [true, false, 'on', 'off'] }, public: { type: 'boolean' } } },
  },
  // The ONNX embedder's pool belongs to the process: N HTTP threads would each
  // start one (N x the model's memory and threads). "auto" resolves to 1 there.
  if: { properties: { embedder: { type: 'object', properties: { kind: { const: 'onnx' } } } } },
  then: { properties: { server: { type: 'object', properties: { threads: { enum: [1, 'auto'] } } } } },
} as const;

/** How a setting is parsed from an env var or flag string. */
export type SettingType = 'string' | 'string?' | 'integer' | 'number?' | 'path' | 'list';

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
  { path: 'server.linger_bytes', env: 'SWITCHYARD_LINGER_BYTES', flag: 'linger-bytes', type: 'integer', help: 'after a 413, most body bytes read and discarded before closing' },
  { path: 'server.linger_ms', env: 'SWITCHYARD_LINGER_MS', flag: 'linger-ms', type: 'integer', help: 'after a 413, longest the rest of the body is read before closing' },
  { path: 'server.shutdown_timeout_ms', env: 'SWITCHYARD_SHUTDOWN_TIMEOUT_MS', flag: 'shutdown-timeout-ms', type: 'integer', help: 'drain bound on SIGTERM/SIGINT' },
  { path: 'server.api_keys', env: 'SWITCHYARD_API_KEYS', type: 'list', help: 'comma-separated API keys (no flag: argv is visible in ps)' },
  { path: 'server.cors.allowed_origins', env: 'SWITCHYARD_CORS_ORIGINS', flag: 'cors-origins', type: 'list', help: 'comma-separated origins allowed by CORS ("*" = any; empty = off)' },
  { path: 'server.threads', env: 'SWITCHYARD_THREADS', flag: 'threads', type: 'integer', help: 'HTTP threads, one uWS App each ("auto" = cores)' },
  { path: 'router.profile', env: 'SWITCHYARD_PROFILE', flag: 'profile', type: 'path', help: 'router profile directory' },
  { path: 'router.versions_dir', env: 'SWITCHYARD_PROFILE_VERSIONS_DIR', flag: 'profile-versions-dir', type: 'path', help: 'where POST /v1/router/models writes profile versions (default <state.dir>/profiles)' },
  { path: 'router.default_cost_weight', env: 'SWITCHYARD_COST_WEIGHT', flag: 'cost-weight', type: 'number?', help: 'default lambda ("profile" = the profile\'s)' },
  { path: 'router.cache_size', env: 'SWITCHYARD_CACHE_SIZE', flag: 'cache-size', type: 'integer', help: 'decision cache entries (0 = off)' },
  { path: 'router.nearest', env: 'SWITCHYARD_NEAREST', flag: 'nearest', type: 'string', help: 'nearest-centroid search: auto | inline | pool' },
  { path: 'embedder.kind', env: 'SWITCHYARD_EMBEDDER', flag: 'embedder', type: 'string', help: 'native | onnx' },
  { path: 'embedder.dir', env: 'SWITCHYARD_EMBEDDER_DIR', flag: 'embedder-dir', type: 'path', help: 'ONNX model dir (native: tables dir, default the profile dir)' },
  { path: 'embedder.batch_max_size', env: 'SWITCHYARD_BATCH_MAX_SIZE', flag: 'batch-max-size', type: 'integer', help: 'ONNX micro-batch size (1 = off)' },
  { path: 'embedder.aliases', env: 'SWITCHYARD_EMBEDDING_ALIASES', flag: 'embedding-aliases', type: 'list', help: 'comma-separated extra model names /v1/embeddings serves with the router embedder' },
  { path: 'embedder.batch_max_wait_ms', env: 'SWITCHYARD_BATCH_MAX_WAIT_MS', flag: 'batch-max-wait-ms', type: 'integer', help: 'ONNX micro-batch max wait' },
  { path: 'workers', env: 'SWITCHYARD_WORKERS', flag: 'workers', type: 'integer', help: 'worker threads: ONNX embedding pool; route pool for K >= 3,000 (split over HTTP threads)' },
  { path: 'limits.input_chars', env: 'SWITCHYARD_INPUT_CHARS', flag: 'input-chars', type: 'integer', help: 'max chars of a prompt / embeddings input' },
  { path: 'limits.embedding_inputs', env: 'SWITCHYARD_EMBEDDING_INPUTS', flag: 'embedding-inputs', type: 'integer', help: 'max inputs per /v1/embeddings call' },
  { path: 'state.dir', env: 'SWITCHYARD_STATE_DIR', flag: 'state-dir', type: 'path', help: 'state directory (SQLite store), created on start' },
  { path: 'state.redis.url', env: 'SWITCHYARD_REDIS_URL', type: 'string?', help: 'Redis for several replicas (redis:// or rediss://; no flag: the url may hold a password)' },
  { path: 'state.redis.key_prefix', env: 'SWITCHYARD_REDIS_PREFIX', flag: 'redis-prefix', type: 'string', help: 'prefix of every Redis key' },
  { path: 'state.redis.store', env: 'SWITCHYARD_REDIS_STORE', flag: 'redis-store', type: 'string', help: 'stored data with Redis on: redis | sqlite' },
  { path: 'state.redis.rate_limit_failure', env: 'SWITCHYARD_REDIS_RATE_LIMIT_FAILURE', flag: 'redis-rate-limit-failure', type: 'string', help: 'rate limits while Redis is down: open | closed' },
  { path: 'metrics.enabled', env: 'SWITCHYARD_METRICS', flag: 'metrics', type: 'string', help: 'GET /metrics and its counters: on | off' },
  { path: 'state.logs.enabled', env: 'SWITCHYARD_ACTIVITY_LOG', flag: 'activity-log', type: 'string', help: 'activity log of routed requests (GET /v1/org/logs): on | off' },
  { path: 'state.logs.decisions', env: 'SWITCHYARD_LOG_DECISIONS', flag: 'log-decisions', type: 'string', help: 'log the decision-only endpoints (/v1/route, /api/v1/route-model) too: on | off' },
];

/** An on/off switch as a boolean: YAML gives true/false, a flag or env var "on"/"off". */
export function isOn(v: boolean | 'on' | 'off'): boolean {
  return v === true || v === 'on';
}

/** metrics.enabled as a boolean. */
export function metricsEnabled(c: Pick<Config, 'metrics'>): boolean {
  return isOn(c.metrics.enabled);
}
