/**
 * `@prune/gpujs`: a `@prune/core` compute backend over gpu.js kernels, in the `cpu`,
 * `webasm`, `headlessgl` (Node, through the optional `gl` module), `webgl`/`webgl2`
 * (browsers) and `gpu` (best available) modes.
 *
 * @packageDocumentation
 */
export {
  GPUJS_FALLBACK_REASONS,
  GPUJS_KERNEL_NOTES,
  createGpujsBackend,
  gpujsBackendName,
  registerGpujsBackends,
} from './backend.js';
export type { GpujsBackend, GpujsBackendOptions } from './backend.js';
export type { GpujsStorage } from './kernels.js';
export { GPUJS_MODES, gpujsModeAvailability } from './modes.js';
export type { GpujsConcreteMode, GpujsMode, GpujsModeAvailability } from './modes.js';
