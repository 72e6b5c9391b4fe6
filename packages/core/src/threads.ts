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

// The hand-off protocol of every worker pool: word TASK_STATE of a worker's control words
// (an Int32Array over shared memory) moves IDLE → BUSY (the caller posted a task) → DONE or
// FAILED (the worker finished) → IDLE (the caller collected it).

/** Slot of a worker's task state in its control words. @internal */
export const TASK_STATE = 0;
/** Task state: waiting for a task. @internal */
export const TASK_IDLE = 0;
/** Task state: a task is posted. @internal */
export const TASK_BUSY = 1;
/** Task state: the task finished. @internal */
export const TASK_DONE = 2;
/** Task state: the task threw; the caller redoes or reports it. @internal */
export const TASK_FAILED = 3;

/**
 * A worker thread's loop: sleeps until a task is posted, runs it, reports DONE — or FAILED
 * if it throws, since the caller is blocked waiting for the word — and waits for the next.
 * @param control - the worker's control words
 * @param run - runs the posted task
 * @internal
 */
export function serveTasks(control: Int32Array, run: () => void): never {
  for (;;) {
    // Sleep through IDLE and through our own DONE/FAILED until the caller has collected them.
    let state = Atomics.load(control, TASK_STATE);
    while (state !== TASK_BUSY) {
      Atomics.wait(control, TASK_STATE, state);
      state = Atomics.load(control, TASK_STATE);
    }
    let result = TASK_DONE;
    try {
      run();
    } catch {
      result = TASK_FAILED;
    }
    Atomics.store(control, TASK_STATE, result);
    Atomics.notify(control, TASK_STATE);
  }
}
