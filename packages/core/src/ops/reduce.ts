import type { DType } from '../dtype.js';
import { PruneError } from '../errors.js';
import type { ReduceOp } from '../kernels.js';
import { type Shape, normalizeAxis, shapesEqual } from '../shape.js';
import { Tensor } from '../tensor.js';
import { run } from './dispatch.js';
import { cast } from './elementwise.js';

/** Options of the reductions {@link sum}, {@link mean}, {@link max}, {@link min}, {@link prod}, {@link any}, {@link all}. */
export interface ReduceOptions {
  /**
   * Axis or axes to reduce; negative counts from the end. `[]` reduces nothing.
   * @defaultValue every axis
   */
  axis?: number | readonly number[];
  /**
   * Keep each reduced axis with extent 1, so the result broadcasts against the input.
   * @defaultValue false
   */
  keepDims?: boolean;
}

/** Options of {@link norm}. */
export interface NormOptions extends ReduceOptions {
  /**
   * 1 for Σ|x|, 2 for √(Σx²).
   * @defaultValue 2
   */
  ord?: 1 | 2;
}

/** Options of {@link argmax} and {@link argmin}. */
export interface ArgReduceOptions {
  /**
   * Axis to search along; negative counts from the end.
   * @defaultValue -1
   */
  axis?: number;
  /**
   * Keep the searched axis with extent 1.
   * @defaultValue false
   */
  keepDims?: boolean;
}

/** Options of {@link cumsum}. */
export interface CumsumOptions {
  /**
   * Axis to accumulate along; negative counts from the end.
   * @defaultValue -1
   */
  axis?: number;
  /**
   * Leave each element out of its own sum (the first output is 0).
   * @defaultValue false
   */
  exclusive?: boolean;
  /**
   * Accumulate from the end of the axis towards its start.
   * @defaultValue false
   */
  reverse?: boolean;
}

function checkTensor(op: string, value: unknown): asserts value is Tensor {
  if (!(value instanceof Tensor)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: x must be a Tensor, got ${value === null ? 'null' : typeof value}`);
  }
}

function checkDType(op: string, x: Tensor, allowed: readonly DType[], hint: string): void {
  if (!allowed.includes(x.dtype)) {
    throw new PruneError('DTYPE_MISMATCH', `${op}: takes ${allowed.join(' or ')} tensors, got ${x.dtype}; ${hint}`);
  }
}

/** One axis of a tensor of `rank` ≥ 1, as a non-negative index. */
function resolveAxis(op: string, axis: unknown, rank: number): number {
  if (typeof axis !== 'number' || !Number.isInteger(axis)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: axis must be an integer, got ${String(axis)}`);
  }
  if (rank === 0) {
    throw new PruneError('OUT_OF_RANGE', `${op}: axis ${axis} is out of range for a scalar (rank 0 has no axes); reshape it to [1] first`);
  }
  return normalizeAxis(axis, rank);
}

/** Sorted distinct non-negative axes from the `axis` option (all axes when omitted). */
function resolveAxes(op: string, axis: ReduceOptions['axis'], rank: number): number[] {
  if (axis === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axis === 'number' ? [axis] : axis;
  if (!Array.isArray(list)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: axis must be an integer or an array of integers`);
  }
  const axes = list.map((a: unknown) => resolveAxis(op, a, rank));
  const unique = [...new Set(axes)].sort((p, q) => p - q);
  if (unique.length !== axes.length) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: axis [${list.join(', ')}] names an axis twice; list each axis once`);
  }
  return unique;
}

/**
 * Returns `t` with shape `shape` (same size): a reshape kernel call, disposing `t`. Used for
 * keepDims, since kernels return the reduced shape without the kept unit axes.
 */
function reshapeInto(op: string, t: Tensor, shape: Shape): Tensor {
  if (shapesEqual(t.shape, shape)) return t;
  try {
    return run('reshape', op, [t], (k, r) => k(r[0], { shape }), { shape, dtype: t.dtype });
  } finally {
    t.dispose();
  }
}

