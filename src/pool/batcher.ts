/**
 * Main-thread micro-batching of embed() calls into worker tasks.
 *
 * Policy (continuous batching, bounded both ways):
 * - a batch is sent as soon as it holds `maxSize` texts;
 * - while a worker is free, a batch is sent at the end of the current event-loop
 *   turn (setImmediate): calls that arrived together (one socket read, one
 *   Promise.all) share a task, and a lone request waits a few µs, not maxWaitMs;
 * - while every worker is busy, texts gather until a worker finishes (then the
 *   batch goes at once) or `maxWaitMs` passes since the first of them (then it
 *   goes to piscina's queue anyway): no text is held longer than maxWaitMs.
 * A fixed window that always waited maxWaitMs would add it to every request at
 * low load, where the tiny ONNX model answers in well under a millisecond.
 *
 * maxSize 1 turns batching off: every call is its own task, sent synchronously.
 *
 * Each caller gets its own copy of its row (`slice`, 1.5 KB at dim 384, < 1 µs),
 * not a view into the batch: a caller that later transfers its vector's buffer
 * to another thread would otherwise detach every other caller's result.
 */
import { PoolError, messageOf } from './errors.ts';

export interface BatchOptions {
  /** Texts per worker task, >= 1. */
  maxSize: number;
  /** Longest a text waits on the main thread for company while the workers are busy, >= 0. */
  maxWaitMs: number;
}

export interface BatchCounts {
  /** Worker tasks sent. */
  tasks: number;
  /** Texts sent. */
  embeds: number;
  /** Largest batch sent. */
  maxBatch: number;
  /** Tasks that rejected (their callers got the error). */
  failedTasks: number;
}

interface Waiter { text: string; resolve: (v: Float32Array) => void; reject: (e: Error) => void }

export type RunBatch = (texts: string[]) => Promise<Float32Array>;

export function checkBatchOptions(o: BatchOptions): BatchOptions {
  if (!Number.isInteger(o.maxSize) || o.maxSize < 1) throw new RangeError(`batch.maxSize must be an integer >= 1, got ${o.maxSize}`);
  if (!Number.isFinite(o.maxWaitMs) || o.maxWaitMs < 0) throw new RangeError(`batch.maxWaitMs must be a number >= 0, got ${o.maxWaitMs}`);
  return { maxSize: o.maxSize, maxWaitMs: o.maxWaitMs };
}

export class MicroBatcher {
  readonly counts: BatchCounts = { tasks: 0, embeds: 0, maxBatch: 0, failedTasks: 0 };
  private pending: Waiter[] = [];
  private inFlight = 0;
  private immediate: NodeJS.Immediate | null = null;
  private timeout: NodeJS.Timeout | null = null;
  private readonly opts: BatchOptions;

  /**
   * @param run   sends one batch; resolves to texts.length x dim floats, row i for texts[i]
   * @param slots tasks that can run at once (the worker count)
   */
  constructor(private readonly run: RunBatch, private readonly dim: number, opts: BatchOptions, private readonly slots: number) {
    this.opts = checkBatchOptions(opts);
  }

  get pendingCount(): number { return this.pending.length; }
  get inFlightCount(): number { return this.inFlight; }

  push(text: string): Promise<Float32Array> {
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.push({ text, resolve, reject });
      if (this.pending.length >= this.opts.maxSize) this.flush();
      else if (this.immediate === null && this.timeout === null) {
        if (this.inFlight < this.slots) this.immediate = setImmediate(this.flush);
        else this.timeout = setTimeout(this.flush, this.opts.maxWaitMs);
      }
    });
  }

  /** Sends whatever is pending now (close() uses it so no caller is left waiting). */
  readonly flush = (): void => {
    if (this.immediate !== null) { clearImmediate(this.immediate); this.immediate = null; }
    if (this.timeout !== null) { clearTimeout(this.timeout); this.timeout = null; }
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const c = this.counts;
    c.tasks++; c.embeds += batch.length;
    if (batch.length > c.maxBatch) c.maxBatch = batch.length;
    this.inFlight++;
    let sent: Promise<Float32Array>;
    try {
      sent = this.run(batch.map((w) => w.text));
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then((m) => { this.done(); this.deliver(batch, m); }, (err) => { this.done(); this.fail(batch, err); });
  };

  private deliver(batch: Waiter[], m: Float32Array): void {
    const dim = this.dim;
    if (!(m instanceof Float32Array) || m.length !== batch.length * dim) {
      this.fail(batch, new Error(`worker returned ${m instanceof Float32Array ? `${m.length} floats` : typeof m}, expected ${batch.length} x ${dim}`));
      return;
    }
    if (batch.length === 1) { batch[0].resolve(m); return; }
    for (let i = 0; i < batch.length; i++) batch[i].resolve(m.slice(i * dim, (i + 1) * dim));
  }

  private fail(batch: Waiter[], err: unknown): void {
    this.counts.failedTasks++;
    const e = new PoolError('pool_task_failed', `embed pool: ${messageOf(err)}`, { cause: err });
    for (const w of batch) w.reject(e);
  }

  private done(): void {
    this.inFlight--;
    // A worker just came free: whatever gathered while all were busy goes now.
    if (this.pending.length > 0 && this.inFlight < this.slots) this.flush();
  }
}
