import type { ConformanceCase } from '../conformance.js';

/** Conformance cases for the reduce kernels. */
export const reduceCases: readonly ConformanceCase[] = [];
