/**
 * `@prune/tokens`: Token pruning for transformers: visual token pruning (HiPrune, G-Prune, ToMe, FastV), cached token pruning for scale-wise generation (FastVAR) and prompt pruning (CoT-Max, self-information).
 *
 * @packageDocumentation
 */
export * from './visual/index.js';
export * from './fastvar/index.js';
export * from './prompt/index.js';
