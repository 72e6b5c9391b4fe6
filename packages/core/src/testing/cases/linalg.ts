import type { ConformanceCase } from '../conformance.js';

/** Conformance cases for the linalg kernels. */
export const linalgCases: readonly ConformanceCase[] = [];
