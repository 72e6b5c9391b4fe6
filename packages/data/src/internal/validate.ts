import { PruneError } from '@prune/core';

/**
 * Checks that `fraction` is a kept fraction in (0, 1].
 * @param name - option name used in the message
 * @param fraction - the value to check
 */
export function checkKeepFraction(name: string, fraction: number): void {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction) || fraction <= 0 || fraction > 1) {
    throw new PruneError('OUT_OF_RANGE', `${name} must be a fraction in (0, 1] (the share of examples to keep), got ${fraction}`);
  }
}

/**
 * Checks that `value` is a number in [lo, hi].
 * @param name - option name used in the message
 */
export function checkUnitRange(name: string, value: number, lo = 0, hi = 1): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi) {
    throw new PruneError('OUT_OF_RANGE', `${name} must be in [${lo}, ${hi}], got ${value}`);
  }
}

/**
 * Checks that `value` is an integer ≥ `min`.
 * @param name - option name used in the message
 */
export function checkInteger(name: string, value: number, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new PruneError('INVALID_ARGUMENT', `${name} must be an integer ≥ ${min}, got ${value}`);
  }
}

/**
 * Checks that every value of `values` is finite.
 * @param name - what the values are, used in the message
 */
export function checkFinite(name: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      throw new PruneError('NON_FINITE', `${name} holds ${v} at element ${i}; remove or repair non-finite values (NaN, ±Infinity) before scoring or clustering`);
    }
  }
}

/**
 * Checks class labels: `labels.length === count`, each an integer in [0, numClasses).
 * @param labels - labels, or undefined when the caller forgot them
 * @param count - expected number of labels
 * @param numClasses - number of classes, when known
 * @param what - the method that needs them, used in the message
 */
export function checkLabels(labels: ArrayLike<number> | undefined, count: number, numClasses: number | undefined, what: string): asserts labels is ArrayLike<number> {
  if (labels === undefined || labels === null) {
    throw new PruneError('INVALID_ARGUMENT', `${what} needs the class label of every example; pass labels (one integer per example)`);
  }
  if (labels.length !== count) {
    throw new PruneError('SHAPE_MISMATCH', `${what}: got ${labels.length} labels for ${count} examples; pass one label per example`);
  }
  for (let i = 0; i < count; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || (numClasses !== undefined && y >= numClasses)) {
      throw new PruneError('OUT_OF_RANGE', `${what}: label ${y} of example ${i} is not a class index${numClasses !== undefined ? ` in [0, ${numClasses})` : ' ≥ 0'}`);
    }
  }
}

/**
 * Number of items a kept fraction keeps: `round(fraction · count)`, at least 1 when `count > 0`.
 * @param fraction - kept fraction in (0, 1]
 * @param count - number of items
 */
export function keptCount(fraction: number, count: number): number {
  if (count === 0) return 0;
  return Math.min(count, Math.max(1, Math.round(fraction * count)));
}
