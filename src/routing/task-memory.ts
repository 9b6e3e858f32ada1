/**
 * A per-organisation nearest-neighbour memory of prompts whose task the
 * organisation corrected (POST /v1/auto/feedback), in front of any task
 * classifier: a prompt close enough to a remembered one takes the task the
 * organisation said it has; anything else falls through to the classifier
 * behind.
 *
 * Vectors are the native embedder's (L2-normalised, so the dot product is the
 * cosine). Brute force: a memory holds at most `capacity` prompts (default
 * 2,000: 3 MB at dim 384) and a lookup at that size is ~0.3 ms, paid only by
 * organisations that gave feedback. The k nearest above `threshold` vote,
 * each weighted by its similarity; the winner's share of the vote is the
 * confidence.
 *
 * What can go wrong: one mislabelled feedback captures its near-duplicates
 * (that is the point, and also the risk); the newest label of a prompt wins
 * because feedback is added newest first and a duplicate replaces nothing but
 * outvotes nothing either (ties go to the nearest). Measured on a held-out
 * split in docs/org.md (scripts/task-memory-eval.ts).
 */
export interface MemoryOptions {
  /** Cosine similarity a neighbour needs to count. */
  threshold: number;
  /** Neighbours that vote. */
  k: number;
  capacity: number;
}

export const MEMORY_DEFAULTS: MemoryOptions = { threshold: 0.55, k: 3, capacity: 2_000 };

export interface MemoryHit {
  task: string;
  /** The winner's share of the weighted vote, in (0, 1]. */
  confidence: number;
  /** Cosine similarity of the nearest neighbour that voted for the winner. */
  similarity: number;
  neighbours: number;
}

export class TaskMemory {
  private readonly vectors: Float32Array;
  private readonly labels: string[] = [];
  private readonly sims: Float32Array;
  private readonly idx: Int32Array;
  size = 0;

  constructor(readonly dim: number, readonly opts: MemoryOptions = MEMORY_DEFAULTS) {
    this.vectors = new Float32Array(opts.capacity * dim);
    this.sims = new Float32Array(opts.k);
    this.idx = new Int32Array(opts.k);
  }

  /** false when full (the caller adds newest first, so the oldest are the ones left out). */
  add(v: Float32Array, task: string): boolean {
    if (this.size >= this.opts.capacity) return false;
    this.vectors.set(v, this.size * this.dim);
    this.labels.push(task);
    this.size++;
    return true;
  }

  lookup(v: Float32Array): MemoryHit | undefined {
    const { dim, vectors, sims, idx } = this;
    const k = this.opts.k, th = this.opts.threshold;
    let found = 0;
    for (let i = 0; i < this.size; i++) {
      let s = 0;
      const o = i * dim;
      for (let d = 0; d < dim; d++) s += vectors[o + d] * v[d];
      if (s < th) continue;
      // Insert into the top-k (k is tiny: insertion beats a heap).
      if (found < k) found++;
      else if (s <= sims[k - 1]) continue;
      let j = found - 1;
      while (j > 0 && sims[j - 1] < s) { sims[j] = sims[j - 1]; idx[j] = idx[j - 1]; j--; }
      sims[j] = s; idx[j] = i;
    }
    if (found === 0) return undefined;
    const votes = new Map<string, number>();
    let total = 0;
    for (let j = 0; j < found; j++) {
      const t = this.labels[idx[j]];
      votes.set(t, (votes.get(t) ?? 0) + sims[j]);
      total += sims[j];
    }
    let best = this.labels[idx[0]], bestVote = votes.get(best)!;
    for (const [t, w] of votes) if (w > bestVote) { best = t; bestVote = w; }
    let similarity = 0;
    for (let j = 0; j < found; j++) if (this.labels[idx[j]] === best) { similarity = sims[j]; break; }
    return { task: best, confidence: bestVote / total, similarity, neighbours: found };
  }
}
