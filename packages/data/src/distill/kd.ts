import { PruneError } from '@prune/core';
import { checkInteger, checkKeepFraction, checkLabels, checkUnitRange } from '../internal/validate.js';

/**
 * The default KD weight α for a student trained on a kept fraction f of the data:
 * α(f) = 1 − f/2, so 0.5 on all data, 0.75 at half, 0.85 at 30 % and → 1 as f → 0. Decreasing
 * in f because the smaller the pruned set, the more the student gains from the teacher's
 * soft labels (Ben-Baruch et al. 2024, "Distilling the Knowledge in Data Pruning": the best α
 * grows as the kept fraction shrinks). Pass `alpha` to the loss to override it.
 *
 * @param keptFraction - fraction of the training set kept, in (0, 1]
 * @returns α in [0.5, 1)
 */
export function defaultKdAlpha(keptFraction: number): number {
  checkKeepFraction('keptFraction', keptFraction);
  return 1 - keptFraction / 2;
}

/** Options of the knowledge-distillation loss. */
export interface KdOptions {
  /**
   * τ: softmax temperature of the soft targets; the KL term is multiplied by τ² so its
   * gradients keep their scale as τ changes (Hinton et al.).
   * @defaultValue `4`
   */
  temperature?: number;
  /**
   * α: weight of the distillation term, in [0, 1]. Give either `alpha` or `keptFraction`.
   * @defaultValue {@link defaultKdAlpha}(keptFraction), or 0.5 when neither is given
   */
  alpha?: number;
  /** Kept fraction of the training set, used to pick the default α. */
  keptFraction?: number;
}

/**
 * Resolves α and τ from {@link KdOptions} (checked).
 * @param options - the loss options
 */
export function resolveKdOptions(options: KdOptions): { alpha: number; temperature: number } {
  const temperature = options.temperature ?? 4;
  if (!Number.isFinite(temperature) || temperature <= 0) throw new PruneError('OUT_OF_RANGE', `temperature must be a positive number, got ${temperature}`);
  let alpha: number;
  if (options.alpha !== undefined) {
    checkUnitRange('alpha', options.alpha);
    alpha = options.alpha;
  } else if (options.keptFraction !== undefined) {
    alpha = defaultKdAlpha(options.keptFraction);
  } else {
    alpha = 0.5;
  }
  return { alpha, temperature };
}

function logSoftmaxRow(z: ArrayLike<number>, o: number, C: number, scale: number, out: Float64Array): void {
  let m = -Infinity;
  for (let j = 0; j < C; j++) m = Math.max(m, z[o + j] * scale);
  let s = 0;
  for (let j = 0; j < C; j++) s += Math.exp(z[o + j] * scale - m);
  const lse = m + Math.log(s);
  for (let j = 0; j < C; j++) out[j] = z[o + j] * scale - lse;
}

/**
 * The distillation loss on a batch, in float64 (a reference and for evaluation; train with
 * `kdLoss` from `@prune/data/tfjs`):
 * L = (1 − α)·CE(y, softmax(z_s)) + α·τ²·KL(softmax(z_t/τ) ‖ softmax(z_s/τ)), averaged over
 * the batch.
 *
 * @param studentLogits - `batch·numClasses` student logits z_s
 * @param teacherLogits - `batch·numClasses` teacher logits z_t
 * @param labels - class label of every example
 * @param numClasses - number of classes
 * @param options - τ, α (or the kept fraction that sets it)
 * @returns the mean loss
 */
export function kdLossValue(studentLogits: ArrayLike<number>, teacherLogits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number, options: KdOptions = {}): number {
  checkInteger('numClasses', numClasses, 2);
  const { alpha, temperature: tau } = resolveKdOptions(options);
  const b = labels?.length ?? 0;
  checkLabels(labels, b, numClasses, 'the distillation loss');
  if (studentLogits.length !== b * numClasses || teacherLogits.length !== b * numClasses) {
    throw new PruneError('SHAPE_MISMATCH', `the distillation loss needs ${b}·${numClasses} logits from student and teacher, got ${studentLogits.length} and ${teacherLogits.length}`);
  }
  if (b === 0) throw new PruneError('INVALID_ARGUMENT', 'the distillation loss needs a non-empty batch');
  const ls = new Float64Array(numClasses);
  const lsT = new Float64Array(numClasses);
  const ltT = new Float64Array(numClasses);
  let total = 0;
  for (let r = 0; r < b; r++) {
    const o = r * numClasses;
    logSoftmaxRow(studentLogits, o, numClasses, 1, ls);
    logSoftmaxRow(studentLogits, o, numClasses, 1 / tau, lsT);
    logSoftmaxRow(teacherLogits, o, numClasses, 1 / tau, ltT);
    const ce = -ls[labels[r]];
    let kl = 0;
    for (let j = 0; j < numClasses; j++) kl += Math.exp(ltT[j]) * (ltT[j] - lsT[j]);
    total += (1 - alpha) * ce + alpha * tau * tau * kl;
  }
  return total / b;
}
