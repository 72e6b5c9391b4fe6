import { allocArray, type DType, type TypedArray } from '../dtype.js';
import type { Kernels, ReduceOp, TensorRef } from '../kernels.js';
import { type Shape, sizeOf, stridesOf } from '../shape.js';
import { forEachRun, innerStride, splitAtAxis, stridedPlan } from './broadcast.js';

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * The value a reduction starts from, which is also its result over no elements: 0 for
 * sums and norms, 1 for products, −∞/+∞ for float max/min (the int32 extremes for int32),
 * false for `any`, true for `all`. (`mean` starts at 0 and divides by the count 0: NaN.)
 */
function identity(op: ReduceOp, dtype: DType): number {
  switch (op) {
    case 'prod': case 'all': return 1;
    case 'max': return dtype === 'int32' ? INT32_MIN : -Infinity;
    case 'min': return dtype === 'int32' ? INT32_MAX : Infinity;
    default: return 0;
  }
}

/**
 * Folds one inner run of `n` input elements into the accumulator. With `sAcc` 0 the whole
 * run folds into one slot (kept in a local); with `sAcc` 1 it folds element-wise into a
 * run of slots. `any`/`all` are max/min over 0/1; max/min let NaN win.
 */
function foldRun(
  op: ReduceOp, int: boolean,
  x: TypedArray, ix: number,
  acc: Float64Array, ia: number, sAcc: number, n: number,
): void {
  const end = ix + n;
  if (sAcc === 0) {
    let s = acc[ia];
    switch (op) {
      case 'sum': case 'mean':
        if (int) for (; ix < end; ix++) s = (s + x[ix]) | 0;
        else for (; ix < end; ix++) s += x[ix];
        break;
      case 'norm1': for (; ix < end; ix++) s += Math.abs(x[ix]); break;
      case 'norm2': for (; ix < end; ix++) s += x[ix] * x[ix]; break;
      case 'prod':
        if (int) for (; ix < end; ix++) s = Math.imul(s, x[ix]);
        else for (; ix < end; ix++) s *= x[ix];
        break;
      case 'max': case 'any': for (; ix < end; ix++) { const v = x[ix]; if (v > s || v !== v) s = v; } break;
      case 'min': case 'all': for (; ix < end; ix++) { const v = x[ix]; if (v < s || v !== v) s = v; } break;
    }
    acc[ia] = s;
    return;
  }
  switch (op) {
    case 'sum': case 'mean':
      if (int) for (; ix < end; ix++, ia += sAcc) acc[ia] = (acc[ia] + x[ix]) | 0;
      else for (; ix < end; ix++, ia += sAcc) acc[ia] += x[ix];
      return;
    case 'norm1': for (; ix < end; ix++, ia += sAcc) acc[ia] += Math.abs(x[ix]); return;
    case 'norm2': for (; ix < end; ix++, ia += sAcc) acc[ia] += x[ix] * x[ix]; return;
    case 'prod':
      if (int) for (; ix < end; ix++, ia += sAcc) acc[ia] = Math.imul(acc[ia], x[ix]);
      else for (; ix < end; ix++, ia += sAcc) acc[ia] *= x[ix];
      return;
    case 'max': case 'any':
      for (; ix < end; ix++, ia += sAcc) { const v = x[ix]; if (v > acc[ia] || v !== v) acc[ia] = v; }
      return;
    case 'min': case 'all':
      for (; ix < end; ix++, ia += sAcc) { const v = x[ix]; if (v < acc[ia] || v !== v) acc[ia] = v; }
      return;
  }
}

