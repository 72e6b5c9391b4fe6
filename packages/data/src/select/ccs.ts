import { PruneError, Random } from '@prune/core';
import { checkFinite, checkInteger, checkKeepFraction, checkUnitRange, keptCount } from '../internal/validate.js';
import { type HarderIs, hardestFirst } from './policy.js';

/** Options of {@link ccsSelect}. */
export interface CcsOptions {
  /** Fraction of ALL examples to keep, in (0, 1]; at most 1 − β. */
  keep: number;
  /**
   * β: fraction of all examples pruned first, the hardest ones (likely mislabelled or
   * unlearnable), in [0, 1).
   * @defaultValue `0.1`
   */
  hardPruneFraction?: number;
  /**
   * Number of equal-width score strata.
   * @defaultValue `50`
   */
  strata?: number;
  /**
   * Which end of the score is hard.
   * @defaultValue `'higher'`
   */
  harderIs?: HarderIs;
  /**
   * Seed of the sampling inside strata.
   * @defaultValue `0`
   */
  seed?: number;
}

/**
 * The strata budget rule of coverage-centric selection: visit the strata from the smallest
 * to the largest; each gets min(|Sᵢ|, ⌊remaining / strata left⌋). Small strata are kept
 * whole and what they leave goes to the larger ones.
 *
 * @param sizes - examples per stratum
 * @param budget - examples to keep in all
 * @returns examples to keep per stratum (in the order of `sizes`)
 */
export function strataBudgets(sizes: ArrayLike<number>, budget: number): Int32Array {
  checkInteger('budget', budget, 0);
  const order = Array.from({ length: sizes.length }, (_, i) => i).sort((a, b) => sizes[a] - sizes[b] || a - b);
  const out = new Int32Array(sizes.length);
  let remaining = budget;
  order.forEach((s, r) => {
    const avg = Math.floor(remaining / (sizes.length - r));
    const take = Math.min(sizes[s], avg);
    out[s] = take;
    remaining -= take;
  });
  return out;
}

/**
 * Coverage-centric coreset selection (Zheng et al. 2023): prune the β·n hardest examples,
 * split the score range of the rest into equal-width strata, give each stratum a budget by
 * {@link strataBudgets} so that the kept set covers easy, medium and hard examples alike, and
 * sample uniformly inside each stratum.
 *
 * @param scores - one score per example (any difficulty score)
 * @param options - kept fraction, β, strata, hardness direction, seed
 * @returns kept example indices, ascending (round(keep·n) of them unless strata run short)
 * @throws PruneError `OUT_OF_RANGE` when keep or β is outside its range or keep > 1 − β
 */
export function ccsSelect(scores: ArrayLike<number>, options: CcsOptions): Int32Array {
  if (scores === undefined || scores === null || typeof scores.length !== 'number') throw new PruneError('INVALID_ARGUMENT', 'scores must be an array with one number per example');
  checkFinite('the scores', scores);
  checkKeepFraction('keep', options.keep);
  const beta = options.hardPruneFraction ?? 0.1;
  checkUnitRange('hardPruneFraction', beta);
  if (beta >= 1) throw new PruneError('OUT_OF_RANGE', 'hardPruneFraction must be below 1');
  const strata = options.strata ?? 50;
  checkInteger('strata', strata, 1);
  const harderIs = options.harderIs ?? 'higher';
  const n = scores.length;
  const target = keptCount(options.keep, n);
  const pruned = Math.floor(beta * n);
  if (target > n - pruned) {
    throw new PruneError('OUT_OF_RANGE', `keep = ${options.keep} asks for ${target} examples but only ${n - pruned} remain after pruning the β = ${beta} hardest; lower keep or hardPruneFraction`);
  }
  const pool = hardestFirst(scores, Int32Array.from({ length: n }, (_, i) => i), harderIs).subarray(pruned);
  let lo = Infinity;
  let hi = -Infinity;
  for (const i of pool) {
    if (scores[i] < lo) lo = scores[i];
    if (scores[i] > hi) hi = scores[i];
  }
  const width = (hi - lo) / strata;
  const members: number[][] = Array.from({ length: strata }, () => []);
  for (const i of pool) {
    // Equal-width bins over [lo, hi]; the maximum falls in the last bin.
    const s = width > 0 ? Math.min(strata - 1, Math.floor((scores[i] - lo) / width)) : 0;
    members[s].push(i);
  }
  for (const m of members) m.sort((a, b) => a - b);
  const budgets = strataBudgets(members.map((m) => m.length), target);
  const rng = new Random(options.seed ?? 0);
  const kept: number[] = [];
  members.forEach((m, s) => {
    for (const r of rng.sample(m.length, budgets[s])) kept.push(m[r]);
  });
  return Int32Array.from(kept).sort();
}
