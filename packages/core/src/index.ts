/**
 * `@prune/core`: one tensor abstraction with swappable backends, plus the primitives every
 * pruner shares — selection and masks, calibration statistics, sparse formats,
 * safetensors I/O, errors, progress events and a seeded PRNG.
 *
 * @packageDocumentation
 */
export { PruneError, assert } from './errors.js';
export type { PruneErrorCode } from './errors.js';
export { allocArray, bytesPerElement, dtypeOfArray } from './dtype.js';
export type { DType, DTypeArrayMap, TypedArray } from './dtype.js';
export { broadcastShapes, checkShape, normalizeAxis, shapesEqual, sizeOf, stridesOf } from './shape.js';
export { broadcastStrides, stridedPlan } from './reference/broadcast.js';
export type { StridedPlan } from './reference/broadcast.js';
export type { Shape } from './shape.js';
export { KERNEL_NAMES } from './kernels.js';
export type { BinaryOp, CompareOp, KernelName, Kernels, ReduceOp, TensorRef, UnaryOp } from './kernels.js';
export { backendCapabilities } from './backend.js';
export type { Backend, BackendCapabilities } from './backend.js';
export { findBackend, getBackend, listBackends, registerBackend, setBackend } from './registry.js';
export type { RegisterBackendOptions } from './registry.js';
export { referenceBackend } from './reference/index.js';
export { Tensor } from './tensor.js';
export type { BoolTensor, Float32Tensor, Int32Tensor } from './tensor.js';
export { dispose, keep, tidy } from './scope.js';
export type { TidyResult } from './scope.js';
export { Random } from './random.js';
export { TASK_BUSY, TASK_DONE, TASK_FAILED, TASK_IDLE, TASK_STATE, builtinModule, pruneThreads, serveTasks, setPruneThreads } from './threads.js';
export * from './progress.js';
export { areaInterpolate } from './area-interpolate.js';
export type { MapSize } from './area-interpolate.js';
export * from './ops/index.js';
export * from './select/index.js';
export * from './formats/index.js';
export * from './calibration/index.js';
export * from './safetensors/index.js';
export type { BlockRunner, ModelAdapter, ModelBlock, PrunableKind, PrunableLayer } from './model/adapter.js';
export * from './model/checkpoint.js';
export type { TokenAction, TokenHook, TokenLayerView } from './model/token-hook.js';
