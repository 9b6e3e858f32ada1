/**
 * The router profile's nearest cluster for a text, for rules with a
 * `cluster` condition: embed, then one nearest-centroid search, wherever the
 * profile searches (inline, or the route pool for a large K). Synchronous
 * with the native embedder and an inline index (~20-40 µs at K=100); a
 * Promise with the ONNX embedder or the route pool. 503 router_not_ready
 * until the profile has loaded.
 */
import { poolSearch, type Engine } from './engine.ts';

const ids = new Int32Array(1), sims = new Float32Array(1);

export function clusterOfText(engine: Engine, text: string): number | Promise<number> {
  const r = engine.require();
  const nearest = (v: Float32Array): number | Promise<number> => {
    const nb = poolSearch(r, v);
    if (nb !== undefined) return nb.then((res) => res.ids[0]);
    r.router.index.search(v, 1, ids, sims);
    return ids[0];
  };
  if (r.source.kind === 'sync') return nearest(r.source.embedder.embedSync(text, r.scratch));
  return r.source.backend.embed(text).then(nearest);
}
