import { PruneError } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';

/** Input of {@link grandScores}. */
export interface GrandInput {
  /** Per-example loss ℓ(x, y) of the model at its current weights: `x` is `[1, …]`, `y` is `[1]`. */
  loss: (x: tf.Tensor, y: tf.Tensor) => tf.Scalar;
  /** Inputs, first axis = examples. */
  inputs: tf.Tensor;
  /** Labels, `[examples]`. */
  labels: tf.Tensor;
  /**
   * Trainable variables whose gradient norm is taken.
   * @defaultValue every trainable variable the loss reads
   */
  variables?: tf.Variable[];
}

/**
 * GraNd (Paul et al. 2021), full network: ‖∇_θ ℓ(x, y)‖₂ per example, one backward pass per
 * example. High = hard. Average the scores of several early-training runs, as the paper
 * does. For a dense softmax last layer only, `grandLastLayerScores` from `@prune/data` gives
 * the closed form without backward passes.
 *
 * @param input - loss, inputs, labels, variables
 * @returns one score per example
 */
export function grandScores(input: GrandInput): Float32Array {
  const { inputs, labels, loss } = input;
  if (typeof loss !== 'function') throw new PruneError('INVALID_ARGUMENT', 'grandScores needs loss(x, y), the per-example loss of the model');
  if (labels === undefined || labels === null) throw new PruneError('INVALID_ARGUMENT', 'grandScores needs the label of every example (the loss depends on it)');
  const n = inputs.shape[0];
  if (labels.shape[0] !== n) throw new PruneError('SHAPE_MISMATCH', `grandScores: ${labels.shape[0]} labels for ${n} inputs`);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = tf.tidy(() => {
      const x = tf.slice(inputs, [i], [1]);
      const y = tf.slice(labels, [i], [1]);
      const { grads } = tf.variableGrads(() => loss(x, y), input.variables);
      let s = tf.scalar(0);
      for (const g of Object.values(grads)) s = tf.add(s, tf.sum(tf.square(g)));
      return tf.sqrt(s).dataSync()[0];
    });
  }
  return out;
}
