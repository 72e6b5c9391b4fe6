import {
  type Backend,
  type DType,
  type KernelName,
  type Kernels,
  PruneError,
  type Shape,
  type TypedArray,
  allocArray,
  registerBackend,
} from '@prune/core';
import { GPU, type IKernelRunShortcut } from 'gpu.js';
import { KernelCache } from './cache.js';
import { type GpujsStorage, type KernelRunner, type KernelValue, createGpujsKernels } from './kernels.js';
import { type GpujsConcreteMode, type GpujsMode, GPUJS_MODES, checkMode, gpujsModeAvailability } from './modes.js';

/** Options of {@link createGpujsBackend}. */
export interface GpujsBackendOptions {
  /**
   * How gpu.js runs kernels; see {@link GpujsMode}.
   * @defaultValue `'gpu'`
   */
  mode?: GpujsMode;
  /**
   * Most compiled kernels kept alive; the least recently used is destroyed beyond that.
   * @defaultValue 256
   */
  maxCachedKernels?: number;
}

/** A {@link Backend} over gpu.js, with the mode it runs in and its kernel cache. */
export interface GpujsBackend extends Backend<GpujsStorage> {
  /** The mode asked for. */
  readonly mode: GpujsMode;
  /** The concrete mode kernels run in (`gpu` resolves to one of the others). */
  readonly resolvedMode: GpujsConcreteMode;
  /** Number of compiled kernels currently cached. */
  readonly cachedKernels: number;
  /** Releases every compiled kernel and the gpu.js instance; the backend is unusable after. */
  destroy(): void;
}

/**
 * Kernels the gpu.js backend leaves to the reference backend, and why. They appear as
 * `fallback` in `backendCapabilities()`.
 */
export const GPUJS_FALLBACK_REASONS: Readonly<Partial<Record<KernelName, string>>> = {
  cast: 'pure conversion of host arrays; int32 values above 2^24 are not exact in float32 kernels',
  cumsum: 'a sequential scan: one thread per output would redo O(n) work each; the reference is O(n) with float64 accumulation',
  transpose: 'data movement only: with host storage, upload plus readback costs more than the reference copy',
  slice: 'data movement only (host storage)',
  concat: 'data movement only (host storage)',
  gather: 'data movement only (host storage); int32 values above 2^24 would not be exact',
  scatter: 'data movement only (host storage)',
  topk: 'selection with exact tie-breaking by index and NaN ordering; GLSL has no reliable NaN',
  kthValue: 'selection with exact tie-breaking by index and NaN ordering',
  argsort: 'a stable sort: sequential by nature, exact int32 indices',
  selectMask: 'O(n) selection per row with exact ties; not a data-parallel kernel',
  cholesky: 'sequential factorisation needing float64 accumulation for accuracy',
  triangularInverse: 'sequential substitution needing float64 accumulation for accuracy',
};

/**
 * What each native kernel computes in gpu.js and the accuracy it meets, for the docs.
 * Inputs outside the stated conditions are computed by the reference kernel on the host
 * arrays (no copies), so results never leave the conformance tolerances.
 */
export const GPUJS_KERNEL_NOTES: Readonly<Partial<Record<KernelName, string>>> = {
  unary: 'float32 ops in gpu.js (float32 arithmetic; exp/log/tanh/sigmoid/gelu/silu within ~1e-6 relative on cpu/webasm, GLSL builtins on GL); int32/bool inputs, isNaN/isFinite/logicalNot, NaN/±Infinity, subnormals, |x| > 80 for exp-based ops, x ≤ 0 for log/sqrt/rsqrt and 0 for reciprocal use the reference',
  binary: 'float32 with broadcasting in gpu.js (add/sub/mul exact IEEE single); int32 inputs, non-finite or |x| outside [2^-60, 2^60], zero divisors, pow with a base ≤ 0, and overflowing results use the reference',
  compare: 'float32 comparisons in gpu.js (exact); int32/bool inputs and NaN/±Infinity use the reference',
  where: 'float32 branches in gpu.js (exact pass-through); int32/bool branches and NaN/±Infinity/subnormal values use the reference',
  reduce: 'sum/mean/norm1/norm2 with compensated (Kahan) float32 accumulation, max/min exact; prod/any/all, int32/bool, empty reductions and non-finite inputs use the reference',
  argReduce: 'exact (strict comparison keeps the lowest index among ties); NaN/±Infinity inputs use the reference',
  matmul: 'float32 accumulation over K (error about K·eps·Σ|aᵢbᵢ|), transposes and batch broadcasting in the index math',
  softmax: 'three kernels (lane max, compensated sum of exponentials, normalise) chained as gpu.js pipelines; NaN/±Infinity use the reference',
  cosineSimilarity: 'row norms with compensated accumulation, dot products in float32; zero rows give 0',
  reshape: 'metadata only: the new tensor shares the host array',
};

const DEFAULT_MAX_CACHED_KERNELS = 256;

type CompiledKernel = IKernelRunShortcut & { kernel?: { constructor: { mode?: string } } };

