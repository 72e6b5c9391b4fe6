import type { Kernels, Shape } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { type Ref, constant, filled, sizeOfShape } from './util.js';

/**
 * Matrix size up to which Cholesky and the triangular inverse run as a single unblocked
 * loop (one step per column); larger matrices are processed in panels of this width with
 * the trailing updates done by matmul.
 */
export const LINALG_PANEL = 32;

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

/** bool `[n, n]` mask of the lower triangle (diagonal included). */
function lowerMask(n: number): tf.Tensor {
  const i = tf.range(0, n, 1, 'int32');
  return tf.greaterEqual(tf.reshape(i, [n, 1]), tf.reshape(i, [1, n]));
}

/**
 * Unblocked right-looking Cholesky of a batch `[B, n, n]` of symmetric matrices (full
 * storage): per column, the pivot's square root, the scaled column below it, and a rank-1
 * update of the trailing block. Returns the lower factor and a `[B]` bool "every pivot was
 * positive".
 */
function choleskyUnblocked(a: tf.Tensor): { l: tf.Tensor; ok: tf.Tensor } {
  const [B, n] = a.shape;
  const columns: tf.Tensor[] = [];
  let ok: tf.Tensor = tf.ones([B], 'bool');
  let rest = a;
  for (let j = 0; j < n; j++) {
    const m = n - j;
    const col = tf.slice(rest, [0, 0, 0], [B, m, 1]);
    const pivot = tf.slice(col, [0, 0, 0], [B, 1, 1]);
    // `pivot > 0` is false for NaN too, as the reference's `!(s > 0)`.
    ok = tf.logicalAnd(ok, tf.reshape(tf.greater(pivot, constant(0)), [B]));
    const d = tf.sqrt(pivot);
    const parts = j > 0 ? [tf.zeros([B, j, 1]), d] : [d];
    if (m > 1) {
      const below = tf.div(tf.slice(col, [0, 1, 0], [B, m - 1, 1]), d);
      parts.push(below);
      rest = tf.sub(tf.slice(rest, [0, 1, 1], [B, m - 1, m - 1]), tf.matMul(below, below, false, true));
    }
    columns.push(parts.length === 1 ? parts[0] : tf.concat(parts, 1));
  }
  return { l: tf.concat(columns, 2), ok };
}

/**
 * Blocked Cholesky of `[B, n, n]` (full symmetric storage): factor a diagonal panel
 * unblocked, solve the panel below it with the panel's triangular inverse, update the
 * trailing matrix with one matmul.
 */
function choleskyBlocked(a: tf.Tensor): { l: tf.Tensor; ok: tf.Tensor } {
  const [B, n] = a.shape;
  if (n <= LINALG_PANEL) return choleskyUnblocked(a);
  const blockColumns: tf.Tensor[] = [];
  let ok: tf.Tensor = tf.ones([B], 'bool');
  let rest = a;
  for (let j = 0; j < n; j += LINALG_PANEL) {
    const m = n - j;
    const b = Math.min(LINALG_PANEL, m);
    const a11 = tf.slice(rest, [0, 0, 0], [B, b, b]);
    const f = choleskyUnblocked(a11);
    ok = tf.logicalAnd(ok, f.ok);
    const parts = j > 0 ? [tf.zeros([B, j, b]), f.l] : [f.l];
    if (m > b) {
      const a21 = tf.slice(rest, [0, b, 0], [B, m - b, b]);
      // L21 = A21 · L11⁻ᵀ.
      const l21 = tf.matMul(a21, lowerInverseUnblocked(f.l), false, true);
      parts.push(l21);
      rest = tf.sub(tf.slice(rest, [0, b, b], [B, m - b, m - b]), tf.matMul(l21, l21, false, true));
    }
    blockColumns.push(tf.concat(parts, 1));
  }
  return { l: tf.concat(blockColumns, 2), ok };
}

/**
 * Cholesky factor of each `[..., n, n]` matrix, reading only its lower triangle. A matrix
 * with a non-positive pivot comes out entirely NaN, as in the reference.
 */
