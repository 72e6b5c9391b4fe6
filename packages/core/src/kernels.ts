import type { DType } from './dtype.js';
import type { Shape } from './shape.js';

/**
 * A backend's view of a tensor passed to a kernel: its backend-owned storage `handle`
 * together with the shape and dtype core keeps for it.
 * @typeParam H - the backend's storage handle type
 */
export interface TensorRef<H> {
  /** Backend-owned storage. */
  readonly handle: H;
  /** Shape, row-major. */
  readonly shape: Shape;
  /** Element type. */
  readonly dtype: DType;
}

/**
 * Element-wise unary operations. `abs`, `neg`, `square`, `sign` keep int32; `isNaN` and
 * `isFinite` return bool; `logicalNot` takes and returns bool; the rest are float32 only.
 */
export type UnaryOp =
  | 'abs'
  | 'neg'
  | 'square'
  | 'sqrt'
  | 'rsqrt'
  | 'exp'
  | 'log'
  | 'sigmoid'
  | 'logSigmoid'
  | 'tanh'
  | 'relu'
  | 'gelu'
  | 'silu'
  | 'sign'
  | 'reciprocal'
  | 'floor'
  | 'ceil'
  | 'round'
  | 'isNaN'
  | 'isFinite'
  | 'logicalNot';

/** Element-wise binary arithmetic with numpy broadcasting. Inputs share one dtype. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum' | 'pow';

/** Element-wise comparisons and logical connectives with broadcasting; output is bool. */
export type CompareOp =
  | 'equal'
  | 'notEqual'
  | 'less'
  | 'lessEqual'
  | 'greater'
  | 'greaterEqual'
  | 'logicalAnd'
  | 'logicalOr';

/**
 * Reductions over a set of axes. `norm1` is Σ|x|, `norm2` is sqrt(Σx²). `max`/`min`
 * propagate NaN. `any`/`all` take bool.
 */
export type ReduceOp = 'sum' | 'mean' | 'max' | 'min' | 'prod' | 'norm1' | 'norm2' | 'any' | 'all';

/**
 * The kernel set every backend may implement. Core ops validate arguments, compute output
 * shapes and dtypes, and then call these by name; a backend that leaves a kernel out gets
 * the reference implementation (data copied to the host and back), and
 * {@link backendCapabilities} reports which kernels are native.
 *
 * Ordering rule for every selection kernel (`topk`, `kthValue`, `argsort`, `selectMask`,
 * `argReduce`): NaN counts as larger than +Infinity, and ties go to the lower index — the
 * order a stable ascending sort produces.
 *
 * @typeParam H - the backend's storage handle type
 */
