import { type Backend, type DType, PruneError, Tensor, fromArray, getBackend } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { isTfjsBackend } from './backend.js';
import { readData, share } from './kernels/util.js';

/** Options of {@link fromTfjs}. */
export interface FromTfjsOptions {
  /**
   * Backend that will own the new tensor.
   * @defaultValue the current core backend (`getBackend()`)
   */
  backend?: Backend;
}

/**
 * A tfjs tensor with the elements of `t`, owned by the caller (dispose it, or create it
 * inside `tf.tidy`). Copy-free when `t` lives on a @prune/tfjs backend: the result shares
 * tfjs storage with `t` (tfjs reference-counts it), and disposing one leaves the other
 * intact. Tensors on other backends are copied through the host.
 *
 * @param t - a core tensor on any backend
 * @returns a new tfjs tensor of the same shape and dtype
 */
export function toTfjs(t: Tensor): tf.Tensor {
  if (isTfjsBackend(t.backend)) {
    t.backend.activate();
    return share(t.ref<tf.Tensor>().handle);
  }
  return tf.tensor(t.dataSync(), [...t.shape], t.dtype);
}

/**
 * A core tensor with the elements of the tfjs tensor `x`. Copy-free when the target
 * backend is a @prune/tfjs backend: the new tensor shares tfjs storage with `x` and is
 * released independently of it (dispose `x` whenever you like). Other backends get a copy.
 *
 * @param x - a float32, int32 or bool tfjs tensor
 * @param options - the backend to create the tensor on
 * @returns a new core tensor of the same shape and dtype
 * @throws PruneError `DTYPE_MISMATCH` for complex64 or string tensors, `DISPOSED` when `x`
 * was disposed
 */
export function fromTfjs(x: tf.Tensor, options: FromTfjsOptions = {}): Tensor {
  if (!(x instanceof tf.Tensor)) {
    throw new PruneError('INVALID_ARGUMENT', 'fromTfjs: expected a tfjs Tensor (from @tensorflow/tfjs-core)');
  }
  if (x.isDisposed) throw new PruneError('DISPOSED', `fromTfjs: the tfjs tensor of shape [${x.shape.join(', ')}] was disposed; convert it before disposing it`);
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') {
    throw new PruneError('DTYPE_MISMATCH', `fromTfjs: ${x.dtype} tensors have no @prune dtype; cast to float32, int32 or bool first`);
  }
  const dtype: DType = x.dtype;
  const backend = options.backend ?? getBackend();
  if (isTfjsBackend(backend)) {
    backend.activate();
    return new Tensor(backend, tf.keep(share(x)), x.shape, dtype);
  }
  return fromArray(readData(x, dtype), x.shape, dtype, { backend });
}
