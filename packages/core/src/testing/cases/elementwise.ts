import type { ConformanceCase } from '../conformance.js';

/** Conformance cases for the elementwise kernels. */
export const elementwiseCases: readonly ConformanceCase[] = [];
