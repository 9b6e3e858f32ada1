/**
 * Plain-JS BERT encoder forward pass over the weights makeTestOnnxModel
 * generated. Written straight from the BERT equations, independently of the
 * ONNX graph, so agreement with onnxruntime proves the generated graph really
 * computes BERT (and that the embedder feeds it correctly). Float64
 * accumulation; O(layers * seq^2 * hidden), fine for the tiny model only.
 */
import type { TestModelConfig, TestModelWeights } from '../../src/routing/embedders/onnx-testmodel.ts';

type Mat = Float64Array[]; // rows

/** x[rows, inDim] @ W[inDim, outDim] + b */
function dense(x: Mat, w: Float32Array, b: Float32Array, inDim: number, outDim: number): Mat {
  return x.map((row) => {
    const out = new Float64Array(outDim);
    for (let o = 0; o < outDim; o++) {
      let s = b[o];
      for (let i = 0; i < inDim; i++) s += row[i] * w[i * outDim + o];
      out[o] = s;
    }
    return out;
  });
}

function layerNorm(x: Mat, g: Float32Array, b: Float32Array, eps: number): Mat {
  return x.map((row) => {
    const n = row.length;
    let mean = 0;
    for (const v of row) mean += v;
    mean /= n;
    let variance = 0;
    for (const v of row) variance += (v - mean) ** 2;
    variance /= n;
    const inv = 1 / Math.sqrt(variance + eps);
    return row.map((v, i) => (v - mean) * inv * g[i] + b[i]);
  });
}

const add = (a: Mat, b: Mat): Mat => a.map((row, r) => row.map((v, i) => v + b[r][i]));

/**
 * erf by its Maclaurin series: for |x| <= 4 the largest term is ~1e6, so the
 * cancellation error stays ~1e-10; beyond 4, 1 - erf(x) < 2e-8, so +-1 is exact
 * at float32 precision.
 */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax > 4) return Math.sign(x);
  let term = ax, sum = ax;
  for (let n = 1; n < 200; n++) {
    term *= (-ax * ax) / n;
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17) break;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
}

/**
 * One sequence at a time: ids/mask/types are the padded rows; returns
 * [seq, hidden] per sequence, flattened to [batch, seq, hidden] like ORT.
 */
export function referenceForward(
  c: TestModelConfig, w: TestModelWeights,
  ids: number[][], mask: number[][], types?: number[][],
): Float32Array {
  const H = c.hidden, heads = c.heads, hd = H / heads;
  const seq = ids[0].length;
  const out = new Float32Array(ids.length * seq * H);
  ids.forEach((row, b) => {
    let x: Mat = row.map((id, p) => {
      const t = types?.[b][p] ?? 0;
      const v = new Float64Array(H);
      for (let i = 0; i < H; i++) v[i] = w.wordEmb[id * H + i] + w.posEmb[p * H + i] + w.typeEmb[t * H + i];
      return v;
    });
    x = layerNorm(x, w.embLnG, w.embLnB, c.layerNormEps);
    const maskAdd = mask[b].map((m) => (1 - m) * -1e4);
    for (const L of w.layers) {
      const q = dense(x, L.wq, L.bq, H, H), k = dense(x, L.wk, L.bk, H, H), v = dense(x, L.wv, L.bv, H, H);
      const ctx: Mat = Array.from({ length: seq }, () => new Float64Array(H));
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < seq; i++) {
          const scores = new Float64Array(seq);
          let max = -Infinity;
          for (let j = 0; j < seq; j++) {
            let s = 0;
            for (let d = 0; d < hd; d++) s += q[i][h * hd + d] * k[j][h * hd + d];
            scores[j] = s / Math.sqrt(hd) + maskAdd[j];
            max = Math.max(max, scores[j]);
          }
          let z = 0;
          for (let j = 0; j < seq; j++) { scores[j] = Math.exp(scores[j] - max); z += scores[j]; }
          for (let j = 0; j < seq; j++) {
            const p = scores[j] / z;
            for (let d = 0; d < hd; d++) ctx[i][h * hd + d] += p * v[j][h * hd + d];
          }
        }
      }
      x = layerNorm(add(x, dense(ctx, L.wo, L.bo, H, H)), L.ln1g, L.ln1b, c.layerNormEps);
      const inter = dense(x, L.w1, L.b1, H, c.intermediate).map((r) => r.map((u) => 0.5 * u * (1 + erf(u / Math.SQRT2))));
      x = layerNorm(add(x, dense(inter, L.w2, L.b2, c.intermediate, H)), L.ln2g, L.ln2b, c.layerNormEps);
    }
    x.forEach((r, p) => out.set(r, (b * seq + p) * H));
  });
  return out;
}
