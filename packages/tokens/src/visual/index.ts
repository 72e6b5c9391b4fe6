export { keepCount, rankDescending, topKIndices, withClsToken } from './common.js';
export { attentionReceived } from './attention.js';
export type { AttentionReceivedOptions } from './attention.js';
export { hiprune, hipruneBuffer, hipruneSelect } from './hiprune.js';
export type { HipruneBufferOptions, HipruneMapsOptions, HipruneOptions, HipruneSelection } from './hiprune.js';
export { gprune, gpruneGraph, gpruneScores } from './gprune.js';
export type { GpruneGraph, GpruneOptions, GpruneScoreOptions } from './gprune.js';
export { fastv, fastvScores } from './fastv.js';
export type { FastvOptions } from './fastv.js';
export { bipartiteSoftMatching, mergeSources, mergeWeightedAverage, tomeSchedule, tomeScheduleToKeep } from './tome.js';
export type { BipartiteMatchingOptions, MergedTokens, TomeMatching, TomeTargetOptions } from './tome.js';
export { randomKeep, uniformGridKeep } from './baselines.js';
export type { RandomKeepOptions, UniformGridOptions } from './baselines.js';
export { fastvHook, fixedKeepHook, gpruneHook, hipruneHook, randomHook, tomeHook, uniformGridHook } from './hooks.js';
// The model–pruner contract lives in @prune/core; re-exported for convenience.
export type { TokenAction, TokenHook, TokenLayerView } from '@prune/core';
export type {
  FastvHookOptions,
  GpruneHookOptions,
  HipruneHookOptions,
  PruneAtLayerOptions,
  RandomHookOptions,
  TokenPruningHook,
  TomeHookOptions,
} from './hooks.js';
