/**
 * `@prune/data`: Dataset pruning: EL2N, GraNd, forgetting, AUM and prototype scores, coverage-centric selection (CCS), balanced k-means curation, dynamic re-curation and knowledge distillation on the pruned set.
 *
 * @packageDocumentation
 */
export * from './scores/index.js';
export * from './select/index.js';
export * from './curation/index.js';
export * from './distill/index.js';
