import {
  type AccumulatorOptions,
  ColumnNormAccumulator,
  PruneError,
  type PrunableLayer,
  Tensor,
  abs,
  applyMask,
  mul,
  nmMask,
  reshape,
  rowMask,
  sqrt,
  tidy,
} from '@prune/core';
import { adoptValues, hostValues } from './host.js';
import type { PrunedLayer, PruningMethod, SparsityTarget } from './method.js';
import { pruneGroups, pruneRows } from './row-prune.js';
import { kernelOutputs } from './row-workers.js';
import { checkTarget, checkTargetFits } from './target.js';
import { wandaVariantMask } from './wanda-variant.js';

/**
 * Score of Wanda (Sun et al., 2023, "A Simple and Effective Pruning Approach for Large
 * Language Models"): `S_ij = |W_ij| · sqrt(s_j)`, with s_j the squared norm of input
 * column j over the calibration tokens (`columnSqNorm`, from a {@link ColumnNormAccumulator}).
 * A weight matters when it is large or when its input is.
 *
 * @param weight - float32 weight `[d_out, d_in]`
 * @param columnSqNorm - float32 s ∈ ℝ^{d_in}, non-negative
 * @returns float32 scores `[d_out, d_in]`
 *
 * @example
 * ```ts
 * const scores = wandaScore(w, accumulator.value());
 * ```
 */
export function wandaScore(weight: Tensor, columnSqNorm: Tensor): Tensor<'float32'> {
  checkWandaInputs('wandaScore', weight, columnSqNorm);
  const dIn = weight.shape[1];
  return tidy(() => mul(abs(weight), sqrt(reshape(columnSqNorm, [1, dIn])))) as Tensor<'float32'>;
}

