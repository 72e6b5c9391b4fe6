import { PruneError, Tensor, fromArray } from '@prune/core';

/** Options of {@link wandaVariantMask}. */
export interface WandaVariantOptions {
  /** Target fraction s ∈ [0, 1) of the whole matrix to prune. */
  sparsity: number;
  /**
   * How error messages name the layer.
   * @defaultValue `'scores'`
   */
  name?: string;
}

/** What {@link wandaVariantMask} found. */
export interface WandaVariantResult {
  /** bool KEEP mask `[d_out, d_in]` (true = keep). */
  readonly mask: Tensor<'bool'>;
  /** The α the bisection stopped at. */
  readonly alpha: number;
  /** Pruned fraction of the matrix at that α. */
  readonly sparsity: number;
}

/**
 * The mask of the variant for one α: per row i, with v_i the row sorted ascending and
 * C_i its running sum, keep count c_i = #{k : C_ik ≤ α·Σ_i} (at least 1), threshold
 * thr_i = v_i[c_i − 1], prune `S_ij ≤ thr_i`. Returns the number pruned; fills `pruned`.
 */
function maskForAlpha(
  alpha: number,
  scores: Float32Array,
  sorted: Float32Array,
  cumsum: Float32Array,
  rowSum: Float32Array,
  rows: number,
  cols: number,
  pruned: Uint8Array,
): number {
  // The reference multiplies a float32 row sum by α in float32 (α rounded to float32).
  const a = Math.fround(alpha);
  let count = 0;
  for (let i = 0; i < rows; i++) {
    const limit = Math.fround(rowSum[i] * a);
    const off = i * cols;
    // C is non-decreasing (scores ≥ 0), so the entries ≤ limit form a prefix: binary search.
    let lo = 0;
    let hi = cols;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumsum[off + mid] <= limit) lo = mid + 1;
      else hi = mid;
    }
    const thr = sorted[off + Math.max(lo, 1) - 1];
    for (let j = 0; j < cols; j++) {
      const p = scores[off + j] <= thr ? 1 : 0;
      pruned[off + j] = p;
      count += p;
    }
  }
  return count;
}

/**
 * Wanda's α-variant (`--use_variant` in locuslab/wanda `lib/prune.py`): instead of a fixed
 * count per row, each row prunes its lowest scores until their sum reaches the fraction α of
 * the row's total, with one α for the whole matrix found by bisection so that the pruned
 * fraction of the matrix is s.
 *
 * Exactly the reference protocol: per row sort ascending (v), C = cumsum(v), Σ = row sum;
 * for α, c_i = #{k : C_ik ≤ α·Σ_i} (clamped to ≥ 1), thr_i = v_i[c_i − 1], prune `S ≤ thr_i`.
 * Start at α = 0.4 with the interval [0, 0.8]; while |achieved − s| > 0.001 and the interval
 * is at least 0.001 wide, move α to the midpoint towards s. The running sums are accumulated
 * in float64 and stored as float32 (as PyTorch's CPU cumsum does), comparisons are in float32.
 *
 * Each row is sorted once (O(d log d)); each bisection step is a binary search per row plus
 * one pass over the matrix.
 *
 * @param scores - non-negative float32 scores `[d_out, d_in]` (Wanda's |W|·√s), no NaN
 * @param options - the target sparsity
 * @returns the KEEP mask, α and the achieved sparsity
 */
export function wandaVariantMask(scores: Tensor, options: WandaVariantOptions): WandaVariantResult {
  const op = 'wandaVariantMask';
  const name = options?.name ?? 'scores';
  const s = options?.sparsity;
  if (typeof s !== 'number' || !Number.isFinite(s) || s < 0 || s >= 1) {
    throw new PruneError('OUT_OF_RANGE', `${op}: sparsity must be a number in [0, 1), got ${String(s)}`);
  }
  if (!(scores instanceof Tensor) || scores.dtype !== 'float32' || scores.rank !== 2) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: ${name} must be a float32 [d_out, d_in] tensor`);
  }
  const [rows, cols] = scores.shape;
  const data = scores.dataSync() as Float32Array;
  const sorted = new Float32Array(data.length);
  const cumsum = new Float32Array(data.length);
  const rowSum = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    const off = i * cols;
    const row = data.subarray(off, off + cols);
    let total = 0;
    for (let j = 0; j < cols; j++) {
      const v = row[j];
      if (Number.isNaN(v) || v < 0) {
        throw new PruneError('NON_FINITE', `${op}: ${name} holds ${Number.isNaN(v) ? 'NaN' : 'a negative score'} at [${i}, ${j}]; the variant needs non-negative scores such as |W|·√s`);
      }
      total += v;
    }
    rowSum[i] = total;
    const v = sorted.subarray(off, off + cols);
    v.set(row);
    v.sort();
    let c = 0;
    for (let j = 0; j < cols; j++) {
      c += v[j];
      cumsum[off + j] = c;
    }
  }
  const numel = rows * cols;
  const pruned = new Uint8Array(numel);
  const achieved = (count: number): number => (numel === 0 ? 0 : Math.fround(count / numel));
  const target = Math.fround(s);
  const tolerance = Math.fround(0.001);
  let alpha = 0.4;
  let low = 0;
  let high = 0.8;
  let current = achieved(maskForAlpha(alpha, data, sorted, cumsum, rowSum, rows, cols, pruned));
  while (Math.abs(Math.fround(current - target)) > tolerance && high - low >= 0.001) {
    if (current > target) {
      const next = (alpha + low) / 2;
      high = alpha;
      alpha = next;
    } else {
      const next = (alpha + high) / 2;
      low = alpha;
      alpha = next;
    }
    current = achieved(maskForAlpha(alpha, data, sorted, cumsum, rowSum, rows, cols, pruned));
  }
  const keep = new Uint8Array(numel);
  for (let i = 0; i < numel; i++) keep[i] = 1 - pruned[i];
  return { mask: fromArray(keep, [rows, cols], 'bool', { backend: scores.backend }), alpha, sparsity: current };
}
