import { type Backend, type DType, type KernelName, type Kernels, PruneError, type Shape, type TypedArray } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { elementwiseKernels } from './kernels/elementwise.js';
import { linalgKernels } from './kernels/linalg.js';
import { layoutKernels } from './kernels/layout.js';
import { reduceKernels } from './kernels/reduce.js';
import { selectionKernels } from './kernels/selection.js';
import { readData } from './kernels/util.js';
import { type NodePackage, type TfjsBackendName, loadTfjsBackend } from './load.js';

/** Choice of tfjs backend for {@link createTfjsBackend}. */
export type TfjsBackendChoice = 'auto' | TfjsBackendName;

/** Options of {@link createTfjsBackend}. */
export interface TfjsBackendOptions {
  /**
   * The tfjs backend to run on. `'auto'` picks `tensorflow` when `@tensorflow/tfjs-node-gpu`
   * or `@tensorflow/tfjs-node` can be imported (gpu first), then `webgpu`/`webgl` when their
   * tfjs backend package has been imported (browsers), then `wasm`, then `cpu`. Any other
   * value is forced: if it cannot start, a `BACKEND_UNAVAILABLE` error names the package to
   * install.
   * @defaultValue `'auto'`
   */
  backend?: TfjsBackendChoice;
  /**
   * For `backend: 'tensorflow'`: which Node binding to import. By default
   * `@tensorflow/tfjs-node-gpu` is tried first, then `@tensorflow/tfjs-node`.
   * @defaultValue both, gpu first
   */
  nodePackage?: NodePackage;
}

/**
 * A {@link Backend} whose storage is a tfjs `Tensor`, created by {@link createTfjsBackend}.
 */
export interface TfjsBackend extends Backend<tf.Tensor> {
  /** The tfjs backend this backend runs on: `cpu`, `wasm`, `tensorflow`, `webgl` or `webgpu`. */
  readonly tfjsBackend: TfjsBackendName;
  /**
   * Makes this backend's tfjs backend the current one in tfjs' global engine. Every kernel
   * calls it first; call it yourself before running your own tfjs ops on tensors of this
   * backend when several tfjs backends are in use.
   */
  activate(): void;
}

/**
 * Kernels left to the reference backend on the GPU tfjs backends: selection works on exact
 * int32 order keys up to 2³¹, while webgl and webgpu store int32 in float32 (exact to 2²⁴).
 */
const GPU_FALLBACK: readonly KernelName[] = ['topk', 'kthValue', 'argsort', 'selectMask'];

const tfjsBackends = new WeakSet<Backend>();

/** True when `backend` was created by {@link createTfjsBackend}. */
export function isTfjsBackend(backend: Backend): backend is TfjsBackend {
  return tfjsBackends.has(backend);
}

/** Switches tfjs' global engine to `name` if it is not current; throws if it cannot do so now. */
function activateTfjs(name: TfjsBackendName): void {
  if (tf.getBackend() === name) return;
  if (tf.findBackend(name) === null) {
    throw new PruneError('BACKEND_UNAVAILABLE', `the tfjs backend "${name}" is not initialised; create the @prune/tfjs backend with createTfjsBackend() (and await it) before running ops`);
  }
  // For a backend that is already initialised, tfjs' setBackend switches synchronously
  // before its promise settles; the check below confirms it did.
  tf.setBackend(name).catch(() => undefined);
  if (tf.getBackend() !== name || tf.backend() !== tf.findBackend(name)) {
    throw new PruneError('BACKEND_UNAVAILABLE', `could not switch tfjs to its "${name}" backend while another tfjs backend is still initialising; await tf.ready() and retry`);
  }
}

type AnyKernel = (...args: unknown[]) => tf.Tensor | tf.Tensor[];

/**
 * Wraps each kernel so it runs on the right tfjs backend, inside `tf.tidy` (intermediates
 * are released), and returns tensors marked kept, so an enclosing user `tf.tidy` cannot
 * dispose storage that a core tensor still owns.
 */
function wrapKernels(kernels: Partial<Kernels<tf.Tensor>>, activate: () => void): Partial<Kernels<tf.Tensor>> {
  const wrapped: Record<string, AnyKernel> = {};
  for (const [name, kernel] of Object.entries(kernels) as [string, AnyKernel][]) {
    wrapped[name] = (...args: unknown[]) => {
      activate();
      const result = tf.tidy(() => kernel(...args));
      if (Array.isArray(result)) return result.map((t) => tf.keep(t));
      return tf.keep(result);
    };
  }
  return wrapped as Partial<Kernels<tf.Tensor>>;
}