/** Which dtypes each reduction takes and what it returns. */
const REDUCE_DTYPES: Readonly<Record<ReduceOp, { accepts: readonly DType[]; hint: string }>> = {
  sum: { accepts: ['float32', 'int32'], hint: "cast with cast(x, 'float32') first" },
  prod: { accepts: ['float32', 'int32'], hint: "cast bool with cast(x, 'int32') first" },
  mean: { accepts: ['float32'], hint: "cast with cast(x, 'float32') first" },
  max: { accepts: ['float32', 'int32'], hint: 'use any() for bool tensors' },
  min: { accepts: ['float32', 'int32'], hint: 'use all() for bool tensors' },
  norm1: { accepts: ['float32'], hint: "cast with cast(x, 'float32') first" },
  norm2: { accepts: ['float32'], hint: "cast with cast(x, 'float32') first" },
  any: { accepts: ['bool'], hint: 'make a mask with a comparison first, e.g. notEqual(x, 0)' },
  all: { accepts: ['bool'], hint: 'make a mask with a comparison first, e.g. notEqual(x, 0)' },
};

/** Validates, dispatches a `reduce` kernel, and restores unit axes for keepDims. */
function reduceOp(op: ReduceOp, name: string, x: Tensor, options: ReduceOptions): Tensor {
  checkTensor(name, x);
  if (op === 'sum' && x.dtype === 'bool') {
    // Counting true elements: sum the 0/1 values as int32.
    const counts = cast(x, 'int32');
    try {
      return reduceOp(op, name, counts, options);
    } finally {
      counts.dispose();
    }
  }
  const rule = REDUCE_DTYPES[op];
  checkDType(name, x, rule.accepts, rule.hint);
  const axes = resolveAxes(name, options.axis, x.rank);
  const outShape = x.shape.filter((_, i) => !axes.includes(i));
  const dtype: DType = op === 'any' || op === 'all' ? 'bool' : x.dtype;
  const reduced = run('reduce', name, [x], (k, r) => k(r[0], { op, axes, outShape }), { shape: outShape, dtype });
  if (!options.keepDims) return reduced;
  return reshapeInto(name, reduced, x.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
}

/**
 * Σx over `axis` (every axis by default). float32 sums accumulate in float64 on the
 * reference backend; int32 sums wrap; a bool tensor gives its int32 count of trues. The
 * sum of no elements is 0.
 */
export function sum<D extends DType>(x: Tensor<D>, options: ReduceOptions = {}): Tensor<D extends 'bool' ? 'int32' : D> {
  return reduceOp('sum', 'sum', x, options) as Tensor<D extends 'bool' ? 'int32' : D>;
}

/** Arithmetic mean over `axis` (every axis by default); float32 only. The mean of no elements is NaN. */
export function mean(x: Tensor, options: ReduceOptions = {}): Tensor<'float32'> {
  return reduceOp('mean', 'mean', x, options) as Tensor<'float32'>;
}

/**
 * Maximum over `axis` (every axis by default); float32 or int32. NaN propagates. The
 * maximum of no elements is −Infinity (int32: −2³¹).
 */
export function max<D extends DType>(x: Tensor<D>, options: ReduceOptions = {}): Tensor<D> {
  return reduceOp('max', 'max', x, options) as Tensor<D>;
}

/**
 * Minimum over `axis` (every axis by default); float32 or int32. NaN propagates. The
 * minimum of no elements is +Infinity (int32: 2³¹ − 1).
 */
export function min<D extends DType>(x: Tensor<D>, options: ReduceOptions = {}): Tensor<D> {
  return reduceOp('min', 'min', x, options) as Tensor<D>;
}

/** Πx over `axis` (every axis by default); float32 or int32 (int32 wraps). The product of no elements is 1. */
export function prod<D extends DType>(x: Tensor<D>, options: ReduceOptions = {}): Tensor<D> {
  return reduceOp('prod', 'prod', x, options) as Tensor<D>;
}

/** Whether any element over `axis` is true (bool). Over no elements: false. */
export function any(x: Tensor, options: ReduceOptions = {}): Tensor<'bool'> {
  return reduceOp('any', 'any', x, options) as Tensor<'bool'>;
}

/** Whether every element over `axis` is true (bool). Over no elements: true. */
export function all(x: Tensor, options: ReduceOptions = {}): Tensor<'bool'> {
  return reduceOp('all', 'all', x, options) as Tensor<'bool'>;
}

/**
 * Vector norm over `axis` (every axis by default), float32: the L1 norm Σ|x| (`ord: 1`) or
 * the L2 norm √(Σx²) (`ord: 2`). The norm of no elements is 0.
 */
export function norm(x: Tensor, options: NormOptions = {}): Tensor<'float32'> {
  const ord = options.ord ?? 2;
  if (ord !== 1 && ord !== 2) {
    throw new PruneError('INVALID_ARGUMENT', `norm: ord must be 1 or 2, got ${String(ord)}`);
  }
  return reduceOp(ord === 1 ? 'norm1' : 'norm2', 'norm', x, options) as Tensor<'float32'>;
}

function argReduceOp(op: 'argmax' | 'argmin', x: Tensor, options: ArgReduceOptions): Tensor<'int32'> {
  checkTensor(op, x);
  const axis = resolveAxis(op, options.axis ?? -1, x.rank);
  if (x.shape[axis] === 0) {
    throw new PruneError('OUT_OF_RANGE', `${op}: axis ${axis} of shape [${x.shape.join(', ')}] is empty, so there is no ${op === 'argmax' ? 'maximum' : 'minimum'} to point at`);
  }
  const outShape = x.shape.filter((_, i) => i !== axis);
  const result = run('argReduce', op, [x], (k, r) => k(r[0], { op, axis }), { shape: outShape, dtype: 'int32' });
  if (!options.keepDims) return result as Tensor<'int32'>;
  return reshapeInto(op, result, x.shape.map((d, i) => (i === axis ? 1 : d))) as Tensor<'int32'>;
}

/**
 * int32 index of the largest element along `axis`. NaN counts as larger than +Infinity,
 * so the first NaN wins; ties go to the lowest index. An empty axis is an `OUT_OF_RANGE`
 * error.
 */
export function argmax(x: Tensor, options: ArgReduceOptions = {}): Tensor<'int32'> {
  return argReduceOp('argmax', x, options);
}

/**
 * int32 index of the smallest element along `axis`. NaN is skipped unless the whole lane
 * is NaN (then 0); ties go to the lowest index. An empty axis is an `OUT_OF_RANGE` error.
 */
export function argmin(x: Tensor, options: ArgReduceOptions = {}): Tensor<'int32'> {
  return argReduceOp('argmin', x, options);
}

/**
 * Running sum along `axis`: output i holds x₀ + … + xᵢ (x₀ + … + xᵢ₋₁ when `exclusive`;
 * from the end when `reverse`). float32 sums accumulate in float64 on the reference
 * backend; int32 wraps; a bool tensor gives int32 running counts.
 */
export function cumsum<D extends DType>(x: Tensor<D>, options: CumsumOptions = {}): Tensor<D extends 'bool' ? 'int32' : D> {
  checkTensor('cumsum', x);
  if (x.dtype === 'bool') {
    const counts = cast(x, 'int32');
    try {
      return cumsum(counts, options) as Tensor<D extends 'bool' ? 'int32' : D>;
    } finally {
      counts.dispose();
    }
  }
  const axis = resolveAxis('cumsum', options.axis ?? -1, x.rank);
  const exclusive = options.exclusive ?? false;
  const reverse = options.reverse ?? false;
  return run('cumsum', 'cumsum', [x], (k, r) => k(r[0], { axis, exclusive, reverse }), { shape: x.shape, dtype: x.dtype }) as Tensor<
    D extends 'bool' ? 'int32' : D
  >;
}