function cholesky(x: Ref): tf.Tensor {
  const shape = x.shape;
  const n = shape[shape.length - 1];
  if (x.handle.size === 0) return filled(shape, 0, 'float32');
  const a = tf.reshape(x.handle, [-1, n, n]);
  const mask = lowerMask(n);
  const lower = tf.where(mask, a, tf.zerosLike(a));
  // Mirror the lower triangle so the elimination sees a symmetric matrix.
  const sym = tf.where(mask, lower, tf.transpose(lower, [0, 2, 1]));
  const { l, ok } = choleskyBlocked(sym);
  const good = tf.reshape(ok, [-1, 1, 1]);
  return tf.reshape(tf.where(tf.logicalAnd(good, mask), l, tf.where(good, tf.zerosLike(l), constant(NaN))), [...shape]);
}

/**
 * Inverse of a batch `[B, n, n]` of lower triangular matrices by forward substitution, one
 * row per step: X[i] = (eᵢ − L[i, :i] · X[:i]) / L[i, i].
 */
function lowerInverseUnblocked(l: tf.Tensor): tf.Tensor {
  const [B, n] = l.shape;
  const eye = tf.eye(n, n, [B]);
  const rows: tf.Tensor[] = [];
  let done: tf.Tensor | undefined;
  for (let i = 0; i < n; i++) {
    const e = tf.slice(eye, [0, i, 0], [B, 1, n]);
    const lii = tf.slice(l, [0, i, i], [B, 1, 1]);
    let r = e;
    if (done) r = tf.sub(e, tf.matMul(tf.slice(l, [0, i, 0], [B, 1, i]), done));
    const row = tf.div(r, lii);
    rows.push(row);
    done = done ? tf.concat([done, row], 1) : row;
  }
  return done ?? tf.zeros([B, 0, 0]);
}

/**
 * Blocked inverse of lower triangular `[B, n, n]`: with L = [[A, 0], [C, D]],
 * L⁻¹ = [[A⁻¹, 0], [−D⁻¹·C·A⁻¹, D⁻¹]], recursing on halves down to the unblocked loop.
 */
function lowerInverse(l: tf.Tensor): tf.Tensor {
  const [B, n] = l.shape;
  if (n <= LINALG_PANEL) return lowerInverseUnblocked(l);
  const h = Math.ceil(n / 2 / LINALG_PANEL) * LINALG_PANEL;
  const ai = lowerInverse(tf.slice(l, [0, 0, 0], [B, h, h]));
  const di = lowerInverse(tf.slice(l, [0, h, h], [B, n - h, n - h]));
  const c = tf.slice(l, [0, h, 0], [B, n - h, h]);
  const bottomLeft = tf.neg(tf.matMul(di, tf.matMul(c, ai)));
  const top = tf.concat([ai, tf.zeros([B, h, n - h])], 2);
  const bottom = tf.concat([bottomLeft, di], 2);
  return tf.concat([top, bottom], 1);
}

function triangularInverse(x: Ref, attrs: { lower: boolean }): tf.Tensor {
  const shape = x.shape;
  const n = shape[shape.length - 1];
  if (x.handle.size === 0) return filled(shape, 0, 'float32');
  let a = tf.reshape(x.handle, [-1, n, n]);
  // An upper matrix U is inverted as (Uᵀ)⁻¹ᵀ; only the relevant triangle is read.
  if (!attrs.lower) a = tf.transpose(a, [0, 2, 1]);
  const mask = lowerMask(n);
  let inv = lowerInverse(tf.where(mask, a, tf.zerosLike(a)));
  inv = tf.where(mask, inv, tf.zerosLike(inv));
  if (!attrs.lower) inv = tf.transpose(inv, [0, 2, 1]);
  return tf.reshape(inv, [...shape]);
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

/** Linear-algebra kernels over tfjs ops. */
export const linalgKernels: Pick<Kernels<tf.Tensor>, 'matmul' | 'cholesky' | 'triangularInverse' | 'cosineSimilarity'> = {
  matmul,
  cholesky,
  triangularInverse,
  cosineSimilarity,
};
