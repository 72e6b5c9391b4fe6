import { PruneError } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { type KdOptions, resolveKdOptions } from '../distill/kd.js';

/**
 * The knowledge-distillation loss as tfjs ops, differentiable with respect to the student's
 * logits (use it inside `optimizer.minimize` or `tf.variableGrads`):
 * L = (1 − α)·CE(y, softmax(z_s)) + α·τ²·KL(softmax(z_t/τ) ‖ softmax(z_s/τ)), averaged over
 * the batch. The teacher's logits are constants; the gradient is the closed form, so the loss
 * itself needs no registered gradient kernels (the student model's ops still do — import
 * `@tensorflow/tfjs` or `@tensorflow/tfjs-layers`, which register them). α defaults to
 * `defaultKdAlpha(keptFraction)` from `@prune/data` when `keptFraction` is given.
 *
 * @param studentLogits - `[batch, classes]` student logits z_s
 * @param teacherLogits - `[batch, classes]` teacher logits z_t
 * @param labels - `[batch]` int32 class labels
 * @param options - τ, α or the kept fraction
 * @returns the mean loss, a scalar
 *
 * @example
 * ```ts
 * optimizer.minimize(() => kdLoss(model(xb), teacherLogits, yb, { keptFraction: 0.3 }));
 * ```
 */
export function kdLoss(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, labels: tf.Tensor, options: KdOptions = {}): tf.Scalar {
  const { alpha, temperature: tau } = resolveKdOptions(options);
  if (studentLogits.rank !== 2 || teacherLogits.rank !== 2 || studentLogits.shape.some((s, i) => s !== teacherLogits.shape[i])) {
    throw new PruneError('SHAPE_MISMATCH', `kdLoss needs [batch, classes] logits of equal shape; got student [${studentLogits.shape}] and teacher [${teacherLogits.shape}]`);
  }
  if (labels === undefined || labels === null) throw new PruneError('INVALID_ARGUMENT', 'kdLoss needs the class label of every example in the batch');
  if (labels.rank !== 1 || labels.shape[0] !== studentLogits.shape[0]) {
    throw new PruneError('SHAPE_MISMATCH', `kdLoss needs [batch] labels; got [${labels.shape}] for ${studentLogits.shape[0]} examples`);
  }
  const classes = studentLogits.shape[1] as number;
  const batch = studentLogits.shape[0] as number;
  // A custom gradient: the closed form ∂L/∂z_s = ((1 − α)(p − y) + α·τ·(p_τ − q_τ)) / batch is exact
  // and stable, and needs no registered gradient kernels for the loss's own ops.
  const loss = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const zs = args[0] as tf.Tensor;
    // Saved for the backward pass, so teacher logits and labels created inside the caller's
    // gradient scope may be released after the forward pass.
    const onehot = tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, classes);
    const softTeacher = tf.softmax(tf.div(teacherLogits, tau));
    (args[1] as tf.GradSaveFunc)([zs, onehot, softTeacher]);
    const value = tf.tidy(() => {
      const ce = tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(zs)), 1)));
      if (alpha === 0) return ce;
      const logTeacher = tf.logSoftmax(tf.div(teacherLogits, tau));
      const logStudent = tf.logSoftmax(tf.div(zs, tau));
      const kl = tf.mean(tf.sum(tf.mul(softTeacher, tf.sub(logTeacher, logStudent)), 1));
      return tf.add(tf.mul(1 - alpha, ce), tf.mul(alpha * tau * tau, kl));
    }) as tf.Scalar;
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
      tf.tidy(() => {
        const [z, y, q] = saved;
        const hard = tf.mul(1 - alpha, tf.sub(tf.softmax(z), y));
        const soft = tf.mul(alpha * tau, tf.sub(tf.softmax(tf.div(z, tau)), q));
        return tf.mul(dy, tf.div(tf.add(hard, soft), batch));
      });
    return { value, gradFunc };
  });
  return loss(studentLogits) as tf.Scalar;
}
