import { logicalNot } from '../ops/elementwise.js';
import { selectMask } from '../ops/selection.js';
import type { Tensor } from '../tensor.js';
import { checkName, checkOptions, checkScores, checkSparsity } from './validate.js';

/** Options of {@link rowMask}. */
export interface RowMaskOptions {
  /** Fraction s ∈ [0, 1) of each row to prune: floor(d·s) entries per row of length d. */
  sparsity: number;
  /**
   * How error messages name the score tensor (e.g. the weight's checkpoint key).
   * @defaultValue `'scores'`
   */
  name?: string;
}

/**
 * Per-output-row mask — Wanda's comparison group (Sun et al., 2023, "A Simple and Effective
 * Pruning Approach for Large Language Models"; locuslab/wanda `lib/prune.py`): in every row
 * of length d along the last axis, prune the floor(d·s) lowest scores and keep the rest.
 *
 * The pruned set is exactly the first floor(d·s) indices of a stable ascending sort of the
 * row, as the reference's `torch.sort(W_metric, dim=-1, stable=True)` gives: equal scores
 * are pruned lower index first, and +Infinity ranks highest. floor(d·s) is computed in
 * double precision like the reference's `int(W.shape[1] * sparsity)`. It runs as a
 * selection, O(d) per row, never sorting a row.
 *
 * @param scores - importance scores S (float32 or int32, rank ≥ 1, no NaN), e.g. Wanda's
 *   |W_ij|·√s_j; one row per output neuron
 * @param options - the sparsity s
 * @returns bool KEEP mask of `scores`' shape: true = keep, false = prune
 *
 * @example
 * ```ts
 * const keep = rowMask(tensor([[0.3, 0.1, 0.2, 0.1]]), { sparsity: 0.5 });
 * // [[true, false, true, false]] — the tie at 0.1 prunes both, lower index first
 * ```
 */
export function rowMask(scores: Tensor, options: RowMaskOptions): Tensor<'bool'> {
  checkOptions('rowMask', options, '{ sparsity: 0.5 }');
  const sparsity = checkSparsity('rowMask', options.sparsity);
  const name = checkName('rowMask', options.name, 'scores');
  checkScores('rowMask', scores, name);
  const d = scores.shape[scores.rank - 1];
  const pruned = selectMask(scores, { k: Math.floor(d * sparsity), largest: false });
  try {
    return logicalNot(pruned);
  } finally {
    pruned.dispose();
  }
}
