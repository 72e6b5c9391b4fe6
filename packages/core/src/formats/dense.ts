import { PruneError, assert } from '../errors.js';
import { type Shape, checkShape, sizeOf } from '../shape.js';
import { Tensor } from '../tensor.js';

/**
 * A dense float32 weight held on the host: row-major `values` of `shape`. The last axis is
 * the input dimension d_in; all leading axes together are the rows (output neurons).
 */
export interface HostWeight {
  /** Row-major elements. */
  readonly values: Float32Array;
  /** Shape; rank 1 or more, last axis = d_in. */
  readonly shape: Shape;
}

/** A weight to encode: a float32 {@link Tensor} (read with `dataSync`) or a {@link HostWeight}. */
export type WeightInput = Tensor | HostWeight;

/** A weight viewed as a `rows × columns` matrix on the host. */
export interface WeightMatrix {
  /** Row-major elements. */
  values: Float32Array;
  /** Original shape. */
  shape: readonly number[];
  /** Product of the leading axes. */
  rows: number;
  /** Size of the last axis (d_in). */
  columns: number;
}

/** Rows (product of the leading axes) and columns (last axis) of a rank ≥ 1 shape. */
export function matrixDims(shape: Shape, op: string): { rows: number; columns: number } {
  checkShape(shape, `${op}: shape`);
  assert(shape.length >= 1, 'SHAPE_MISMATCH', `${op}: a weight needs rank 1 or more (last axis = d_in); got a scalar`);
  const columns = shape[shape.length - 1];
  return { rows: sizeOf(shape.slice(0, -1)), columns };
}

/**
 * Reads a {@link WeightInput} into host memory as a matrix. A tensor is downloaded once;
 * a {@link HostWeight}'s array is used as it is (never modified).
 */
export function readWeight(weight: WeightInput, op: string): WeightMatrix {
  let values: Float32Array;
  let shape: readonly number[];
  if (weight instanceof Tensor) {
    if (weight.dtype !== 'float32') {
      throw new PruneError('DTYPE_MISMATCH', `${op}: the weight must be float32, got ${weight.dtype}; cast it first`);
    }
    values = weight.dataSync() as Float32Array;
    shape = [...weight.shape];
  } else {
    assert(
      weight !== null && typeof weight === 'object' && weight.values instanceof Float32Array,
      'INVALID_ARGUMENT',
      `${op}: pass a float32 Tensor or { values: Float32Array, shape }`,
    );
    shape = [...weight.shape];
    values = weight.values;
  }
  const { rows, columns } = matrixDims(shape, op);
  assert(
    values.length === rows * columns,
    'SHAPE_MISMATCH',
    () => `${op}: ${values.length} values do not fill shape [${shape.join(', ')}] (${rows * columns} elements)`,
  );
  return { values, shape, rows, columns };
}

/** Bytes of a dense float32 weight of `shape`. */
export function denseByteSize(shape: Shape): number {
  checkShape(shape);
  return sizeOf(shape) * 4;
}
