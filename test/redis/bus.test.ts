/**
 * The Redis bus across reconnects (src/store/bus.ts): the subscriber's
 * channels come back after the connection drops, and the SUBSCRIBE sent on
 * reconnect never becomes an unhandled rejection when it times out or the
 * handle closes under it (an unhandled rejection ends a Node process; CI saw
 * one from ioredis' own autoResubscribe after a Redis restart).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { startRedis, type TestRedis } from './redis-server.ts';
import { until } from './until.ts';
import { loadConfig } from '../../src/config/load.ts';
import { openRedis, type RedisHandle } from '../../src/store/redis/client.ts';
import { redisBus, type Bus } from '../../src/store/bus.ts';

let redis: TestRedis;
const handles: RedisHandle[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => { unhandled.push(e); };

function handle(commandTimeoutMs = 300): RedisHandle {
  const c = loadConfig({ overrides: { state: { redis: { url: redis.url, key_prefix: 'bus-t', command_timeout_ms: commandTimeoutMs, connect_timeout_ms: 15_000 } } } }).state.redis;
  const h = openRedis(c, 'bus-test');
  handles.push(h);
  return h;
}


const subscribers = (topic: string) => Number(redis.cli('PUBSUB', 'NUMSUB', `bus-t:v1:bus:${topic}`).trim().split('\n')[1] ?? 0);

before(async () => {
  redis = await startRedis({ args: ['--enable-debug-command', 'yes'] });
  process.on('unhandledRejection', onUnhandled);
});
after(async () => {
  process.off('unhandledRejection', onUnhandled);
  await Promise.all(handles.map((h) => h.close()));
  await redis.stop();
});

async function listening(topic: string): Promise<{ bus: Bus; got: string[]; pub: RedisHandle }> {
  const sub = handle();
  const bus = redisBus(sub);
  const got: string[] = [];
  bus.subscribe(topic, (m) => got.push(m));
  const pub = handle();
  await pub.ready();
  await until(() => subscribers(topic) === 1, 'subscribed');
  return { bus, got, pub };
}

test('a subscriber dropped while Redis is too slow to answer its SUBSCRIBE: no unhandled rejection, and the channel comes back', async () => {
  const { got, pub } = await listening('slow');
  // Drop the subscriber, then stall Redis past command_timeout_ms (300 ms): the subscriber reconnects
  // within ~100 ms and its SUBSCRIBE waits behind the sleep, so the command times out on the client.
  const cli = spawn('redis-cli', ['-p', String(redis.port)], { stdio: ['pipe', 'ignore', 'ignore'] });
  cli.stdin!.end('CLIENT KILL TYPE pubsub\nDEBUG SLEEP 1.2\n');
  await once(cli, 'exit');
  await until(() => subscribers('slow') === 1, 'subscribed again after the stall');
  await pub.client.publish('bus-t:v1:bus:slow', 'after-stall');
  await until(() => got.includes('after-stall'), 'the message after the stall is delivered');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(unhandled, []);
});

test('Redis restarted empty: the channel is subscribed again; closing during the reconnect rejects nothing unhandled', async () => {
  const { got, pub } = await listening('restart');
  await redis.kill();
  await redis.restart();
  await until(() => subscribers('restart') === 1, 'subscribed again on the new server');
  await until(() => pub.state().status === 'ready', 'publisher reconnected');
  await pub.client.publish('bus-t:v1:bus:restart', 'after-restart');
  await until(() => got.includes('after-restart'), 'the message after the restart is delivered');

  // A handle closed while its subscriber reconnects: whatever is in flight is rejected, and handled.
  const late = handle();
  redisBus(late).subscribe('closing', () => {});
  await until(() => subscribers('closing') === 1, 'subscribed');
  await redis.kill();
  await redis.restart();
  await late.close();
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual(unhandled, []);
});
