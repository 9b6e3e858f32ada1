/**
 * The evaluation's λ grid, made exact (issue 13, item 5).
 *
 * For one prompt a router's decision is argmin over models of
 *   e[m] + λ · c[m]        (e: predicted error, c: normalised cost)
 * and e does not depend on λ. So as λ grows from 0 the decision walks down
 * the lower envelope of M lines: it changes only at the envelope's
 * breakpoints, at most M - 1 of them, each computable exactly. Collecting the
 * breakpoints of every evaluated prompt gives every λ at which the pooled
 * (cost, accuracy) curve can change; between two consecutive ones nothing
 * changes. The sweep below emits one operating point per such interval, so
 * the curve is complete: a grid twice as fine (or any finer) adds only
 * duplicate points and leaves AIQ unchanged (test/fit/envelope.test.ts). The
 * fixed 120-point log grid missed operating points and moved AIQ by several
 * thousandths (README "what each change bought").
 *
 * Cost: O(M^2) per prompt for the envelope, then one sort of all breakpoints
 * (n · (M - 1) at most: ~22k for RouterBench) and a linear pass; a few ms.
 * Ties (two lines equal at λ) go to the cheaper model, as Router.routeFrom
 * does, so the decision at a breakpoint is already the cheaper one.
 */
import type { OperatingPoint } from './metrics.ts';

/** A prompt's decisions as λ grows: `models[i]` is chosen from `from[i]` (inclusive) until from[i + 1]. */
export interface Envelope { from: number[]; models: number[] }

/**
 * The lower envelope of e[m] + λ c[m] over λ >= 0 among models with a known
 * (non-NaN) e and `allowed` (when given). Ties at a λ go to the lower c, then
 * the lower index. Returns null when no model is a candidate.
 */
export function lowerEnvelope(e: ArrayLike<number>, c: ArrayLike<number>, allowed?: ArrayLike<number>): Envelope | null {
  const M = e.length;
  const ok = (m: number) => e[m] === e[m] && (!allowed || allowed[m] !== 0);
  // λ = 0: lowest error, ties to the cheaper.
  let cur = -1;
  for (let m = 0; m < M; m++) {
    if (!ok(m)) continue;
    if (cur < 0 || e[m] < e[cur] || (e[m] === e[cur] && c[m] < c[cur])) cur = m;
  }
  if (cur < 0) return null;
  const env: Envelope = { from: [0], models: [cur] };
  let at = 0;
  for (;;) {
    // Next switch: the cheaper line that overtakes `cur` first (smallest crossing
    // λ > at, or == at with a tie broken toward the cheaper); among equal
    // crossings, the cheapest (it wins right after the crossing).
    let next = -1, nextAt = Infinity;
    for (let m = 0; m < M; m++) {
      if (!ok(m) || !(c[m] < c[cur])) continue;
      const x = (e[m] - e[cur]) / (c[cur] - c[m]); // e[m] + x c[m] = e[cur] + x c[cur]
      const lam = x < at ? at : x;
      if (lam < nextAt || (lam === nextAt && c[m] < c[next])) { next = m; nextAt = lam; }
    }
    if (next < 0) return env;
    if (nextAt === at) env.models[env.models.length - 1] = next; // tie at the same λ: the cheaper holds there
    else { env.from.push(nextAt); env.models.push(next); }
    at = nextAt; cur = next;
  }
}

/** Pooled cost/accuracy changes along λ, over any number of prompts (and folds). */
export class ExactSweep {
  private base = { cost: 0, correct: 0 };
  private events: { lambda: number; cost: number; correct: number }[] = [];
  n = 0;

  /** Adds one prompt: its envelope and the true cost and score of each model. */
  add(env: Envelope, cost: ArrayLike<number>, score: ArrayLike<number>): void {
    const m0 = env.models[0];
    this.base.cost += cost[m0]; this.base.correct += score[m0];
    for (let i = 1; i < env.models.length; i++) {
      const a = env.models[i - 1], b = env.models[i];
      this.events.push({ lambda: env.from[i], cost: cost[b] - cost[a], correct: score[b] - score[a] });
    }
    this.n++;
  }

  /** Pools another sweep's prompts into this one (cross-validation folds). */
  merge(o: ExactSweep): void {
    this.base.cost += o.base.cost; this.base.correct += o.base.correct;
    for (const e of o.events) this.events.push(e);
    this.n += o.n;
  }

  /** Every λ at which some prompt's decision changes, ascending, with 0 first. */
  breakpoints(): number[] {
    const l = [0, ...this.events.map((e) => e.lambda)].sort((a, b) => a - b);
    return l.filter((x, i) => i === 0 || x > l[i - 1]);
  }

  /** One operating point per interval between breakpoints (its λ is where it starts). */
  points(): OperatingPoint[] {
    const ev = [...this.events].sort((a, b) => a.lambda - b.lambda);
    let cost = this.base.cost, correct = this.base.correct;
    const out: OperatingPoint[] = [];
    let i = 0;
    while (i < ev.length && ev[i].lambda === 0) { cost += ev[i].cost; correct += ev[i].correct; i++; }
    out.push({ lambda: 0, cost: cost / this.n, accuracy: correct / this.n });
    while (i < ev.length) {
      const lam = ev[i].lambda;
      while (i < ev.length && ev[i].lambda === lam) { cost += ev[i].cost; correct += ev[i].correct; i++; }
      out.push({ lambda: lam, cost: cost / this.n, accuracy: correct / this.n });
    }
    return out;
  }

  /** The same curve read at fixed λ values (each λ takes the decisions in force there): for comparisons with a grid. */
  pointsAt(lambdas: readonly number[]): OperatingPoint[] {
    const ev = [...this.events].sort((a, b) => a.lambda - b.lambda);
    const ls = [...lambdas].sort((a, b) => a - b);
    let cost = this.base.cost, correct = this.base.correct, i = 0;
    return ls.map((lam) => {
      while (i < ev.length && ev[i].lambda <= lam) { cost += ev[i].cost; correct += ev[i].correct; i++; }
      return { lambda: lam, cost: cost / this.n, accuracy: correct / this.n };
    });
  }
}
