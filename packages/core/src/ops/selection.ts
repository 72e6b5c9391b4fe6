import type { DType } from '../dtype.js';
import { PruneError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { run, runMulti } from './dispatch.js';

// Every op here works along the last axis and follows one ordering rule: NaN counts as
// larger than +Infinity, -0 equals +0, and ties go to the lower index — the order a stable
// ascending sort produces (for `largest`/`descending`: larger first, ties still by index).

/** Options of {@link topk}. */
export interface TopkOptions {
  /** How many elements to take from each row, 0 ≤ k ≤ row length. */
  k: number;
  /**
   * Take the largest (true) or the smallest (false) elements.
   * @defaultValue true
   */
  largest?: boolean;
}

/** Options of {@link kthValue}. */
export interface KthValueOptions {
  /** Position in the sorted row, counted from 1 (as `torch.kthvalue`), 1 ≤ k ≤ row length. */
  k: number;
  /**
   * Count from the largest (true) or the smallest (false) element.
   * @defaultValue false
   */
  largest?: boolean;
}

/** Options of {@link argsort}. */
export interface ArgsortOptions {
  /**
   * Sort from the largest down instead of from the smallest up; ties keep index order
   * either way.
   * @defaultValue false
   */
  descending?: boolean;
}

/** Options of {@link selectMask}. */
export interface SelectMaskOptions {
  /** How many elements to mark in each row, 0 ≤ k ≤ row length. */
  k: number;
  /**
   * Mark the largest (true) or the smallest (false) elements.
   * @defaultValue false
   */
  largest?: boolean;
}

/** Values and int32 indices returned by {@link topk} and {@link kthValue}. */
export interface ValuesAndIndices<D extends DType = DType> {
  /** The selected elements. */
  values: Tensor<D>;
  /** Their positions along the last axis (int32). */
  indices: Tensor<'int32'>;
}

const SELECTABLE: readonly DType[] = ['float32', 'int32'];

/** Checks the tensor argument of a selection op; returns the row length. */
function checkRows(op: string, x: unknown): number {
  if (!(x instanceof Tensor)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: x must be a Tensor, got ${x === null ? 'null' : typeof x}`);
  }
  if (!SELECTABLE.includes(x.dtype)) {
    throw new PruneError('DTYPE_MISMATCH', `${op}: takes float32 or int32 tensors, got ${x.dtype}; cast it with cast(x, 'float32') first`);
  }
  if (x.rank === 0) {
    throw new PruneError('OUT_OF_RANGE', `${op}: works along the last axis, but x is a scalar (rank 0); reshape it to [1] first`);
  }
  return x.shape[x.rank - 1];
}

/** Checks that `k` is an integer in [min, n]. */
function checkK(op: string, k: unknown, min: number, n: number): number {
  if (typeof k !== 'number' || !Number.isInteger(k)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: k must be an integer, got ${String(k)}`);
  }
  if (k < min || k > n) {
    throw new PruneError(
      'OUT_OF_RANGE',
      n < min
        ? `${op}: k = ${k} is impossible because the last axis is empty; give rows of length at least ${min}`
        : `${op}: k = ${k} is out of range for rows of length ${n}; use an integer k in [${min}, ${n}]`,
    );
  }
  return k;
}

function checkFlag(op: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new PruneError('INVALID_ARGUMENT', `${op}: ${name} must be true or false, got ${String(value)}`);
  }
  return value;
}

function checkOptions(op: string, options: unknown): asserts options is Record<string, unknown> {
  if (options === null || typeof options !== 'object') {
    throw new PruneError('INVALID_ARGUMENT', `${op}: needs an options object such as { k: 1 }`);
  }
}

