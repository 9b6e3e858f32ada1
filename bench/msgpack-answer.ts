/**
 * node --import tsx bench/msgpack-answer.ts [--time MS]
 * The cost of a /v1/route answer by format, on the loaded default profile
 * (11 models), in process (no HTTP): a fresh decision from a supplied
 * embedding (not cached) as JSON vs msgpack, and a cache hit as JSON (the
 * cached text + a tail) vs msgpack (the cached JSON parsed and encoded:
 * route-msgpack.ts hitMsgpack). Medians: the machine is shared.
 */
import { Bench } from 'tinybench';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { loadConfig } from '../src/config/load.ts';
import { Engine } from '../src/api/engine.ts';
import { createDecisionCacheFor, DECISION_CACHE_KEY } from '../src/api/route-cache.ts';
import { JSON_ANSWER, routeRequest, type RouteRequest } from '../src/api/route.ts';
import { MSGPACK_ANSWER } from '../src/api/route-msgpack.ts';

const { values } = parseArgs({ options: { time: { type: 'string' } } });
const config = loadConfig({ env: {}, overrides: { server: { threads: 1 } } });
const engine = new Engine(config, { [DECISION_CACHE_KEY]: createDecisionCacheFor(config) });
await engine.load();
const r = engine.require();
const dim = r.profile.dim;
const v = new Float32Array(dim).map((_, i) => Math.sin(i + 1));
let s = 0; for (const x of v) s += x * x; for (let i = 0; i < dim; i++) v[i] /= Math.sqrt(s);
const fresh: RouteRequest = { prompt: undefined, embedding: v, allowed: undefined, costWeight: 0.5 };
const hit: RouteRequest = { prompt: 'What is the capital of Australia?', embedding: undefined, allowed: undefined, costWeight: 0.5 };
routeRequest(JSON_ANSWER, r, hit); // stored

const bench = new Bench({ time: Number(values.time ?? 500) });
bench.add('fresh (supplied embedding), JSON', () => { routeRequest(JSON_ANSWER, r, fresh); });
bench.add('fresh (supplied embedding), msgpack', () => { routeRequest(MSGPACK_ANSWER, r, fresh); });
bench.add('cache hit, JSON', () => { routeRequest(JSON_ANSWER, r, hit); });
bench.add('cache hit, msgpack (JSON.parse + encode)', () => { routeRequest(MSGPACK_ANSWER, r, hit); });
await bench.run();
console.log(`node ${process.version}, ${os.cpus().length} cpus, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.table(bench.tasks.map((t) => ({ task: t.name, 'median µs': ((t.result as any).latency.p50 * 1000).toFixed(2), 'mean µs': ((t.result as any).latency.mean * 1000).toFixed(2) })));
await engine.close();
