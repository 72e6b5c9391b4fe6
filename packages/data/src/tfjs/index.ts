/**
 * `@prune/data/tfjs`: the parts of `@prune/data` that run as TensorFlow.js ops — the
 * knowledge-distillation loss for a tfjs training loop and full-network GraNd scores. Needs
 * `@tensorflow/tfjs-core` (4.22.x) with a backend (e.g. through `@prune/tfjs`'s
 * `createTfjsBackend({ backend: 'wasm' })`).
 *
 * @packageDocumentation
 */
export { kdLoss } from './kd-loss.js';
export { grandScores } from './grand.js';
export type { GrandInput } from './grand.js';
