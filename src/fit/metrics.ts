/**
 * Cost-quality metrics for routers (RouterBench / UniRoute style).
 * A curve is a set of operating points (average cost per prompt, accuracy),
 * one per cost weight lambda.
 */
export interface OperatingPoint { cost: number; accuracy: number; lambda?: number }

/** Best accuracy among points whose cost is at or below `budget`; 0 when none is affordable. */
export function bestAccuracyWithin(points: readonly OperatingPoint[], budget: number): number {
  let best = 0;
  for (const p of points) if (p.cost <= budget * (1 + 1e-12) && p.accuracy > best) best = p.accuracy;
  return best;
}

/**
 * AIQ: the mean, over `steps` evenly spaced costs from `cmin` to `cmax`
 * inclusive, of the best accuracy reached at or below that cost. With
 * cmin = cheapest single model's cost and cmax = the most expensive single
 * model's, this is the normalised area under the non-decreasing step frontier.
 */
export function aiq(points: readonly OperatingPoint[], cmin: number, cmax: number, steps = 200): number {
  if (steps < 2) throw new Error('aiq: steps must be >= 2');
  let s = 0;
  for (let j = 0; j < steps; j++) s += bestAccuracyWithin(points, cmin + ((cmax - cmin) * j) / (steps - 1));
  return s / steps;
}

/** Lowest cost at which the curve reaches `target` accuracy; null if it never does. */
export function costToReach(points: readonly OperatingPoint[], target: number): number | null {
  let best: number | null = null;
  for (const p of points) if (p.accuracy >= target - 1e-12 && (best === null || p.cost < best)) best = p.cost;
  return best;
}

/** lambda grid: 0 plus `count` log-spaced values from 10^lo to 10^hi. */
export function lambdaGrid(count = 120, lo = -4, hi = 2): number[] {
  const g = [0];
  for (let i = 0; i < count; i++) g.push(10 ** (lo + ((hi - lo) * i) / (count - 1)));
  return g;
}

/** Upper-left frontier (non-dominated points), sorted by cost: for plots. */
export function paretoFrontier(points: readonly OperatingPoint[]): OperatingPoint[] {
  const s = [...points].sort((a, b) => a.cost - b.cost || b.accuracy - a.accuracy);
  const out: OperatingPoint[] = [];
  for (const p of s) if (out.length === 0 || p.accuracy > out[out.length - 1].accuracy) out.push(p);
  return out;
}
