import { type Kernels, referenceBackend } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { type Ref, constant, filled, firstTrue, fromHost, sizeOfShape, toHost } from './util.js';

const ref = referenceBackend.kernels;

/** Key of any NaN: above +Infinity's key (the bit pattern 0x7f800000). */
const NAN_KEY = 0x7fffffff;
const INF_BITS = 0x7f800000;
const INT32_MIN = -2147483648;

/**
 * Longest row the composite (rank·n + index) sort key of {@link topk} and {@link argsort}
 * can address in int32: (n + 1)·n must stay below 2³¹. Longer rows run on the host.
 */
export const MAX_SORT_ROW = 46340;

/** Rows × row length of a tensor viewed as rows along its last axis. */
function rowsOf(shape: readonly number[]): { rows: number; n: number } {
  const n = shape.length === 0 ? 1 : shape[shape.length - 1];
  return { rows: n === 0 ? 0 : sizeOfShape(shape) / n, n };
}

/**
 * int32 order keys of a `[rows, n]` tensor, smaller = earlier in the kernel order: for
 * float32 the IEEE bit pattern made monotone (NaN above +∞, −0 equal to +0), for int32 the
 * value, for bool 0/1; `largest` inverts the order with ~key, which keeps ties in place.
 * The float bits are read by reinterpreting the host copy, since tfjs has no bitcast op.
 */
function orderKeys(x: tf.Tensor, dtype: string, largest: boolean): tf.Tensor {
  let key: tf.Tensor;
  if (dtype === 'float32') {
    const v = x.dataSync() as Float32Array;
    const bits = tf.tensor(new Int32Array(v.buffer, v.byteOffset, v.length), x.shape, 'int32');
    const negative = tf.less(bits, constant(0, 'int32'));
    // Magnitude bits: for a negative float, bits − (−2³¹).
    const magnitude = tf.where(negative, tf.sub(bits, constant(INT32_MIN, 'int32')), bits);
    const signed = tf.where(negative, tf.sub(constant(0, 'int32'), magnitude), magnitude);
    key = tf.where(tf.greater(magnitude, constant(INF_BITS, 'int32')), constant(NAN_KEY, 'int32'), signed);
  } else {
    key = dtype === 'int32' ? x : tf.cast(x, 'int32');
  }
  return largest ? invert(key) : key;
}

/**
 * `flat[r, indices[r, j]]` for a `[rows, n]` matrix: one 1-D gather at row offsets
 * (tfjs-wasm's gather with batchDims returns wrong rows for some inputs).
 */
function takeAlongRows(flat: tf.Tensor, indices: tf.Tensor): tf.Tensor {
  const [rows, n] = flat.shape;
  const offsets = tf.mul(tf.reshape(tf.range(0, rows, 1, 'int32'), [rows, 1]), constant(n, 'int32'));
  return tf.gather(tf.reshape(flat, [-1]), tf.add(indices, offsets));
}

/**
 * ~key = −1 − key, an order-reversing bijection of int32. Written as one subtraction:
 * tfjs-wasm's int32 neg goes through float32 and loses bits above 2²⁴, its sub does not.
 */
function invert(key: tf.Tensor): tf.Tensor {
  return tf.sub(constant(-1, 'int32'), key);
}

/** The k-th smallest key of each row (k from 1) as `[rows, 1]`, from tfjs topk's values. */
function kthKey(keys: tf.Tensor, k: number): tf.Tensor {
  // topk of the inverted keys returns the k smallest keys; which tied element it picks
  // does not matter here, only the values.
  const top = tf.topk(invert(keys), k, true).values;
  return invert(tf.slice(top, [0, k - 1], [-1, 1]));
}

/** Per row: strictly-below count, equal-to-pivot mask and the running count of equal keys before each. */
function pivotParts(keys: tf.Tensor, pivot: tf.Tensor): { below: tf.Tensor; equal: tf.Tensor; equalBefore: tf.Tensor; belowCount: tf.Tensor } {
  const below = tf.less(keys, pivot);
  const equal = tf.equal(keys, pivot);
  const equalBefore = tf.cumsum(tf.cast(equal, 'int32'), 1, true);
  const belowCount = tf.sum(tf.cast(below, 'int32'), 1, true);
  return { below, equal, equalBefore, belowCount };
}

