import { PruneError, type Tensor } from '@prune/core';
import { readFloat } from './common.js';

/** Options of {@link attentionReceived}. */
export interface AttentionReceivedOptions {
  /**
   * Which query rows are averaged: `'all'` (the global attention each token receives, as
   * HiPrune does) or one row index (FastV's last text token; the CLS row `0` in a ViT).
   * @defaultValue `'all'`
   */
  queryRows?: 'all' | number;
  /**
   * Whether token 0 of the attention map is a CLS token. Its column is dropped, so the
   * returned scores index patch tokens only (patch `p` is token `p + 1`).
   * @defaultValue `true`
   */
  clsToken?: boolean;
}

/**
 * The attention each token receives, a_j = mean over heads h and query rows i of
 * Attn[h, i, j]. This is the token score of HiPrune and FastV.
 * @param attention - softmax attention probabilities, shape [heads, n, n] (rows are queries)
 * @param options - which rows to average and whether column 0 is a CLS token
 * @returns one score per key token (patch tokens only when `clsToken`)
 */
export function attentionReceived(attention: Tensor, options: AttentionReceivedOptions = {}): Float32Array {
  const a = readFloat('attentionReceived', 'attention', attention, 3);
  const [heads, n, n2] = attention.shape;
  if (n !== n2 || n < 1) {
    throw new PruneError('SHAPE_MISMATCH', `attentionReceived: attention has shape [${attention.shape.join(', ')}]; expected [heads, n, n] with queries as rows`);
  }
  const queryRows = options.queryRows ?? 'all';
  const cls = options.clsToken ?? true;
  if (cls && n < 2) {
    throw new PruneError('SHAPE_MISMATCH', 'attentionReceived: with clsToken the map needs at least one patch token besides CLS');
  }
  let r0 = 0;
  let r1 = n;
  if (queryRows !== 'all') {
    const row = queryRows < 0 ? n + queryRows : queryRows;
    if (!Number.isInteger(row) || row < 0 || row >= n) {
      throw new PruneError('OUT_OF_RANGE', `attentionReceived: query row ${queryRows} is outside [-${n}, ${n}); pass 'all', 0 (CLS) or -1 (last token)`);
    }
    r0 = row;
    r1 = row + 1;
  }
  const first = cls ? 1 : 0;
  const out = new Float64Array(n - first);
  for (let h = 0; h < heads; h++) {
    for (let i = r0; i < r1; i++) {
      const base = (h * n + i) * n;
      for (let j = first; j < n; j++) out[j - first] += a[base + j];
    }
  }
  const scale = 1 / (heads * (r1 - r0));
  return Float32Array.from(out, (v) => v * scale);
}
