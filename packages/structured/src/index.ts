/**
 * `@prune/structured`: Structured pruning that makes models physically smaller: dependency-aware channel pruning of tfjs LayersModels (L1/L2, BN scale, Taylor, activation-aware importance) and PreCropping at initialization (SNIP, GraSP, SynFlow → narrower dense models).
 *
 * @packageDocumentation
 */
export * from './channel/index.js';
export * from './precrop/index.js';
