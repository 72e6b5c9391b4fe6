import { PruneError } from '@prune/core';
import { checkInteger, checkLabels } from '../internal/validate.js';
import { runsOf } from './runs.js';

/** Input of {@link grandLastLayerScores}. */
export interface GrandLastLayerInput {
  /** Softmax outputs `count·numClasses`, one array per run (or one array). */
  probabilities: Float32Array | readonly Float32Array[];
  /** Inputs h of the last (dense) layer, `count·featureDim`, one array per run (same runs as `probabilities`). */
  features: Float32Array | readonly Float32Array[];
  /** Class label of every example. */
  labels: ArrayLike<number>;
  /** Number of classes. */
  numClasses: number;
  /**
   * Whether the last layer has a bias (its gradient p − y adds to the norm).
   * @defaultValue `true`
   */
  bias?: boolean;
}

/**
 * GraNd restricted to the last layer (the cheap variant of Paul et al. 2021): for a dense
 * softmax layer z = W·h + b with cross-entropy, ∇_W ℓ = (p − y)·hᵀ and ∇_b ℓ = p − y, so
 * ‖∇ℓ‖₂ = ‖p − y‖₂·√(‖h‖² + 1) in closed form — no backward pass. Averaged over runs. High =
 * hard. The full-network variant is `grandScores` in `@prune/data/tfjs`.
 *
 * @param input - probabilities and last-layer inputs per run, labels
 * @returns one score per example
 */
export function grandLastLayerScores(input: GrandLastLayerInput): Float32Array {
  const { numClasses, labels } = input;
  checkInteger('numClasses', numClasses, 2);
  const count = labels?.length ?? 0;
  checkLabels(labels, count, numClasses, 'GraNd');
  const probs = runsOf('probabilities', input.probabilities, count * numClasses);
  const featureRuns = input.features instanceof Float32Array ? [input.features] : input.features;
  const featureDim = count === 0 ? 0 : (featureRuns?.[0]?.length ?? 0) / count;
  checkInteger('feature dimension (features.length / count)', featureDim, 1);
  const feats = runsOf('features', input.features, count * featureDim);
  if (feats.length !== probs.length) {
    throw new PruneError('SHAPE_MISMATCH', `GraNd: ${feats.length} runs of features but ${probs.length} runs of probabilities; pass one of each per run`);
  }
  const bias = input.bias ?? true ? 1 : 0;
  const out = new Float32Array(count);
  for (let r = 0; r < probs.length; r++) {
    const p = probs[r];
    const h = feats[r];
    for (let i = 0; i < count; i++) {
      let e = 0;
      for (let j = 0; j < numClasses; j++) {
        const t = p[i * numClasses + j] - (j === labels[i] ? 1 : 0);
        e += t * t;
      }
      let hh = 0;
      for (let t = 0; t < featureDim; t++) hh += h[i * featureDim + t] * h[i * featureDim + t];
      out[i] += Math.sqrt(e * (hh + bias)) / probs.length;
    }
  }
  return out;
}
