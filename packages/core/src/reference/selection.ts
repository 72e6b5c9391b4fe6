import type { TypedArray } from '../dtype.js';
import type { Kernels, TensorRef } from '../kernels.js';

// Every selection kernel works on int32 "order keys": one integer per element whose signed
// order is the kernel's order (NaN above +Infinity, -0 equal to +0, and for `largest` the
// order reversed). Ties between equal keys are then broken by index, which gives exactly the
// order of a stable sort without ever comparing floats or boxing values.

const SIGN = -0x80000000;
const NAN_KEY = 0x7fffffff;

/**
 * Writes the ascending order keys of `n` float32 elements, read as raw bits from `bits`
 * starting at `offset`, into `out`; `flip` is 0 (ascending) or -1 (descending: every key
 * inverted, so NaN comes first and ties keep index order).
 */
function floatKeys(bits: Int32Array, offset: number, n: number, flip: number, out: Int32Array): void {
  for (let i = 0; i < n; i++) out[i] = floatKey(bits[offset + i]) ^ flip;
}

/** {@link floatKeys}, also counting the keys' top digits into {@link topHist}. */
function floatKeysWithHistogram(bits: Int32Array, offset: number, n: number, flip: number, out: Int32Array): void {
  topHist.fill(0);
  for (let i = 0; i < n; i++) {
    const key = floatKey(bits[offset + i]) ^ flip;
    out[i] = key;
    topHist[topDigit(key)]++;
  }
}

/** The ascending order key of one float32, given its raw bits. */
function floatKey(b: number): number {
  // Negative floats: flipping the magnitude bits makes larger magnitudes smaller keys
  // (branch-free: the sign decides the xor mask).
  const key = b ^ ((b >> 31) & 0x7fffffff);
  // Any NaN payload, either sign, maps to one key above +Infinity (0x7f800000); -0
  // (key -1) is mapped onto +0 so the two compare equal, as they do in a sort.
  if ((b & 0x7fffffff) > 0x7f800000) return NAN_KEY;
  return key === -1 ? 0 : key;
}

/** Order keys of integer elements (int32, or bool stored as bytes). */
function intKeys(src: Int32Array | Uint8Array, offset: number, n: number, flip: number, out: Int32Array): void {
  for (let i = 0; i < n; i++) out[i] = src[offset + i] ^ flip;
}

/** {@link intKeys}, also counting the keys' top digits into {@link topHist}. */
function intKeysWithHistogram(src: Int32Array | Uint8Array, offset: number, n: number, flip: number, out: Int32Array): void {
  topHist.fill(0);
  for (let i = 0; i < n; i++) {
    const key = src[offset + i] ^ flip;
    out[i] = key;
    topHist[topDigit(key)]++;
  }
}

// Rows at least this long are narrowed by one radix pass before Floyd–Rivest runs.
const RADIX_SELECT_MIN = 1024;
const TOP_BITS = 11;
const TOP_SHIFT = 32 - TOP_BITS;
const SIGN_BUCKET = 1 << (TOP_BITS - 1);
const topHist = new Int32Array(1 << TOP_BITS);

/**
 * The top 11 bits of a key in unsigned order (sign bit flipped), computed without leaving
 * the int32 range: the histogram bucket of the key.
 */
function topDigit(key: number): number {
  return (key >>> TOP_SHIFT) ^ SIGN_BUCKET;
}

/** Reads one row's order keys into `out[0..n)`. */
type KeyReader = (row: number, out: Int32Array) => void;

/**
 * A reader of order keys for the rows of `x`. With `histogram`, each read also fills
 * {@link topHist} for the row (in the same pass), as {@link kthKey} needs for long rows.
 */
function keyReader(x: TensorRef<TypedArray>, n: number, largest: boolean, histogram: boolean): KeyReader {
  const flip = largest ? -1 : 0;
  const h = x.handle;
  if (x.dtype === 'float32') {
    const bits = new Int32Array(h.buffer, h.byteOffset, h.length);
    return histogram ? (row, out) => floatKeysWithHistogram(bits, row * n, n, flip, out) : (row, out) => floatKeys(bits, row * n, n, flip, out);
  }
  const src = h as Int32Array | Uint8Array;
  return histogram ? (row, out) => intKeysWithHistogram(src, row * n, n, flip, out) : (row, out) => intKeys(src, row * n, n, flip, out);
}

/** A key reader for selection: with the top-digit histogram exactly when {@link kthKey} uses it. */
function selectionReader(x: TensorRef<TypedArray>, n: number, largest: boolean): KeyReader {
  return keyReader(x, n, largest, n >= RADIX_SELECT_MIN);
}

