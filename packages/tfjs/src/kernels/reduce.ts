import { type Kernels, type ReduceOp, type Shape, referenceBackend } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { type Ref, constant, filled, firstTrue, fromHost, select, share, sizeOfShape, toHost } from './util.js';

const ref = referenceBackend.kernels;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** Result of reducing over no elements (the reference's starting value; mean is 0/0). */
function emptyValue(op: ReduceOp, int: boolean): number {
  switch (op) {
    case 'prod': case 'all': return 1;
    case 'max': return int ? INT32_MIN : -Infinity;
    case 'min': return int ? INT32_MAX : Infinity;
    case 'mean': return int ? 0 : NaN;
    default: return 0;
  }
}

/** sqrt(Σx²) scaled by max|x| so float32 squares cannot overflow where float64 would not. */
function norm2(h: tf.Tensor, axes: number[]): tf.Tensor {
  const scale = tf.max(tf.abs(h), axes, true);
  const safe = tf.where(tf.logicalAnd(tf.isFinite(scale), tf.greater(scale, constant(0))), scale, tf.onesLike(scale));
  const s = tf.sum(tf.square(tf.div(h, safe)), axes);
  return tf.mul(tf.sqrt(s), tf.squeeze(safe, axes));
}

function reduce(x: Ref, attrs: { op: ReduceOp; axes: readonly number[]; outShape: Shape }): tf.Tensor {
  const { op, outShape } = attrs;
  const axes = [...attrs.axes];
  const outDType = op === 'any' || op === 'all' ? 'bool' : x.dtype;
  const count = sizeOfShape(axes.map((a) => x.shape[a]));
  if (sizeOfShape(outShape) === 0) return filled(outShape, 0, outDType);
  if (count === 0) return filled(outShape, emptyValue(op, x.dtype === 'int32'), outDType);
  const h = x.handle;
  const int = x.dtype === 'int32';
  // int32 mean/prod/norm2 truncate or wrap a float64 result exactly as Int32Array stores it,
  // and bool arithmetic stores raw bytes: those run on the host.
  if ((x.dtype === 'bool' && op !== 'any' && op !== 'all') || (int && (op === 'mean' || op === 'prod' || op === 'norm2'))) {
    return fromHost(ref.reduce(toHost(x), attrs), outShape, outDType);
  }
  let out: tf.Tensor;
  switch (op) {
    case 'sum': out = tf.sum(h, axes); break;
    case 'mean': out = tf.mean(h, axes); break;
    case 'prod': out = tf.prod(h, axes); break;
    case 'norm1': out = tf.sum(tf.abs(h), axes); break;
    case 'norm2': out = norm2(h, axes); break;
    case 'max':
    case 'min': {
      const m = op === 'max' ? tf.max(h, axes) : tf.min(h, axes);
      // The reference lets NaN win; tfjs max/min skip it.
      out = int ? m : tf.where(tf.any(tf.isNaN(h), axes), constant(NaN), m);
      break;
    }
    case 'any': out = tf.any(x.dtype === 'bool' ? h : tf.notEqual(h, tf.zerosLike(h)), axes); break;
    case 'all': out = tf.all(x.dtype === 'bool' ? h : tf.notEqual(h, tf.zerosLike(h)), axes); break;
  }
  return tf.reshape(out, [...outShape]);
}

/**
 * argmax/argmin with the reference's order: NaN above every number (argmax takes the first
 * NaN, argmin skips NaN unless the lane is all NaN), ties to the lower index. Built as
 * "first position equal to the extreme", so it never relies on a backend's tie-breaking.
 */
function argReduce(x: Ref, attrs: { op: 'argmax' | 'argmin'; axis: number }): tf.Tensor {
  const { axis } = attrs;
  const outShape = x.shape.filter((_, i) => i !== axis);
  if (x.shape[axis] === 0 || sizeOfShape(outShape) === 0) return filled(outShape, 0, 'int32');
  const h = x.dtype === 'bool' ? tf.cast(x.handle, 'int32') : x.handle;
  const max = attrs.op === 'argmax';
  if (x.dtype !== 'float32') {
    const m = max ? tf.max(h, axis, true) : tf.min(h, axis, true);
    return firstTrue(tf.equal(h, m), axis);
  }
  const nan = tf.isNaN(h);
  if (max) {
    const m = tf.max(tf.where(nan, constant(-Infinity), h), axis, true);
    const anyNaN = tf.any(nan, axis, true);
    // With a NaN in the lane the first NaN wins; otherwise the first maximum.
    return firstTrue(select(tf.broadcastTo(anyNaN, nan.shape), nan, tf.equal(h, m)), axis);
  }
  const m = tf.min(tf.where(nan, constant(Infinity), h), axis, true);
  // An all-NaN lane has no match and gives 0, its first NaN.
  return firstTrue(tf.equal(h, m), axis);
}

function cumsum(x: Ref, attrs: { axis: number; exclusive: boolean; reverse: boolean }): tf.Tensor {
  if (x.dtype === 'bool') return fromHost(ref.cumsum(toHost(x), attrs), x.shape, x.dtype);
  if (x.handle.size === 0) return share(x.handle);
  return tf.cumsum(x.handle, attrs.axis, attrs.exclusive, attrs.reverse);
}

/** Reductions, arg-reductions and cumulative sums over tfjs ops. */
export const reduceKernels: Pick<Kernels<tf.Tensor>, 'reduce' | 'argReduce' | 'cumsum'> = {
  reduce,
  argReduce,
  cumsum,
};

