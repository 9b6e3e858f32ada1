/** Seeded random unit vectors (n rows of dim floats) for the nearest-neighbour index tests. */
import { mulberry32 } from '../../src/fit/kmeans.ts';

export function randomUnitRows(n: number, dim: number, seed: number): Float32Array {
  const r = mulberry32(seed), m = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) { const x = r() * 2 - 1; m[i * dim + j] = x; s += x * x; }
    for (let j = 0; j < dim; j++) m[i * dim + j] /= Math.sqrt(s);
  }
  return m;
}
