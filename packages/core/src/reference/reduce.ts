import type { TypedArray } from '../dtype.js';
import type { Kernels } from '../kernels.js';

/** Reference kernels: reduce. */
export const reduceKernels: Partial<Kernels<TypedArray>> = {};
