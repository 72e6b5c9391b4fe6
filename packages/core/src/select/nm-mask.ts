import { PruneError } from '../errors.js';
import { logicalNot } from '../ops/elementwise.js';
import { reshape } from '../ops/layout.js';
import { selectMask } from '../ops/selection.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { checkName, checkOptions, checkScores } from './validate.js';

/**
 * What `n` counts in {@link nmMask}. Papers disagree: NVIDIA's "2:4" keeps 2 of every 4,
 * the Wanda reference's `prune_n=2, prune_m=4` prunes 2 of every 4 (the same pattern at
 * 2:4, different at 1:4), so the API makes it explicit.
 */
export type NMMode = 'keep' | 'prune';

/** Options of {@link nmMask}. */
export interface NMMaskOptions {
  /** Entries per group kept (`mode: 'keep'`) or pruned (`mode: 'prune'`), 0 ≤ n < m. */
  n: number;
  /** Group size: m consecutive entries along the last axis (which m must divide). */
  m: number;
  /** Whether `n` counts kept or pruned entries. No default: say which you mean. */
  mode: NMMode;
  /**
   * How error messages name the score tensor.
   * @defaultValue `'scores'`
   */
  name?: string;
}

function checkCount(op: string, what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: ${what} must be an integer, got ${String(value)}`);
  }
  return value;
}

/**
 * N:M semi-structured mask (NVIDIA sparse tensor cores; Wanda and SparseGPT N:M mode): in
 * every group of m consecutive entries along the last axis (the input dimension), keep n
 * (`mode: 'keep'`) or prune n (`mode: 'prune'`). The lowest scores in a group are pruned;
 * equal scores are pruned lower index first, as a stable ascending sort orders them (the
 * Wanda reference's `torch.topk(largest=False)` per group leaves tie order unspecified).
 *
 * @param scores - importance scores (float32 or int32, rank ≥ 1, no NaN), last axis a
 *   multiple of m
 * @param options - n, m and the mode
 * @returns bool KEEP mask of `scores`' shape: true = keep
 *
 * @example
 * ```ts
 * // 2:4 in NVIDIA's sense: keep the 2 largest of every 4
 * nmMask(tensor([[0.1, 0.9, 0.5, 0.2]]), { n: 2, m: 4, mode: 'keep' }); // [[false, true, true, false]]
 * ```
 */
export function nmMask(scores: Tensor, options: NMMaskOptions): Tensor<'bool'> {
  const op = 'nmMask';
  checkOptions(op, options, "{ n: 2, m: 4, mode: 'keep' }");
  const n = checkCount(op, 'n', options.n);
  const m = checkCount(op, 'm', options.m);
  if (options.mode !== 'keep' && options.mode !== 'prune') {
    throw new PruneError(
      'INVALID_ARGUMENT',
      `${op}: mode must be 'keep' (n entries of each group survive, NVIDIA's 2:4) or 'prune' (n entries of each group are zeroed, the Wanda reference's prune_n), got ${String(options.mode)}`,
    );
  }
  if (m < 1) throw new PruneError('OUT_OF_RANGE', `${op}: group size m must be at least 1, got ${m}`);
  if (n < 0 || n >= m) {
    throw new PruneError('OUT_OF_RANGE', `${op}: n must be in [0, m) = [0, ${m}) so that each group keeps and prunes something meaningful, got n = ${n}`);
  }
  const name = checkName(op, options.name, 'scores');
  checkScores(op, scores, name);
  const d = scores.shape[scores.rank - 1];
  if (d % m !== 0) {
    throw new PruneError(
      'SHAPE_MISMATCH',
      `${op}: the last axis of ${name} [${scores.shape.join(', ')}] has ${d} entries, not a multiple of m = ${m}; N:M needs whole groups — choose an m that divides ${d}`,
    );
  }
  const prunedPerGroup = options.mode === 'prune' ? n : m - n;
  return tidy(() => {
    const groups = reshape(scores, [...scores.shape.slice(0, -1), d / m, m]);
    const pruned = selectMask(groups, { k: prunedPerGroup, largest: false });
    return reshape(logicalNot(pruned), scores.shape);
  });
}
