import type { ConformanceCase } from '../conformance.js';

/** Conformance cases for the selection kernels. */
export const selectionCases: readonly ConformanceCase[] = [];
