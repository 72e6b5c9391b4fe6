import { allocArray, type TypedArray } from '../dtype.js';
import type { Kernels } from '../kernels.js';
import { type Shape, sizeOf, stridesOf } from '../shape.js';

/** Copies `len` elements; `set` on subarrays pays off only for longer runs. */
function copyRun(dst: TypedArray, dOff: number, src: TypedArray, sOff: number, len: number): void {
  if (len > 32) dst.set(src.subarray(sOff, sOff + len), dOff);
  else for (let i = 0; i < len; i++) dst[dOff + i] = src[sOff + i];
}

/**
 * Merges input axes that stay adjacent and in order under `perm` (and drops size-1 axes),
 * so e.g. `[a, b, c, d]` with perm `[0, 2, 3, 1]` becomes `[a, b, c·d]` with perm
 * `[0, 2, 1]`. Returns the reduced input shape and permutation.
 */
function collapseAxes(shape: Shape, perm: readonly number[]): { shape: number[]; perm: number[] } {
  const kept = perm.filter((a) => shape[a] !== 1);
  // Groups of consecutive input axes, in output order.
  const groups: number[][] = [];
  for (const a of kept) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1] === a - 1) last.push(a);
    else groups.push([a]);
  }
  const byInput = [...groups].sort((g, h) => g[0] - h[0]);
  const newShape = byInput.map((g) => g.reduce((s, a) => s * shape[a], 1));
  const newPerm = groups.map((g) => byInput.indexOf(g));
  return { shape: newShape, perm: newPerm };
}

const transpose: Kernels<TypedArray>['transpose'] = (x, { perm }) => {
  const src = x.handle;
  const n = src.length;
  const out = allocArray(x.dtype, n);
  if (n === 0) return out;
  const { shape, perm: p } = collapseAxes(x.shape, perm);
  const r = shape.length;
  if (p.every((a, i) => a === i)) {
    out.set(src);
    return out;
  }
  // A batch of matrix transposes (the common case once axes are merged): 32×32 tiles keep
  // both the reads and the writes within cache lines.
  if (p.slice(0, r - 2).every((a, i) => a === i) && p[r - 2] === r - 1 && p[r - 1] === r - 2) {
    const rows = shape[r - 2];
    const cols = shape[r - 1];
    const count = n / (rows * cols);
    const T = 32;
    for (let q = 0; q < count; q++) {
      const off = q * rows * cols;
      for (let r0 = 0; r0 < rows; r0 += T) {
        const r1 = Math.min(rows, r0 + T);
        for (let c0 = 0; c0 < cols; c0 += T) {
          const c1 = Math.min(cols, c0 + T);
          for (let i = r0; i < r1; i++) {
            for (let j = c0; j < c1; j++) out[off + j * rows + i] = src[off + i * cols + j];
          }
        }
      }
    }
    return out;
  }
  // General case: walk the output in order with an odometer over its axes, stepping the
  // input offset by the stride of the input axis each output axis comes from.
  const inStrides = stridesOf(shape);
  const oShape = p.map((a) => shape[a]);
  const step = p.map((a) => inStrides[a]);
  const inner = oShape[r - 1];
  const innerStep = step[r - 1];
  const idx = new Array<number>(r).fill(0);
  let o = 0;
  let s = 0;
  while (o < n) {
    for (let j = 0; j < inner; j++) out[o++] = src[s + j * innerStep];
    // Advance the odometer over the outer axes.
    let a = r - 2;
    for (; a >= 0; a--) {
      s += step[a];
      if (++idx[a] < oShape[a]) break;
      s -= step[a] * oShape[a];
      idx[a] = 0;
    }
    if (a < 0) break;
  }
  return out;
};

// Kernels never mutate their inputs, so a reshape can share the storage.
const reshape: Kernels<TypedArray>['reshape'] = (x) => x.handle;

const slice: Kernels<TypedArray>['slice'] = (x, { begin, size }) => {
  const total = sizeOf(size);
  const out = allocArray(x.dtype, total);
  if (total === 0) return out;
  const r = x.shape.length;
  if (r === 0) {
    out[0] = x.handle[0];
    return out;
  }
  const src = x.handle;
  const strides = stridesOf(x.shape);
  // Trailing axes taken whole form one contiguous run per outer position.
  let runAxis = r - 1;
  while (runAxis > 0 && begin[runAxis] === 0 && size[runAxis] === x.shape[runAxis]) runAxis--;
  const run = size[runAxis] * strides[runAxis];
  const idx = new Array<number>(runAxis).fill(0);
  let s = 0;
  for (let a = 0; a <= runAxis; a++) s += begin[a] * strides[a];
  let o = 0;
  while (o < total) {
    copyRun(out, o, src, s, run);
    o += run;
    let a = runAxis - 1;
    for (; a >= 0; a--) {
      s += strides[a];
      if (++idx[a] < size[a]) break;
      s -= strides[a] * size[a];
      idx[a] = 0;
    }
    if (a < 0) break;
  }
  return out;
};

const concat: Kernels<TypedArray>['concat'] = (xs, { axis, outShape }) => {
  const total = sizeOf(outShape);
  const out = allocArray(xs[0].dtype, total);
  if (total === 0) return out;
  const outer = sizeOf(outShape.slice(0, axis));
  const inner = sizeOf(outShape.slice(axis + 1));
  const chunks = xs.map((x) => x.shape[axis] * inner);
  let o = 0;
  for (let q = 0; q < outer; q++) {
    for (let t = 0; t < xs.length; t++) {
      const len = chunks[t];
      copyRun(out, o, xs[t].handle, q * len, len);
      o += len;
    }
  }
  return out;
};

const gather: Kernels<TypedArray>['gather'] = (x, indices, { axis, outShape }) => {
  const total = sizeOf(outShape);
  const out = allocArray(x.dtype, total);
  if (total === 0) return out;
  const src = x.handle;
  const idx = indices.handle;
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const dim = x.shape[axis];
  let o = 0;
  for (let q = 0; q < outer; q++) {
    const base = q * dim;
    for (let t = 0; t < idx.length; t++) {
      copyRun(out, o, src, (base + idx[t]) * inner, inner);
      o += inner;
    }
  }
  return out;
};

const scatter: Kernels<TypedArray>['scatter'] = (x, indices, updates, { axis }) => {
  const out = allocArray(x.dtype, x.handle.length);
  out.set(x.handle);
  if (out.length === 0) return out;
  const upd = updates.handle;
  const idx = indices.handle;
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const dim = x.shape[axis];
  const k = idx.length;
  for (let q = 0; q < outer; q++) {
    for (let t = 0; t < k; t++) copyRun(out, (q * dim + idx[t]) * inner, upd, (q * k + t) * inner, inner);
  }
  return out;
};

/**
 * Reference kernels: transpose, reshape, slice, concat, gather and scatter. Every one
 * works on all dtypes and is exact (elements are only moved, never computed).
 */
export const layoutKernels: Partial<Kernels<TypedArray>> = {
  transpose,
  reshape,
  slice,
  concat,
  gather,
  scatter,
};
