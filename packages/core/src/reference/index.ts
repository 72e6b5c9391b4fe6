import type { Backend } from '../backend.js';
import { allocArray, type TypedArray } from '../dtype.js';
import type { Kernels } from '../kernels.js';
import { elementwiseKernels } from './elementwise.js';
import { layoutKernels } from './layout.js';
import { linalgKernels } from './linalg.js';
import { reduceKernels } from './reduce.js';
import { selectionKernels } from './selection.js';

/**
 * The reference backend: every kernel in plain TypeScript on typed arrays. Always
 * available, and the oracle every other backend is checked against. A tensor's storage is
 * its typed array (row-major); kernels never mutate inputs.
 */
export const referenceBackend: Backend<TypedArray> & { readonly kernels: Kernels<TypedArray> } = {
  name: 'reference',
  onHost: true,
  kernels: {
    ...elementwiseKernels,
    ...reduceKernels,
    ...layoutKernels,
    ...linalgKernels,
    ...selectionKernels,
  } as Kernels<TypedArray>,
  upload(values, _shape, dtype) {
    const copy = allocArray(dtype, values.length);
    copy.set(values);
    return copy;
  },
  download(handle) {
    return Promise.resolve(handle.slice());
  },
  downloadSync(handle) {
    return handle.slice();
  },
  dispose() {
    // Storage is garbage-collected once no tensor refers to it.
  },
  notes: ['Pure TypeScript on typed arrays; float32 storage with float64 accumulation in reductions, matmul and linear algebra.'],
};
