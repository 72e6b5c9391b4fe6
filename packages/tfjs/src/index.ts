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
export { openTfjsModelAdapter } from './model/adapter.js';
export type { TfjsModelAdapter, TfjsModelAdapterOptions, TfjsModelSource, TfjsModelWriteResult } from './model/adapter.js';
export type { SkippedTfjsLayer, TfjsPrunableLayer } from './model/types.js';
export type { KernelView } from './model/layout.js';
export { kernelFromMatrix, matrixFromKernel, matrixShapeOf } from './model/layout.js';
export { conv1dPatches, conv2dPatches } from './model/im2col.js';
export type { Conv2dGeometry, ConvPadding } from './model/im2col.js';
export { MODEL_JSON, decodeFloatWeight, encodeFloatWeight, readTfjsModelFolder, writeTfjsModelFolder } from './model/artifacts.js';
export type {
  TfjsModelFiles,
  TfjsQuantization,
  TfjsStoredWeight,
  TfjsWeightDType,
  TfjsWeightEncoding,
  TfjsWeightSpec,
  TfjsWriteResult,
  WriteTfjsModelOptions,
} from './model/artifacts.js';