function checkWandaInputs(op: string, weight: Tensor, columnSqNorm: Tensor): void {
  if (!(weight instanceof Tensor) || weight.dtype !== 'float32' || weight.rank !== 2) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: weight must be a float32 [d_out, d_in] tensor`);
  }
  if (!(columnSqNorm instanceof Tensor) || columnSqNorm.dtype !== 'float32') {
    throw new PruneError('INVALID_ARGUMENT', `${op}: columnSqNorm must be a float32 tensor [d_in] (ColumnNormAccumulator.value())`);
  }
  const dIn = weight.shape[1];
  if (columnSqNorm.size !== dIn || (columnSqNorm.rank !== 1 && !(columnSqNorm.rank === 2 && columnSqNorm.shape[0] === 1))) {
    throw new PruneError(
      'SHAPE_MISMATCH',
      `${op}: columnSqNorm has shape [${columnSqNorm.shape.join(', ')}] but the weight [${weight.shape.join(', ')}] needs one value per input column: [${dIn}]`,
    );
  }
}

/** Options of {@link wandaMask}. */
export interface WandaMaskOptions {
  /**
   * Use the α-variant ({@link wandaVariantMask}) for unstructured targets. N:M targets
   * ignore it, as the reference does.
   * @defaultValue false
   */
  variant?: boolean;
  /**
   * How error messages name the layer.
   * @defaultValue `'scores'`
   */
  name?: string;
}

/**
 * Select step of Wanda: the bool KEEP mask for `target`, comparing scores within each output
 * row. Unstructured: each row prunes its floor(d_in·s) lowest scores, ties pruned lower
 * index first (exactly the reference's `torch.sort(stable=True)`, found by selection in
 * O(d_in) per row — no sort). N:M: in each group of M consecutive inputs of a row, the N
 * lowest are pruned (the reference's "2:4" prunes 2 of 4). With `variant`, unstructured
 * targets use the α-variant instead.
 *
 * @param scores - Wanda scores `[d_out, d_in]`, e.g. from {@link wandaScore}
 * @param target - the sparsity pattern
 * @param options - variant and name
 * @returns bool KEEP mask (true = keep)
 */
export function wandaMask(scores: Tensor, target: SparsityTarget, options: WandaMaskOptions = {}): Tensor<'bool'> {
  const t = checkTarget('wandaMask', target);
  const name = options.name ?? 'scores';
  if (t.kind === 'nm') {
    if (scores instanceof Tensor) checkTargetFits('wandaMask', t, name, scores.shape[scores.rank - 1]);
    return nmMask(scores, { n: t.prune, m: t.group, mode: 'prune', name });
  }
  if (options.variant === true) return wandaVariantMask(scores, { sparsity: t.sparsity, name }).mask;
  return rowMask(scores, { sparsity: t.sparsity, name });
}

/**
 * Wanda on one matrix — score, select and apply in one call. Without `variant` it runs as
 * one fused pass per row on the host: the row's scores |W_ij|·√s_j go into one row buffer,
 * the floor(d_in·s) lowest (or the N lowest of each group of M) are found by selection and
 * zeroed in the output — no score matrix or mask tensor in between, and exactly the mask of
 * `wandaMask(wandaScore(w, s), target)`.
 *
 * @param weight - float32 weight `[d_out, d_in]` (left unchanged)
 * @param columnSqNorm - the layer's input column squared norms s `[d_in]`
 * @param target - the sparsity pattern
 * @param options - variant and name
 * @returns the pruned weight and its KEEP mask
 *
 * @example
 * ```ts
 * const { weight, mask } = pruneWanda(w, stats.value(), { kind: 'unstructured', sparsity: 0.5 });
 * ```
 */
export function pruneWanda(weight: Tensor, columnSqNorm: Tensor, target: SparsityTarget, options: WandaMaskOptions = {}): PrunedLayer {
  if (options?.variant === true) {
    return tidy(() => {
      const mask = wandaMask(wandaScore(weight, columnSqNorm), target, options);
      return { weight: applyMask(weight, mask), mask };
    });
  }
  // Fused on the host: per row, score |W_ij|·√s_j into one row buffer, select, apply.
  const op = 'pruneWanda';
  checkWandaInputs(op, weight, columnSqNorm);
  const t = checkTarget(op, target);
  const name = options?.name ?? 'scores';
  const [rows, cols] = weight.shape;
  if (t.kind === 'nm') checkTargetFits(op, t, name, cols);
  const s = hostValues(columnSqNorm as Tensor<'float32'>);
  // √s_j rounded to float32, as sqrt() stores it; the row kernel rounds |W_ij|·√s_j likewise.
  // abs turns √(-0) = -0 into +0 so every score's bits are a non-negative order key, and
  // keeps NaN (from s_j < 0) NaN, which the kernel rejects as the tensor path does.
  const scale = new Float32Array(cols);
  for (let j = 0; j < cols; j++) scale[j] = Math.abs(Math.sqrt(s[j]));
  const w = hostValues(weight as Tensor<'float32'>);
  const { out, mask } = kernelOutputs(rows, cols);
  const args = { w, rows, cols, scale, out, mask, op, name };
  if (t.kind === 'nm') pruneGroups(args, t.prune, t.group);
  else pruneRows(args, Math.floor(cols * t.sparsity));
  return { weight: adoptValues(out, weight.shape, 'float32', weight.backend), mask: adoptValues(mask, weight.shape, 'bool', weight.backend) };
}

/** Options of {@link wanda}. */
export interface WandaOptions {
  /**
   * Use the α-variant for unstructured targets (`--use_variant` of the reference).
   * @defaultValue false
   */
  variant?: boolean;
  /**
   * How the column-norm statistic is accumulated; see {@link ColumnNormAccumulator}.
   * @defaultValue `{ weighting: 'sequences', accumulation: 'float32' }` (the reference)
   */
  statistic?: AccumulatorOptions;
}

/**
 * Wanda as a {@link PruningMethod}: a {@link ColumnNormAccumulator} per layer during
 * calibration, then {@link pruneWanda} per layer.
 *
 * @param options - variant and statistic options
 * @returns the method
 *
 * @example
 * ```ts
 * const report = await pruneModel(model, {
 *   method: wanda(),
 *   target: { kind: 'unstructured', sparsity: 0.5 },
 *   calibration: samples,
 *   nsamples: 128,
 * });
 * ```
 */
export function wanda(options: WandaOptions = {}): PruningMethod<ColumnNormAccumulator> {
  const variant = options?.variant ?? false;
  if (typeof variant !== 'boolean') throw new PruneError('INVALID_ARGUMENT', `wanda: variant must be true or false, got ${String(variant)}`);
  const statistic = options?.statistic ?? {};
  // Fail here rather than at the first layer when the statistic options are bad.
  new ColumnNormAccumulator(1, statistic).dispose();
  return {
    name: 'wanda',
    options: { variant, ...statistic },
    createStatistic(layer: PrunableLayer): ColumnNormAccumulator {
      return new ColumnNormAccumulator(layer.shape[1], statistic);
    },
    pruneLayer(layer: PrunableLayer, weight: Tensor, target: SparsityTarget, stat: ColumnNormAccumulator | undefined): PrunedLayer {
      if (stat === undefined) {
        throw new PruneError('INVALID_ARGUMENT', `wanda: layer ${layer.name} has no calibration statistic; Wanda needs the layer's inputs (pass calibration samples to pruneModel)`);
      }
      const s = stat.value();
      try {
        return pruneWanda(weight, s, target, { variant, name: layer.name });
      } finally {
        s.dispose();
      }
    },
  };
}
