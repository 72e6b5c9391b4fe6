import { PruneError, type Tensor } from '@prune/core';

/**
 * Number of patch tokens kept for a keep ratio: `round(ratio · count)`, at least 1.
 * @param count - number of patch tokens N (the CLS token is not counted)
 * @param ratio - fraction of patch tokens to keep, in (0, 1]
 * @returns the budget N′
 */
export function keepCount(count: number, ratio: number): number {
  checkCount('keepCount', count);
  if (!(ratio > 0 && ratio <= 1)) {
    throw new PruneError('OUT_OF_RANGE', `keepCount: ratio ${ratio} is outside (0, 1]; pass the fraction of tokens to keep, e.g. 0.33`);
  }
  return Math.max(1, Math.round(ratio * count));
}

/**
 * Indices of the `k` largest scores, sorted ascending by position. Ties go to the lower
 * index, so the selection is deterministic.
 * @param scores - one score per token
 * @param k - how many to keep, 0 ≤ k ≤ scores.length
 * @returns the kept positions, ascending
 */
export function topKIndices(scores: ArrayLike<number>, k: number): Int32Array {
  const n = scores.length;
  if (!Number.isInteger(k) || k < 0 || k > n) {
    throw new PruneError('OUT_OF_RANGE', `topKIndices: k = ${k} must be an integer in [0, ${n}] (the number of scored tokens)`);
  }
  const order = rankDescending(scores);
  return Int32Array.from(order.subarray(0, k)).sort();
}

/**
 * Positions ordered by descending score (ties: lower position first).
 * @param scores - one score per token
 * @returns a permutation of `0..n-1`
 */
export function rankDescending(scores: ArrayLike<number>): Int32Array {
  const n = scores.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) {
      throw new PruneError('NON_FINITE', `rankDescending: score ${i} is NaN; check the attention maps or features that produced the scores`);
    }
    order[i] = i;
  }
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order;
}

/**
 * Prepends the CLS token to kept patch indices: patch `p` is token `p + 1`, CLS is token 0.
 * @param patchIndices - kept patch positions in [0, N)
 * @returns token indices `[0, p₀ + 1, p₁ + 1, …]`
 */
export function withClsToken(patchIndices: ArrayLike<number>): Int32Array {
  const out = new Int32Array(patchIndices.length + 1);
  for (let i = 0; i < patchIndices.length; i++) out[i + 1] = patchIndices[i] + 1;
  return out;
}

/** @internal */
export function checkCount(where: string, count: number): void {
  if (!Number.isInteger(count) || count < 1) {
    throw new PruneError('INVALID_ARGUMENT', `${where}: token count ${count} must be a positive integer`);
  }
}

/** @internal */
export function checkKeep(where: string, keep: number, count: number): void {
  if (!Number.isInteger(keep) || keep < 0 || keep > count) {
    throw new PruneError('OUT_OF_RANGE', `${where}: keep = ${keep} must be an integer in [0, ${count}] (the number of patch tokens); use keepCount(count, ratio) for a ratio`);
  }
}

/** @internal Reads a float32 tensor of the given rank and returns its data. */
export function readFloat(where: string, name: string, t: Tensor, rank: number): Float32Array {
  if (t.dtype !== 'float32') {
    throw new PruneError('DTYPE_MISMATCH', `${where}: ${name} has dtype ${t.dtype}; pass a float32 tensor`);
  }
  if (t.rank !== rank) {
    throw new PruneError('SHAPE_MISMATCH', `${where}: ${name} has shape [${t.shape.join(', ')}]; expected rank ${rank}`);
  }
  return t.dataSync() as Float32Array;
}

/** @internal Checks that a grid holds the patch tokens. */
export function checkGrid(where: string, count: number, gridWidth: number, gridHeight?: number): void {
  if (!Number.isInteger(gridWidth) || gridWidth < 1) {
    throw new PruneError('INVALID_ARGUMENT', `${where}: gridWidth ${gridWidth} must be a positive integer (patches per row)`);
  }
  const h = gridHeight ?? count / gridWidth;
  if (!Number.isInteger(h) || h * gridWidth !== count) {
    throw new PruneError('SHAPE_MISMATCH', `${where}: ${count} patch tokens do not fill a grid of width ${gridWidth}${gridHeight === undefined ? '' : ` and height ${gridHeight}`}; pass the patch grid of the model (drop the CLS token first)`);
  }
}
