import { PruneError } from '@prune/core';
import { checkInteger, checkLabels } from '../internal/validate.js';
import type { TrainingTrace } from './recorder.js';
import { runsOf } from './runs.js';

/** Input of {@link el2nScores}. */
export interface El2nInput {
  /** Softmax outputs `count·numClasses` (row-major), one array per training run (or one array). */
  probabilities: Float32Array | readonly Float32Array[];
  /** Class label of every example. */
  labels: ArrayLike<number>;
  /** Number of classes. */
  numClasses: number;
}

/**
 * EL2N (Paul et al. 2021): the error L2 norm ‖softmax(f(x)) − onehot(y)‖₂ early in
 * training, averaged over independent runs. High = hard. Range [0, √2].
 *
 * @param input - probabilities per run, labels, number of classes
 * @returns one score per example
 */
export function el2nScores(input: El2nInput): Float32Array {
  const { numClasses, labels } = input;
  checkInteger('numClasses', numClasses, 2);
  const count = labels?.length ?? 0;
  checkLabels(labels, count, numClasses, 'EL2N');
  const runs = runsOf('probabilities', input.probabilities, count * numClasses);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let s = 0;
    for (const p of runs) {
      let e = 0;
      for (let j = 0; j < numClasses; j++) {
        const t = p[i * numClasses + j] - (j === labels[i] ? 1 : 0);
        e += t * t;
      }
      s += Math.sqrt(e);
    }
    out[i] = s / runs.length;
  }
  return out;
}

/**
 * EL2N from recorded training runs: the error norm each {@link TrainingTrace} recorded at
 * epoch `epoch`, averaged over the runs.
 *
 * @param traces - one trace per independent run
 * @param epoch - 0-based epoch to read (early in training, e.g. 1–2 epochs in)
 * @returns one score per example
 * @throws PruneError `OUT_OF_RANGE` when a run has no such epoch, `INVALID_ARGUMENT` when an
 *   example was not presented in that epoch
 */
export function el2nFromTraces(traces: readonly TrainingTrace[], epoch: number): Float32Array {
  if (!Array.isArray(traces) || traces.length === 0) throw new PruneError('INVALID_ARGUMENT', 'el2nFromTraces needs at least one training trace');
  const count = traces[0].count;
  const out = new Float32Array(count);
  traces.forEach((t, r) => {
    if (t.count !== count) throw new PruneError('SHAPE_MISMATCH', `trace ${r} covers ${t.count} examples, trace 0 covers ${count}`);
    const rec = t.epochs[epoch];
    if (!rec) throw new PruneError('OUT_OF_RANGE', `trace ${r} has ${t.epochs.length} epochs; epoch ${epoch} does not exist`);
    for (let i = 0; i < count; i++) {
      if (!rec.presented[i]) throw new PruneError('INVALID_ARGUMENT', `example ${i} was not presented in epoch ${epoch} of trace ${r}; EL2N needs every example scored`);
      out[i] += rec.errorNorm[i] / traces.length;
    }
  });
  return out;
}
