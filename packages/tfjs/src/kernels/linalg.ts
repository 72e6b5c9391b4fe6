import type { Kernels, Shape } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { type Ref, constant, filled, sizeOfShape } from './util.js';

function matmul(a: Ref, b: Ref, attrs: { transposeA: boolean; transposeB: boolean; outShape: Shape }): tf.Tensor {
  const { transposeA, transposeB, outShape } = attrs;
  const ar = a.shape.length;
  const k = transposeA ? a.shape[ar - 2] : a.shape[ar - 1];
  if (sizeOfShape(outShape) === 0 || k === 0) return filled(outShape, 0, 'float32');
  const rank = outShape.length;
  const batch = outShape.slice(0, rank - 2);
  const m = outShape[rank - 2];
  const n = outShape[rank - 1];
  const bBatch = sizeOfShape(b.shape.slice(0, b.shape.length - 2));
  // A shared right operand: fold A's batch into its rows, one 2-D product.
  if (bBatch === 1 && !transposeA) {
    const a2 = tf.reshape(a.handle, [-1, k]);
    const b2 = tf.reshape(b.handle, transposeB ? [n, k] : [k, n]);
    return tf.reshape(tf.matMul(a2, b2, false, transposeB), [...outShape]);
  }
  // General case: broadcast both batches explicitly, then one batched product.
  const B = sizeOfShape(batch);
  const aShape = transposeA ? [k, m] : [m, k];
  const bShape = transposeB ? [n, k] : [k, n];
  const a3 = tf.reshape(tf.broadcastTo(a.handle, [...batch, ...aShape]), [B, ...aShape]);
  const b3 = tf.reshape(tf.broadcastTo(b.handle, [...batch, ...bShape]), [B, ...bShape]);
  return tf.reshape(tf.matMul(a3, b3, transposeA, transposeB), [...outShape]);
}

/**
 * Rows scaled to unit L2 norm (computed as max|x|·‖x/max|x|‖ so float32 squares cannot
 * overflow); zero rows stay zero, rows with a non-finite element become NaN.
 */
function unitRows(v: tf.Tensor): tf.Tensor {
  const finite = tf.all(tf.isFinite(v), 1, true);
  const scale = tf.max(tf.abs(v), 1, true);
  const safe = tf.where(tf.logicalAnd(finite, tf.greater(scale, constant(0))), scale, tf.onesLike(scale));
  const s = tf.div(v, safe);
  const norm = tf.sqrt(tf.sum(tf.square(s), 1, true));
  const unit = tf.div(s, tf.where(tf.greater(norm, constant(0)), norm, tf.onesLike(norm)));
  return tf.where(finite, unit, constant(NaN));
}

function cosineSimilarity(a: Ref, b: Ref, attrs: { outShape: Shape }): tf.Tensor {
  if (sizeOfShape(attrs.outShape) === 0 || a.shape[1] === 0) return filled(attrs.outShape, 0, 'float32');
  return tf.matMul(unitRows(a.handle), unitRows(b.handle), false, true);
}

/**
 * Linear-algebra kernels over tfjs ops. `cholesky` and `triangularInverse` are left to the
 * reference backend: its float64 column loops ran 7–10× faster than a panel-blocked tfjs
 * formulation on tfjs-wasm (n = 64…1024) and are more accurate.
 */
export const linalgKernels: Pick<Kernels<tf.Tensor>, 'matmul' | 'cosineSimilarity'> = {
  matmul,
  cosineSimilarity,
};
