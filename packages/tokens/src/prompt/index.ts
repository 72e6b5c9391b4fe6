/**
 * Prompt pruning: the self-information (LLMLingua-style) compressor, the CoT-Max
 * coarse-to-fine pruner with REINFORCE training, a random baseline, and the
 * passage-continuation task they are measured on.
 */
export * from './prompt.js';
export * from './token-losses.js';
export * from './self-information.js';
export * from './mlp-head.js';
export * from './cot-max.js';
export * from './encoder.js';
export * from './continuation-task.js';
