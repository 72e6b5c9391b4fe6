// Knowledge distillation on the pruned set.
export { defaultKdAlpha, kdLossValue, resolveKdOptions } from './kd.js';
export type { KdOptions } from './kd.js';
