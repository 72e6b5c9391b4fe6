import { PruneError } from '@prune/core';

/** The part of a compiled gpu.js kernel the cache needs. */
export interface DestroyableKernel {
  /** Releases the kernel's compiled program, textures and buffers. */
  destroy(removeCanvasReferences?: boolean): void;
}

/**
 * Compiled kernels keyed by (operation, shapes), least recently used evicted first.
 * Compiling a gpu.js kernel (parsing, code generation, shader or wasm compilation) costs
 * far more than running a small one, so every distinct kernel is built once and reused;
 * evicted kernels and, on {@link KernelCache.destroy}, all kernels are destroyed.
 *
 * @typeParam K - the kernel type
 */
export class KernelCache<K extends DestroyableKernel> {
  readonly #kernels = new Map<string, K>();
  readonly #capacity: number;
  #destroyed = false;

  /**
   * @param capacity - most kernels kept alive at once
   */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new PruneError('INVALID_ARGUMENT', `maxCachedKernels must be a positive integer, got ${capacity}`);
    }
    this.#capacity = capacity;
  }

  /** Number of compiled kernels held. */
  get size(): number {
    return this.#kernels.size;
  }

  /** Whether {@link KernelCache.destroy} was called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Keys of the cached kernels, least recently used first. */
  keys(): string[] {
    return [...this.#kernels.keys()];
  }

  /**
   * The kernel cached under `key`, built with `build` on a miss.
   * @param key - operation and shapes the kernel is specialised for
   * @param build - compiles the kernel
   */
  get(key: string, build: () => K): K {
    if (this.#destroyed) {
      throw new PruneError('BACKEND_UNAVAILABLE', 'this gpu.js backend was destroyed; create a new one with createGpujsBackend()');
    }
    const hit = this.#kernels.get(key);
    if (hit) {
      // Re-insert to mark it most recently used.
      this.#kernels.delete(key);
      this.#kernels.set(key, hit);
      return hit;
    }
    const kernel = build();
    this.#kernels.set(key, kernel);
    if (this.#kernels.size > this.#capacity) {
      const [oldestKey, oldest] = this.#kernels.entries().next().value as [string, K];
      this.#kernels.delete(oldestKey);
      oldest.destroy();
    }
    return kernel;
  }

  /** Destroys every cached kernel; later {@link KernelCache.get} calls throw. */
  destroy(): void {
    this.#destroyed = true;
    for (const kernel of this.#kernels.values()) kernel.destroy();
    this.#kernels.clear();
  }
}
