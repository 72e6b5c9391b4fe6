import type { Backend } from '../backend.js';
import { allocArray, type DType, type DTypeArrayMap, dtypeOfArray, type TypedArray } from '../dtype.js';
import { PruneError, assert } from '../errors.js';
import { Random } from '../random.js';
import { getBackend } from '../registry.js';
import { type Shape, checkShape, sizeOf } from '../shape.js';
import { Tensor } from '../tensor.js';

/** Where a new tensor is created. */
export interface CreateOptions {
  /**
   * Backend that will own the tensor.
   * @defaultValue the current backend ({@link getBackend})
   */
  backend?: Backend;
}

/** Nested number arrays accepted by {@link tensor}. */
export type NestedArray = number | boolean | readonly NestedArray[];

function flatten(values: NestedArray, out: number[], shape: number[], depth: number): void {
  if (Array.isArray(values)) {
    if (shape.length <= depth) shape.push(values.length);
    else assert(shape[depth] === values.length, 'SHAPE_MISMATCH', 'nested arrays are ragged; every row must have the same length');
    for (const v of values) flatten(v as NestedArray, out, shape, depth + 1);
  } else {
    assert(depth === shape.length, 'SHAPE_MISMATCH', 'nested arrays are ragged; every row must have the same length');
    out.push(Number(values));
  }
}

/**
 * Creates a tensor from a typed array (copied) or nested numbers.
 * @param values - data, row-major
 * @param shape - shape; inferred from nesting or length when omitted
 * @param dtype - element type; inferred from the typed array, else float32
 * @param options - backend to create it on
 */
export function tensor<D extends DType = 'float32'>(
  values: TypedArray | NestedArray,
  shape?: Shape,
  dtype?: D,
  options: CreateOptions = {},
): Tensor<D> {
  let flat: ArrayLike<number>;
  let inferred: number[];
  if (ArrayBuffer.isView(values)) {
    flat = values as TypedArray;
    inferred = [values.length];
  } else {
    const out: number[] = [];
    inferred = [];
    flatten(values, out, inferred, 0);
    flat = out;
  }
  const finalShape = shape ?? inferred;
  checkShape(finalShape);
  const size = sizeOf(finalShape);
  assert(flat.length === size, 'SHAPE_MISMATCH', () => `${flat.length} values do not fill shape [${finalShape.join(', ')}] (${size} elements)`);
  const dt = (dtype ?? dtypeOfArray(values) ?? 'float32') as D;
  const data = allocArray(dt, size);
  if (dt === 'bool') for (let i = 0; i < size; i++) data[i] = flat[i] ? 1 : 0;
  else data.set(flat as ArrayLike<number>);
  return fromArray(data as DTypeArrayMap[D], finalShape, dt, options);
}

/**
 * Wraps `data` in a tensor without converting it. The backend copies it, so the caller may
 * reuse `data` afterwards.
 */
export function fromArray<D extends DType>(data: DTypeArrayMap[D], shape: Shape, dtype: D, options: CreateOptions = {}): Tensor<D> {
  checkShape(shape);
  const backend = options.backend ?? getBackend();
  if (dtypeOfArray(data) !== dtype) {
    throw new PruneError('DTYPE_MISMATCH', `fromArray: a ${data.constructor.name} cannot back a ${dtype} tensor`);
  }
  assert(data.length === sizeOf(shape), 'SHAPE_MISMATCH', () => `${data.length} values do not fill shape [${shape.join(', ')}]`);
  return new Tensor(backend, backend.upload(data, shape, dtype), shape, dtype);
}

/** A rank-0 tensor holding `value`. */
export function scalar<D extends DType = 'float32'>(value: number | boolean, dtype?: D, options: CreateOptions = {}): Tensor<D> {
  return tensor([Number(value)], [], dtype ?? ('float32' as D), options);
}

/** A tensor of `shape` filled with `value`. */
export function full<D extends DType = 'float32'>(shape: Shape, value: number, dtype?: D, options: CreateOptions = {}): Tensor<D> {
  checkShape(shape);
  const dt = dtype ?? ('float32' as D);
  const data = allocArray(dt, sizeOf(shape));
  data.fill(dt === 'bool' ? (value ? 1 : 0) : value);
  return fromArray(data, shape, dt, options);
}

/** A tensor of `shape` filled with zeros. */
export function zeros<D extends DType = 'float32'>(shape: Shape, dtype?: D, options: CreateOptions = {}): Tensor<D> {
  return full(shape, 0, dtype, options);
}

/** A tensor of `shape` filled with ones. */
export function ones<D extends DType = 'float32'>(shape: Shape, dtype?: D, options: CreateOptions = {}): Tensor<D> {
  return full(shape, 1, dtype, options);
}

/** `[start, start+step, …)` up to `stop` (exclusive), as int32 unless `dtype` says otherwise. */
export function range<D extends 'int32' | 'float32' = 'int32'>(start: number, stop: number, step = 1, dtype?: D, options: CreateOptions = {}): Tensor<D> {
  assert(step !== 0 && Number.isFinite(step), 'INVALID_ARGUMENT', 'range: step must be a non-zero finite number');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dt = dtype ?? ('int32' as D);
  const data = allocArray(dt, n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return fromArray(data, [n], dt, options);
}

/** Options of the random creators. */
export interface RandomOptions extends CreateOptions {
  /** Seed of the {@link Random} stream. */
  seed: number;
}

/** float32 tensor of i.i.d. uniform samples in [min, max). */
export function randomUniform(shape: Shape, options: RandomOptions & { min?: number; max?: number }): Tensor<'float32'> {
  checkShape(shape);
  const rng = new Random(options.seed);
  const lo = options.min ?? 0;
  const hi = options.max ?? 1;
  const data = new Float32Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = lo + (hi - lo) * rng.uniform();
  return fromArray(data, shape, 'float32', options);
}

/** float32 tensor of i.i.d. normal samples with `mean` and `std`. */
export function randomNormal(shape: Shape, options: RandomOptions & { mean?: number; std?: number }): Tensor<'float32'> {
  checkShape(shape);
  const rng = new Random(options.seed);
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  const data = new Float32Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = mean + std * rng.normal();
  return fromArray(data, shape, 'float32', options);
}

/** Copies `t` to `backend` (a new tensor; `t` is left as it is). */
export function moveTo<D extends DType>(t: Tensor<D>, backend: Backend): Tensor<D> {
  return fromArray(t.dataSync(), t.shape, t.dtype, { backend });
}
