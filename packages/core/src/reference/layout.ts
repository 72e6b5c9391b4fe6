import type { TypedArray } from '../dtype.js';
import type { Kernels } from '../kernels.js';

/** Reference kernels: layout. */
export const layoutKernels: Partial<Kernels<TypedArray>> = {};
