import type { TypedArray } from '../dtype.js';
import type { Kernels } from '../kernels.js';

/** Reference kernels: elementwise. */
export const elementwiseKernels: Partial<Kernels<TypedArray>> = {};
