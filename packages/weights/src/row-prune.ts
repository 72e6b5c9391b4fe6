import { KEY_BUCKETS, PruneError, keyBucket, lowestKeysPivot } from '@prune/core';
import { KIND_GROUPS, KIND_ROWS, runRows } from './row-workers.js';

// Fused host kernels of the row-wise pruners (magnitude per row, Wanda, their N:M forms and
// magnitude's per-matrix threshold): score → select → apply in one pass over each row of a
// row-major float32 matrix, writing the pruned weights (and optionally the keep mask)
// straight into the output. No score matrix and no mask tensor exist in between; the only
// scratch is one row of scores. `out` may be `w` itself (pruning in place).
//
// A score is |w_ij| (magnitude) or |w_ij|·c_j rounded to float32 (Wanda, c = √s), exactly
// the value the tensor ops produce. Scores are non-negative, so their raw float32 bits are
// order keys (see lowestKeysPivot); NaN scores have bits above +Infinity's and are rejected.

const INF_BITS = 0x7f800000;
let scoreRow = new Float32Array(256);
let keyRow = new Int32Array(scoreRow.buffer);
// Columns and keys of the entries in the k-th key's histogram bucket.
let memberRow = new Int32Array(256);
let memberKeyRow = new Int32Array(256);

function scratchRow(n: number): void {
  if (scoreRow.length < n) {
    scoreRow = new Float32Array(Math.max(n, 2 * scoreRow.length));
    keyRow = new Int32Array(scoreRow.buffer);
    memberRow = new Int32Array(scoreRow.length);
    memberKeyRow = new Int32Array(scoreRow.length);
  }
}

function nanScore(op: string, name: string, rows: number, cols: number, r: number, j: number): PruneError {
  return new PruneError(
    'NON_FINITE',
    `${op}: the scores of ${name} [${rows}, ${cols}] contain NaN (row ${r}, column ${j}); NaN scores cannot be ranked — fix the weight or the statistic that produced them`,
  );
}

/** Writes row r's scores into {@link scoreRow}; returns the column of a NaN score, or -1. */
function scoreRowOf(w: Float32Array, base: number, cols: number, scale: Float32Array | undefined): number {
  const s = scoreRow;
  if (scale === undefined) for (let j = 0; j < cols; j++) s[j] = Math.abs(w[base + j]);
  else for (let j = 0; j < cols; j++) s[j] = Math.abs(w[base + j]) * scale[j];
  const keys = keyRow;
  let bad = 0;
  // NaN may carry either sign bit (x86's default NaN is negative).
  for (let j = 0; j < cols; j++) bad |= (keys[j] & 0x7fffffff) > INF_BITS ? 1 : 0;
  if (bad === 0) return -1;
  for (let j = 0; j < cols; j++) if ((keys[j] & 0x7fffffff) > INF_BITS) return j;
  return -1;
}

/** Shape and buffers of one fused pruning call. */
export interface RowPruneArgs {
  /** Row-major float32 weights `[rows, cols]`. */
  readonly w: Float32Array;
  readonly rows: number;
  readonly cols: number;
  /** Per-column score factor c ≥ 0 without -0 (Wanda: √s, float32); undefined for |W|. */
  readonly scale?: Float32Array;
  /** Receives the pruned weights; may be `w`. */
  readonly out: Float32Array;
  /** Receives the keep mask (1 = keep), when given. */
  readonly mask?: Uint8Array;
  /** Function name for messages. */
  readonly op: string;
  /** Layer name for messages. */
  readonly name: string;
}

// The key histogram of the current row, counted in the scoring pass. Only the buckets from
// lowBucket up are touched, and they are cleared after each row, so rows do not pay for
// clearing or scanning all of them.
const counts = new Int32Array(KEY_BUCKETS);
let lowBucket = 0;
// Non-negative keys (every score but NaN with the sign bit) have buckets from here up.
const FIRST_NON_NEGATIVE_BUCKET = keyBucket(0);
// The bucket of +Infinity's key; NaN keys without the sign bit lie in it or above.
const INF_BUCKET = keyBucket(INF_BITS);
// A non-negative key's bucket is its top bits above this shift, offset by FIRST_NON_NEGATIVE_BUCKET.
const BUCKET_SHIFT = 20;

