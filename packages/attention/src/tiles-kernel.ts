import { type Tensor, concat, fromArray, matmul, mul, reshape, slice, softmax, stack, tidy, where, zeros, add } from '@prune/core';
import type { AcpBoundaries } from './acp.js';


/** Inputs of {@link tilesForgettingAttention}. */
export interface TilesAttentionProblem {
  /** Queries `[batch, heads, m, d]` on any backend. */
  readonly q: Tensor<'float32'>;
  /** Keys `[batch, heads, n, d]`. */
  readonly k: Tensor<'float32'>;
  /** Values `[batch, heads, n, d]`. */
  readonly v: Tensor<'float32'>;
  /** Λ on the host, `[batch·heads, n]`. */
  readonly lambda: Float32Array;
  /** Softmax scale. */
  readonly scale: number;
  /** First real token per batch entry. */
  readonly seqStart: Int32Array;
  /** Kept key range per (batch, head) group, from the boundary search. */
  readonly boundaries: readonly AcpBoundaries[];
  /** BM. */
  readonly blockM: number;
}

/**
 * The block-sparse forgetting-attention kernel built from core ops, so it runs on every
 * backend: per (batch, head) and query block it slices the block's queries and only the kept
 * keys [max(start_m, seqStart), hi_m), and computes softmax(q kᵀ·scale + D) v on that range
 * (matmul, add, softmax, matmul). Pruned tiles are never sliced, multiplied or
 * exponentiated. The decay bias and causal mask of the kept range are formed on the host from
 * Λ (O(BM·kept) work, against O(BM·kept·d) for the products).
 * @returns O `[batch, heads, m, d]`; rows of padded queries are 0
 */
export function tilesForgettingAttention(p: TilesAttentionProblem): Tensor<'float32'> {
  const { q, k, v, lambda, scale, seqStart, boundaries, blockM } = p;
  const [b, h, m, d] = q.shape;
  const n = k.shape[2];
  const offset = n - m;
  const backend = q.backend;
  return tidy(() => {
    const groups: Tensor<'float32'>[] = [];
    for (let bb = 0; bb < b; bb++) {
      const s0 = seqStart[bb];
      for (let hh = 0; hh < h; hh++) {
        const g = bb * h + hh;
        const bounds = boundaries[g];
        const blocks: Tensor<'float32'>[] = [];
        for (let mb = 0; mb < bounds.start.length; mb++) {
          const m0 = mb * blockM;
          const rows = Math.min(m, m0 + blockM) - m0;
          const first = Math.max(bounds.start[mb], s0);
          const hi = bounds.end[mb];
          if (offset + m0 + rows - 1 < s0 || hi <= first) {
            blocks.push(zeros([rows, d], 'float32', { backend }));
            continue;
          }
          const len = hi - first;
          const bias = new Float32Array(rows * len);
          const rowMask = new Uint8Array(rows);
          let padded = false;
          for (let r = 0; r < rows; r++) {
            const pos = offset + m0 + r;
            if (pos < s0) {
              padded = true;
              continue; // bias row 0 keeps the softmax finite; the row is zeroed below
            }
            rowMask[r] = 1;
            const li = lambda[g * n + pos];
            const base = r * len;
            for (let c = 0; c < len; c++) {
              const j = first + c;
              bias[base + c] = j <= pos ? li - lambda[g * n + j] : -Infinity;
            }
          }
          blocks.push(
            tidy(() => {
              const qb = reshape(slice(q, [bb, hh, m0, 0], [1, 1, rows, d]), [rows, d]);
              const kr = reshape(slice(k, [bb, hh, first, 0], [1, 1, len, d]), [len, d]);
              const vr = reshape(slice(v, [bb, hh, first, 0], [1, 1, len, d]), [len, d]);
              const scores = add(mul(matmul(qb, kr, { transposeB: true }), scale), fromArray(bias, [rows, len], 'float32', { backend }));
              const out = matmul(softmax(scores, { axis: -1 }), vr);
              return padded ? where(fromArray(rowMask, [rows, 1], 'bool', { backend }), out, 0) : out;
            }),
          );
        }
        groups.push(blocks.length === 1 ? blocks[0] : concat(blocks, 0));
      }
    }
    return reshape(stack(groups, 0), [b, h, m, d]);
  });
}