/**
 * Creates a gpu.js backend. Tensor storage lives on the host (a typed array and its shape);
 * compute-heavy kernels run as gpu.js kernels compiled once per (op, shapes) and cached.
 * Throws `BACKEND_UNAVAILABLE` when the mode cannot run here, with the reason.
 *
 * @example
 * ```ts
 * import { setBackend, registerBackend } from '@prune/core';
 * import { createGpujsBackend } from '@prune/gpujs';
 * registerBackend('my-gpujs', () => createGpujsBackend({ mode: 'webasm' }));
 * await setBackend('my-gpujs');
 * ```
 * @param options - mode and cache size
 * @returns the backend
 */
export function createGpujsBackend(options: GpujsBackendOptions = {}): GpujsBackend {
  if (options === null || typeof options !== 'object') {
    throw new PruneError('INVALID_ARGUMENT', 'createGpujsBackend takes an options object, e.g. { mode: "webasm" }');
  }
  const mode = options.mode ?? 'gpu';
  checkMode(mode);
  const availability = gpujsModeAvailability(mode);
  if (!availability.available || availability.resolved === undefined) {
    throw new PruneError('BACKEND_UNAVAILABLE', `gpu.js mode '${mode}' cannot run here: ${availability.reason}`);
  }
  const resolvedMode = availability.resolved;
  const cache = new KernelCache<CompiledKernel>(options.maxCachedKernels ?? DEFAULT_MAX_CACHED_KERNELS);
  const gpu = new GPU({ mode: resolvedMode });

  const runner: KernelRunner = {
    run(key: string, source: () => string, size: number, args: readonly KernelValue[], pipeline = false): KernelValue {
      const kernel = cache.get(`${key}${pipeline ? ':pipe' : ''}`, () =>
        gpu.createKernel(source(), {
          output: [size],
          precision: 'single',
          tactic: 'precision',
          pipeline,
          immutable: pipeline,
          dynamicOutput: false,
        }) as CompiledKernel,
      );
      return (kernel as unknown as (...a: readonly KernelValue[]) => KernelValue)(...args);
    },
  };

  const notes = [
    `gpu.js ${resolvedMode} mode${mode === 'gpu' ? " (resolved from 'gpu')" : ''}; tensor storage is host typed arrays, kernels compiled once per op and shapes.`,
    'Computes in float32 (GL modes: the GPU driver\'s float precision); int32 values above 2^24 are not exact in float kernels, so int32/bool data use the reference kernels.',
    'Inputs with NaN/±Infinity, subnormals or extreme magnitudes are computed by the reference kernels, since GLSL does not guarantee IEEE special values.',
  ];

  const backend: GpujsBackend = {
    name: `gpujs-${mode}`,
    mode,
    resolvedMode,
    // Storage is host arrays; in cpu mode the kernels also run on the calling thread.
    onHost: resolvedMode === 'cpu',
    kernels: createGpujsKernels(runner) as Partial<Kernels<GpujsStorage>>,
    get cachedKernels() {
      return cache.size;
    },
    upload(values: TypedArray, shape: Shape, dtype: DType): GpujsStorage {
      const copy = allocArray(dtype, values.length);
      copy.set(values);
      return { values: copy, shape: [...shape] };
    },
    download(handle: GpujsStorage): Promise<TypedArray> {
      return Promise.resolve(handle.values.slice());
    },
    downloadSync(handle: GpujsStorage): TypedArray {
      return handle.values.slice();
    },
    dispose(): void {
      // Host arrays are garbage-collected once no tensor refers to them; reshape shares
      // them between tensors, so nothing is freed eagerly.
    },
    destroy(): void {
      if (cache.destroyed) return;
      cache.destroy();
      void gpu.destroy();
    },
    notes,
  };
  return backend;
}

/** Registry name of the backend for `mode`, e.g. `gpujs-webasm`. */
export function gpujsBackendName(mode: GpujsMode): string {
  checkMode(mode);
  return `gpujs-${mode}`;
}

/**
 * Registry priorities, all below the reference backend's 0: with host storage and no GPU
 * gpu.js measured slower than the reference (see the README), so `setBackend('auto')`
 * never picks it on its own; select it by name. Among themselves: gpu, GL, webasm, cpu.
 */
const PRIORITIES: Record<GpujsMode, number> = {
  gpu: -1,
  headlessgl: -2,
  webgl2: -2,
  webgl: -2,
  webasm: -3,
  cpu: -4,
};

/**
 * Registers one backend per mode with `@prune/core`'s registry: `gpujs-cpu`,
 * `gpujs-webasm`, `gpujs-headlessgl`, `gpujs-webgl`, `gpujs-webgl2`, `gpujs-gpu`. A mode
 * that cannot run here fails with `BACKEND_UNAVAILABLE` only when selected. Their
 * priorities sit below the reference backend's, so `setBackend('auto')` does not pick
 * them; select one by name.
 * @returns the registered names
 */
export function registerGpujsBackends(): string[] {
  return GPUJS_MODES.map((mode) => {
    const name = gpujsBackendName(mode);
    registerBackend(name, () => createGpujsBackend({ mode }), { priority: PRIORITIES[mode] });
    return name;
  });
}
