import { PruneError, Random } from '@prune/core';
import { capAllocation } from '../curation/hierarchical.js';
import { checkFinite, checkKeepFraction, checkLabels, checkUnitRange, keptCount } from '../internal/validate.js';

/** Which end of a score is hard: `'higher'` for EL2N, GraNd, forgetting, prototype distance; `'lower'` for AUM. */
export type HarderIs = 'higher' | 'lower';

/**
 * Which examples a score-based selection keeps: the hardest, the easiest, or the hardest
 * after skipping the very hardest `offset` fraction (Paul et al.: the very hardest are
 * often mislabelled).
 */
export type SelectionPolicy = 'hard' | 'easy' | 'offset';

/** Options of {@link selectByScore}. */
export interface ScoreSelectionOptions {
  /** Fraction of the examples to keep, in (0, 1]. */
  keep: number;
  /**
   * Keep the hardest, the easiest, or the hardest after an offset.
   * @defaultValue `'hard'`
   */
  policy?: SelectionPolicy;
  /**
   * For `policy: 'offset'`: fraction of the hardest examples skipped before keeping, in [0, 1).
   * When offset + keep exceeds 1, the window ends at the easiest example.
   * @defaultValue `0.1`
   */
  offset?: number;
  /**
   * Which end of the score is hard.
   * @defaultValue `'higher'`
   */
  harderIs?: HarderIs;
  /**
   * Class balance of the kept set: `'none'` ranks all examples together, `'proportional'`
   * keeps the same fraction of every class (class ratios unchanged), `'equal'` gives the
   * classes equal budgets by the cap search ({@link capAllocation}), whole classes for the
   * small ones. Both need `labels`.
   * @defaultValue `'none'`
   */
  classBalance?: 'none' | 'proportional' | 'equal';
  /** Class label of every example (needed for class balance). */
  labels?: ArrayLike<number>;
  /**
   * Seed of the tie-breaking random choices of `'equal'` balance.
   * @defaultValue `0`
   */
  seed?: number;
}

/**
 * Indices of `items` ordered from hardest to easiest (ties: lower index first).
 * @param scores - the scores
 * @param items - the indices to order
 * @param harderIs - which end is hard
 */
export function hardestFirst(scores: ArrayLike<number>, items: ArrayLike<number>, harderIs: HarderIs): Int32Array {
  const order = Int32Array.from(items);
  const sign = harderIs === 'higher' ? -1 : 1;
  order.sort((a, b) => sign * (scores[a] - scores[b]) || a - b);
  return order;
}

function pick(order: Int32Array, k: number, policy: SelectionPolicy, offset: number): Int32Array {
  const n = order.length;
  if (policy === 'hard') return order.subarray(0, k);
  if (policy === 'easy') return order.subarray(n - k);
  const start = Math.min(Math.floor(offset * n), n - k);
  return order.subarray(start, start + k);
}

/** Largest-remainder split of `total` proportional to `sizes`, never above a size. */
function proportional(sizes: readonly number[], total: number): number[] {
  const all = sizes.reduce((a, b) => a + b, 0);
  const raw = sizes.map((s) => (s * total) / all);
  const out = raw.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => i).sort((a, b) => raw[b] - out[b] - (raw[a] - out[a]) || a - b);
  for (const i of order) {
    if (left === 0) break;
    if (out[i] < sizes[i]) {
      out[i]++;
      left--;
    }
  }
  return out;
}

function checkScores(scores: ArrayLike<number>): void {
  if (scores === undefined || scores === null || typeof scores.length !== 'number') {
    throw new PruneError('INVALID_ARGUMENT', 'scores must be an array with one number per example');
  }
  checkFinite('the scores', scores);
}

/**
 * Score-based selection: keep `round(keep·n)` examples by policy (hardest, easiest, or
 * hardest after an offset), optionally class-balanced.
 *
 * @param scores - one score per example
 * @param options - kept fraction, policy, hardness direction, class balance
 * @returns kept example indices, ascending
 * @throws PruneError `OUT_OF_RANGE` for a kept fraction outside (0, 1], `INVALID_ARGUMENT`
 *   when class balance is asked for without labels
 */
export function selectByScore(scores: ArrayLike<number>, options: ScoreSelectionOptions): Int32Array {
  checkScores(scores);
  checkKeepFraction('keep', options.keep);
  const policy = options.policy ?? 'hard';
  if (policy !== 'hard' && policy !== 'easy' && policy !== 'offset') throw new PruneError('INVALID_ARGUMENT', `policy must be 'hard', 'easy' or 'offset', got "${String(policy)}"`);
  const offset = options.offset ?? 0.1;
  checkUnitRange('offset', offset);
  const harderIs = options.harderIs ?? 'higher';
  if (harderIs !== 'higher' && harderIs !== 'lower') throw new PruneError('INVALID_ARGUMENT', `harderIs must be 'higher' or 'lower', got "${String(harderIs)}"`);
  const balance = options.classBalance ?? 'none';
  const n = scores.length;
  const total = keptCount(options.keep, n);
  let kept: number[];
  if (balance === 'none') {
    kept = Array.from(pick(hardestFirst(scores, Int32Array.from({ length: n }, (_, i) => i), harderIs), total, policy, offset));
  } else if (balance === 'proportional' || balance === 'equal') {
    checkLabels(options.labels, n, undefined, `classBalance: '${balance}'`);
    const labels = options.labels;
    const classes = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const list = classes.get(labels[i]);
      if (list) list.push(i);
      else classes.set(labels[i], [i]);
    }
    const keys = [...classes.keys()].sort((a, b) => a - b);
    const sizes = keys.map((c) => classes.get(c)!.length);
    const quota = balance === 'proportional' ? proportional(sizes, total) : Array.from(capAllocation(sizes, total, new Random(options.seed ?? 0)).allocation);
    kept = [];
    keys.forEach((c, ci) => {
      if (quota[ci] === 0) return;
      kept.push(...pick(hardestFirst(scores, classes.get(c)!, harderIs), quota[ci], policy, offset));
    });
  } else {
    throw new PruneError('INVALID_ARGUMENT', `classBalance must be 'none', 'proportional' or 'equal', got "${String(balance)}"`);
  }
  return Int32Array.from(kept).sort();
}
