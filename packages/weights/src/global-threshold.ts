import { PruneError, type Tensor } from '@prune/core';

// Exact k-th smallest value over many tensors in O(65 536) memory: two radix passes over
// order-preserving 32-bit keys of the float32 scores (high 16 bits, then low 16 bits).

const BUCKETS = 1 << 16;

/** Maps a float32 bit pattern to an unsigned key whose order is the numeric order. */
function orderKey(bits: number): number {
  return (bits & 0x80000000) !== 0 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
}

/** Inverse of {@link orderKey}: the float32 value of `key`. */
function valueOfKey(key: number): number {
  const bits = (key & 0x80000000) !== 0 ? key & 0x7fffffff : ~key >>> 0;
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits);
  return view.getFloat32(0);
}

/** A source of score tensors that can be walked more than once (one walk per radix pass). */
export type ScoreWalk = () => AsyncIterable<Tensor> | Iterable<Tensor>;

/** Runs `visit` over every element of every tensor the walk yields; disposes nothing it did not make. */
async function forEachKey(walk: ScoreWalk, dispose: boolean, visit: (key: number) => void): Promise<number> {
  let total = 0;
  for await (const t of walk()) {
    if (t.dtype !== 'float32') {
      throw new PruneError('DTYPE_MISMATCH', `globalScoreThreshold: scores must be float32, got ${t.dtype}`);
    }
    const data = t.dataSync() as Float32Array;
    if (dispose) t.dispose();
    const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < bits.length; i++) {
      if (Number.isNaN(data[i])) {
        throw new PruneError('NON_FINITE', 'globalScoreThreshold: a score is NaN; NaN scores cannot be ranked — check the weights for NaN');
      }
      visit(orderKey(bits[i]));
    }
    total += data.length;
  }
  return total;
}

/** Options of {@link globalScoreThreshold}. */
export interface GlobalScoreThresholdOptions {
  /** Fraction s ∈ [0, 1) that places the shared threshold at sorted position floor(N·s). */
  sparsity: number;
  /**
   * Whether the walk yields fresh tensors the threshold search should dispose once read
   * (e.g. `|W|` computed per layer), rather than tensors the caller keeps.
   * @defaultValue false
   */
  disposeScores?: boolean;
}

/**
 * The shared threshold of global magnitude pruning, computed without pooling the scores:
 * thr = sorted(all scores)[floor(N·s)] (0-based, N = total number of scores), the value
 * the reference's per-matrix rule (locuslab/wanda `prune_magnitude`) would pick if
 * every prunable matrix were one. Pruning `S ≤ thr` everywhere then gives global magnitude.
 *
 * The walk is called twice (a radix selection on the float32 bit patterns: a histogram of
 * the high 16 bits, then of the low 16 bits inside the chosen bucket), so memory stays at
 * two 65 536-entry histograms however large the model is. The result is exact.
 *
 * @param walk - yields every score tensor (float32, no NaN); called twice, must yield the
 *   same values both times
 * @param options - the sparsity s
 * @returns thr, or `undefined` when s = 0 or there are no scores (nothing is pruned)
 *
 * @example
 * ```ts
 * const thr = await globalScoreThreshold(() => weights.map((w) => abs(w)), { sparsity: 0.5, disposeScores: true });
 * ```
 */
export async function globalScoreThreshold(walk: ScoreWalk, options: GlobalScoreThresholdOptions): Promise<number | undefined> {
  const s = options?.sparsity;
  if (typeof s !== 'number' || !Number.isFinite(s) || s < 0 || s >= 1) {
    throw new PruneError('OUT_OF_RANGE', `globalScoreThreshold: sparsity must be a number in [0, 1), got ${String(s)}`);
  }
  if (typeof walk !== 'function') {
    throw new PruneError('INVALID_ARGUMENT', 'globalScoreThreshold: walk must be a function returning an iterable of score tensors (it is called twice)');
  }
  const dispose = options.disposeScores ?? false;
  const high = new Float64Array(BUCKETS);
  const total = await forEachKey(walk, dispose, (key) => {
    high[key >>> 16]++;
  });
  if (s === 0 || total === 0) return undefined;
  let rank = Math.floor(total * s); // 0-based position of thr in the sorted scores
  let bucket = 0;
  while (rank >= high[bucket]) rank -= high[bucket++];
  const low = new Float64Array(BUCKETS);
  let second = 0;
  await forEachKey(walk, dispose, (key) => {
    if (key >>> 16 === bucket) {
      low[key & 0xffff]++;
      second++;
    }
  });
  if (second !== high[bucket]) {
    throw new PruneError('INVALID_ARGUMENT', 'globalScoreThreshold: the walk yielded different scores on its second pass; it must yield the same tensors each time');
  }
  let lowKey = 0;
  while (rank >= low[lowKey]) rank -= low[lowKey++];
  return valueOfKey(((bucket << 16) | lowKey) >>> 0);
}
