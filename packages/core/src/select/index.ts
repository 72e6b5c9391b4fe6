// Mask primitives: the "select" and "apply" steps every pruner shares.
export { rowMask } from './row-mask.js';
export type { RowMaskOptions } from './row-mask.js';
export { globalThresholdMasks, thresholdMask } from './threshold-mask.js';
export type { GlobalThresholdMasksOptions, ThresholdMaskOptions } from './threshold-mask.js';
export { nmMask } from './nm-mask.js';
export type { NMMaskOptions, NMMode } from './nm-mask.js';
export { applyMask } from './apply-mask.js';
export { sparsityOf } from './sparsity.js';
export type { SparsityReport } from './sparsity.js';
export { KEY_BUCKETS, keyBucket, lowestKeysPivot } from './lowest.js';
export type { LowestKeysPivot } from './lowest.js';
