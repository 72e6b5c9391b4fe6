import type { DType, TypedArray } from './dtype.js';
import type { Kernels, KernelName } from './kernels.js';
import { KERNEL_NAMES } from './kernels.js';
import type { Shape } from './shape.js';

/**
 * A compute backend: owns tensor storage and implements some or all {@link Kernels}.
 * Kernels never mutate their inputs; every kernel returns new storage that core disposes
 * through {@link Backend.dispose}.
 *
 * @typeParam H - the backend's storage handle type
 */
export interface Backend<H = unknown> {
  /** Registry name, e.g. `reference`, `tfjs-wasm`, `gpujs-cpu`. */
  readonly name: string;
  /** Kernels this backend runs natively. Missing ones fall back to the reference backend. */
  readonly kernels: Partial<Kernels<H>>;
  /** Stores `values` (already of the storage class of `dtype`) as a tensor of `shape`. */
  upload(values: TypedArray, shape: Shape, dtype: DType): H;
  /** Reads storage back to the host as a new array the caller owns. */
  download(handle: H, shape: Shape, dtype: DType): Promise<TypedArray>;
  /** Like {@link Backend.download}, synchronously (may block on a GPU). */
  downloadSync(handle: H, shape: Shape, dtype: DType): TypedArray;
  /** Releases storage. Called exactly once per handle by core. */
  dispose(handle: H): void;
  /** Optional one-time asynchronous initialisation (e.g. compiling wasm). */
  ready?(): Promise<void>;
  /** Optional release of everything the backend holds (kernels, contexts). */
  destroy?(): void;
  /** Notes for the docs: precision limits, modes, anything users should know. */
  readonly notes?: readonly string[];
  /**
   * True when the backend keeps tensors in this process's memory and computes on the calling
   * thread (the reference backend, tfjs-cpu, tfjs-wasm, gpu.js in cpu mode): reading a tensor
   * back is a plain copy, and the toolkit's own host kernels (WebAssembly SIMD, worker
   * threads) are at least as fast as the backend's, so statistics such as the Hessian are
   * computed with them. Unset means false (a GPU, or a native library with its own threads).
   */
  readonly onHost?: boolean;
}

/** Which kernels a backend runs natively and which fall back to the reference backend. */
export interface BackendCapabilities {
  /** Backend name. */
  readonly name: string;
  /** Kernels implemented by the backend itself. */
  readonly native: readonly KernelName[];
  /** Kernels computed by the reference backend on the host, with copies in and out. */
  readonly fallback: readonly KernelName[];
}

/** Lists the native and fallback kernels of `backend`. */
export function backendCapabilities(backend: Backend): BackendCapabilities {
  const native = KERNEL_NAMES.filter((k) => typeof backend.kernels[k] === 'function');
  const fallback = KERNEL_NAMES.filter((k) => typeof backend.kernels[k] !== 'function');
  return { name: backend.name, native, fallback };
}
