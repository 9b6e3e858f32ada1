/**
 * Several backends may serve one model (two regions, two accounts, a
 * self-hosted replica). Requests rotate over them round-robin; a backend that
 * failed to connect is marked down for `downMs` and skipped until then.
 * When every backend of a model is down, `pick` returns null and the fallback
 * chain moves to the next model (kind 'no_backend').
 */
import type { Backend } from './types.ts';

export class Balancer {
  private readonly next = new Map<string, number>();
  private readonly downUntil = new Map<string, number>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Next live backend of `model` in rotation, or null if none is up. */
  pick(model: string, backends: readonly Backend[]): Backend | null {
    const n = backends.length;
    if (n === 0) return null;
    const start = this.next.get(model) ?? 0;
    const t = this.now();
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      const b = backends[i];
      const until = this.downUntil.get(b.id);
      if (until !== undefined) {
        if (t < until) continue;
        this.downUntil.delete(b.id);
      }
      this.next.set(model, (i + 1) % n);
      return b;
    }
    return null;
  }

  markDown(backendId: string, ms: number): void {
    this.downUntil.set(backendId, this.now() + ms);
  }

  isDown(backendId: string): boolean {
    const until = this.downUntil.get(backendId);
    return until !== undefined && this.now() < until;
  }
}