// Scratch buffers, reused across calls (the reference backend runs one kernel at a time,
// synchronously). Slots: 0 keys, 1 selection work / sort keys, 2 sort indices,
// 3 and 4 radix-sort double buffers.
const scratchSlots: Int32Array[] = [new Int32Array(0), new Int32Array(0), new Int32Array(0), new Int32Array(0), new Int32Array(0)];
// Above this many elements a buffer is dropped after the call instead of being kept.
const KEEP_SCRATCH = 1 << 20;

function scratch(slot: number, n: number): Int32Array {
  if (scratchSlots[slot].length < n) scratchSlots[slot] = new Int32Array(Math.max(n, 256));
  return scratchSlots[slot];
}

function releaseLargeScratch(): void {
  for (let s = 0; s < scratchSlots.length; s++) if (scratchSlots[s].length > KEEP_SCRATCH) scratchSlots[s] = new Int32Array(0);
}

/**
 * Floyd–Rivest selection on `a[left..right]`: afterwards `a[k]` holds the value a full sort
 * would put there, everything before it is ≤ and everything after it is ≥. Expected O(n);
 * when partitioning stops making progress (adversarial input) the remaining range is
 * sorted, which bounds the worst case by O(n log n) as in introselect.
 *
 * @param budget - partition rounds allowed before falling back to sorting the range
 * @internal Exported for tests; not part of the package API.
 */
