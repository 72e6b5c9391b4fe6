export { countCost, layoutOf, sameOutputSize, weightCount, withGroupWidths } from './architecture.js';
export type {
  Activation,
  Block,
  ChannelGroup,
  ConvBlock,
  ConvNetCost,
  ConvNetLayout,
  ConvNetSpec,
  DepthwiseBlock,
  ResidualBlock,
  WeightLayer,
  WeightLayerKind,
} from './architecture.js';
export { applyKernelMasks, buildModel, forward, initWeights, readWeights, toTensors } from './model.js';
export type { BuildModelOptions, ConvNetTensors, ConvNetWeights, ForwardOptions, LayerWeights } from './model.js';
export {
  classBalancedIndices,
  globalMask,
  graspScores,
  hessianGradientProduct,
  layerDensities,
  lossGradients,
  maskWeights,
  pruneAtInitialization,
  snipScores,
  synflowScores,
} from './scores.js';
export type {
  GlobalMaskOptions,
  KernelMasks,
  LabelledBatch,
  LossOptions,
  LayerScores,
  PaiMethod,
  PaiResult,
  PruneAtInitOptions,
  SynflowScores,
} from './scores.js';
export { channelKeepRatios, precropSpec, scalingGroups } from './widths.js';
export type { KeepRatioOptions, PrecropOptions, PrecropPlan } from './widths.js';