function selectMask(x: Ref, attrs: { k: number; largest: boolean }): tf.Tensor {
  const { rows, n } = rowsOf(x.shape);
  const { k } = attrs;
  if (k <= 0 || rows === 0) return filled(x.shape, 0, 'bool');
  if (k >= n) return filled(x.shape, 1, 'bool');
  const keys = orderKeys(tf.reshape(x.handle, [rows, n]), x.dtype, attrs.largest);
  const { below, equal, equalBefore, belowCount } = pivotParts(keys, kthKey(keys, k));
  // Every key below the pivot, then the lowest-index keys equal to it until k are taken.
  const takeEqual = tf.logicalAnd(equal, tf.less(equalBefore, tf.sub(constant(k, 'int32'), belowCount)));
  return tf.reshape(tf.logicalOr(below, takeEqual), [...x.shape]);
}

function kthValue(x: Ref, attrs: { k: number; largest: boolean }): [tf.Tensor, tf.Tensor] {
  const { rows, n } = rowsOf(x.shape);
  const outShape = x.shape.slice(0, -1);
  if (rows === 0) return [filled(outShape, 0, x.dtype), filled(outShape, 0, 'int32')];
  const flat = tf.reshape(x.handle, [rows, n]);
  const keys = orderKeys(flat, x.dtype, attrs.largest);
  const { equal, equalBefore, belowCount } = pivotParts(keys, kthKey(keys, attrs.k));
  // Position k−1 of the stable order: the (k−1−below)-th key equal to the pivot.
  const at = firstTrue(tf.logicalAnd(equal, tf.equal(equalBefore, tf.sub(constant(attrs.k - 1, 'int32'), belowCount))), 1);
  const values = takeAlongRows(flat, tf.reshape(at, [rows, 1]));
  return [tf.reshape(values, [...outShape]), tf.reshape(at, [...outShape])];
}

/**
 * Indices of the first `k` elements of each `[rows, n]` row in stable key order. The k
 * smallest key values come from tfjs topk; each element then gets the distinct composite
 * key c·n + i, c = how many of those k values are strictly smaller than its key, i its
 * index — so a second topk has no ties left to break and the result is exactly the
 * stable order whatever tie rule the backend's topk follows.
 */
function stableFirstK(keys: tf.Tensor, k: number): tf.Tensor {
  const [rows, n] = keys.shape;
  const inverted = invert(keys);
  // Descending inverted keys = ascending keys; reversed, an ascending sequence of inverted keys.
  const ascendingInverted = tf.reverse(tf.topk(inverted, k, true).values, 1);
  // Inverted values strictly greater than an element's inverted key = keys strictly smaller.
  const notGreater = tf.searchSorted(ascendingInverted, inverted, 'right');
  const smaller = tf.sub(constant(k, 'int32'), notGreater);
  const index = tf.reshape(tf.range(0, n, 1, 'int32'), [1, n]);
  const composite = tf.add(tf.mul(smaller, constant(n, 'int32')), index);
  const picked = tf.topk(invert(composite), k, true).indices;
  return tf.reshape(picked, [rows, k]);
}

function topk(x: Ref, attrs: { k: number; largest: boolean }): [tf.Tensor, tf.Tensor] {
  const { rows, n } = rowsOf(x.shape);
  const { k } = attrs;
  const outShape = [...x.shape.slice(0, -1), k];
  if (k <= 0 || rows === 0) return [filled(outShape, 0, x.dtype), filled(outShape, 0, 'int32')];
  if (n > MAX_SORT_ROW) {
    const [v, i] = ref.topk(toHost(x), attrs);
    return [fromHost(v, outShape, x.dtype), fromHost(i, outShape, 'int32')];
  }
  const flat = tf.reshape(x.handle, [rows, n]);
  const indices = stableFirstK(orderKeys(flat, x.dtype, attrs.largest), k);
  const values = takeAlongRows(flat, indices);
  return [tf.reshape(values, outShape), tf.reshape(indices, outShape)];
}

function argsort(x: Ref, attrs: { descending: boolean }): tf.Tensor {
  const { rows, n } = rowsOf(x.shape);
  if (rows === 0) return filled(x.shape, 0, 'int32');
  if (n > MAX_SORT_ROW) return fromHost(ref.argsort(toHost(x), attrs), x.shape, 'int32');
  const flat = tf.reshape(x.handle, [rows, n]);
  return tf.reshape(stableFirstK(orderKeys(flat, x.dtype, attrs.descending), n), [...x.shape]);
}

/** Selection kernels: masks, k-th values, top-k and stable argsort, in the reference order. */
export const selectionKernels: Pick<Kernels<tf.Tensor>, 'topk' | 'kthValue' | 'argsort' | 'selectMask'> = {
  topk,
  kthValue,
  argsort,
  selectMask,
};
