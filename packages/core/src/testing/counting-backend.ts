import type { Backend } from '../backend.js';
import type { Kernels } from '../kernels.js';
import { referenceBackend } from '../reference/index.js';

/** What {@link countingBackend} returns. */
export interface CountingBackend {
  /** The reference backend under another name, counting the storage it hands out. */
  readonly backend: Backend;
  /** Storage handles alive now (created by a kernel or an upload, not yet disposed). */
  live(): number;
  /** The most handles alive at once since creation or the last {@link CountingBackend.resetPeak}. */
  peak(): number;
  /** Starts a new peak from the current count. */
  resetPeak(): void;
}

/**
 * The reference backend with a count of live storage handles and their peak, to catch leaks
 * and measure how many tensors code keeps at once. Handles are counted as a multiset (the
 * reference `reshape` may hand back its input's array).
 *
 * @param options - `onHost` (default false): whether the backend presents itself as
 *   computing on the host (`Backend.onHost`), which routes calibration statistics through
 *   the host kernels
 * @returns the backend and its counters
 *
 * @example
 * ```ts
 * const { backend, live } = countingBackend();
 * const before = live();
 * runSomething(backend);
 * expect(live()).toBe(before); // nothing leaked
 * ```
 */
export function countingBackend(options: { onHost?: boolean } = {}): CountingBackend {
  const counts = new Map<unknown, number>();
  let live = 0;
  let peak = 0;
  const add = (h: unknown): void => {
    counts.set(h, (counts.get(h) ?? 0) + 1);
    peak = Math.max(peak, ++live);
  };
  const kernels: Record<string, unknown> = {};
  for (const [name, kernel] of Object.entries(referenceBackend.kernels)) {
    kernels[name] = (...args: unknown[]) => {
      const out = (kernel as (...a: unknown[]) => unknown).apply(referenceBackend.kernels, args);
      for (const h of Array.isArray(out) ? out : [out]) add(h);
      return out;
    };
  }
  const backend: Backend = {
    ...referenceBackend,
    name: 'counting',
    onHost: options.onHost ?? false,
    kernels: kernels as Partial<Kernels<unknown>>,
    upload: (values, shape, dtype) => {
      const h = referenceBackend.upload(values, shape, dtype);
      add(h);
      return h;
    },
    dispose: (h) => {
      const c = counts.get(h) ?? 0;
      if (c === 0) return;
      live--;
      if (c === 1) counts.delete(h);
      else counts.set(h, c - 1);
    },
  };
  return { backend, live: () => live, peak: () => peak, resetPeak: () => void (peak = live) };
}
