/**
 * bench/latency.ts's rows, the ratios between them, and issue 7's targets
 * judged from them: every target is read off rows printed in the same table,
 * so a reader can check the verdict by eye.
 */
import type { WrkResult } from './wrk.ts';
import type { GcSummary } from './gc-trace.ts';
import { fmt } from './table.ts';

/**
 * bare / bare-embedding / bare-msgpack: the bare uWS server with the prompt bodies / the
 * embedding body / the msgpack embedding body (each the denominator of the route cases that
 * send the same bytes); direct: the mock upstream itself.
 */
export type CaseName = 'bare' | 'bare-embedding' | 'bare-msgpack' | 'unique' | 'repeated' | 'embedding' | 'msgpack' | 'direct' | 'gateway' | 'route-model' | 'invoke' | 'prompt-cache';

export interface LatencyRow {
  case: CaseName;
  /** Which Switchyard (variant name) served it; null for bare and the mock. */
  variant: string | null;
  connections: number;
  /** closed: wrk as fast as answers come back; paced: wrk's delay() hook at about half the closed-loop maximum. */
  mode: 'closed' | 'paced';
  wrk: WrkResult;
  /** 1-minute load average when the run ended (the machine is shared). */
  load1: number;
  /** GC of the Switchyard process over the measured seconds (null: not traced, or not a Switchyard row). */
  gc: GcSummary | null;
  /**
   * CPU time (user + system, all threads) of the server under test per request over the
   * measured seconds, in µs: what a request costs, less sensitive to a busy machine than latency.
   */
  cpu_us_per_req: number | null;
  /** rps over the denominator's (bare for route cases, direct for the gateway), same connections and mode. */
  rps_ratio: number | null;
  p99_ratio: number | null;
  /** Gateway only: p99 minus the direct mock's p99 (ms). */
  p99_added_ms: number | null;
}

export interface TargetCheck { variant: string; measure: string; value: string; target: string; result: 'met' | 'missed' | 'n/a' }

/** The row each case is compared against. */
export const DENOMINATOR: Partial<Record<CaseName, CaseName>> = { unique: 'bare', repeated: 'bare', embedding: 'bare-embedding', msgpack: 'bare-msgpack', gateway: 'direct', 'route-model': 'bare', invoke: 'gateway' };

/** Fills the ratio columns in place. */
export function addRatios(rows: LatencyRow[]): void {
  for (const r of rows) {
    const d = DENOMINATOR[r.case];
    const base = d && rows.find((x) => x.case === d && x.connections === r.connections && x.mode === r.mode);
    if (!base) continue;
    r.rps_ratio = r.wrk.rps / base.wrk.rps;
    r.p99_ratio = r.wrk.p99_ms / base.wrk.p99_ms;
    if (r.case === 'gateway') r.p99_added_ms = r.wrk.p99_ms - base.wrk.p99_ms;
  }
}

export interface FreshConnections { requests: number; hits: number; misses: number }

