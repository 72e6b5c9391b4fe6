import type { Kernels, Shape } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { type Ref, filled, share, sizeOfShape } from './util.js';

function transpose(x: Ref, attrs: { perm: readonly number[]; outShape: Shape }): tf.Tensor {
  if (x.handle.size === 0) return filled(attrs.outShape, 0, x.dtype);
  return tf.transpose(x.handle, [...attrs.perm]);
}

function reshape(x: Ref, attrs: { shape: Shape }): tf.Tensor {
  // A reshape shares storage in tfjs; the new tensor is disposed independently.
  return tf.reshape(x.handle, [...attrs.shape]);
}

function slice(x: Ref, attrs: { begin: readonly number[]; size: readonly number[] }): tf.Tensor {
  if (sizeOfShape(attrs.size) === 0) return filled(attrs.size, 0, x.dtype);
  if (x.shape.length === 0) return share(x.handle);
  return tf.slice(x.handle, [...attrs.begin], [...attrs.size]);
}

function concat(xs: readonly Ref[], attrs: { axis: number; outShape: Shape }): tf.Tensor {
  const parts = xs.filter((r) => r.handle.size > 0).map((r) => r.handle);
  if (parts.length === 0) return filled(attrs.outShape, 0, xs[0].dtype);
  if (parts.length === 1) return share(parts[0]);
  return tf.concat(parts, attrs.axis);
}

function gather(x: Ref, indices: Ref, attrs: { axis: number; outShape: Shape }): tf.Tensor {
  if (sizeOfShape(attrs.outShape) === 0) return filled(attrs.outShape, 0, x.dtype);
  return tf.gather(x.handle, indices.handle, attrs.axis);
}

/**
 * Replaces the slices at `indices` along `axis` with those of `updates`. The (small, 1-D)
 * index list is read to the host to build one gather over `concat([x, updates])`, which
 * every tfjs backend runs natively.
 */
function scatter(x: Ref, indices: Ref, updates: Ref, attrs: { axis: number }): tf.Tensor {
  const { axis } = attrs;
  const n = x.shape[axis];
  const idx = indices.handle.dataSync() as Int32Array;
  if (idx.length === 0 || x.handle.size === 0) return share(x.handle);
  const source = new Int32Array(n);
  for (let j = 0; j < n; j++) source[j] = j;
  for (let p = 0; p < idx.length; p++) source[idx[p]] = n + p;
  return tf.gather(tf.concat([x.handle, updates.handle], axis), tf.tensor1d(source, 'int32'), axis);
}

/** Layout kernels: transpose, reshape, slice, concat, gather, scatter. */
export const layoutKernels: Pick<Kernels<tf.Tensor>, 'transpose' | 'reshape' | 'slice' | 'concat' | 'gather' | 'scatter'> = {
  transpose,
  reshape,
  slice,
  concat,
  gather,
  scatter,
};
