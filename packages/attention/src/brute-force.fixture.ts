// Test helpers: an independent float64 forgetting attention (plain loops, no core ops, no
// kernels of this package) and seeded random inputs.
import { Random } from '@prune/core';

/** A forgetting-attention problem on plain arrays, queries the last m of n positions. */
export interface Problem {
  b: number;
  h: number;
  m: number;
  n: number;
  d: number;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  logF: Float32Array;
  seqStart: number[];
  scale: number;
}

/** Random problem; forget gates log σ(z) with z ~ N(bias, 1) so Λ decays like a trained model's. */
export function randomProblem(seed: number, b: number, h: number, m: number, n: number, d: number, opts: { gateBias?: number; seqStart?: number[]; qScale?: number } = {}): Problem {
  const rng = new Random(seed);
  const fill = (len: number, s = 1): Float32Array => Float32Array.from({ length: len }, () => s * rng.normal());
  const gateBias = opts.gateBias ?? 2;
  const logF = Float32Array.from({ length: b * h * n }, () => {
    const z = gateBias + rng.normal();
    return -Math.log1p(Math.exp(-z));
  });
  return {
    b, h, m, n, d,
    q: fill(b * h * m * d, opts.qScale ?? 1),
    k: fill(b * h * n * d),
    v: fill(b * h * n * d),
    logF,
    seqStart: opts.seqStart ?? new Array(b).fill(0),
    scale: 1 / Math.sqrt(d),
  };
}

/** Λ in float64 with padding gates zeroed, `[b·h, n]`. */
export function bruteLambda(p: Problem): Float64Array {
  const out = new Float64Array(p.b * p.h * p.n);
  for (let g = 0; g < p.b * p.h; g++) {
    const s0 = p.seqStart[Math.floor(g / p.h)];
    let acc = 0;
    for (let t = 0; t < p.n; t++) {
      if (t >= s0) acc += p.logF[g * p.n + t];
      out[g * p.n + t] = acc;
    }
  }
  return out;
}

/**
 * Full forgetting attention in float64: weights A (row i over keys, 0 where not attended)
 * and output O. `lambda` may be given (e.g. the float32 Λ the kernels use).
 */
export function bruteAttention(p: Problem, lambda: ArrayLike<number> = bruteLambda(p)): { out: Float64Array; weights: (g: number, i: number) => Float64Array } {
  const { b, h, m, n, d, q, k, v, scale } = p;
  const out = new Float64Array(b * h * m * d);
  const rows = new Map<string, Float64Array>();
  for (let g = 0; g < b * h; g++) {
    const s0 = p.seqStart[Math.floor(g / h)];
    for (let i = 0; i < m; i++) {
      const pos = n - m + i;
      const w = new Float64Array(n);
      rows.set(`${g},${i}`, w);
      if (pos < s0) continue;
      let max = -Infinity;
      for (let j = s0; j <= pos; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[(g * m + i) * d + c] * k[(g * n + j) * d + c];
        w[j] = dot * scale + lambda[g * n + pos] - lambda[g * n + j];
        max = Math.max(max, w[j]);
      }
      let sum = 0;
      for (let j = s0; j <= pos; j++) sum += (w[j] = Math.exp(w[j] - max));
      for (let j = s0; j <= pos; j++) {
        w[j] /= sum;
        for (let c = 0; c < d; c++) out[(g * m + i) * d + c] += w[j] * v[(g * n + j) * d + c];
      }
    }
  }
  return { out, weights: (g, i) => rows.get(`${g},${i}`)! };
}

/** Largest |a − b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return a.length === b.length ? worst : Infinity;
}
