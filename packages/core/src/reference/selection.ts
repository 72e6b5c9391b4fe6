import type { TypedArray } from '../dtype.js';
import type { Kernels } from '../kernels.js';

/** Reference kernels: selection. */
export const selectionKernels: Partial<Kernels<TypedArray>> = {};
