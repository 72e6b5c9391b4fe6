import type { Tensor } from '@prune/core';
import { attentionReceived } from './attention.js';
import { checkKeep, topKIndices } from './common.js';

/** Options of {@link fastv}. */
export interface FastvOptions {
  /** Number of image tokens kept, N·(1 − R) (the reference drops R = 50%). */
  keep: number;
  /**
   * The query row whose attention ranks the tokens: the reference uses the last token of
   * the sequence (`-1`); in a ViT classifier the CLS row (`0`) is the readout.
   * @defaultValue `-1`
   */
  queryRow?: number | 'all';
  /**
   * Whether token 0 is a CLS token (its column is not ranked).
   * @defaultValue `true`
   */
  clsToken?: boolean;
}

/**
 * FastV's ranking score: the attention each image token receives from one query row,
 * averaged over heads (a_j = mean_h Attn[h, q, j]).
 * @param attention - softmax attention of layer K, [heads, n, n]
 * @param options - query row and CLS handling
 * @returns one score per patch token
 */
export function fastvScores(attention: Tensor, options: Omit<FastvOptions, 'keep'> = {}): Float32Array {
  return attentionReceived(attention, { queryRows: options.queryRow ?? -1, clsToken: options.clsToken ?? true });
}

/**
 * FastV: after layer K keep the `keep` image tokens that receive the most attention and drop
 * the others for every later layer.
 * @param attention - softmax attention of layer K, [heads, n, n]
 * @param options - budget, query row, CLS handling
 * @returns kept patch positions, ascending (CLS excluded)
 */
export function fastv(attention: Tensor, options: FastvOptions): Int32Array {
  const scores = fastvScores(attention, options);
  checkKeep('fastv', options.keep, scores.length);
  return topKIndices(scores, options.keep);
}
