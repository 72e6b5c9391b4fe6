/**
 * The backend conformance suite: every kernel on random and edge-case inputs, compared
 * with the reference backend under a stated tolerance. A backend package runs it with
 * {@link defineConformanceSuite}.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest';
 * import { defineConformanceSuite } from '@prune/core/testing';
 * defineConformanceSuite('my-backend', () => createMyBackend(), { describe, it });
 * ```
 * @packageDocumentation
 */
import type { Backend } from '../backend.js';
import { elementwiseCases } from './cases/elementwise.js';
import { layoutCases } from './cases/layout.js';
import { linalgCases } from './cases/linalg.js';
import { reduceCases } from './cases/reduce.js';
import { selectionCases } from './cases/selection.js';
import { type ConformanceCase, type ConformanceResult, type TestApi, checkCase } from './conformance.js';

export { EXACT, checkCase } from './conformance.js';
export type { ConformanceCase, ConformanceResult, TestApi, Tolerance } from './conformance.js';
export { countingBackend } from './counting-backend.js';
export type { CountingBackend } from './counting-backend.js';
export { randomInput } from './inputs.js';
export type { RandomInputOptions } from './inputs.js';

/** Every conformance case, grouped by kernel family. */
export function conformanceCases(): readonly ConformanceCase[] {
  return [...elementwiseCases, ...reduceCases, ...layoutCases, ...linalgCases, ...selectionCases];
}

/** Runs every case on `backend` and returns the results (no test framework needed). */
export function checkBackend(backend: Backend): ConformanceResult[] {
  return conformanceCases().map((c) => checkCase(c, backend));
}

/**
 * Declares one test per conformance case in the caller's test framework.
 * @param label - suite title, e.g. `tfjs-wasm`
 * @param createBackend - returns (or resolves to) the backend under test
 * @param api - the framework's `describe` and `it`
 */
export function defineConformanceSuite(label: string, createBackend: () => Backend | Promise<Backend>, api: TestApi): void {
  api.describe(`conformance: ${label}`, () => {
    let backend: Promise<Backend> | undefined;
    const get = (): Promise<Backend> => (backend ??= Promise.resolve(createBackend()));
    for (const c of conformanceCases()) {
      api.it(`${c.kernel}: ${c.name}`, async () => {
        const result = checkCase(c, await get());
        if (!result.passed) throw new Error(`${label} ${c.kernel} (${c.name}): ${result.message}`);
      }, 60_000);
    }
  });
}