/**
 * Zeroes the buckets the row counted: through its keys when the row is shorter than the
 * span of buckets from {@link lowBucket} up (short rows would otherwise pay for clearing
 * thousands of untouched buckets), else that span at once.
 */
function clearCounts(keys: Int32Array, cols: number): void {
  if (cols < KEY_BUCKETS - lowBucket) for (let j = 0; j < cols; j++) counts[keyBucket(keys[j])] = 0;
  else counts.fill(0, lowBucket);
}

/**
 * Scores row r into {@link scoreRow} and counts the keys' buckets into {@link counts} in the
 * same visit of the row (setting {@link lowBucket}); returns the column of a NaN score, or
 * -1. The counting loop only counts and ORs the keys (a compare per entry costs as much as
 * the rest of it); NaN is looked for afterwards, in the few buckets where it can be.
 */
function scoreRowCounted(w: Float32Array, base: number, cols: number, scale: Float32Array | undefined): number {
  const s = scoreRow;
  const keys = keyRow;
  const hist = counts;
  if (scale === undefined) for (let j = 0; j < cols; j++) s[j] = Math.abs(w[base + j]);
  else for (let j = 0; j < cols; j++) s[j] = Math.abs(w[base + j]) * scale[j];
  // A second loop over the keys: reading them back in the loop that wrote them as floats
  // serialises every entry on the store.
  let minKey = INF_BITS;
  for (let j = 0; j < cols; j++) {
    const key = keys[j];
    hist[keyBucket(key)]++;
    minKey = Math.min(minKey, key);
  }
  // A negative key is a NaN with the sign bit; its bucket is below every other one.
  lowBucket = keyBucket(minKey);
  let suspect = minKey < 0;
  for (let b = INF_BUCKET; b < KEY_BUCKETS && !suspect; b++) suspect = hist[b] !== 0;
  if (!suspect) return -1;
  // Unsigned compare: NaN of either sign bit lands above +Infinity's bits.
  for (let j = 0; j < cols; j++) if (keys[j] >>> 0 > INF_BITS) return j;
  return -1;
}

/**
 * Per row, prunes the `k` lowest scores (ties: lower index first, as a stable sort) — the
 * comparison group of Wanda and of per-row magnitude. Two passes per row: score (with the
 * key histogram), then the output of every entry outside the k-th score's histogram bucket
 * with the bucket's members collected on the way; a selection among those few settles them.
 *
 * @param args - weights, output buffers and names
 * @param k - weights pruned per row, 0 ≤ k ≤ cols
 * @param from - first row to prune (default 0)
 * @param to - end of the rows to prune (default all)
 * @returns the number of weights pruned
 */
export function pruneRowsLowest(args: RowPruneArgs, k: number, from = 0, to = args.rows): number {
  const { w, rows, cols, scale, out, mask, op, name } = args;
  const kk = k < 0 ? 0 : k > cols ? cols : k;
  scratchRow(cols);
  const wBits = bitsOf(w);
  const outBits = bitsOf(out);
  for (let r = from; r < to; r++) {
    const bad = pruneOneRow(w, wBits, r * cols, cols, scale, outBits, mask, kk);
    if (bad >= 0) throw nanScore(op, name, rows, cols, r, bad);
  }
  return (to - from) * kk;
}