/**
 * The `k` largest (or smallest) elements of each row along the last axis, best first, with
 * their indices — like `torch.topk(x, k, dim=-1, sorted=True)`, with ties ordered by index.
 * Runs as a partial selection followed by a sort of the k winners only.
 *
 * @param x - float32 or int32 tensor of rank ≥ 1
 * @param options - `k` and which end to take
 * @returns `values` (x's dtype) and `indices` (int32), both of shape `[..., k]`
 *
 * @example
 * ```ts
 * const { values, indices } = topk(tensor([[3, 1, 3, 2]]), { k: 2 }); // [[3, 3]], [[0, 2]]
 * ```
 */
export function topk<D extends DType>(x: Tensor<D>, options: TopkOptions): ValuesAndIndices<D> {
  const n = checkRows('topk', x);
  checkOptions('topk', options);
  const k = checkK('topk', options.k, 0, n);
  const largest = checkFlag('topk', 'largest', options.largest, true);
  const shape = [...x.shape.slice(0, -1), k];
  const [values, indices] = runMulti('topk', 'topk', [x], (kernel, r) => kernel(r[0], { k, largest }), [
    { shape, dtype: x.dtype },
    { shape, dtype: 'int32' },
  ]);
  return { values: values as Tensor<D>, indices: indices as Tensor<'int32'> };
}

/**
 * The k-th smallest (or largest) element of each row along the last axis, k counted from 1,
 * with its index — like `torch.kthvalue(x, k, dim=-1)`. Among equal values the index is the
 * one a stable sort puts at position k. A selection, O(n) per row, not a sort.
 *
 * @param x - float32 or int32 tensor of rank ≥ 1 with non-empty rows
 * @param options - `k` and which end to count from
 * @returns `values` (x's dtype) and `indices` (int32), shape `x.shape` without the last axis
 */
export function kthValue<D extends DType>(x: Tensor<D>, options: KthValueOptions): ValuesAndIndices<D> {
  const n = checkRows('kthValue', x);
  checkOptions('kthValue', options);
  const k = checkK('kthValue', options.k, 1, n);
  const largest = checkFlag('kthValue', 'largest', options.largest, false);
  const shape = x.shape.slice(0, -1);
  const [values, indices] = runMulti('kthValue', 'kthValue', [x], (kernel, r) => kernel(r[0], { k, largest }), [
    { shape, dtype: x.dtype },
    { shape, dtype: 'int32' },
  ]);
  return { values: values as Tensor<D>, indices: indices as Tensor<'int32'> };
}

/**
 * Stable argsort of each row along the last axis: int32 indices that order the row
 * ascending (or descending), equal values keeping their index order.
 *
 * @param x - float32 or int32 tensor of rank ≥ 1
 * @param options - sort direction
 * @returns int32 tensor of x's shape
 */
export function argsort(x: Tensor, options: ArgsortOptions = {}): Tensor<'int32'> {
  checkRows('argsort', x);
  checkOptions('argsort', options);
  const descending = checkFlag('argsort', 'descending', options.descending, false);
  return run('argsort', 'argsort', [x], (kernel, r) => kernel(r[0], { descending }), { shape: x.shape, dtype: 'int32' }) as Tensor<'int32'>;
}

/**
 * bool mask, true at exactly the `k` smallest (or largest) elements of each row along the
 * last axis — the first k indices of a stable sort, so ties go to the lower index. A
 * selection, O(n) per row, not a sort.
 *
 * @param x - float32 or int32 tensor of rank ≥ 1
 * @param options - `k` and which end to mark
 * @returns bool tensor of x's shape
 *
 * @example
 * ```ts
 * selectMask(tensor([[2, 1, 1, 3]]), { k: 2 }); // [[false, true, true, false]]
 * ```
 */
export function selectMask(x: Tensor, options: SelectMaskOptions): Tensor<'bool'> {
  const n = checkRows('selectMask', x);
  checkOptions('selectMask', options);
  const k = checkK('selectMask', options.k, 0, n);
  const largest = checkFlag('selectMask', 'largest', options.largest, false);
  return run('selectMask', 'selectMask', [x], (kernel, r) => kernel(r[0], { k, largest }), { shape: x.shape, dtype: 'bool' }) as Tensor<'bool'>;
}
