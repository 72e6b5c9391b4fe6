import { KEY_BUCKETS, PruneError, keyBucket, lowestKeysPivot } from '@prune/core';
import { KIND_GROUPS, KIND_ROWS, runRows } from './row-workers.js';
import { ADD, AND, BLOCK, END, EQ, F32_ABS, F32_MUL, F32X4_MUL, GE_S, GE_U, IF, LOAD_F32, LOAD_I32, LOOP, LT_S, LT_U, OR, REINTERPRET, SELECT, SHL, SHR_S, SHR_U, STORE8, STORE_I32, SUB, XOR, assembleModule, br, brIf, reserveMemory, get, i32, set, simd, tee } from '@prune/core/wasm';

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
  const kk = k < 0 ? 0 : k > args.cols ? args.cols : k;
  if (kk > 0 && kk < args.cols && to > from && pruneRowsWasm(args, kk, from, to)) return (to - from) * kk;
  return pruneRowsScalar(args, kk, from, to);
}

/** {@link pruneRowsLowest} in plain JS (k already clamped to [0, cols]). */
function pruneRowsScalar(args: RowPruneArgs, kk: number, from: number, to: number): number {
  const { w, rows, cols, scale, out, mask, op, name } = args;
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

// The row kernel of pruneRowsLowest in WebAssembly, for the passes over every entry: scores
// and their histogram, the k-th key's bucket, the output and mask with the bucket's members
// collected (and the histogram cleared on the way). The few members per row are then settled
// here in JS, as in pruneOneRow. A float32 product |w|·c is the double product rounded
// once, so the keys are those of the JS kernel, and the results are identical bit for bit.
// The module is assembled here from its bytes (nothing to ship or fetch); where WebAssembly
// is missing the JS kernel runs.

/** Weights per kernel call: the chunk of rows copied into the kernel's memory at once. */
const WASM_CHUNK = 1 << 17;
const HIST_BYTES = 4 * KEY_BUCKETS;

// Parameters of rows(): byte pointers into the memory, and counts.
const W = 0; // the chunk's rows, pruned in place
const ROWS = 1;
const COLS = 2;
const K = 3;
const SCALE = 4;
const MASK = 5;
const KEYS = 6; // one row of keys
const HIST = 7;
const MEMBERS = 8; // columns of every row's bucket members, row after row
const MEMBER_KEYS = 9; // their keys, at the same index
const INFO = 10; // per row: first member, member count, members to prune
// Locals.
const R = 11;
const JB = 12;
const ROW_BYTES = 13;
const KEY = 14;
const MIN_KEY = 15;
const BUCKET = 16;
const BELOW = 17;
const KEEP_FROM = 18;
const TOP = 19;
const MP = 20;
const M_START = 21;
const AT = 22;
const KEEP = 23;
const J = 24;
const MASK_ROW = 25;
const COUNT = 26;
const KEY_DELTA = 27;
const LOCALS = 17;

/** `hist + 4·keyBucket(key)` for the key in local {@link KEY}. */
const bucketAddress = (): number[] => [...get(HIST), ...get(KEY), ...i32(BUCKET_SHIFT), SHR_U, ...i32(FIRST_NON_NEGATIVE_BUCKET), XOR, ...i32(2), SHL, ADD];

/** Finds the bucket of the k-th lowest key (from the row's lowest, MIN_KEY), and BELOW, the keys under it. */
function findBucket(): number[] {
  return [
    ...get(MIN_KEY), ...i32(BUCKET_SHIFT), SHR_U, ...i32(FIRST_NON_NEGATIVE_BUCKET), XOR, ...set(BUCKET),
    ...i32(0), ...set(BELOW),
    ...BLOCK, ...LOOP,
    ...get(BELOW), ...get(HIST), ...get(BUCKET), ...i32(2), SHL, ADD, ...LOAD_I32(), ADD, ...tee(COUNT), ...get(K), GE_S, ...brIf(1),
    ...get(COUNT), ...set(BELOW),
    ...get(BUCKET), ...i32(1), ADD, ...set(BUCKET),
    ...br(0),
    END, END,
  ];
}

/** Records a finished row's members in INFO: first member, member count, members to prune. */
function rowInfo(): number[] {
  return [
    ...get(INFO), ...get(M_START), ...get(MEMBERS), SUB, ...i32(2), SHR_U, ...STORE_I32(0),
    ...get(INFO), ...get(MP), ...get(M_START), SUB, ...i32(2), SHR_U, ...STORE_I32(4),
    ...get(INFO), ...get(K), ...get(BELOW), SUB, ...STORE_I32(8),
    ...get(INFO), ...i32(12), ADD, ...set(INFO),
  ];
}

/** The kernels' code: set up the running pointers, run `perRow` on every row, return ROWS. */
function rowLoop(perRow: number[]): number[] {
  return [
    ...get(COLS), ...i32(2), SHL, ...set(ROW_BYTES),
    ...get(MASK), ...set(MASK_ROW),
    ...get(MEMBERS), ...set(MP),
    ...get(MEMBER_KEYS), ...get(MEMBERS), SUB, ...set(KEY_DELTA),
    ...i32(0), ...set(R),
    ...BLOCK, ...LOOP,
    ...get(R), ...get(ROWS), GE_U, ...brIf(1),
    ...perRow,
    ...get(W), ...get(ROW_BYTES), ADD, ...set(W),
    ...get(MASK_ROW), ...get(COLS), ADD, ...set(MASK_ROW),
    ...get(R), ...i32(1), ADD, ...set(R),
    ...br(0),
    END, END,
    ...get(ROWS),
    END,
  ];
}

/** The body of `rows`, the kernel for any row length, one entry at a time. */
function scalarRowsBody(): number[] {
  const scoreAndCount = [
    ...i32(INF_BITS), ...set(MIN_KEY),
    ...i32(0), ...set(JB),
    ...LOOP,
    // keys[j] = bits(|w_j| · c_j)
    ...get(KEYS), ...get(JB), ADD,
    ...get(W), ...get(JB), ADD, ...LOAD_F32(), F32_ABS,
    ...get(SCALE), ...get(JB), ADD, ...LOAD_F32(), F32_MUL, REINTERPRET,
    ...tee(KEY), ...STORE_I32(),
    // hist[bucket(key)]++
    ...bucketAddress(), ...tee(AT), ...get(AT), ...LOAD_I32(), ...i32(1), ADD, ...STORE_I32(),
    ...get(KEY), ...get(MIN_KEY), ...get(KEY), ...get(MIN_KEY), LT_S, SELECT, ...set(MIN_KEY),
    ...get(JB), ...i32(4), ADD, ...tee(JB), ...get(ROW_BYTES), LT_U, ...brIf(0),
    END,
  ];
  // A NaN key is negative (sign bit) or in a bucket from +Infinity's up: clear the histogram
  // and return the row, for the JS kernel to report.
  const infBuckets = Array.from({ length: KEY_BUCKETS - INF_BUCKET }, (_, b) => [...get(HIST), ...LOAD_I32(4 * (INF_BUCKET + b)), OR]).flat();
  const nanCheck = [
    ...get(MIN_KEY), ...i32(0), LT_S, ...infBuckets,
    ...IF,
    ...i32(0), ...set(JB),
    ...LOOP,
    ...get(KEYS), ...get(JB), ADD, ...LOAD_I32(), ...set(KEY),
    ...bucketAddress(), ...i32(0), ...STORE_I32(),
    ...get(JB), ...i32(4), ADD, ...tee(JB), ...get(ROW_BYTES), LT_U, ...brIf(0),
    END,
    ...get(R), 0x0f,
    END,
  ];
  // Every entry outside the bucket written for good, the bucket's members collected
  // (tentatively kept), the histogram cleared.
  const writeRow = [
    ...get(BUCKET), ...i32(FIRST_NON_NEGATIVE_BUCKET), SUB, ...tee(TOP), ...i32(BUCKET_SHIFT), SHL, ...i32(1), SUB, ...set(KEEP_FROM),
    ...get(MP), ...set(M_START),
    ...i32(0), ...set(JB),
    ...i32(0), ...set(J),
    ...LOOP,
    ...get(KEYS), ...get(JB), ADD, ...LOAD_I32(), ...set(KEY),
    ...get(KEEP_FROM), ...get(KEY), SUB, ...i32(31), SHR_S, ...set(KEEP),
    ...get(W), ...get(JB), ADD, ...tee(AT), ...get(AT), ...LOAD_I32(), ...get(KEEP), AND, ...STORE_I32(),
    ...get(MASK_ROW), ...get(J), ADD, ...get(KEEP), ...i32(1), AND, ...STORE8(),
    ...bucketAddress(), ...i32(0), ...STORE_I32(),
    ...get(MP), ...get(J), ...STORE_I32(),
    ...get(MP), ...get(KEY_DELTA), ADD, ...get(KEY), ...STORE_I32(),
    ...get(MP), ...get(KEY), ...i32(BUCKET_SHIFT), SHR_U, ...get(TOP), EQ, ...i32(2), SHL, ADD, ...set(MP),
    ...get(J), ...i32(1), ADD, ...set(J),
    ...get(JB), ...i32(4), ADD, ...tee(JB), ...get(ROW_BYTES), LT_U, ...brIf(0),
    END,
    ...rowInfo(),
  ];
  const code = rowLoop([...scoreAndCount, ...nanCheck, ...findBucket(), ...writeRow]);
  return [1, LOCALS, 0x7f, ...code];
}

const V_LOAD = simd(0x00, 4, 0);
const V_STORE = simd(0x0b, 4, 0);
const I8X16_SPLAT = simd(0x0f);
const I32X4_SPLAT = simd(0x11);
const I32X4_EXTRACT = (lane: number): number[] => simd(0x1b, lane);
const I32X4_EQ = simd(0x37);
const V_AND = simd(0x4e);
const V_ANY_TRUE = simd(0x53);
const STORE32_LANE0 = simd(0x5a, 0, 0, 0);
const I8X16_NARROW_S = simd(0x65);
const I16X8_NARROW_S = simd(0x85);
const I32X4_SHR_S = simd(0xac);
const I32X4_SHR_U = simd(0xad);
const I32X4_SUB = simd(0xb1);
const I32X4_MIN_S = simd(0xb6);
const I32X4_MAX_S = simd(0xb8);
const F32X4_ABS = simd(0xe0);
const MEMORY_FILL = [0xfc, 11, 0];

// Further locals of rows4.
const MAX_KEY = 28;
const V_MIN = 29;
const V_MAX = 30;
const V_KEEP_FROM = 31;
const V_TOP = 32;
const V_KEY = 33;
const V_KEEP = 34;

/** Horizontal min (or max) of the four lanes of a v128 local into an i32 local. */
function lanesTo(v: number, out: number, lt: boolean): number[] {
  const code = [...get(v), ...I32X4_EXTRACT(0), ...set(out)];
  for (let lane = 1; lane < 4; lane++) {
    code.push(...get(v), ...I32X4_EXTRACT(lane), ...tee(KEY), ...get(out), ...get(KEY), ...get(out), lt ? LT_S : 0x4a, SELECT, ...set(out));
  }
  return code;
}

/**
 * The body of `rows4`, the kernel for row lengths divisible by 4: the scores, the output and
 * the mask four entries at a time in SIMD; the histogram counted one key at a time; the
 * bucket's members collected only from groups of four that hold one; the histogram cleared by
 * one fill over the span of buckets between the row's lowest and highest key.
 */
function simdRowsBody(): number[] {
  const scoreMinMax = [
    ...i32(INF_BITS), ...I32X4_SPLAT, ...set(V_MIN),
    ...i32(0), ...I32X4_SPLAT, ...set(V_MAX),
    ...i32(0), ...set(JB),
    ...LOOP,
    ...get(KEYS), ...get(JB), ADD,
    ...get(W), ...get(JB), ADD, ...V_LOAD, ...F32X4_ABS,
    ...get(SCALE), ...get(JB), ADD, ...V_LOAD, ...F32X4_MUL, ...tee(V_KEY),
    ...V_STORE,
    ...get(V_MIN), ...get(V_KEY), ...I32X4_MIN_S, ...set(V_MIN),
    ...get(V_MAX), ...get(V_KEY), ...I32X4_MAX_S, ...set(V_MAX),
    ...get(JB), ...i32(16), ADD, ...tee(JB), ...get(ROW_BYTES), LT_U, ...brIf(0),
    END,
    ...lanesTo(V_MIN, MIN_KEY, true),
    ...lanesTo(V_MAX, MAX_KEY, false),
  ];
  const countOne = (lane: number): number[] => [
    ...get(KEYS), ...get(JB), ADD, ...LOAD_I32(4 * lane), ...set(KEY),
    ...bucketAddress(), ...tee(AT), ...get(AT), ...LOAD_I32(), ...i32(1), ADD, ...STORE_I32(),
  ];
  const count = [
    ...i32(0), ...set(JB),
    ...LOOP,
    ...countOne(0), ...countOne(1), ...countOne(2), ...countOne(3),
    ...get(JB), ...i32(16), ADD, ...tee(JB), ...get(ROW_BYTES), LT_U, ...brIf(0),
    END,
  ];
  // hist[bucket(MIN_KEY) .. bucket(MAX_KEY)] = 0 (keyBucket is monotone in the keys' signed order).
  const clearHistogram = [
    ...get(HIST), ...get(MIN_KEY), ...i32(BUCKET_SHIFT), SHR_U, ...i32(FIRST_NON_NEGATIVE_BUCKET), XOR, ...tee(COUNT), ...i32(2), SHL, ADD,
    ...i32(0),
    ...get(MAX_KEY), ...i32(BUCKET_SHIFT), SHR_U, ...i32(FIRST_NON_NEGATIVE_BUCKET), XOR, ...i32(1), ADD, ...get(COUNT), SUB, ...i32(2), SHL,
    ...MEMORY_FILL,
  ];
  const infBuckets = Array.from({ length: KEY_BUCKETS - INF_BUCKET }, (_, b) => [...get(HIST), ...LOAD_I32(4 * (INF_BUCKET + b)), OR]).flat();
  const nanCheck = [...get(MIN_KEY), ...i32(0), LT_S, ...infBuckets, ...IF, ...clearHistogram, ...get(R), 0x0f, END];
  const collectOne = (lane: number): number[] => [
    ...get(KEYS), ...get(JB), ADD, ...LOAD_I32(4 * lane), ...set(KEY),
    ...get(MP), ...get(J), ...i32(lane), ADD, ...STORE_I32(),
    ...get(MP), ...get(KEY_DELTA), ADD, ...get(KEY), ...STORE_I32(),
    ...get(MP), ...get(KEY), ...i32(BUCKET_SHIFT), SHR_U, ...get(TOP), EQ, ...i32(2), SHL, ADD, ...set(MP),
  ];
  const writeRow = [
    ...get(BUCKET), ...i32(FIRST_NON_NEGATIVE_BUCKET), SUB, ...tee(TOP), ...I32X4_SPLAT, ...set(V_TOP),
    ...get(TOP), ...i32(BUCKET_SHIFT), SHL, ...i32(1), SUB, ...I32X4_SPLAT, ...set(V_KEEP_FROM),
    ...get(MP), ...set(M_START),
    ...i32(0), ...set(JB),
    ...i32(0), ...set(J),
    ...LOOP,
    ...get(KEYS), ...get(JB), ADD, ...V_LOAD, ...set(V_KEY),
    // keep = (keepFrom − key) >> 31: all ones for keys at or above the bucket's first key
    ...get(V_KEEP_FROM), ...get(V_KEY), ...I32X4_SUB, ...i32(31), ...I32X4_SHR_S, ...set(V_KEEP),
    ...get(W), ...get(JB), ADD, ...tee(AT), ...get(AT), ...V_LOAD, ...get(V_KEEP), ...V_AND, ...V_STORE,
    // the four mask bytes: keep narrowed to bytes (−1 or 0), then & 1
    ...get(MASK_ROW), ...get(J), ADD,
    ...get(V_KEEP), ...get(V_KEEP), ...I16X8_NARROW_S, ...tee(V_KEEP), ...get(V_KEEP), ...I8X16_NARROW_S,
    ...i32(1), ...I8X16_SPLAT, ...V_AND, ...STORE32_LANE0,
    ...get(V_KEY), ...i32(BUCKET_SHIFT), ...I32X4_SHR_U, ...get(V_TOP), ...I32X4_EQ, ...V_ANY_TRUE,
    ...IF, ...collectOne(0), ...collectOne(1), ...collectOne(2), ...collectOne(3), END,
    ...get(J), ...i32(4), ADD, ...set(J),
    ...get(JB), ...i32(16), ADD, ...tee(JB), ...get(ROW_BYTES), LT_U, ...brIf(0),
    END,
    ...clearHistogram,
    ...rowInfo(),
  ];
  const code = rowLoop([...scoreMinMax, ...count, ...nanCheck, ...findBucket(), ...writeRow]);
  // Locals: the i32 ones up to MAX_KEY, then the v128 ones.
  return [2, MAX_KEY - R + 1, 0x7f, V_KEEP - V_MIN + 1, 0x7b, ...code];
}

/** The kernel module: `rows` (any row length) and, with SIMD, `rows4` (lengths divisible by 4). */
function rowKernelBytes(withSimd: boolean): Uint8Array<ArrayBuffer> {
  const rows = { name: 'rows', params: 11, returnsI32: true, body: scalarRowsBody() };
  return assembleModule(withSimd ? [rows, { name: 'rows4', params: 11, returnsI32: true, body: simdRowsBody() }] : [rows]);
}

type RowKernel = (w: number, rows: number, cols: number, k: number, scale: number, mask: number, keys: number, hist: number, members: number, memberKeys: number, info: number) => number;

/** The compiled kernels: for any row length, and (with SIMD) for lengths divisible by 4. */
interface RowKernels {
  readonly rows: RowKernel;
  readonly rows4: RowKernel | undefined;
}

let wasmMemory: WebAssembly.Memory | undefined;
// Views of the whole kernel memory, made again only when it grows.
let memoryF32 = new Float32Array(0);
let memoryI32 = new Int32Array(0);
let memoryU8 = new Uint8Array(0);
let rowKernels: RowKernels | null | undefined;

/** The kernels, compiled on first use; null where WebAssembly is not available. */
function getRowKernels(): RowKernels | null {
  if (rowKernels !== undefined) return rowKernels;
  rowKernels = null;
  for (const withSimd of [true, false]) {
    try {
      const memory = new WebAssembly.Memory({ initial: 1 });
      const { exports } = new WebAssembly.Instance(new WebAssembly.Module(rowKernelBytes(withSimd)), { env: { memory } });
      wasmMemory = memory;
      rowKernels = { rows: exports.rows as RowKernel, rows4: exports.rows4 as RowKernel | undefined };
      break;
    } catch {
      // Without SIMD, the scalar kernel alone; without WebAssembly, none.
    }
  }
  return rowKernels;
}

/**
 * Which row kernel runs here (for tests and benchmarks): `'simd'` (WebAssembly SIMD for row
 * lengths divisible by 4, scalar WebAssembly for others), `'wasm'`, or `'js'`.
 *
 * @returns the kernel kind
 */
export function rowKernelKind(): 'simd' | 'wasm' | 'js' {
  const kernels = getRowKernels();
  return kernels === null ? 'js' : kernels.rows4 !== undefined ? 'simd' : 'wasm';
}

/**
 * {@link pruneRowsLowest} through the WebAssembly kernel, for 0 < k < cols; false (nothing
 * done) where the kernel is not available.
 */
function pruneRowsWasm(args: RowPruneArgs, k: number, from: number, to: number): boolean {
  const kernels = getRowKernels();
  if (kernels === null || wasmMemory === undefined) return false;
  const { w, cols, scale, out, mask } = args;
  const kernel = cols % 4 === 0 && kernels.rows4 !== undefined ? kernels.rows4 : kernels.rows;
  const chunkRows = Math.min(to - from, Math.max(1, Math.floor(WASM_CHUNK / cols)));
  const n = chunkRows * cols;
  // Layout: histogram, column factors, one row of keys, row info, the rows, their mask,
  // the members' columns and keys (one more slot each: the kernel writes one past the last).
  const scaleAt = HIST_BYTES;
  const keysAt = scaleAt + 4 * cols;
  const infoAt = keysAt + 4 * cols;
  const wAt = infoAt + 12 * chunkRows;
  const maskAt = wAt + 4 * n;
  const membersAt = maskAt + ((n + 3) & ~3);
  const memberKeysAt = membersAt + 4 * (n + 1);
  const end = memberKeysAt + 4 * (n + 1);
  const memory = wasmMemory;
  if (reserveMemory(memory, end) === null) return false;
  if (memoryF32.buffer !== memory.buffer) {
    memoryF32 = new Float32Array(memory.buffer);
    memoryI32 = new Int32Array(memory.buffer);
    memoryU8 = new Uint8Array(memory.buffer);
  }
  if (scale === undefined) memoryF32.fill(1, scaleAt >> 2, (scaleAt >> 2) + cols);
  else memoryF32.set(scale.length === cols ? scale : scale.subarray(0, cols), scaleAt >> 2);
  const at: MemberLayout = { rows: wAt >> 2, mask: maskAt, members: membersAt >> 2, memberKeys: memberKeysAt >> 2, info: infoAt >> 2 };
  for (let r0 = from; r0 < to; r0 += chunkRows) {
    const rows = Math.min(chunkRows, to - r0);
    memoryF32.set(w.subarray(r0 * cols, (r0 + rows) * cols), wAt >> 2);
    const done = kernel(wAt, rows, cols, k, scaleAt, maskAt, keysAt, 0, membersAt, memberKeysAt, infoAt);
    for (let i = 0; i < done; i++) settleMembers(memoryI32, memoryU8, at, i, cols);
    out.set(memoryF32.subarray(wAt >> 2, (wAt >> 2) + done * cols), r0 * cols);
    mask?.set(memoryU8.subarray(maskAt, maskAt + done * cols), r0 * cols);
    // A NaN (or infinite) score in row r0 + done: the JS kernel takes over from there and
    // raises the error at a NaN.
    if (done < rows) {
      pruneRowsScalar(args, k, r0 + done, to);
      break;
    }
  }
  return true;
}

/** Bucket sizes up to which members are settled by an insertion sort of their keys. */
const SMALL_BUCKET = 48;
const smallKeys = new Int32Array(SMALL_BUCKET);

/** Where a kernel call's outputs lie in the kernel memory, in entries of the views used. */
interface MemberLayout {
  /** First float of the pruned rows. */
  readonly rows: number;
  /** First byte of their mask. */
  readonly mask: number;
  /** First int of the members' columns. */
  readonly members: number;
  /** First int of the members' keys. */
  readonly memberKeys: number;
  /** First int of the row info (first member, member count, members to prune). */
  readonly info: number;
}

/**
 * Prunes the lowest of row i's bucket members that the kernel left kept: the (k − below)
 * lowest keys, ties to the lower column (members are in column order). `ints` and `bytes`
 * view the whole kernel memory.
 */
function settleMembers(ints: Int32Array, bytes: Uint8Array, at: MemberLayout, i: number, cols: number): void {
  const first = ints[at.info + 3 * i];
  const m = ints[at.info + 3 * i + 1];
  const need = ints[at.info + 3 * i + 2];
  const bits = at.rows + i * cols;
  const mask = at.mask + i * cols;
  const members = at.members + first;
  const keys = at.memberKeys + first;
  if (need === m) {
    for (let t = 0; t < m; t++) {
      const j = ints[members + t];
      ints[bits + j] = 0;
      bytes[mask + j] = 0;
    }
    return;
  }
  let pivot: number;
  let ties: number;
  if (m <= SMALL_BUCKET) {
    // A few members (the usual case): sort a copy of their keys by insertion.
    const sorted = smallKeys;
    for (let t = 0; t < m; t++) {
      const key = ints[keys + t];
      let u = t;
      for (; u > 0 && sorted[u - 1] > key; u--) sorted[u] = sorted[u - 1];
      sorted[u] = key;
    }
    pivot = sorted[need - 1];
    let below = need - 1;
    while (below > 0 && sorted[below - 1] === pivot) below--;
    ties = need - below;
  } else {
    const found = lowestKeysPivot(ints, m, need, keys);
    pivot = found.pivot;
    ties = found.equalTaken;
  }
  for (let t = 0; t < m; t++) {
    const key = ints[keys + t];
    if (key < pivot || (key === pivot && ties-- > 0)) {
      const j = ints[members + t];
      ints[bits + j] = 0;
      bytes[mask + j] = 0;
    }
  }
}
