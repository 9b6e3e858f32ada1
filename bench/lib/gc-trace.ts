/**
 * Reads a server's `--trace-gc` output (one line per collection, from every
 * isolate of the process: main thread and worker threads alike) and sums the
 * pauses between two marks, so a benchmark can report GC per measured run.
 * Pause counts and totals depend on allocation, not on how busy the machine
 * is, which makes them the steadier before/after evidence on a shared box.
 *
 * Line shape (Node 20 / V8 11.3):
 *   [pid:0xISOLATE]   1234 ms: Scavenge 10.1 (12.3) -> 9.8 (13.3) MB, 0.52 / 0.00 ms  (average mu ...
 *   [pid:0xISOLATE]   5678 ms: Mark-Compact 59.0 (79.9) -> 46.2 (80.1) MB, 12.19 / 0.00 ms  (+ 18.8 ms in 112 steps ...
 * The first figure after "MB," is the main-thread pause; "+ X ms in N steps"
 * is incremental marking done earlier in small slices (reported apart).
 */

export interface GcSummary {
  scavenges: number;
  scavenge_ms: number;
  mark_compacts: number;
  mark_compact_ms: number;
  /** Incremental marking slices before the mark-compacts (already spread over many requests). */
  incremental_ms: number;
  max_pause_ms: number;
  /** Heap freed by the collections (MB, sum of before - after): about the garbage the requests made, whatever the machine's load. */
  freed_mb: number;
  /** Isolates that collected at least once in the window (HTTP threads show up as separate isolates). */
  isolates: number;
}

interface Event { isolate: string; kind: 'scavenge' | 'mark-compact'; pause: number; incremental: number; freed: number }

const LINE = /^\[\d+:(0x[0-9a-f]+)\]\s+[\d.]+ ms: (Scavenge|Minor Mark-Compact|Mark-Compact|Mark-sweep)\D*([\d.]+) \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB, ([\d.]+) \/ [\d.]+ ms(?:\s+\(\+ ([\d.]+) ms in)?/;

export class GcTrace {
  private readonly events: Event[] = [];
  private partial = '';

  /** Feed raw output chunks (they may split lines anywhere). */
  feed(chunk: string): void {
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    for (const l of lines) {
      const m = LINE.exec(l);
      if (!m) continue;
      this.events.push({ isolate: m[1], kind: m[2] === 'Scavenge' ? 'scavenge' : 'mark-compact', pause: Number(m[5]), incremental: Number(m[6] ?? 0), freed: Math.max(0, Number(m[3]) - Number(m[4])) });
    }
  }

  /** A position to sum from later. */
  mark(): number { return this.events.length; }

  summary(from: number, to = this.events.length): GcSummary {
    const s: GcSummary = { scavenges: 0, scavenge_ms: 0, mark_compacts: 0, mark_compact_ms: 0, incremental_ms: 0, max_pause_ms: 0, freed_mb: 0, isolates: 0 };
    const iso = new Set<string>();
    for (const e of this.events.slice(from, to)) {
      iso.add(e.isolate);
      if (e.kind === 'scavenge') { s.scavenges++; s.scavenge_ms += e.pause; } else { s.mark_compacts++; s.mark_compact_ms += e.pause; s.incremental_ms += e.incremental; }
      s.max_pause_ms = Math.max(s.max_pause_ms, e.pause);
      s.freed_mb += e.freed;
    }
    s.isolates = iso.size;
    return s;
  }
}
