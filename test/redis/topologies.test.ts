/**
 * Redis Cluster and Sentinel (issue 12: `state.redis.cluster_nodes`,
 * `sentinels` + `sentinel_name`), against real servers the test starts:
 *
 * - Cluster: three masters (`--cluster-enabled yes`, joined with
 *   `redis-cli --cluster create`, slots split between them). The three store
 *   contract suites, the rate limiter's script (a request's cells share the
 *   organisation's hash tag), health sync (the `{replicas}` tag) and the bus
 *   (pub/sub across nodes) run on it: every multi-key command must stay in
 *   one slot, or Redis answers CROSSSLOT.
 * - Sentinel: a master, a replica and one Sentinel. The store contracts run
 *   through the Sentinel's view, then the master is killed: the Sentinel
 *   promotes the replica and the same handle writes to the new master
 *   without a restart, and reads what was written before the failover.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startRedis, type TestRedis } from './redis-server.ts';
import { until } from './until.ts';
import { loadConfig } from '../../src/config/load.ts';
import { openRedis, type RedisHandle } from '../../src/store/redis/client.ts';
import { RedisStore } from '../../src/store/redis/store.ts';
import { RedisRateLimiter } from '../../src/store/redis/rate-limit.ts';
import { RedisStats } from '../../src/store/redis/stats.ts';
import { syncHealth } from '../../src/store/redis/health-sync.ts';
import { redisBus } from '../../src/store/bus.ts';
import { createRateLimitBuffer, SharedRateLimiter } from '../../src/store/rate-limit.ts';
import type { Budget } from '../../src/edge/auth.ts';
import { storeContract, row } from '../store/contract.ts';
import { routingStoreContract } from '../rules-api/store-contract.ts';
import { orgStoreContract } from '../org/store-contract.ts';


const redisConfig = (over: Record<string, unknown>) =>
  // Generous timeouts: these tests are about semantics, and the suite runs beside others on a loaded machine
  // (a Cluster handle missed the default 2 s connect timeout once in a parallel run).
  loadConfig({ env: {}, overrides: { state: { redis: { command_timeout_ms: 5_000, connect_timeout_ms: 15_000, ...over } } } }).state.redis;

const handles: RedisHandle[] = [];
async function handle(over: Record<string, unknown>): Promise<RedisHandle> {
  const h = openRedis(redisConfig(over));
  handles.push(h);
  await h.ready();
  return h;
}
after(async () => { await Promise.all(handles.map((h) => h.close().catch(() => {}))); });

// ---------------------------------------------------------------- Cluster

const clusterNodes: TestRedis[] = [];
const clusterReady = (async () => {
  for (let i = 0; i < 3; i++) {
    clusterNodes.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] }));
  }
  execFileSync('redis-cli', ['--cluster', 'create', ...clusterNodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
  await until(() => clusterNodes.every((n) => n.cli('CLUSTER', 'INFO').includes('cluster_state:ok')), 'cluster_state:ok on every node', 15_000);
  return clusterNodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
})();
after(async () => { await Promise.all(clusterNodes.map((n) => n.stop())); });

const onCluster = async (prefix: string) => handle({ cluster_nodes: await clusterReady, key_prefix: prefix });
const clusterStore = async (prefix: string) => new RedisStore(await onCluster(prefix), { ttlMs: 0, logRetentionMs: 0, logMaxLen: 1_000_000, ownsHandle: false });

storeContract('redis cluster', { open: () => clusterStore('cl-contract') });
routingStoreContract('redis cluster', () => clusterStore('cl-contract'));
orgStoreContract('redis cluster', () => clusterStore('cl-contract'));

describe('Redis Cluster: scripts and pub/sub', () => {
  it('the keys of one organisation land on one slot; different organisations spread over the nodes', async () => {
    const s = await clusterStore('cl-spread');
    for (let i = 0; i < 12; i++) await s.responses.put(row({ id: `resp_spread_${i}`, org: `org_${i}` }));
    const perNode = clusterNodes.map((n) => Number(n.cli('DBSIZE').trim()));
    assert.ok(perNode.filter((k) => k > 0).length >= 2, `keys on at least two nodes: ${perNode.join(', ')}`);
    await s.close();
  });

  it('the rate limiter admits exactly N across two connections (org and key cells in one script)', async () => {
    const budgets: Budget[] = [
      { name: 'org:acme', requestsPerMinute: 11, tokensPerMinute: 100_000 },
      { name: 'key:acme/k1', requestsPerMinute: 1_000, tokensPerMinute: null },
    ];
    const lims = await Promise.all([0, 1].map(async () => new RedisRateLimiter(await onCluster('cl-rl'), budgets, {
      failure: 'closed', local: new SharedRateLimiter(createRateLimitBuffer(budgets.length), budgets), stats: new RedisStats(),
    })));
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => lims[i % 2].admit({ orgBudget: 0, keyBudget: 1 }, 10)));
    const admitted = results.filter((r) => r.ok).length;
    assert.ok(admitted >= 11 && admitted <= 12, `admitted ${admitted} of 40 (limit 11 a minute)`);
    assert.ok(results.every((r) => r.ok || r.limit === 'requests'), 'refusals are on the request budget, none is an error');
  });

  it('health sync: two replicas read each other\'s counts through one script', async () => {
    const [a, b] = await Promise.all([onCluster('cl-health'), onCluster('cl-health')]);
    const h = { failures: 3, successes: 7, latSum: 70, latN: 7, ttfbSum: 0, ttfbN: 0, consecutive: 0, openForMs: 0 };
    await syncHealth(a, 'replica-a', 10_000, new Map([['m1', h]]));
    const seen = await syncHealth(b, 'replica-b', 10_000, new Map());
    assert.equal(seen.length, 1);
    assert.equal(seen[0].id, 'replica-a');
    assert.deepEqual(seen[0].models.get('m1'), h);
  });

  it('the bus: a message published on one connection reaches a subscriber on another', async () => {
    const [a, b] = await Promise.all([onCluster('cl-bus'), onCluster('cl-bus')]);
    const got: string[] = [];
    redisBus(b).subscribe('router-configs', (m) => got.push(m));
    await until(async () => { await redisBus(a).publish('router-configs', 'ping'); return got.includes('ping'); }, 'the message arrives', 10_000);
  });
});

// ---------------------------------------------------------------- Sentinel

let master: TestRedis, replica: TestRedis, sentinel: TestRedis;
const sentinelReady = (async () => {
  master = await startRedis();
  replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  sentinel = await startRedis({
    sentinel: true,
    conf: [
      `sentinel monitor sy 127.0.0.1 ${master.port} 1`,
      'sentinel down-after-milliseconds sy 1000',
      'sentinel failover-timeout sy 10000',
      '',
    ].join('\n'),
  });
  await until(() => /master_link_status:up/.test(replica.cli('INFO', 'replication')), 'the replica is in sync', 15_000);
  await until(() => /num-slaves\s+1\b/.test(sentinel.cli('SENTINEL', 'MASTER', 'sy').replace(/\n/g, ' ')), 'the Sentinel sees the replica', 20_000);
  return [{ host: '127.0.0.1', port: sentinel.port }];
})();
after(async () => { await Promise.all([master, replica, sentinel].filter(Boolean).map((r) => r.stop())); });

const viaSentinel = async (prefix: string) => handle({ sentinels: await sentinelReady, sentinel_name: 'sy', key_prefix: prefix });
const sentinelStore = async (prefix: string) => new RedisStore(await viaSentinel(prefix), { ttlMs: 0, logRetentionMs: 0, logMaxLen: 1_000_000, ownsHandle: false });

storeContract('redis sentinel', { open: () => sentinelStore('se-contract') });
orgStoreContract('redis sentinel', () => sentinelStore('se-contract'));

describe('Redis Sentinel: failover', () => {
  let h: RedisHandle;
  before(async () => { h = await viaSentinel('se-failover'); });

  it('the master is killed: the Sentinel promotes the replica, the same handle writes there and reads what was written before', async () => {
    const s = new RedisStore(h, { ttlMs: 0, logRetentionMs: 0, logMaxLen: 1_000_000, ownsHandle: false });
    await s.responses.put(row({ id: 'resp_before_failover', org: 'org_a' }));
    // Replication is asynchronous: wait until the replica has the write, so the test is about the client, not a lost write.
    assert.equal(master.cli('WAIT', '1', '5000').trim(), '1');
    await master.kill();
    await until(async () => {
      try { await s.responses.put(row({ id: 'resp_after_failover', org: 'org_a' })); return true; } catch { return false; }
    }, 'a write succeeds on the promoted replica', 30_000);
    assert.match(replica.cli('ROLE'), /^master/, 'the replica was promoted');
    assert.equal((await s.responses.get('org_a', 'resp_before_failover'))?.id, 'resp_before_failover');
    assert.equal((await s.responses.get('org_a', 'resp_after_failover'))?.id, 'resp_after_failover');
    assert.equal(h.state().status, 'ready');
  });
});
