import { PruneError } from '@prune/core';
import type { TrainingTrace } from './recorder.js';
import { checkTrace } from './trace.js';

/** Options of {@link aumScores}. */
export interface AumOptions {
  /**
   * Margin averaged over epochs: of probabilities, p_y − max_{j≠y} p_j, or of logits,
   * z_y − max_{j≠y} z_j (as in the official AUM code).
   * @defaultValue `'probability'`
   */
  margin?: 'probability' | 'logit';
}

/**
 * Area under the margin (Pleiss et al. 2020): the margin of the assigned label averaged over
 * the epochs where the example was presented (Σ_t margin_t / T; the same order as the sum
 * when every example is presented every epoch). LOW = hard or mislabelled — select with
 * `harderIs: 'lower'`. Examples never presented get −Infinity.
 *
 * @param trace - a recorded training run
 * @param options - probability or logit margin
 * @returns one score per example
 */
export function aumScores(trace: TrainingTrace, options: AumOptions = {}): Float32Array {
  checkTrace(trace, 'aumScores');
  const margin = options.margin ?? 'probability';
  if (margin !== 'probability' && margin !== 'logit') throw new PruneError('INVALID_ARGUMENT', `margin must be 'probability' or 'logit', got "${String(margin)}"`);
  const n = trace.count;
  const sum = new Float64Array(n);
  const seen = new Int32Array(n);
  for (const rec of trace.epochs) {
    const m = margin === 'probability' ? rec.probabilityMargin : rec.logitMargin;
    for (let i = 0; i < n; i++) {
      if (!rec.presented[i]) continue;
      sum[i] += m[i];
      seen[i]++;
    }
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = seen[i] === 0 ? -Infinity : sum[i] / seen[i];
  return out;
}
