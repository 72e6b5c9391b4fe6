import type { ConformanceCase } from '../conformance.js';

/** Conformance cases for the layout kernels. */
export const layoutCases: readonly ConformanceCase[] = [];
