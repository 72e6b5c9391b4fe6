import type { Kernels, Shape } from '@prune/core';
import { simdMatmul } from '@prune/core/wasm';
import * as tf from '@tensorflow/tfjs-core';
import { type Ref, constant, filled, sizeOfShape } from './util.js';

/**
 * `tf.matMul` with the transposes tfjs-wasm does badly done first: its XNNPACK path multiplies
 * a transposed operand 6–12× slower than a plain one (e.g. [128, 192]·[192, 192]ᵀ 5.4 ms
 * against 0.8 ms with an explicit transpose), so there each flagged operand is transposed
 * (last two axes) before a plain product. Other backends take the flags natively.
 */
function product(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  if (tf.getBackend() !== 'wasm' || (!transposeA && !transposeB)) return tf.matMul(a, b, transposeA, transposeB);
  const swap = (t: tf.Tensor): tf.Tensor => tf.transpose(t, t.rank === 2 ? [1, 0] : [0, 2, 1]);
  return tf.matMul(transposeA ? swap(a) : a, transposeB ? swap(b) : b);
}

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
    const rows = a2.shape[0];
    const host = tf.getBackend() === 'wasm' && rows * k * n >= HOST_PRODUCT_MIN ? batchedOnHost(a2, b2, 1, rows, k, n, false, transposeB) : null;
    return tf.reshape(host ?? product(a2, b2, false, transposeB), [...outShape]);
  }
  // General case: broadcast both batches explicitly, then one batched product.
  const B = sizeOfShape(batch);
  const aShape = transposeA ? [k, m] : [m, k];
  const bShape = transposeB ? [n, k] : [k, n];
  const a3 = tf.reshape(tf.broadcastTo(a.handle, [...batch, ...aShape]), [B, ...aShape]);
  const b3 = tf.reshape(tf.broadcastTo(b.handle, [...batch, ...bShape]), [B, ...bShape]);
  const host = tf.getBackend() === 'wasm' && B > 1 ? batchedOnHost(a3, b3, B, m, k, n, transposeA, transposeB) : null;
  return tf.reshape(host ?? product(a3, b3, transposeA, transposeB), [...outShape]);
}

/**
 * Multiply-adds from which a single product on tfjs-wasm runs faster on the host's threaded
 * SIMD kernel, copies included ([128, 192]·[192, 1024]: 4.6 → 2.8 ms; 2048³: 1.1 → 0.43 s on
 * two cores); below it XNNPACK's single thread is as fast.
 */
const HOST_PRODUCT_MIN = 1 << 24;

/**
 * A batch of products on the host's WebAssembly SIMD kernel (`@prune/core/wasm`), for
 * tfjs-wasm: its batched matMul ran 10–15× slower than the same products there (6 heads of
 * [128, 32]·[32, 128]ᵀ: 4.1 ms against 0.8 ms with the copies out and back), and large
 * single products gain the kernel's worker threads. Null where the kernel is not available.
 */
function batchedOnHost(a: tf.Tensor, b: tf.Tensor, batch: number, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): tf.Tensor | null {
  const av = a.dataSync() as Float32Array;
  const bv = b.dataSync() as Float32Array;
  const out = new Float32Array(batch * m * n);
  for (let i = 0; i < batch; i++) {
    const c = simdMatmul(av.subarray(i * m * k, (i + 1) * m * k), bv.subarray(i * k * n, (i + 1) * k * n), m, k, n, { transposeA, transposeB });
    if (c === null) return null;
    out.set(c, i * m * n);
  }
  return tf.tensor(out, batch === 1 ? [m, n] : [batch, m, n], 'float32');
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
  return product(unitRows(a.handle), unitRows(b.handle), false, true);
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
