import { full } from '../ops/creation.js';
import { greater } from '../ops/elementwise.js';
import { concat, reshape } from '../ops/layout.js';
import { kthValue } from '../ops/selection.js';
import { PruneError } from '../errors.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { checkName, checkOptions, checkScores, checkSparsity } from './validate.js';

/** Options of {@link thresholdMask}. */
export interface ThresholdMaskOptions {
  /** Fraction s ∈ [0, 1) that places the threshold at sorted position floor(numel·s). */
  sparsity: number;
  /**
   * How error messages name the score tensor.
   * @defaultValue `'scores'`
   */
  name?: string;
}

/** Options of {@link globalThresholdMasks}. */
export interface GlobalThresholdMasksOptions {
  /** Fraction s ∈ [0, 1) that places the shared threshold at sorted position floor(N·s), N = total entries. */
  sparsity: number;
  /**
   * How error messages name each score tensor, in order.
   * @defaultValue `scores[0]`, `scores[1]`, …
   */
  names?: readonly string[];
}

/**
 * The threshold rule of the reference magnitude pruner: the value at sorted position
 * floor(numel·s) (0-based) of the flattened scores, found by selection (`kthValue`).
 */
function threshold(flat: Tensor, sparsity: number): Tensor {
  return kthValue(flat, { k: Math.floor(flat.size * sparsity) + 1 }).values;
}

/**
 * Per-matrix threshold mask — the magnitude baseline as the Wanda reference implements it
 * (locuslab/wanda `lib/prune.py`, `prune_magnitude`): thr = sorted(S flattened)[floor(numel·s)],
 * and every score `S ≤ thr` is pruned.
 *
 * Because of `≤`, ties at the threshold are all pruned, so the pruned count is at least
 * floor(numel·s) + 1 (one more than the nominal share, plus every tie with thr) — the
 * reference's behaviour, kept so results match it. At s = 0 the reference would still prune
 * the minimum; here s = 0 keeps everything. For an exact per-row count use {@link rowMask}.
 *
 * @param scores - importance scores, usually |W| (float32 or int32, rank ≥ 1, no NaN)
 * @param options - the sparsity s
 * @returns bool KEEP mask of `scores`' shape: true where `S > thr`
 *
 * @example
 * ```ts
 * thresholdMask(tensor([[4, 1], [3, 2]]), { sparsity: 0.25 }); // thr = 2 → [[true, false], [true, false]]
 * ```
 */
export function thresholdMask(scores: Tensor, options: ThresholdMaskOptions): Tensor<'bool'> {
  checkOptions('thresholdMask', options, '{ sparsity: 0.5 }');
  const sparsity = checkSparsity('thresholdMask', options.sparsity);
  const name = checkName('thresholdMask', options.name, 'scores');
  checkScores('thresholdMask', scores, name);
  if (sparsity === 0 || scores.size === 0) return full(scores.shape, 1, 'bool', { backend: scores.backend });
  return tidy(() => greater(scores, threshold(reshape(scores, [scores.size]), sparsity)));
}

/**
 * One threshold across several matrices — global magnitude pruning: all scores are pooled,
 * thr = sorted(pooled)[floor(N·s)] with N the total number of entries, and `S ≤ thr` is
 * pruned in every matrix (the same `≤` rule as {@link thresholdMask}; s = 0 keeps all).
 * Matrices whose scores are small overall lose more; at high sparsity this collapses LLMs,
 * which is why it is a baseline.
 *
 * @param scores - one score tensor per matrix (float32 or int32 alike, each rank ≥ 1, no NaN), on one backend
 * @param options - the sparsity s
 * @returns one bool KEEP mask per matrix, in order
 */
export function globalThresholdMasks(scores: readonly Tensor[], options: GlobalThresholdMasksOptions): Tensor<'bool'>[] {
  const op = 'globalThresholdMasks';
  checkOptions(op, options, '{ sparsity: 0.5 }');
  const sparsity = checkSparsity(op, options.sparsity);
  if (!Array.isArray(scores) || scores.length === 0) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: scores must be a non-empty array of tensors, one per matrix`);
  }
  const names = options.names;
  if (names !== undefined && (!Array.isArray(names) || names.length !== scores.length)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: names must list one string per score tensor (${scores.length})`);
  }
  scores.forEach((s, i) => checkScores(op, s, checkName(op, names?.[i], `scores[${i}]`)));
  const dtype = scores[0].dtype;
  scores.forEach((s, i) => {
    if (s.dtype !== dtype) {
      throw new PruneError('DTYPE_MISMATCH', `${op}: scores[${i}] is ${s.dtype} but scores[0] is ${dtype}; cast them to one dtype`);
    }
  });
  const total = scores.reduce((n, s) => n + s.size, 0);
  if (sparsity === 0 || total === 0) return scores.map((s) => full(s.shape, 1, 'bool', { backend: s.backend }));
  return tidy(() => {
    const pooled = concat(
      scores.map((s) => reshape(s, [s.size])),
      0,
    );
    const thr = threshold(pooled, sparsity);
    return scores.map((s) => greater(s, thr));
  });
}
