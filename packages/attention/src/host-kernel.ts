import { type AcpBoundaries, acpBoundaries } from './acp.js';

/**
 * One forgetting-attention problem in host memory. Groups are (batch, head) pairs in
 * row-major order; queries are the last `m` of the `n` key positions.
 */
export interface HostAttentionProblem {
  /** Queries `[groups, m, d]`. */
  readonly q: Float32Array;
  /** Keys `[groups, capacity, d]`; the first `n` rows of each group are used. */
  readonly k: Float32Array;
  /** Values `[groups, capacity, d]`. */
  readonly v: Float32Array;
  /** Λ `[groups, capacity]`. */
  readonly lambda: Float32Array;
  /** Number of (batch, head) groups. */
  readonly groups: number;
  /** Heads per batch entry (group g belongs to batch ⌊g / heads⌋). */
  readonly heads: number;
  /** Queries per group. */
  readonly m: number;
  /** Keys per group. */
  readonly n: number;
  /** Head size. */
  readonly d: number;
  /** Row capacity of k, v and Λ per group (≥ n). */
  readonly capacity: number;
  /** Softmax scale. */
  readonly scale: number;
  /** First real token per batch entry. */
  readonly seqStart: Int32Array;
  /** δ per group, or null for the unpruned kernel. */
  readonly threshold: Float64Array | null;
  /** BM. */
  readonly blockM: number;
  /** BN. */
  readonly blockN: number;
}

/** Output of {@link hostForgettingAttention}. */
export interface HostAttentionResult {
  /** O `[groups, m, d]`. */
  readonly output: Float32Array;
  /** Kept key range of every query block, per group. */
  readonly boundaries: AcpBoundaries[];
}

/**
 * The block-sparse forgetting-attention kernel on typed arrays. For each (batch, head) and
 * query block it runs the ACP boundary search and visits keys [max(start_m, seqStart), i]
 * only — pruned tiles are never read. The softmax of each row is normalised over the kept
 * keys (max-subtracted, accumulated in float64). With `threshold: null` it visits every
 * causal key, which is full forgetting attention.
 */
export function hostForgettingAttention(p: HostAttentionProblem): HostAttentionResult {
  const { q, k, v, lambda, groups, heads, m, n, d, capacity, scale, blockM, blockN } = p;
  const output = new Float32Array(groups * m * d);
  const boundaries: AcpBoundaries[] = [];
  const offset = n - m;
  const scores = new Float64Array(n);
  const acc = new Float64Array(d);
  for (let g = 0; g < groups; g++) {
    const s0 = p.seqStart[Math.floor(g / heads)];
    const lam = lambda.subarray(g * capacity, g * capacity + n);
    const bounds = acpBoundaries(lam, {
      threshold: p.threshold ? p.threshold[g] : -Infinity,
      queries: m,
      blockM,
      blockN,
      seqStart: s0,
    });
    boundaries.push(bounds);
    const kBase = g * capacity * d;
    for (let mb = 0; mb < bounds.start.length; mb++) {
      const first = Math.max(bounds.start[mb], s0);
      const rowEnd = Math.min(m, (mb + 1) * blockM);
      for (let i = mb * blockM; i < rowEnd; i++) {
        const pos = offset + i;
        if (pos < s0) continue; // padded query: its output row stays 0
        const qBase = (g * m + i) * d;
        const li = lam[pos];
        let max = -Infinity;
        for (let j = first; j <= pos; j++) {
          const kr = kBase + j * d;
          let dot = 0;
          for (let c = 0; c < d; c++) dot += q[qBase + c] * k[kr + c];
          const s = dot * scale + (li - lam[j]);
          scores[j] = s;
          if (s > max) max = s;
        }
        acc.fill(0);
        let sum = 0;
        for (let j = first; j <= pos; j++) {
          const w = Math.exp(scores[j] - max);
          sum += w;
          const vr = kBase + j * d;
          for (let c = 0; c < d; c++) acc[c] += w * v[vr + c];
        }
        const inv = 1 / sum;
        for (let c = 0; c < d; c++) output[qBase + c] = acc[c] * inv;
      }
    }
  }
  return { output, boundaries };
}
