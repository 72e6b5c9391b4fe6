// Dependency-aware channel pruning of tfjs LayersModels: graph → score → select → apply.
export { buildChannelGraph } from './graph.js';
export type { BlockedLayer, ChannelGraph, ChannelGraphOptions, DependencyGroup, UnsupportedLayerPolicy } from './graph.js';
export { CHANNEL_LAYER_RULES } from './rules.js';
export type { ChannelLayerRule, ChannelRole, ChannelRuleContext, TfjsLayer, WeightBinding } from './rules.js';
export { activationAware, bnScale, groupImportance, l1Norm, l2Norm, scoreChannels, taylor } from './importance.js';
export type {
  ActivationAwareOptions,
  CalibrationBatch,
  ChannelCriterion,
  ChannelScores,
  GroupImportanceOptions,
  GroupReduction,
  ImportanceNormalization,
  MemberImportance,
  NormOptions,
  NormScope,
  TaylorOptions,
} from './importance.js';
export { removedMasks, selectChannels } from './select.js';
export type { ChannelPlan, ChannelSelectionOptions } from './select.js';
export { keptWidths, maskChannels, shrinkModel } from './apply.js';
export { countMacs, countParameters } from './report.js';
export { loadModelFolder, modelArtifacts, saveModelFolder, storageLike } from './io.js';
export type { SaveModelOptions, WeightStorage } from './io.js';
export { compareLatency, pruneChannels, savedBytes } from './prune.js';
export type { ChannelPruneReport, ChannelPruneResult, CompareLatencyOptions, LayerWidth, ModelSize, PruneChannelsOptions } from './prune.js';
