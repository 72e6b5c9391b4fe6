import { PruneError } from '@prune/core';
import type { SparsityTarget } from './method.js';

/**
 * An unstructured target: prune the fraction `sparsity` of each comparison group.
 *
 * @param sparsity - s ∈ [0, 1)
 * @returns `{ kind: 'unstructured', sparsity }`
 */
export function unstructured(sparsity: number): SparsityTarget {
  return checkTarget('unstructured', { kind: 'unstructured', sparsity });
}

/**
 * An N:M target in the Wanda reference's sense: in every group of `group` consecutive input
 * weights of a row, `prune` are pruned (so `group − prune` are kept). NVIDIA's "2:4" (keep 2
 * of 4) is `nm(2, 4)`; "keep 1 of 4" is `nm(3, 4)`.
 *
 * @param prune - weights pruned per group, 0 < prune < group
 * @param group - group size M
 * @returns `{ kind: 'nm', prune, group }`
 */
export function nm(prune: number, group: number): SparsityTarget {
  return checkTarget('nm', { kind: 'nm', prune, group });
}

/**
 * Validates a {@link SparsityTarget}: an unstructured sparsity is a finite number in [0, 1);
 * an N:M target has integers 0 < prune < group.
 *
 * @param op - the caller, for messages
 * @param target - the value to check
 * @returns the target, typed
 * @throws PruneError `INVALID_ARGUMENT` for a malformed target, `OUT_OF_RANGE` for values
 *   outside the ranges above
 */
export function checkTarget(op: string, target: unknown): SparsityTarget {
  if (target === null || typeof target !== 'object') {
    throw new PruneError('INVALID_ARGUMENT', `${op}: target must be { kind: 'unstructured', sparsity } or { kind: 'nm', prune, group }, got ${String(target)}`);
  }
  const t = target as Record<string, unknown>;
  if (t.kind === 'unstructured') {
    const s = t.sparsity;
    if (typeof s !== 'number' || !Number.isFinite(s) || s < 0 || s >= 1) {
      throw new PruneError('OUT_OF_RANGE', `${op}: sparsity must be a number in [0, 1) (the fraction of weights to prune), got ${String(s)}`);
    }
    return { kind: 'unstructured', sparsity: s };
  }
  if (t.kind === 'nm') {
    const { prune, group } = t;
    if (typeof prune !== 'number' || typeof group !== 'number' || !Number.isInteger(prune) || !Number.isInteger(group)) {
      throw new PruneError('INVALID_ARGUMENT', `${op}: an N:M target needs integers prune and group, got ${String(prune)}:${String(group)}`);
    }
    if (group < 2 || prune <= 0 || prune >= group) {
      throw new PruneError(
        'OUT_OF_RANGE',
        `${op}: N:M needs 0 < N < M (N weights pruned in every group of M), got ${prune}:${group}; e.g. 2:4 or 4:8`,
      );
    }
    return { kind: 'nm', prune, group };
  }
  throw new PruneError('INVALID_ARGUMENT', `${op}: target.kind must be 'unstructured' or 'nm', got ${String(t.kind)}`);
}

/**
 * Checks that an N:M target fits a layer: its input dimension must be a multiple of M.
 *
 * @param op - the caller, for messages
 * @param target - a validated target
 * @param name - the layer's name
 * @param dIn - the layer's input dimension
 * @throws PruneError `SHAPE_MISMATCH` naming the layer
 */
export function checkTargetFits(op: string, target: SparsityTarget, name: string, dIn: number): void {
  if (target.kind === 'nm' && dIn % target.group !== 0) {
    throw new PruneError(
      'SHAPE_MISMATCH',
      `${op}: layer ${name} has d_in = ${dIn} inputs, not a multiple of M = ${target.group}; N:M needs whole groups — choose an M that divides ${dIn} or prune this model unstructured`,
    );
  }
}

/**
 * A short label of a target for reports and tables: `unstructured 50%` or `2:4` (N pruned
 * of every M).
 *
 * @param target - a validated target
 * @returns the label
 */
export function describeTarget(target: SparsityTarget): string {
  return target.kind === 'nm' ? `${target.prune}:${target.group}` : `unstructured ${+(target.sparsity * 100).toFixed(4)}%`;
}
