import type { DType } from '../dtype.js';
import { PruneError } from '../errors.js';
import { max } from '../ops/reduce.js';
import { Tensor } from '../tensor.js';

// Checks shared by every mask primitive, so they all reject bad input the same way.

const SCORE_DTYPES: readonly DType[] = ['float32', 'int32'];

/** Checks that `sparsity` is a finite number in [0, 1); returns it. */
export function checkSparsity(op: string, sparsity: unknown): number {
  if (typeof sparsity !== 'number' || !Number.isFinite(sparsity) || sparsity < 0 || sparsity >= 1) {
    throw new PruneError(
      'OUT_OF_RANGE',
      `${op}: sparsity must be a finite number in [0, 1) (the fraction of entries to prune), got ${String(sparsity)}`,
    );
  }
  return sparsity;
}

/** Checks that `options` is an object (so `options.x` can be read). */
export function checkOptions(op: string, options: unknown, example: string): asserts options is Record<string, unknown> {
  if (options === null || typeof options !== 'object') {
    throw new PruneError('INVALID_ARGUMENT', `${op}: needs an options object such as ${example}`);
  }
}

/** Checks that `name` is a string when given; returns the label used in messages. */
export function checkName(op: string, name: unknown, fallback: string): string {
  if (name === undefined) return fallback;
  if (typeof name !== 'string') throw new PruneError('INVALID_ARGUMENT', `${op}: name must be a string, got ${typeof name}`);
  return name;
}

/**
 * Checks a score tensor: a float32 or int32 {@link Tensor} of rank ≥ 1 without NaN
 * (a NaN score has no rank, so no mask built from it would mean anything).
 * @param op - the calling function, for messages
 * @param scores - the value to check
 * @param name - how messages name the tensor
 */
export function checkScores(op: string, scores: unknown, name: string): asserts scores is Tensor {
  if (!(scores instanceof Tensor)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: ${name} must be a Tensor, got ${scores === null ? 'null' : typeof scores}`);
  }
  if (!SCORE_DTYPES.includes(scores.dtype)) {
    throw new PruneError('DTYPE_MISMATCH', `${op}: ${name} must be float32 or int32 scores, got ${scores.dtype}; cast it with cast(x, 'float32')`);
  }
  if (scores.rank === 0) {
    throw new PruneError('OUT_OF_RANGE', `${op}: ${name} is a scalar; masks need rank ≥ 1 (one row per output neuron along the last axis), so reshape it to [1] first`);
  }
  if (scores.dtype === 'float32' && scores.size > 0) {
    // max() propagates NaN, so one reduction tells whether any element is NaN.
    const m = max(scores);
    const top = m.dataSync()[0];
    m.dispose();
    if (Number.isNaN(top)) {
      throw new PruneError(
        'NON_FINITE',
        `${op}: ${name} [${scores.shape.join(', ')}] contains NaN; NaN scores cannot be ranked — fix the statistic that produced them or replace them, e.g. where(isNaN(s), 0, s)`,
      );
    }
  }
}