function reduce(x: TensorRef<TypedArray>, attrs: { op: ReduceOp; axes: readonly number[]; outShape: Shape }): TypedArray {
  const { op, axes, outShape } = attrs;
  const outSize = sizeOf(outShape);
  const acc = new Float64Array(outSize).fill(identity(op, x.dtype));
  // Walk the input in storage order; the accumulator is "broadcast" along reduced axes
  // (stride 0), so contiguous reduced axes fold into a register and kept axes stream.
  const reduced = new Set(axes);
  const outStrides = stridesOf(outShape);
  const accStrides: number[] = [];
  for (let i = 0, k = 0; i < x.shape.length; i++) accStrides.push(reduced.has(i) ? 0 : outStrides[k++]);
  const plan = stridedPlan(x.shape, [stridesOf(x.shape), accStrides]);
  const sAcc = innerStride(plan, 1);
  const int = x.dtype === 'int32';
  const src = x.handle;
  forEachRun(plan, (off, n) => foldRun(op, int, src, off[0], acc, off[1], sAcc, n));

  if (op === 'mean') {
    const count = sizeOf(axes.map((a) => x.shape[a]));
    for (let i = 0; i < outSize; i++) acc[i] /= count;
  } else if (op === 'norm2') {
    for (let i = 0; i < outSize; i++) acc[i] = Math.sqrt(acc[i]);
  }
  const outDType: DType = op === 'any' || op === 'all' ? 'bool' : x.dtype;
  const out = allocArray(outDType, outSize);
  out.set(acc);
  return out;
}

/**
 * Index of the max (or min) of each lane along an axis. NaN counts as larger than every
 * number (so argmax picks the first NaN and argmin skips NaN unless the lane is all NaN);
 * ties go to the lower index.
 */
function argReduce(x: TensorRef<TypedArray>, attrs: { op: 'argmax' | 'argmin'; axis: number }): TypedArray {
  const [outer, n, inner] = splitAtAxis(x.shape, attrs.axis);
  const src = x.handle;
  const out = new Int32Array(outer * inner);
  if (n === 0) return out;
  const max = attrs.op === 'argmax';
  const best = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    const ob = o * inner;
    for (let j = 0; j < inner; j++) best[j] = src[base + j];
    for (let k = 1; k < n; k++) {
      const row = base + k * inner;
      for (let j = 0; j < inner; j++) {
        const v = src[row + j];
        const b = best[j];
        // A NaN best is never replaced by argmax and always by the first number for argmin.
        const better = max ? v > b || (v !== v && b === b) : v < b || (b !== b && v === v);
        if (better) {
          best[j] = v;
          out[ob + j] = k;
        }
      }
    }
  }
  return out;
}

/**
 * Running sum along an axis, accumulated in float64 per lane (int32 wraps). `exclusive`
 * leaves the current element out; `reverse` runs from the end.
 */
function cumsum(x: TensorRef<TypedArray>, attrs: { axis: number; exclusive: boolean; reverse: boolean }): TypedArray {
  const [outer, n, inner] = splitAtAxis(x.shape, attrs.axis);
  const src = x.handle;
  const out = allocArray(x.dtype, src.length);
  const int = x.dtype === 'int32';
  const step = attrs.reverse ? -1 : 1;
  if (inner === 1) {
    // Contiguous lanes (the last axis): keep the running sum in a local.
    for (let o = 0; o < outer; o++) {
      let running = 0;
      const first = o * n + (attrs.reverse ? n - 1 : 0);
      for (let t = 0, i = first; t < n; t++, i += step) {
        const after = int ? (running + src[i]) | 0 : running + src[i];
        out[i] = attrs.exclusive ? running : after;
        running = after;
      }
    }
    return out;
  }
  const running = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    running.fill(0);
    const base = o * n * inner;
    for (let t = 0, k = attrs.reverse ? n - 1 : 0; t < n; t++, k += step) {
      const row = base + k * inner;
      for (let j = 0; j < inner; j++) {
        const before = running[j];
        const after = int ? (before + src[row + j]) | 0 : before + src[row + j];
        running[j] = after;
        out[row + j] = attrs.exclusive ? before : after;
      }
    }
  }
  return out;
}

/**
 * Reference kernels for reductions (float64 accumulation, rounded to float32 at the
 * end), argmax/argmin and cumsum. The handle is the typed array itself.
 */
export const reduceKernels: Partial<Kernels<TypedArray>> = {
  reduce,
  argReduce,
  cumsum,
};
