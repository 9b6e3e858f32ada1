/**
 * Server-side request times for a benchmark, measured inside the server
 * process: loaded into Switchyard with `node --import <this file> ...`, it
 * subscribes to switchyard:http:response (src/diagnostics.ts; `ms` = from the
 * request's arrival in the handler to its response being written, in the HTTP
 * thread) and keeps the ms of every 200 whose method and path start with
 * SY_PROBE_METHOD (default GET) and SY_PROBE_PATH (default /v1/responses/).
 *
 * Driven by SIGUSR2 sent to the server's pid, as a toggle: the first signal
 * starts a window (subscribes, drops older samples), the next ends it and
 * writes one line to stderr: `SY-PROBE {"n":..,"p50_ms":..,"p90_ms":..,"p99_ms":..}`.
 * Subscribed only inside a window, so other cases of the same run pay nothing
 * for it (a subscriber makes every response publish an object).
 *
 * Plain .mjs: `--import` preloads run in every file-based worker thread too
 * (Switchyard's HTTP threads), before tsx can hook that thread (Node 20). The
 * main thread gathers the worker threads' samples over a BroadcastChannel,
 * waiting REPORT_WAIT_MS for their replies (it does not know how many there
 * are): a thread that answers later is missing from that window's figures.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

const CHANNEL = 'switchyard:http:response';
const METHOD = (process.env.SY_PROBE_METHOD ?? 'GET').toLowerCase();
const PATH = process.env.SY_PROBE_PATH ?? '/v1/responses/';
const REPORT_WAIT_MS = 300;

let samples = [];
const onResponse = (m) => {
  if (m.status === 200 && m.method.toLowerCase() === METHOD && m.path.startsWith(PATH)) samples.push(m.ms);
};
const start = () => { samples = []; diagnostics_channel.subscribe(CHANNEL, onResponse); };
const stop = () => { diagnostics_channel.unsubscribe(CHANNEL, onResponse); const s = samples; samples = []; return s; };

const bc = new BroadcastChannel('switchyard-bench-http-ms-probe');
bc.unref(); // never what keeps a thread (or the process) alive

if (!isMainThread) {
  bc.onmessage = ({ data }) => {
    if (data.cmd === 'start') start();
    else if (data.cmd === 'report') bc.postMessage({ reply: data.seq, thread: threadId, samples: stop() });
  };
} else {
  let open = false;
  let seq = 0;
  process.on('SIGUSR2', () => {
    if (!open) { open = true; start(); bc.postMessage({ cmd: 'start' }); return; }
    open = false;
    const mine = ++seq;
    const all = stop();
    const threads = [];
    bc.onmessage = ({ data }) => { if (data.reply === mine) { threads.push(data.thread); for (const x of data.samples) all.push(x); } };
    bc.postMessage({ cmd: 'report', seq: mine });
    setTimeout(() => {
      all.sort((a, b) => a - b);
      const q = (p) => (all.length === 0 ? null : all[Math.min(all.length - 1, Math.floor(p * all.length))]);
      process.stderr.write(`SY-PROBE ${JSON.stringify({ n: all.length, worker_threads: threads.length, p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), max_ms: all.length ? all[all.length - 1] : null })}\n`);
    }, REPORT_WAIT_MS);
  });
}
