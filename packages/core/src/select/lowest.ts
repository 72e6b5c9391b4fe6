import { PruneError } from '../errors.js';
import { select } from '../reference/selection.js';

// Host-side selection on int32 order keys, for pruners that fuse score → select → apply in
// one pass over a row (no score matrix, no mask tensor in between). Keys compare as signed
// int32; for non-negative float32 scores the raw bits are such keys already (IEEE 754 bit
// patterns of non-negative floats are ordered like the values).

const TOP_SHIFT = 20;
const SIGN_BUCKET = 1 << 11;
/** Number of buckets of the key histogram {@link lowestKeysPivot} narrows long rows with. */
export const KEY_BUCKETS = 1 << 12;
// Rows at least this long are narrowed by one histogram pass before Floyd–Rivest runs.
const HISTOGRAM_MIN = 1024;
const histogram = new Int32Array(KEY_BUCKETS);
let work = new Int32Array(1024);

/**
 * The histogram bucket of an order key: its top 12 bits in unsigned order (sign flipped),
 * in [0, {@link KEY_BUCKETS}). A caller that already passes over a row (to compute its
 * keys) can count buckets on the way and hand the histogram to {@link lowestKeysPivot}.
 *
 * @param key - an int32 order key
 * @returns its bucket
 */
export function keyBucket(key: number): number {
  return (key >>> TOP_SHIFT) ^ SIGN_BUCKET;
}

/** Where the k lowest keys of a row end: see {@link lowestKeysPivot}. */
export interface LowestKeysPivot {
  /** The k-th smallest key (k counted from 1). */
  readonly pivot: number;
  /**
   * How many keys equal to `pivot` are among the k lowest: the first `equalTaken` of them
   * in index order (a stable sort's tie rule). Every key below `pivot` is taken too.
   */
  readonly equalTaken: number;
  /** How many keys of the row equal `pivot` (when `equalTaken` equals it, `key ≤ pivot` is the rule). */
  readonly equal: number;
}

/**
 * Finds the boundary of the `k` lowest of `n` int32 order keys — the first k entries of a
 * stable ascending sort — without sorting: entry i is among them when
 * `keys[i] < pivot`, or when `keys[i] === pivot` and it is one of the first `equalTaken`
 * entries equal to `pivot`. O(n) expected: one histogram pass over the top 11 key bits
 * finds the bucket of the k-th key, and only that bucket goes through Floyd–Rivest
 * selection (the radix-select idea of GPU top-k kernels). `keys` is not modified.
 *
 * @param keys - order keys, e.g. the raw bits of non-negative float32 scores
 *   (`new Int32Array(scores.buffer)`); entries `[offset, offset + n)` are used
 * @param n - row length, n ≥ 1
 * @param k - how many lowest entries, 1 ≤ k ≤ n
 * @param offset - first entry of the row in `keys` (default 0)
 * @param counts - optional histogram of the row's {@link keyBucket}s ({@link KEY_BUCKETS}
 *   counts), when the caller counted them already; otherwise rows of 1024 keys or more are
 *   counted here
 * @param firstBucket - with `counts`: a bucket at or below the row's lowest one, where the
 *   search for the k-th key's bucket starts (default 0)
 * @returns the pivot key, how many entries equal to it are taken, and how many there are
 *
 * @example
 * ```ts
 * const scores = new Float32Array([0.3, 0.1, 0.2, 0.1]);
 * lowestKeysPivot(new Int32Array(scores.buffer), 4, 2); // pivot = bits of 0.1, equalTaken 2
 * ```
 */
export function lowestKeysPivot(keys: Int32Array, n: number, k: number, offset = 0, counts?: Int32Array, firstBucket = 0): LowestKeysPivot {
  if (!(keys instanceof Int32Array)) throw new PruneError('INVALID_ARGUMENT', 'lowestKeysPivot: keys must be an Int32Array of order keys');
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(offset) || offset < 0 || offset + n > keys.length) {
    throw new PruneError('OUT_OF_RANGE', `lowestKeysPivot: the row [${offset}, ${offset + n}) must lie inside the ${keys.length} keys and hold at least one`);
  }
  if (!Number.isInteger(k) || k < 1 || k > n) throw new PruneError('OUT_OF_RANGE', `lowestKeysPivot: k must be an integer in [1, n] = [1, ${n}], got ${String(k)}`);
  if (counts !== undefined && (!(counts instanceof Int32Array) || counts.length !== KEY_BUCKETS)) {
    throw new PruneError('INVALID_ARGUMENT', `lowestKeysPivot: counts must be an Int32Array of ${KEY_BUCKETS} bucket counts (keyBucket of each key of the row)`);
  }
  if (work.length < n) work = new Int32Array(Math.max(n, 2 * work.length));
  const w = work;
  let m = 0;
  let below = 0;
  let kk = k - 1;
  const end = offset + n;
  if (n < HISTOGRAM_MIN && counts === undefined) {
    for (let i = offset; i < end; i++) w[m++] = keys[i];
  } else {
    let hist = counts;
    let bucket = 0;
    if (hist === undefined) {
      hist = histogram;
      hist.fill(0);
      for (let i = offset; i < end; i++) hist[(keys[i] >>> TOP_SHIFT) ^ SIGN_BUCKET]++;
    } else if (Number.isInteger(firstBucket) && firstBucket > 0 && firstBucket < KEY_BUCKETS) bucket = firstBucket;
    while (below + hist[bucket] <= kk) below += hist[bucket++];
    const top = bucket ^ SIGN_BUCKET;
    for (let i = offset; i < end; i++) {
      const key = keys[i];
      if (key >>> TOP_SHIFT === top) w[m++] = key;
    }
    kk -= below;
  }
  select(w, kk, 0, m - 1);
  const pivot = w[kk];
  // After selection w[0..kk) ≤ pivot, so every key of the bucket below it is in there.
  for (let i = 0; i < kk; i++) if (w[i] < pivot) below++;
  // Every key equal to the pivot shares its bucket, so all of them are in w[0..m).
  let equal = 0;
  for (let i = 0; i < m; i++) if (w[i] === pivot) equal++;
  if (work.length > 1 << 20) work = new Int32Array(1024);
  return { pivot, equalTaken: k - below, equal };
}