function bitsOf(a: Float32Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * One row of {@link pruneRowsLowest} (its own function, so the engine optimises it as a
 * whole rather than as on-stack replacement of the row loop); returns the column of a NaN
 * score, or -1. The output is written as raw bits through int32 views of the weights, with
 * an all-ones or all-zeros mask per entry: no data-dependent branch, which matters because
 * about half the entries of a row go each way at random.
 */
function pruneOneRow(w: Float32Array, wBits: Int32Array, base: number, cols: number, scale: Float32Array | undefined, outBits: Int32Array, mask: Uint8Array | undefined, k: number): number {
  const bad = scoreRowCounted(w, base, cols, scale);
  const keys = keyRow;
  if (bad >= 0 || k === 0 || k === cols) {
    clearCounts(keyRow, cols);
    if (bad >= 0) return bad;
    const keepAll = k === 0;
    if (outBits !== wBits || !keepAll) for (let j = 0; j < cols; j++) outBits[base + j] = keepAll ? wBits[base + j] : 0;
    if (mask !== undefined) mask.fill(keepAll ? 1 : 0, base, base + cols);
    return -1;
  }
  // The bucket holding the k-th lowest key (k from 1), and how many keys lie below it.
  let bucket = lowBucket;
  let below = 0;
  while (below + counts[bucket] < k) below += counts[bucket++];
  clearCounts(keys, cols);
  // One pass writes every entry outside that bucket for good (keys below it pruned, above it
  // kept) and collects the bucket's members, tentatively kept; only they are settled after.
  // Keys are non-negative here, so the bucket's keys are those from `first` to `first + 2^20 − 1`.
  const first = (bucket - FIRST_NON_NEGATIVE_BUCKET) << BUCKET_SHIFT;
  const top = first >>> BUCKET_SHIFT;
  const members = memberRow;
  let m = 0;
  const keepFrom = first - 1;
  if (mask !== undefined) {
    for (let j = 0; j < cols; j++) {
      const key = keys[j];
      // keepFrom − key < 0 ⇔ key ≥ first: no overflow, both are non-negative int32.
      const keep = (keepFrom - key) >> 31;
      outBits[base + j] = wBits[base + j] & keep;
      mask[base + j] = keep & 1;
      if (key >>> BUCKET_SHIFT === top) members[m++] = j;
    }
  } else {
    for (let j = 0; j < cols; j++) {
      const key = keys[j];
      outBits[base + j] = wBits[base + j] & ((keepFrom - key) >> 31);
      if (key >>> BUCKET_SHIFT === top) members[m++] = j;
    }
  }
  // The (k − below) lowest members, ties to the lower index (members are in index order).
  const need = k - below;
  const memberKeys = memberKeyRow;
  for (let t = 0; t < m; t++) memberKeys[t] = keys[members[t]];
  const { pivot, equalTaken } = need === m ? { pivot: 0x7fffffff, equalTaken: 0 } : lowestKeysPivot(memberKeys, m, need);
  let ties = equalTaken;
  for (let t = 0; t < m; t++) {
    const key = memberKeys[t];
    if (key < pivot || (key === pivot && ties-- > 0)) {
      const j = base + members[t];
      outBits[j] = 0;
      if (mask !== undefined) mask[j] = 0;
    }
  }
  return -1;
}

/**
 * N:M: in every group of `group` consecutive columns of a row, prunes the `prune` lowest
 * scores (ties: lower index first).
 *
 * @param args - weights, output buffers and names
 * @param prune - N, weights pruned per group, 0 ≤ N < M
 * @param group - M, which divides cols
 * @param from - first row to prune (default 0)
 * @param to - end of the rows to prune (default all)
 * @returns the number of weights pruned
 */
export function pruneGroupsLowest(args: RowPruneArgs, prune: number, group: number, from = 0, to = args.rows): number {
  const { w, rows, cols, scale, out, mask, op, name } = args;
  scratchRow(cols);
  const s = scoreRow;
  const keys = keyRow;
  for (let r = from; r < to; r++) {
    const base = r * cols;
    const bad = scoreRowOf(w, base, cols, scale);
    if (bad >= 0) throw nanScore(op, name, rows, cols, r, bad);
    for (let g = 0; g < cols; g += group) {
      if (group > 16 && prune > 0) {
        const { pivot, equalTaken } = lowestKeysPivot(keys, group, prune, g);
        let ties = equalTaken;
        for (let j = g; j < g + group; j++) {
          const key = keys[j];
          if (key < pivot || (key === pivot && ties-- > 0)) s[j] = -1;
        }
      } else {
        // Small groups: N passes of "lowest not yet pruned", strict < keeps the lower index.
        for (let t = 0; t < prune; t++) {
          let best = -1;
          let bestKey = 0;
          for (let j = g; j < g + group; j++) {
            const key = keys[j];
            if (key < 0) continue;
            if (best < 0 || key < bestKey) {
              best = j;
              bestKey = key;
            }
          }
          s[best] = -1; // negative bits: marks a pruned entry
        }
      }
    }
    for (let j = 0; j < cols; j++) {
      const pruned = keys[j] < 0;
      out[base + j] = pruned ? 0 : w[base + j];
      if (mask !== undefined) mask[base + j] = pruned ? 0 : 1;
    }
  }
  return ((to - from) * cols * prune) / group;
}

/**
 * {@link pruneRowsLowest} over the whole matrix, across the worker pool when it is large
 * (see `setPruneThreads`); the result is the same bit for bit.
 *
 * @param args - weights, output buffers and names
 * @param k - weights pruned per row, 0 ≤ k ≤ cols
 * @returns the number of weights pruned
 */
export function pruneRows(args: RowPruneArgs, k: number): number {
  runRows(args, { kind: KIND_ROWS, param: k, group: 0 }, (from, to) => pruneRowsLowest(args, k, from, to));
  return args.rows * Math.min(Math.max(k, 0), args.cols);
}

/**
 * {@link pruneGroupsLowest} over the whole matrix, across the worker pool when it is large;
 * the result is the same bit for bit.
 *
 * @param args - weights, output buffers and names
 * @param prune - N, weights pruned per group, 0 ≤ N < M
 * @param group - M, which divides cols
 * @returns the number of weights pruned
 */
export function pruneGroups(args: RowPruneArgs, prune: number, group: number): number {
  runRows(args, { kind: KIND_GROUPS, param: prune, group }, (from, to) => pruneGroupsLowest(args, prune, group, from, to));
  return (args.rows * args.cols * prune) / group;
}

const LOW_BITS = 15;
const LOW_MASK = (1 << LOW_BITS) - 1;

/**
 * Magnitude's per-matrix threshold, exactly: the bits of thr = sorted(|W| flattened)[k]
 * (k from 0), by a two-pass radix select over the float bits of |W| in place — a
 * histogram of the top 16 bits finds the bucket of the k-th value, a histogram of the low
 * 15 bits inside that bucket finds the value. No copy of the matrix is made.
 *
 * @param w - the weights (read only)
 * @param k - position in the ascending order, 0 ≤ k < w.length
 * @returns the raw bits of |thr| (a non-negative float32)
 */
export function absKthBits(w: Float32Array, k: number): number {
  const bits = new Int32Array(w.buffer, w.byteOffset, w.length);
  const n = bits.length;
  const high = new Float64Array(1 << 16);
  for (let i = 0; i < n; i++) high[(bits[i] & 0x7fffffff) >>> LOW_BITS]++;
  let bucket = 0;
  let below = 0;
  while (below + high[bucket] <= k) below += high[bucket++];
  const low = new Float64Array(1 << LOW_BITS);
  for (let i = 0; i < n; i++) {
    const b = bits[i] & 0x7fffffff;
    if (b >>> LOW_BITS === bucket) low[b & LOW_MASK]++;
  }
  let digit = 0;
  while (below + low[digit] <= k) below += low[digit++];
  return (bucket << LOW_BITS) | digit;
}

/**
 * Per-matrix magnitude: prunes every |w| ≤ thr with thr = sorted(|W|)[floor(numel·s)]
 * (the reference's `prune_magnitude`, ties at thr all pruned; s = 0 keeps everything).
 *
 * @param args - weights, output buffers and names (scale is ignored)
 * @param sparsity - s ∈ [0, 1)
 * @returns the number of weights pruned
 */
export function pruneMatrixThreshold(args: RowPruneArgs, sparsity: number): number {
  const { w, rows, cols, out, mask, op, name } = args;
  const n = rows * cols;
  const bits = new Int32Array(w.buffer, w.byteOffset, w.length);
  for (let i = 0; i < n; i++) {
    if ((bits[i] & 0x7fffffff) > INF_BITS) throw nanScore(op, name, rows, cols, Math.floor(i / cols), i % cols);
  }
  if (sparsity === 0 || n === 0) {
    if (out !== w) out.set(w.subarray(0, n));
    mask?.fill(1, 0, n);
    return 0;
  }
  const thr = absKthBits(w, Math.floor(n * sparsity));
  let pruned = 0;
  for (let i = 0; i < n; i++) {
    const cut = (bits[i] & 0x7fffffff) <= thr;
    if (cut) pruned++;
    out[i] = cut ? 0 : w[i];
    if (mask !== undefined) mask[i] = cut ? 0 : 1;
  }
  return pruned;
}