/** Every kernel this package implements over tfjs ops. */
export const TFJS_KERNELS: Readonly<Partial<Kernels<tf.Tensor>>> = {
  ...elementwiseKernels,
  ...reduceKernels,
  ...layoutKernels,
  ...linalgKernels,
  ...selectionKernels,
};

/** The kernels that run natively on tfjs backend `name` (the rest fall back to the reference). */
export function nativeKernelsFor(name: TfjsBackendName): KernelName[] {
  const gpu = name === 'webgl' || name === 'webgpu';
  return (Object.keys(TFJS_KERNELS) as KernelName[]).filter((k) => !(gpu && GPU_FALLBACK.includes(k)));
}

function notesFor(name: TfjsBackendName): string[] {
  const notes = [
    'float32 arithmetic throughout (the reference accumulates sums, matmul and linear algebra in float64).',
    'int32 mul/div/pow/square and int32 mean/prod/norm2 run on the host to keep exact Int32Array wrapping.',
  ];
  if (name === 'webgl' || name === 'webgpu') {
    notes.push('int32 is stored as float32 on the GPU (exact up to 2^24); topk, kthValue, argsort and selectMask use the reference backend.');
  }
  if (name === 'cpu') notes.push('tfjs-cpu is plain JavaScript; wasm is typically much faster for matmul.');
  if (name === 'wasm') {
    notes.push('matmul transposes a flagged operand before a plain product, and runs batched products on @prune/core/wasm\'s SIMD kernel: tfjs-wasm does both 6–15× slower itself.');
  }
  return notes;
}

/** Copies `values` unless the tfjs backend copies on write itself (wasm does). */
function upload(name: TfjsBackendName, values: TypedArray, shape: Shape, dtype: DType): tf.Tensor {
  const own = name === 'wasm' ? values : values.slice();
  return tf.tensor(own, [...shape], dtype);
}

/**
 * Creates a {@link Backend} over TensorFlow.js on the chosen tfjs backend, initialising
 * it (wasm binaries come from the installed `@tensorflow/tfjs-backend-wasm`; nothing is
 * downloaded in Node). tfjs has one global engine: each kernel makes this backend's tfjs
 * backend current before it runs, so several backends of this package can be used in one
 * process (switching costs a little each time it happens).
 *
 * @param options - which tfjs backend to use
 * @returns the ready backend
 * @throws PruneError `BACKEND_UNAVAILABLE` when a forced tfjs backend cannot start
 *
 * @example
 * ```ts
 * import { tensor, sum } from '@prune/core';
 * import { createTfjsBackend } from '@prune/tfjs';
 * const backend = await createTfjsBackend({ backend: 'wasm' });
 * const total = sum(tensor([1, 2, 3], [3], 'float32', { backend }));
 * ```
 */
export async function createTfjsBackend(options: TfjsBackendOptions = {}): Promise<TfjsBackend> {
  const choice = options.backend ?? 'auto';
  const loaded = await loadTfjsBackend(choice, options.nodePackage);
  const { name } = loaded;
  const activate = (): void => activateTfjs(name);
  const native = new Set(nativeKernelsFor(name));
  const kernels = Object.fromEntries(Object.entries(TFJS_KERNELS).filter(([k]) => native.has(k as KernelName))) as Partial<Kernels<tf.Tensor>>;
  const registryName = name === 'tensorflow' ? (loaded.nodePackage === '@tensorflow/tfjs-node-gpu' ? 'tfjs-node-gpu' : 'tfjs-node') : `tfjs-${name}`;
  const backend: TfjsBackend = {
    name: registryName,
    tfjsBackend: name,
    kernels: wrapKernels(kernels, activate),
    activate,
    upload(values, shape, dtype) {
      activate();
      return tf.keep(upload(name, values, shape, dtype));
    },
    async download(handle, _shape, dtype) {
      const v = (await handle.data()) as ArrayLike<number>;
      if (dtype === 'float32') return new Float32Array(v);
      if (dtype === 'int32') return new Int32Array(v);
      return new Uint8Array(v);
    },
    downloadSync(handle, _shape, dtype) {
      return readData(handle, dtype, name === 'wasm');
    },
    dispose(handle) {
      handle.dispose();
    },
    notes: notesFor(name),
    // tfjs-cpu and tfjs-wasm compute on the calling thread in this process's memory.
    onHost: name === 'cpu' || name === 'wasm',
  };
  tfjsBackends.add(backend);
  return backend;
}
