import type { DType, Shape, TensorRef, TypedArray } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';

/** A kernel input: a tfjs tensor with the shape and dtype core keeps for it. */
export type Ref = TensorRef<tf.Tensor>;

/**
 * Reads a tfjs tensor into a new typed array of `dtype`'s storage class that the caller owns.
 * @param fresh - the tensor's tfjs backend returns a new array from `dataSync` (wasm slices
 *   one out of its heap), so an array of the right class is handed over without a second copy
 */
export function readData(t: tf.Tensor, dtype: DType, fresh = false): TypedArray {
  const v = t.dataSync() as ArrayLike<number>;
  // Otherwise tfjs may hand out its own storage (the cpu backend does): copy.
  if (fresh && v instanceof (dtype === 'float32' ? Float32Array : dtype === 'int32' ? Int32Array : Uint8Array)) return v;
  if (dtype === 'float32') return new Float32Array(v);
  if (dtype === 'int32') return new Int32Array(v);
  return new Uint8Array(v);
}

/** A core-side view of a kernel input, copied to the host. */
export function toHost(r: Ref): TensorRef<TypedArray> {
  return { handle: readData(r.handle, r.dtype), shape: r.shape, dtype: r.dtype };
}

/** Uploads host data produced by a reference kernel. */
export function fromHost(values: TypedArray, shape: Shape, dtype: DType): tf.Tensor {
  return tf.tensor(values, [...shape], dtype);
}

/** A zero-filled tensor, or one filled with `value`, of `shape` and `dtype`. */
export function filled(shape: Shape, value: number, dtype: DType): tf.Tensor {
  return tf.fill([...shape], dtype === 'bool' ? (value ? 1 : 0) : value, dtype);
}

/** Scalar constant of `dtype`. */
export function constant(value: number, dtype: DType = 'float32'): tf.Tensor {
  return tf.scalar(value, dtype);
}

/** int32 indices 0..n-1 laid along `axis` of a rank-`rank` tensor (size 1 elsewhere). */
export function iotaAlong(n: number, rank: number, axis: number): tf.Tensor {
  const shape = new Array<number>(rank).fill(1);
  shape[axis] = n;
  return tf.reshape(tf.range(0, n, 1, 'int32'), shape);
}

/**
 * The first position along `axis` where `mask` (bool) is true, or 0 when none is: a min
 * over the positions, so it never depends on how a backend breaks ties.
 */
export function firstTrue(mask: tf.Tensor, axis: number): tf.Tensor {
  const n = mask.shape[axis];
  const iota = iotaAlong(n, mask.rank, axis);
  const pos = tf.min(tf.where(mask, iota, constant(n, 'int32')), axis);
  return tf.where(tf.equal(pos, n), tf.zerosLike(pos), pos);
}

/** Product of `shape`. */
export function sizeOfShape(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * `tf.where` that also takes bool branches: tfjs-wasm's Select writes bool outputs with the
 * wrong element size (and corrupts its heap), so bool branches go through int32.
 */
export function select(cond: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.dtype !== 'bool') return tf.where(cond, a, b);
  const picked = tf.where(cond, tf.cast(a, 'int32'), tf.cast(b, 'int32'));
  return tf.notEqual(picked, tf.zerosLike(picked));
}

/**
 * A new tfjs tensor on the same storage as `t` (reference-counted, disposed independently).
 * A same-shape reshape is used because tfjs-wasm's `clone` copies the data.
 */
export function share(t: tf.Tensor): tf.Tensor {
  return tf.reshape(t, t.shape);
}
