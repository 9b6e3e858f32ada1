/**
 * Where GET /metrics' numbers live (issue 11): one SharedArrayBuffer of
 * Float64 counters with one region per HTTP thread. Each thread adds only to
 * its own region (plain `+=`, no Atomics: nobody else writes there), and the
 * thread that answers a scrape reads every region. So per request the cost is
 * a few array increments in the thread that served it, and a scrape sees all
 * threads without any message between them.
 *
 * Why not prom-client in each thread: its labelled `inc()` measured ~0.5 µs
 * and a histogram `observe()` ~0.9 µs here (node 20, 2-core machine at load
 * ~10), several per request against a /v1/route budget of ~1 µs (3%); and
 * prom-client's AggregatorRegistry gathers over `cluster` IPC, which worker
 * threads do not have. prom-client still does the exposition: each region
 * becomes one thread's metric JSON, and AggregatorRegistry.aggregate (a pure
 * function, no cluster involved) sums them into the text format
 * (src/metrics/expose.ts).
 *
 * Labels need fixed index spaces, the same in every thread: the MetricsSpec
 * (route patterns, model names, organisation ids, the profile's K) is built
 * once by startServer and travels as JSON text inside a second shared buffer,
 * so every thread decodes the same layout. Values outside it count under
 * "other" (a model no config or profile names; an organisation added later).
 * Caps keep the buffer bounded: MAX_MODELS, MAX_ORGS, and clusters only up to
 * MAX_CLUSTERS (past it, decisions are counted by model alone, cluster "all").
 *
 * What a reader can see: a count one increment stale; aligned 8-byte stores
 * do not tear on x86-64 or arm64, and JS gives no stronger promise for
 * non-atomic shared reads.
 */

export const METRICS_KEY = 'metrics';
export const METRICS_LAYOUT_KEY = 'metrics-layout';

export const MAX_MODELS = 256;
export const MAX_ORGS = 1024;
export const MAX_CLUSTERS = 4096;

/** Statuses with their own label value; anything else is "other". 0 = the client went away. */
export const STATUSES = [0, 200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 502, 503, 504] as const;
/** End-to-end latency buckets, seconds (Prometheus' convention). */
export const E2E_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;
/** Routing stage buckets (embedding, decision), seconds: tens of microseconds is the normal case. */
export const STAGE_BUCKETS = [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05] as const;
export const STAGES = ['embedding', 'decision'] as const;
export const PII_KINDS_M = ['email', 'phone', 'payment_card', 'us_ssn', 'iban', 'ip_address'] as const;

export interface MetricsSpec {
  /** Route patterns as declared, then "unmatched" (the 404 catch-all). */
  routes: string[];
  /** Model names, then "other". */
  models: string[];
  /** Organisation ids, then "other". */
  orgs: string[];
  /** Cluster label values: the profile's K, or 1 ("all") when unknown or over MAX_CLUSTERS. */
  k: number;
  threads: number;
}

/** Builds the spec from what startServer knows before any thread starts. */
export function makeSpec(routes: readonly string[], models: readonly string[], orgs: readonly string[], k: number, threads: number): MetricsSpec {
  const uniq = (xs: readonly string[], cap: number) => [...new Set(xs)].slice(0, cap);
  return {
    routes: [...uniq(routes, 1024), 'unmatched'],
    models: [...uniq(models, MAX_MODELS).filter((m) => m !== 'other'), 'other'],
    orgs: [...uniq(orgs, MAX_ORGS).filter((o) => o !== 'other'), 'other'],
    k: k >= 1 && k <= MAX_CLUSTERS ? k : 1,
    threads,
  };
}

/** Offsets (in Float64 slots) of each metric inside one thread's region. */
export class Layout {
  readonly R: number;
  readonly S = STATUSES.length + 1;
  readonly M: number;
  readonly O: number;
  readonly K: number;
  readonly E = E2E_BUCKETS.length + 2; // buckets + the +Inf bucket + sum
  readonly G = STAGE_BUCKETS.length + 2;
  readonly requests: number;
  readonly e2e: number;
  readonly stage: number;
  readonly decisions: number;
  readonly cache: number;
  readonly upstreamErrors: number;
  readonly fallbacks: number;
  readonly completions: number;
  readonly tokens: number;
  readonly cost: number;
  readonly limited: number;
  readonly pii: number;
  readonly poolQueue: number;
  readonly inFlight: number;
  /** Slots per thread. */
  readonly stride: number;
  readonly routeIndex: Map<string, number>;
  readonly modelIndex: Map<string, number>;
  readonly orgIndex: Map<string, number>;
  /** status code -> its label index (0..599; others map to "other"). */
  readonly statusIndex: Uint8Array;

  constructor(readonly spec: MetricsSpec) {
    this.R = spec.routes.length;
    this.M = spec.models.length;
    this.O = spec.orgs.length;
    this.K = spec.k;
    let at = 0;
    const take = (n: number) => { const o = at; at += n; return o; };
    this.requests = take(this.R * this.S);
    this.e2e = take(this.R * this.E);
    this.stage = take(STAGES.length * this.G);
    this.decisions = take(this.M * this.K);
    this.cache = take(2);
    this.upstreamErrors = take(this.M);
    this.fallbacks = take(this.M);
    this.completions = take(this.M);
    this.tokens = take(this.O * this.M * 2);
    this.cost = take(this.O * this.M);
    this.limited = take(this.O * 4);
    this.pii = take(PII_KINDS_M.length);
    this.poolQueue = take(1);
    this.inFlight = take(1);
    this.stride = at;
    this.routeIndex = new Map(spec.routes.map((r, i) => [r, i]));
    this.modelIndex = new Map(spec.models.map((m, i) => [m, i]));
    this.orgIndex = new Map(spec.orgs.map((o, i) => [o, i]));
    this.statusIndex = new Uint8Array(600).fill(STATUSES.length);
    STATUSES.forEach((s, i) => { this.statusIndex[s] = i; });
  }

  model(name: string | null | undefined): number {
    return (name == null ? undefined : this.modelIndex.get(name)) ?? this.M - 1;
  }

  org(id: string | null | undefined): number {
    return (id == null ? undefined : this.orgIndex.get(id)) ?? this.O - 1;
  }
}

/** The layout buffer (the spec as JSON text) and the counters, sized for spec.threads regions. */
export function createMetricsBuffers(spec: MetricsSpec): { layout: SharedArrayBuffer; counters: SharedArrayBuffer } {
  const text = new TextEncoder().encode(JSON.stringify(spec));
  const layout = new SharedArrayBuffer(4 + text.length);
  new DataView(layout).setUint32(0, text.length, true);
  new Uint8Array(layout, 4).set(text);
  const counters = new SharedArrayBuffer(8 * new Layout(spec).stride * Math.max(1, spec.threads));
  return { layout, counters };
}

export function readSpec(layout: SharedArrayBuffer): MetricsSpec {
  const n = new DataView(layout).getUint32(0, true);
  // TextDecoder refuses views of shared memory: copy the bytes out first.
  return JSON.parse(new TextDecoder().decode(new Uint8Array(layout, 4, n).slice())) as MetricsSpec;
}

/** Index of the first bucket whose upper bound holds `v` (the last index = +Inf). */
export function bucketOf(bounds: readonly number[], v: number): number {
  let i = 0;
  while (i < bounds.length && v > bounds[i]) i++;
  return i;
}
