import { PruneError } from './errors.js';

// The toolkit's thread count, shared by every pool of worker threads (core's matrix products,
// the weight pruners' row kernels). Worker threads exist only on Node.js: they are found through
// process.getBuiltinModule, so nothing here is imported in a browser.

/**
 * A Node.js built-in module by id, or undefined where there is none (browsers, Node < 20.16).
 * @param id - e.g. `node:worker_threads`
 * @returns the module, or undefined
 * @internal
 */
export function builtinModule<T>(id: string): T | undefined {
  const getBuiltinModule = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  return typeof getBuiltinModule === 'function' ? (getBuiltinModule(id) as T | undefined) : undefined;
}

function defaultThreads(): number {
  const os = builtinModule<{ availableParallelism?: () => number }>('node:os');
  const n = os?.availableParallelism?.() ?? 1;
  return Math.max(1, Math.min(n, 8));
}

let threads = defaultThreads();

/**
 * Sets how many threads the toolkit's heavy host kernels use — the calling thread plus
 * `n − 1` worker threads: the matrix products of the Hessian and SparseGPT, and the fused
 * magnitude, Wanda and N:M kernels of `@prune/weights` on large matrices. Worker threads need
 * Node.js ≥ 20.16; elsewhere everything runs on the calling thread whatever `n` is. Pruning
 * results do not depend on `n`.
 *
 * @param n - thread count, an integer ≥ 1
 * @defaultValue the machine's available parallelism, at most 8
 *
 * @example
 * ```ts
 * import { setPruneThreads } from '@prune/core';
 * setPruneThreads(1); // compute on the calling thread only
 * ```
 */
export function setPruneThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new PruneError('OUT_OF_RANGE', `setPruneThreads: n must be an integer ≥ 1, got ${String(n)}`);
  threads = n;
}

/**
 * How many threads the heavy host kernels use (see {@link setPruneThreads}).
 *
 * @returns the thread count
 */
export function pruneThreads(): number {
  return threads;
}
