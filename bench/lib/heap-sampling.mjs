/**
 * node --import=./bench/lib/heap-sampling.mjs ... (or a bench:latency variant:
 * --variant 'hp=--import=/abs/path/bench/lib/heap-sampling.mjs')
 *
 * Allocation sampling in every thread that loads it (the main thread, uWS HTTP
 * threads and pool workers inherit --import), counting objects the GC already
 * collected too: what a request allocates, garbage included, which
 * `node --heap-prof` (live objects only) does not show. Each thread writes
 * HEAP_SAMPLING_DIR/<pid>.<threadId>.heapprofile after HEAP_SAMPLING_STOP_MS
 * (default 36,000 ms from its start: time it to end inside the measured load).
 * Read with bench/heap-profile-top.ts. Env: HEAP_SAMPLING_DIR (default
 * /tmp/switchyard-heap), HEAP_SAMPLING_INTERVAL (bytes, default 2048).
 */
import inspector from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';

const dir = process.env.HEAP_SAMPLING_DIR ?? '/tmp/switchyard-heap';
mkdirSync(dir, { recursive: true });
const s = new inspector.Session();
s.connect();
s.post('HeapProfiler.enable');
s.post('HeapProfiler.startSampling', {
  samplingInterval: Number(process.env.HEAP_SAMPLING_INTERVAL ?? 2048), includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true,
}, (e) => { if (e) console.error(`heap-sampling: ${e.message}`); });
setTimeout(() => s.post('HeapProfiler.stopSampling', (e, r) => {
  if (e) console.error(`heap-sampling: ${e.message}`);
  else writeFileSync(`${dir}/${process.pid}.${threadId}.heapprofile`, JSON.stringify(r.profile));
}), Number(process.env.HEAP_SAMPLING_STOP_MS ?? 36_000)).unref();
