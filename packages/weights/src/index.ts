/**
 * `@prune/weights`: weight pruning for neural networks — magnitude (per matrix, per row,
 * global), Wanda and its α-variant, SparseGPT, N:M patterns, OWL layerwise sparsity, TAMP for
 * multimodal models (diversity-aware sparsity + adaptive multimodal input activation), and a sequential
 * calibrated pipeline that prunes a whole model block by block through a model adapter.
 * Every method is three visible steps — score, select, apply — plus a {@link PruningMethod}
 * the pipeline drives.
 *
 * @packageDocumentation
 */
export type { LayerStatistic, PrepareContext, PrunedLayer, PruningMethod, SparsityTarget } from './method.js';
export { checkTarget, checkTargetFits, describeTarget, nm, unstructured } from './target.js';
export { globalScoreThreshold } from './global-threshold.js';
export type { GlobalScoreThresholdOptions, ScoreWalk } from './global-threshold.js';
export { magnitude, magnitudeMask, magnitudeScore, pruneMagnitude, pruneMagnitudeInPlace, thresholdKeepMask } from './magnitude.js';
export type { MagnitudeMaskOptions, MagnitudeOptions, MagnitudeScope } from './magnitude.js';
export { pruneWanda, wanda, wandaMask, wandaScore } from './wanda.js';
// The thread count is core's, shared with its matrix products; re-exported for convenience.
export { pruneThreads, setPruneThreads } from '@prune/core';
export type { WandaMaskOptions, WandaOptions } from './wanda.js';
export { wandaVariantMask } from './wanda-variant.js';
export type { WandaVariantOptions, WandaVariantResult } from './wanda-variant.js';
export { sparsegpt, sparsegptInverseHessian, sparsegptPrune } from './sparsegpt.js';
export type { SparseGPTInverseHessian, SparseGPTMethodOptions, SparseGPTOptions } from './sparsegpt.js';
export { OWL_DEFAULT_LAMBDA, OWL_DEFAULT_M, outlierRatio, owlLayerSparsity, owlSparsities } from './owl.js';
export type { OwlOptions, OwlResult, OwlSparsitiesOptions } from './owl.js';
export { pruneModel } from './pipeline.js';
export type { BlockReport, CalibrationProtocol, LayerReport, PruneModelOptions, PruneReport } from './pipeline.js';
export type { CalibrationSample, CalibrationSource } from './calibration-pass.js';
export { tamp, tampLayerSparsity, tampPlanner, tampSparsityFromStatistics } from './tamp.js';
export type { MultimodalSample, ObservingBlockRunner, TampLayerSparsityOptions, TampOptions, TampSparsityOptions, TampSparsityResult } from './tamp.js';
export { DiversityStatistic, allocateKeepBudget, diversityAwareSparsity, diversityScore, modalitySimilarities, similaritiesFromGram } from './tamp-das.js';
export type { KeepBudgetOptions, ModalitySimilarities } from './tamp-das.js';
export { AmiaColumnNorm, selectTokens, selectTokensFromGram, tokenGraph } from './tamp-amia.js';
export type { TokenGraph, TokenSelectionOptions } from './tamp-amia.js';
export { isObservingStatistic } from './tamp-observation.js';
export type { LayerObservation, LayerwisePlanner, ObservationNeeds, ObservingStatistic } from './tamp-observation.js';
