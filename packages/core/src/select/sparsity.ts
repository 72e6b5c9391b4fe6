import { PruneError } from '../errors.js';
import { equal, logicalNot } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { tidy } from '../scope.js';
import { Tensor } from '../tensor.js';

/** How sparse a mask or a weight is, as returned by {@link sparsityOf}. */
export interface SparsityReport {
  /** Pruned entries: false in a KEEP mask, or zeros (±0) in a weight. */
  readonly pruned: number;
  /** All entries. */
  readonly total: number;
  /** pruned / total; 0 for an empty tensor. */
  readonly sparsity: number;
  /** Length of one row (the last axis). */
  readonly rowLength: number;
  /** Pruned entries per row along the last axis (one entry per row, row-major). */
  readonly prunedPerRow: Int32Array;
}

/**
 * Sparsity accounting for a KEEP mask (bool: false = pruned) or a weight (float32/int32:
 * zero = pruned; NaN is not zero): total and per-row counts of pruned entries, so a caller
 * can check that a per-row rule gave every row the same count or report the achieved
 * sparsity next to the requested one.
 *
 * @param maskOrWeight - a bool KEEP mask or a weight tensor, rank ≥ 1
 * @returns counts and the pruned fraction
 *
 * @example
 * ```ts
 * sparsityOf(rowMask(scores, { sparsity: 0.5 })).sparsity; // 0.5 when rows have even length
 * ```
 */
export function sparsityOf(maskOrWeight: Tensor): SparsityReport {
  if (!(maskOrWeight instanceof Tensor)) {
    throw new PruneError('INVALID_ARGUMENT', `sparsityOf: expects a bool mask or a weight Tensor, got ${maskOrWeight === null ? 'null' : typeof maskOrWeight}`);
  }
  if (maskOrWeight.rank === 0) {
    throw new PruneError('OUT_OF_RANGE', 'sparsityOf: expects rank ≥ 1 (rows along the last axis); reshape a scalar to [1] first');
  }
  const rowLength = maskOrWeight.shape[maskOrWeight.rank - 1];
  const counts = tidy(() => {
    const isPruned = maskOrWeight.dtype === 'bool' ? logicalNot(maskOrWeight) : equal(maskOrWeight, 0);
    return sum(isPruned, { axis: -1 });
  });
  const prunedPerRow = Int32Array.from(counts.dataSync());
  counts.dispose();
  let pruned = 0;
  for (const c of prunedPerRow) pruned += c;
  const total = maskOrWeight.size;
  return { pruned, total, sparsity: total === 0 ? 0 : pruned / total, rowLength, prunedPerRow };
}