/** Issue 7's targets, per Switchyard variant. `maxConns` is the throughput row (64 by the issue). */
export function checkTargets(rows: LatencyRow[], variants: string[], fresh: Record<string, FreshConnections | undefined>, maxConns: number): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const v of variants) {
    const row = (c: CaseName, n: number) => rows.find((r) => r.case === c && r.variant === v && r.connections === n && r.mode === 'closed');
    const add = (measure: string, value: number | null | undefined, unit: string, target: string, ok: (x: number) => boolean, digits = 3): void => {
      const has = value !== null && value !== undefined && Number.isFinite(value);
      out.push({ variant: v, measure, value: has ? `${fmt(value, digits)}${unit}` : 'not measured', target, result: has ? (ok(value!) ? 'met' : 'missed') : 'n/a' });
    };
    add('/v1/route unique prompts, p99, 1 conn', row('unique', 1)?.wrk.p99_ms, ' ms', '<= 0.5 ms', (x) => x <= 0.5);
    add('/v1/route unique prompts, p99, 8 conns', row('unique', 8)?.wrk.p99_ms, ' ms', '<= 1.5 ms', (x) => x <= 1.5);
    add('/v1/route repeated prompts (hits), p99, 1 conn', row('repeated', 1)?.wrk.p99_ms, ' ms', '<= 0.3 ms', (x) => x <= 0.3);
    const f = fresh[v];
    out.push({ variant: v, measure: `one prompt on ${f?.requests ?? 10} fresh connections`, value: f ? `${f.misses} miss, ${f.hits} hits` : 'not measured', target: '1 miss, 9 hits', result: f ? (f.misses === 1 ? 'met' : 'missed') : 'n/a' });
    add(`unique prompts rps / bare, ${maxConns} conns`, row('unique', maxConns)?.rps_ratio, '', '>= 0.30', (x) => x >= 0.30, 2);
    add(`supplied embedding rps / bare, ${maxConns} conns`, row('embedding', maxConns)?.rps_ratio, '', '>= 0.35', (x) => x >= 0.35, 2);
    add(`repeated prompts rps / bare, ${maxConns} conns`, row('repeated', maxConns)?.rps_ratio, '', '>= 0.8', (x) => x >= 0.8, 2);
    for (const n of [1, 8]) add(`gateway JSON p99 - mock direct p99, ${n} conn${n > 1 ? 's' : ''}`, row('gateway', n)?.p99_added_ms, ' ms', '<= 1 ms', (x) => x <= 1);
    add(`supplied embedding in msgpack rps / bare, ${maxConns} conns`, row('msgpack', maxConns)?.rps_ratio, '', '>= 0.45', (x) => x >= 0.45, 2);
    // Issue 9.
    add(`/api/v1/route-model rps / bare, ${maxConns} conns`, row('route-model', maxConns)?.rps_ratio, '', '>= 0.40', (x) => x >= 0.40, 2);
    add('/api/v1/route-model p99, 8 conns', row('route-model', 8)?.wrk.p99_ms, ' ms', '<= 1 ms', (x) => x <= 1);
    // Issue 11.
    for (const n of [1, 8]) {
      const pc = row('prompt-cache', n)?.wrk.p50_ms, hit = row('repeated', n)?.wrk.p50_ms;
      add(`prompt-cache hit p50 - /v1/route hit p50, ${n} conn${n > 1 ? 's' : ''}`, pc !== undefined && hit !== undefined ? pc - hit : undefined, ' ms', '<= 0.1 ms', (x) => x <= 0.1);
    }
    add(`/v1/model-router/invoke rps / chat completions, ${maxConns} conns`, row('invoke', maxConns)?.rps_ratio, '', '>= 0.90', (x) => x >= 0.90, 2);
  }
  return out;
}

/** One table line per row: the figures, the ratios, GC over the measured seconds. */
export function rowCells(r: LatencyRow): string[] {
  const w = r.wrk;
  const gc = r.gc;
  const per1k = gc && w.requests > 0 ? (1000 * (gc.scavenge_ms + gc.mark_compact_ms)) / w.requests : null;
  const freedKb = gc && w.requests > 0 ? (1024 * gc.freed_mb) / w.requests : null;
  return [
    r.variant && r.variant !== 'switchyard' ? `${r.case} [${r.variant}]` : r.case,
    r.mode === 'paced' ? `${r.connections}p` : String(r.connections),
    w.rps.toFixed(0), fmt(w.p50_ms), fmt(w.p90_ms), fmt(w.p99_ms), fmt(w.p999_ms), fmt(w.max_ms, 2),
    r.rps_ratio === null ? '' : fmt(r.rps_ratio, 2),
    r.p99_ratio === null ? '' : fmt(r.p99_ratio, 1),
    r.p99_added_ms === null ? '' : `${r.p99_added_ms >= 0 ? '+' : ''}${fmt(r.p99_added_ms)}`,
    gc ? `${gc.scavenges}/${gc.mark_compacts}` : '',
    gc ? fmt(gc.scavenge_ms + gc.mark_compact_ms, 1) : '',
    gc ? fmt(gc.max_pause_ms, 2) : '',
    fmt(per1k, 3),
    fmt(freedKb, 1),
    fmt(r.cpu_us_per_req, 0),
    r.load1.toFixed(2),
    w.non2xx || w.errors ? `non-2xx ${w.non2xx}, sock err ${w.errors}` : '',
  ];
}

export const ROW_HEADER = ['case', 'conns', 'rps', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'rps/base', 'p99/base', 'p99-direct', 'GC scav/MC', 'GC ms', 'max GC ms', 'GC ms/1k req', 'KB freed/req', 'CPU µs/req', 'load1', ''];
