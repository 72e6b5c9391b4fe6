import type { Backend } from '../backend.js';
import type { KernelName } from '../kernels.js';
import { referenceBackend } from '../reference/index.js';
import { dispose } from '../scope.js';
import type { Tensor } from '../tensor.js';

/** Allowed deviation of a backend's result from the reference: |a − r| ≤ atol + rtol·|r|. */
export interface Tolerance {
  /** Absolute tolerance. */
  atol: number;
  /** Relative tolerance. */
  rtol: number;
}

/** Exact agreement (integer and boolean results, layout kernels, index outputs). */
export const EXACT: Tolerance = { atol: 0, rtol: 0 };

/**
 * One conformance check: build inputs on a backend, run an op, compare every output with
 * the same op run on the reference backend.
 */
export interface ConformanceCase {
  /** The kernel the case exercises. */
  readonly kernel: KernelName;
  /** What the case covers, e.g. `broadcast [3,1] x [1,4]`. */
  readonly name: string;
  /** Tolerance per output (one entry for all, or one per output). */
  readonly tolerance: Tolerance | readonly Tolerance[];
  /** Builds inputs on `backend` (via the ops' `backend` option) and runs the op under test. */
  run(backend: Backend): Tensor | readonly Tensor[];
}

/** Result of one case on one backend. */
export interface ConformanceResult {
  /** Kernel name. */
  kernel: KernelName;
  /** Case name. */
  name: string;
  /** Whether every output matched the reference within tolerance. */
  passed: boolean;
  /** Why it failed (first mismatch), when it did. */
  message?: string;
}

function close(a: number, r: number, tol: Tolerance): boolean {
  if (Number.isNaN(r)) return Number.isNaN(a);
  if (!Number.isFinite(r)) return a === r;
  return Math.abs(a - r) <= tol.atol + tol.rtol * Math.abs(r);
}

/** Compares the outputs of `c` on `backend` with the reference; never throws. */
export function checkCase(c: ConformanceCase, backend: Backend): ConformanceResult {
  const base = { kernel: c.kernel, name: c.name };
  let expected: readonly Tensor[] = [];
  let actual: readonly Tensor[] = [];
  try {
    const e = c.run(referenceBackend);
    expected = Array.isArray(e) ? e : [e as Tensor];
    const a = c.run(backend);
    actual = Array.isArray(a) ? a : [a as Tensor];
    if (actual.length !== expected.length) {
      return { ...base, passed: false, message: `${actual.length} outputs, expected ${expected.length}` };
    }
    for (let o = 0; o < expected.length; o++) {
      const tol = Array.isArray(c.tolerance) ? (c.tolerance as Tolerance[])[o] : (c.tolerance as Tolerance);
      const r = expected[o];
      const x = actual[o];
      if (x.dtype !== r.dtype || x.shape.join() !== r.shape.join()) {
        return { ...base, passed: false, message: `output ${o}: got ${x.dtype}[${x.shape}] expected ${r.dtype}[${r.shape}]` };
      }
      const rv = r.dataSync();
      const xv = x.dataSync();
      for (let i = 0; i < rv.length; i++) {
        if (!close(xv[i], rv[i], tol)) {
          return { ...base, passed: false, message: `output ${o}[${i}]: got ${xv[i]} expected ${rv[i]} (atol ${tol.atol}, rtol ${tol.rtol})` };
        }
      }
    }
    return { ...base, passed: true };
  } catch (e) {
    return { ...base, passed: false, message: `threw: ${(e as Error)?.stack ?? String(e)}` };
  } finally {
    dispose([...expected, ...actual]);
  }
}

/** Minimal test-framework surface {@link defineConformanceSuite} needs (vitest, jest, mocha, node:test). */
export interface TestApi {
  /** Groups tests. */
  describe(name: string, fn: () => void): void;
  /** Declares one test. */
  it(name: string, fn: () => void | Promise<void>, timeout?: number): void;
}