export interface Kernels<H> {
  /** Converts to `dtype` (float → int truncates toward zero; bool is `x != 0`). */
  cast(x: TensorRef<H>, attrs: { dtype: DType }): H;
  /** Element-wise unary op. */
  unary(x: TensorRef<H>, attrs: { op: UnaryOp }): H;
  /** Element-wise binary op, broadcasting to `outShape`. */
  binary(a: TensorRef<H>, b: TensorRef<H>, attrs: { op: BinaryOp; outShape: Shape }): H;
  /** Element-wise comparison, broadcasting to `outShape`; returns bool. */
  compare(a: TensorRef<H>, b: TensorRef<H>, attrs: { op: CompareOp; outShape: Shape }): H;
  /** `cond ? a : b` element-wise, broadcasting all three to `outShape`. */
  where(cond: TensorRef<H>, a: TensorRef<H>, b: TensorRef<H>, attrs: { outShape: Shape }): H;
  /** Reduces `axes` (sorted, distinct, non-negative) away; `outShape` omits them. */
  reduce(x: TensorRef<H>, attrs: { op: ReduceOp; axes: readonly number[]; outShape: Shape }): H;
  /** Index (int32) of the maximum or minimum along `axis`, which is removed. */
  argReduce(x: TensorRef<H>, attrs: { op: 'argmax' | 'argmin'; axis: number }): H;
  /** Cumulative sum along `axis`, optionally exclusive and/or from the end. */
  cumsum(x: TensorRef<H>, attrs: { axis: number; exclusive: boolean; reverse: boolean }): H;
  /**
   * Matrix product over the last two axes, leading (batch) axes broadcast. float32 only.
   */
  matmul(
    a: TensorRef<H>,
    b: TensorRef<H>,
    attrs: { transposeA: boolean; transposeB: boolean; outShape: Shape },
  ): H;
  /** Permutes axes: output axis i is input axis `perm[i]`. */
  transpose(x: TensorRef<H>, attrs: { perm: readonly number[]; outShape: Shape }): H;
  /** Same elements, new shape of equal size. */
  reshape(x: TensorRef<H>, attrs: { shape: Shape }): H;
  /** Contiguous block starting at `begin` with extent `size` per axis. */
  slice(x: TensorRef<H>, attrs: { begin: readonly number[]; size: readonly number[] }): H;
  /** Joins tensors along `axis`. */
  concat(xs: readonly TensorRef<H>[], attrs: { axis: number; outShape: Shape }): H;
  /** Takes the slices at int32 `indices` (1-D, in range) along `axis`. */
  gather(x: TensorRef<H>, indices: TensorRef<H>, attrs: { axis: number; outShape: Shape }): H;
  /**
   * Copy of `x` whose slices at int32 `indices` (1-D, distinct, in range) along `axis` are
   * replaced by the matching slices of `updates`.
   */
  scatter(x: TensorRef<H>, indices: TensorRef<H>, updates: TensorRef<H>, attrs: { axis: number }): H;
  /** Softmax (or log-softmax when `log`) along `axis`, max-subtracted for stability. */
  softmax(x: TensorRef<H>, attrs: { axis: number; log: boolean }): H;
  /** The k largest (or smallest) along the last axis, best first: `[values, int32 indices]`. */
  topk(x: TensorRef<H>, attrs: { k: number; largest: boolean }): [H, H];
  /**
   * The k-th smallest (or largest) along the last axis, k counted from 1, as
   * `[values, int32 indices]` with the last axis removed. The index is the element's
   * position in a stable sort.
   */
  kthValue(x: TensorRef<H>, attrs: { k: number; largest: boolean }): [H, H];
  /** Stable argsort (int32) along the last axis. */
  argsort(x: TensorRef<H>, attrs: { descending: boolean }): H;
  /**
   * bool mask, same shape as `x`, true at exactly the `k` smallest (or largest) elements of
   * each last-axis row, ties to the lower index. A selection, not a sort: O(n) per row.
   */
  selectMask(x: TensorRef<H>, attrs: { k: number; largest: boolean }): H;
  /** Lower Cholesky factor of each `[..., n, n]` matrix; NaN where not positive definite. */
  cholesky(x: TensorRef<H>): H;
  /** Inverse of each lower (or upper) triangular `[..., n, n]` matrix. */
  triangularInverse(x: TensorRef<H>, attrs: { lower: boolean }): H;
  /**
   * Cosine similarity of every row of `a` `[n, d]` with every row of `b` `[m, d]`:
   * `[n, m]`. A zero row has similarity 0 with everything.
   */
  cosineSimilarity(a: TensorRef<H>, b: TensorRef<H>, attrs: { outShape: Shape }): H;
}

/** Name of a kernel in {@link Kernels}. */
export type KernelName = keyof Kernels<unknown>;

/** All kernel names, in documentation order. */
export const KERNEL_NAMES: readonly KernelName[] = [
  'cast',
  'unary',
  'binary',
  'compare',
  'where',
  'reduce',
  'argReduce',
  'cumsum',
  'matmul',
  'transpose',
  'reshape',
  'slice',
  'concat',
  'gather',
  'scatter',
  'softmax',
  'topk',
  'kthValue',
  'argsort',
  'selectMask',
  'cholesky',
  'triangularInverse',
  'cosineSimilarity',
];
