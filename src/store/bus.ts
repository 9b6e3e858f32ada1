/**
 * Notifications between replicas (issue 12): "router config X changed",
 * "reload the profile", "a model was added". Small messages, at-most-once,
 * no history: a receiver that misses one (Redis down at that moment) catches
 * up from the state itself (a generation number in the store, the profile on
 * disk), never from the message.
 *
 * Without Redis the bus is local: a message reaches the subscribers of the
 * same Engine only, i.e. one HTTP thread (the threads of a process share
 * their state through shared memory, and reloads reach them through the main
 * thread, not the bus). With Redis it is PUBLISH/SUBSCRIBE on
 * `<prefix>:v1:bus:<topic>`: every thread of every replica that subscribed
 * gets it, the sender's own included (handlers must be idempotent).
 */
import type { RedisHandle } from './redis/client.ts';

export interface Bus {
  /** Resolves when handed to Redis (or delivered locally); rejects when Redis cannot take it. */
  publish(topic: string, message: string): Promise<void>;
  /** Calls `on` for every message on `topic` from now on; returns an unsubscribe function. */
  subscribe(topic: string, on: (message: string) => void): () => void;
  close(): Promise<void>;
}

type Handlers = Map<string, Set<(m: string) => void>>;

function deliver(handlers: Handlers, topic: string, message: string): void {
  for (const h of handlers.get(topic) ?? []) {
    try { h(message); } catch (e) { queueMicrotask(() => { throw e; }); }
  }
}

function add(handlers: Handlers, topic: string, on: (m: string) => void): boolean {
  let set = handlers.get(topic);
  const first = set === undefined;
  if (!set) { set = new Set(); handlers.set(topic, set); }
  set.add(on);
  return first;
}

/** This process only. */
export function localBus(): Bus {
  const handlers: Handlers = new Map();
  return {
    async publish(topic, message) { deliver(handlers, topic, message); },
    subscribe(topic, on) { add(handlers, topic, on); return () => { handlers.get(topic)?.delete(on); }; },
    async close() { handlers.clear(); },
  };
}

/** Every subscriber of every replica on this Redis (and key prefix). */
export function redisBus(redis: RedisHandle): Bus {
  const handlers: Handlers = new Map();
  const channel = (topic: string) => redis.keys.global('bus', topic);
  const prefix = redis.keys.global('bus', '');
  let listening = false;
  return {
    async publish(topic, message) { await redis.client.publish(channel(topic), message); },
    subscribe(topic, on) {
      const sub = redis.subscriber();
      if (!listening) {
        listening = true;
        sub.on('message', (ch: string, message: string) => { if (ch.startsWith(prefix)) deliver(handlers, ch.slice(prefix.length), message); });
        // After a reconnect (the subscriber has autoResubscribe off; client.ts says why). On the first
        // 'ready' this repeats the queued SUBSCRIBEs, which Redis treats as no-ops.
        sub.on('ready', () => {
          const channels = [...handlers.keys()].map(channel);
          if (channels.length > 0) sub.subscribe(...channels).catch(() => {});
        });
      }
      if (add(handlers, topic, on)) void sub.subscribe(channel(topic)).catch(() => {});
      return () => { handlers.get(topic)?.delete(on); };
    },
    async close() { handlers.clear(); },
  };
}
