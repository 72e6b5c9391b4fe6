import { type Backend, type DType, type DTypeArrayMap, Tensor, fromArray, referenceBackend } from '@prune/core';

// The fused pruners run on the host. On the reference backend a tensor's storage is its
// typed array, so reading it and wrapping a result cost nothing; other backends copy once
// each way.

/**
 * The elements of `t` on the host, for reading only: the reference backend's own storage
 * (no copy), or a downloaded copy on other backends.
 */
export function hostValues<D extends DType>(t: Tensor<D>): DTypeArrayMap[D] {
  if (t.backend === referenceBackend) return t.ref<DTypeArrayMap[D]>().handle;
  return t.dataSync();
}

/** A tensor on `backend` holding `data`, which the caller hands over (never touched again). */
export function adoptValues<D extends DType>(data: DTypeArrayMap[D], shape: readonly number[], dtype: D, backend: Backend): Tensor<D> {
  if (backend === referenceBackend) return new Tensor(referenceBackend, data, shape, dtype);
  return fromArray(data, shape, dtype, { backend });
}
