import type { TypedArray } from '../dtype.js';
import type { Kernels } from '../kernels.js';

/** Reference kernels: linalg. */
export const linalgKernels: Partial<Kernels<TypedArray>> = {};
