/**
 * Partial selection of the `top` largest of `all[0..size)` into `ids`/`sims`,
 * best first; ties keep the lower id. `top` is small (1-16), so insertion into
 * a sorted prefix beats a heap: most candidates fail the first comparison.
 * Its own file so both brute-force indexes (nearest.ts, nearest-simd.ts) share
 * it without an import cycle.
 */
export function selectTop(all: Float32Array, size: number, top: number, ids: Int32Array, sims: Float32Array): number {
  const t = Math.min(top, size);
  let n = 0;
  for (let j = 0; j < size; j++) {
    const s = all[j];
    if (n === t && s <= sims[n - 1]) continue;
    let p = n < t ? n++ : n - 1;
    while (p > 0 && sims[p - 1] < s) { sims[p] = sims[p - 1]; ids[p] = ids[p - 1]; p--; }
    sims[p] = s; ids[p] = j;
  }
  return t;
}
