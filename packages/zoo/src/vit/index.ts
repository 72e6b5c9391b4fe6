export { parseVitConfig, vitExpectedShapes, vitFlops } from './config.js';
export type { VitBlockTokens, VitConfig } from './config.js';
export { VitModel, argmaxOf } from './vit.js';
export type {
  VitAttentionOutput,
  VitForwardOptions,
  VitForwardResult,
  VitLoadOptions,
  VitState,
} from './vit.js';
export { loadVitFolder, loadZooVit } from './load.js';
export type { ZooVit } from './load.js';