export function select(a: Int32Array, k: number, left: number, right: number, budget = 2 * Math.ceil(Math.log2(right - left + 2)) + 16): void {
  while (right > left) {
    if (--budget < 0) {
      a.subarray(left, right + 1).sort();
      return;
    }
    if (right - left > 600) {
      // Recurse on a sample around k so the pivot lands very close to the k-th value.
      const n = right - left + 1;
      const m = k - left + 1;
      const z = Math.log(n);
      const s = 0.5 * Math.exp((2 * z) / 3);
      const sd = 0.5 * Math.sqrt((z * s * (n - s)) / n) * (m - n / 2 < 0 ? -1 : 1);
      const newLeft = Math.max(left, Math.floor(k - (m * s) / n + sd));
      const newRight = Math.min(right, Math.floor(k + ((n - m) * s) / n + sd));
      select(a, k, newLeft, newRight);
    }
    const t = a[k];
    let i = left;
    let j = right;
    let tmp = a[left];
    a[left] = a[k];
    a[k] = tmp;
    if (a[right] > t) {
      tmp = a[left];
      a[left] = a[right];
      a[right] = tmp;
    }
    while (i < j) {
      tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
      i++;
      j--;
      while (a[i] < t) i++;
      while (a[j] > t) j--;
    }
    if (a[left] === t) {
      tmp = a[left];
      a[left] = a[j];
      a[j] = tmp;
    } else {
      j++;
      tmp = a[j];
      a[j] = a[right];
      a[right] = tmp;
    }
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
}

// Set by kthKey: how many keys of the row are strictly below the returned pivot, and how
// many are equal to it.
let pivotBelow = 0;
let pivotEqual = 0;

/**
 * The k-th smallest key (k from 0) of `keys[0..n)`; also sets {@link pivotBelow} and
 * {@link pivotEqual}. For long
 * rows (n ≥ {@link RADIX_SELECT_MIN}) the histogram of the top 11 key bits, filled while the
 * keys were read, finds the bucket that holds the k-th key, and only that bucket's keys
 * (typically a few hundredths of the row) go through Floyd–Rivest — the radix-select idea
 * GPU top-k kernels use, which turns the selection into sequential, branch-predictable
 * passes. Short rows go to Floyd–Rivest directly.
 */
function kthKey(keys: Int32Array, n: number, k: number): number {
  const work = scratch(1, n);
  let m = 0;
  let below = 0;
  if (n < RADIX_SELECT_MIN) {
    for (let i = 0; i < n; i++) work[i] = keys[i];
    m = n;
  } else {
    const hist = topHist;
    let bucket = 0;
    while (below + hist[bucket] <= k) below += hist[bucket++];
    for (let i = 0; i < n; i++) {
      const key = keys[i];
      if (topDigit(key) === bucket) work[m++] = key;
    }
    k -= below;
  }
  select(work, k, 0, m - 1);
  const key = work[k];
  // After selection work[0..k) ≤ key, so the keys strictly below it are all in there.
  for (let i = 0; i < k; i++) if (work[i] < key) below++;
  // Every key equal to the pivot shares its bucket, so all of them are in work[0..m).
  let equal = 0;
  for (let i = 0; i < m; i++) if (work[i] === key) equal++;
  pivotBelow = below;
  pivotEqual = equal;
  return key;
}

// Whether a Uint32 written over four mask bytes puts its low byte first.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Sets `out[o + i] = keys[i] < bound ? 1 : 0` for i in [0, n). `words` views the same
 * bytes as `out` (from byte 0) as 32-bit words: on little-endian hosts the aligned middle
 * of the row is written four mask bytes per store, which makes this pass (one compare per
 * element, no branches) about twice as fast as byte stores.
 */
function markBelow(keys: Int32Array, n: number, bound: number, out: Uint8Array, words: Uint32Array, o: number): void {
  let i = 0;
  if (LITTLE_ENDIAN && n >= 16) {
    while ((o + i) & 3) {
      out[o + i] = keys[i] < bound ? 1 : 0;
      i++;
    }
    for (let w = (o + i) >> 2, end = (o + n) >> 2; w < end; w++, i += 4) {
      words[w] = (keys[i] < bound ? 1 : 0) | (keys[i + 1] < bound ? 0x100 : 0) | (keys[i + 2] < bound ? 0x10000 : 0) | (keys[i + 3] < bound ? 0x1000000 : 0);
    }
  }
  for (; i < n; i++) out[o + i] = keys[i] < bound ? 1 : 0;
}

/** Stable insertion sort of `m` (key, index) pairs by key. */
function insertionSortPairs(keys: Int32Array, idx: Int32Array, m: number): void {
  for (let i = 1; i < m; i++) {
    const k = keys[i];
    const v = idx[i];
    let j = i - 1;
    while (j >= 0 && keys[j] > k) {
      keys[j + 1] = keys[j];
      idx[j + 1] = idx[j];
      j--;
    }
    keys[j + 1] = k;
    idx[j + 1] = v;
  }
}

/**
 * Sorts the first `m` (key, index) pairs by key, stably (pairs with equal keys keep their
 * order): LSD radix sort over the key bits, skipping digits all keys share.
 */
function sortPairs(keys: Int32Array, idx: Int32Array, m: number): void {
  if (m <= 32) {
    insertionSortPairs(keys, idx, m);
    return;
  }
  const digitBits = m < 1 << 16 ? 8 : 11;
  const radix = 1 << digitBits;
  const mask = radix - 1;
  const passes = Math.ceil(32 / digitBits);
  const hist = new Int32Array(radix * passes);
  for (let i = 0; i < m; i++) {
    // The sign bit is flipped so unsigned digit order equals signed key order.
    const u = (keys[i] ^ SIGN) >>> 0;
    for (let p = 0; p < passes; p++) hist[p * radix + ((u >>> (p * digitBits)) & mask)]++;
  }
  let srcK = keys;
  let srcI = idx;
  let dstK = scratch(3, m);
  let dstI = scratch(4, m);
  for (let p = 0; p < passes; p++) {
    const base = p * radix;
    const shift = p * digitBits;
    // A digit every key shares leaves the order unchanged: skip the pass.
    let trivial = false;
    for (let d = 0; d < radix; d++) {
      const c = hist[base + d];
      if (c === m) trivial = true;
      if (c !== 0) break;
    }
    if (trivial) continue;
    let sum = 0;
    for (let d = 0; d < radix; d++) {
      const c = hist[base + d];
      hist[base + d] = sum;
      sum += c;
    }
    for (let i = 0; i < m; i++) {
      const key = srcK[i];
      const pos = hist[base + ((((key ^ SIGN) >>> 0) >>> shift) & mask)]++;
      dstK[pos] = key;
      dstI[pos] = srcI[i];
    }
    const tk = srcK;
    const ti = srcI;
    srcK = dstK;
    srcI = dstI;
    dstK = tk;
    dstI = ti;
  }
  if (srcK !== keys) {
    keys.set(srcK.subarray(0, m));
    idx.set(srcI.subarray(0, m));
  }
}

/** Number of rows and row length of a tensor viewed as rows along its last axis. */
function rowsOf(x: TensorRef<TypedArray>): { rows: number; n: number } {
  const n = x.shape.length === 0 ? 1 : x.shape[x.shape.length - 1];
  return { rows: n === 0 ? 0 : x.handle.length / n, n };
}

function sameKind(x: TensorRef<TypedArray>, size: number): TypedArray {
  return x.dtype === 'float32' ? new Float32Array(size) : x.dtype === 'int32' ? new Int32Array(size) : new Uint8Array(size);
}

/**
 * bool mask of the `k` first elements of each row in the kernel order. A selection, not a
 * sort: the k-th key is found ({@link kthKey}), then every key below it and the
 * lowest-index keys equal to it are marked — exactly the first k of a stable sort.
 */
function selectMask(x: TensorRef<TypedArray>, attrs: { k: number; largest: boolean }): TypedArray {
  const { rows, n } = rowsOf(x);
  const { k } = attrs;
  const out = new Uint8Array(x.handle.length);
  if (k <= 0 || rows === 0) return out;
  if (k >= n) return out.fill(1);
  const read = selectionReader(x, n, attrs.largest);
  const keys = scratch(0, n);
  const words = new Uint32Array(out.buffer, 0, out.length >> 2);
  for (let r = 0; r < rows; r++) {
    read(r, keys);
    const key = kthKey(keys, n, k - 1);
    let equalLeft = k - pivotBelow;
    const o = r * n;
    if (equalLeft === pivotEqual) {
      // Every key equal to the pivot is taken (always so without ties): mark keys ≤ pivot.
      // key + 1 cannot overflow: a maximal pivot with all its ties taken means k = n,
      // handled above.
      markBelow(keys, n, key + 1, out, words, o);
    } else {
      // Ties straddle the boundary: keys below the pivot, then the lowest-index equal ones.
      markBelow(keys, n, key, out, words, o);
      for (let i = 0; equalLeft > 0; i++) {
        if (keys[i] === key) {
          out[o + i] = 1;
          equalLeft--;
        }
      }
    }
  }
  releaseLargeScratch();
  return out;
}

/** The k-th element of each row (k from 1) in the kernel order, with its index. */
function kthValue(x: TensorRef<TypedArray>, attrs: { k: number; largest: boolean }): [TypedArray, TypedArray] {
  const { rows, n } = rowsOf(x);
  const values = sameKind(x, rows);
  const indices = new Int32Array(rows);
  const read = selectionReader(x, n, attrs.largest);
  const keys = scratch(0, n);
  const src = x.handle;
  for (let r = 0; r < rows; r++) {
    read(r, keys);
    const key = kthKey(keys, n, attrs.k - 1);
    // The element sits at position k-1 of the stable order: the (k-1-below)-th key equal to
    // the pivot, counting in index order.
    let skip = attrs.k - 1 - pivotBelow;
    let at = 0;
    for (let i = 0; i < n; i++) {
      if (keys[i] === key) {
        if (skip === 0) {
          at = i;
          break;
        }
        skip--;
      }
    }
    indices[r] = at;
    values[r] = src[r * n + at];
  }
  releaseLargeScratch();
  return [values, indices];
}

/** The `k` first elements of each row in the kernel order, best first, with indices. */
function topk(x: TensorRef<TypedArray>, attrs: { k: number; largest: boolean }): [TypedArray, TypedArray] {
  const { rows, n } = rowsOf(x);
  const { k } = attrs;
  const values = sameKind(x, rows * k);
  const indices = new Int32Array(rows * k);
  if (k <= 0 || rows === 0) return [values, indices];
  const read = selectionReader(x, n, attrs.largest);
  const keys = scratch(0, n);
  const src = x.handle;
  for (let r = 0; r < rows; r++) {
    read(r, keys);
    // Partial selection picks the k winners; only those are sorted.
    const key = k < n ? kthKey(keys, n, k - 1) : NAN_KEY;
    const winKeys = scratch(1, k);
    const winIdx = scratch(2, k);
    let m = 0;
    let equalLeft = k < n ? k - pivotBelow : k;
    for (let i = 0; i < n && m < k; i++) {
      const v = keys[i];
      if (k >= n || v < key || (v === key && equalLeft-- > 0)) {
        winKeys[m] = v;
        winIdx[m] = i;
        m++;
      }
    }
    // Winners were collected in index order, so a stable sort by key yields the kernel order.
    sortPairs(winKeys, winIdx, k);
    const o = r * k;
    for (let j = 0; j < k; j++) {
      indices[o + j] = winIdx[j];
      values[o + j] = src[r * n + winIdx[j]];
    }
  }
  releaseLargeScratch();
  return [values, indices];
}

/** Stable argsort of each row (ascending, or descending with ties in index order). */
function argsort(x: TensorRef<TypedArray>, attrs: { descending: boolean }): TypedArray {
  const { rows, n } = rowsOf(x);
  const out = new Int32Array(x.handle.length);
  if (rows === 0) return out;
  const read = keyReader(x, n, attrs.descending, false);
  const keys = scratch(1, n);
  const idx = scratch(2, n);
  for (let r = 0; r < rows; r++) {
    read(r, keys);
    for (let i = 0; i < n; i++) idx[i] = i;
    sortPairs(keys, idx, n);
    out.set(idx.subarray(0, n), r * n);
  }
  releaseLargeScratch();
  return out;
}

/** Reference kernels: selection (top-k, k-th value, stable argsort, selection masks). */
export const selectionKernels: Partial<Kernels<TypedArray>> = {
  topk: (x, attrs) => topk(x, attrs) as [TypedArray, TypedArray],
  kthValue: (x, attrs) => kthValue(x, attrs),
  argsort: (x, attrs) => argsort(x, attrs),
  selectMask: (x, attrs) => selectMask(x, attrs),
};
