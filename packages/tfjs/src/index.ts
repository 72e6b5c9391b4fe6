/**
 * `@prune/tfjs`: a `@prune/core` compute backend over TensorFlow.js — cpu and wasm
 * everywhere, `tensorflow` in Node when `@tensorflow/tfjs-node(-gpu)` is installed, webgl
 * and webgpu in browsers — plus helpers to move tensors between tfjs and core.
 *
 * @packageDocumentation
 */
export { createTfjsBackend, isTfjsBackend, nativeKernelsFor } from './backend.js';
export type { TfjsBackend, TfjsBackendChoice, TfjsBackendOptions } from './backend.js';
export type { NodePackage, TfjsBackendName } from './load.js';
export { TFJS_BACKEND_PRIORITIES, registerTfjsBackends } from './registry.js';
export { fromTfjs, toTfjs } from './interop.js';
export type { FromTfjsOptions } from './interop.js';
