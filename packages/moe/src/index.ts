/**
 * `@prune/moe`: pruning for mixture-of-experts models — MoE-Pruner (router-weighted Wanda,
 * unstructured and N:M, on the Wanda machinery of `@prune/weights`), EASY-EP few-shot expert
 * selection with its baselines and mixed-domain selection, expert removal with router
 * slicing (physically smaller models) or routing masks, and the expert-wise distillation
 * objective. Every method is score → select → apply, over a {@link MoeModelAdapter}.
 *
 * @packageDocumentation
 */
export { asMoeModel, moePrefix, routedExpertOf } from './model.js';
export type { MoeExpertEvent, MoeHooks, MoeModelAdapter, MoeOutputEvent, MoeRoutingConfig, MoeRoutingEvent, RoutedTokens } from './model.js';
export { moePruner, moePrunerStatistics } from './moe-pruner.js';
export type { MoePrunerLayerReport, MoePrunerOptions, MoePrunerReport, MoePrunerStatisticsOptions, NonExpertTreatment } from './moe-pruner.js';
export { chooseDemonstrations, expertStatistics, mixDomainScores, randomExpertSubset, selectTopExperts, selectionOverlap, tokenContribution } from './easy-ep.js';
export type { ExpertScores, ExpertStatistics, ExpertStatisticsOptions } from './easy-ep.js';
export { checkExpertSelection, maskExperts, removeExperts, saveMoeCheckpoint } from './expert-removal.js';
export type { MoeCheckpoint } from './expert-removal.js';
export { expertDistillationLoss } from './distill.js';
export type { ExpertDistillationLoss, ExpertDistillationOptions } from './distill.js';
export { distillExperts, expertDistillationGradients, swiGluGradients } from './distill-training.js';
export type { ExpertDistillationGradientOptions, ExpertDistillationGradients, ExpertDistillationReport, ExpertDistillationTrainingOptions, SwiGluGradients } from './distill-training.js';
