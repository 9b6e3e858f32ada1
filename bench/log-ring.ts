/**
 * node --import tsx bench/log-ring.ts [rounds]
 *
 * The activity log's shared-memory ring (src/store/log-ring.ts) alone, one
 * thread: µs a row to encode (push, what an HTTP thread pays per logged
 * request) and to decode (peek, what the writer thread pays before its
 * INSERT), over 1,000-row batches of realistic rows (distinct request ids),
 * 200 batches a round. Prints one JSON line per round.
 */
import { LogRing } from '../src/store/log-ring.ts';
import type { ActivityRow } from '../src/store/org-types.ts';

const rounds = Number(process.argv[2] ?? 5);
const ring = LogRing.create();
const rows: ActivityRow[] = Array.from({ length: 1000 }, (_, i) => ({
  requestId: `req_0123456789ab${i.toString(36)}`, org: 'org_a', at: Date.now(), endpoint: '/v1/chat/completions', modelRequested: 'auto',
  modelSelected: 'gpt-4-1106-preview', modelExecuted: 'gpt-4-1106-preview', reason: 'routed', fallbackChain: 'gpt-4-1106-preview', cluster: i % 100,
  promptTokens: 12, completionTokens: 30, costUsd: 0.0012, latencyMs: 3.456, status: 200, cacheHit: false,
}));
const out: unknown[] = [];
for (let r = 0; r < rounds; r++) {
  let pushMs = 0, peekMs = 0, n = 0;
  for (let b = 0; b < 200; b++) {
    const t0 = performance.now();
    for (const row of rows) ring.push(row);
    const t1 = performance.now();
    out.length = 0;
    const got = ring.peek(out);
    const t2 = performance.now();
    ring.release(got.tail, got.rows, true);
    pushMs += t1 - t0; peekMs += t2 - t1; n += got.rows;
  }
  console.log(JSON.stringify({ round: r + 1, rows: n, push_us_per_row: +((pushMs * 1000) / n).toFixed(3), peek_us_per_row: +((peekMs * 1000) / n).toFixed(3) }));
}
