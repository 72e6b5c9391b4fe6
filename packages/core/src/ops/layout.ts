import type { DType } from '../dtype.js';
import { PruneError, assert } from '../errors.js';
import { type Shape, sizeOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { fromArray } from './creation.js';
import { run } from './dispatch.js';

function shapeText(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

function checkTensor(op: string, value: unknown, what = 'x'): asserts value is Tensor {
  if (!(value instanceof Tensor)) {
    throw new PruneError('INVALID_ARGUMENT', `${op}: ${what} must be a Tensor, got ${value === null ? 'null' : typeof value}`);
  }
}

/** Resolves `axis` (negative counts from the end) against `rank` with the op's name in the error. */
function resolveAxis(op: string, axis: number, rank: number): number {
  assert(
    Number.isInteger(axis) && axis >= -rank && axis < rank,
    'OUT_OF_RANGE',
    () => `${op}: axis ${axis} is out of range for a tensor of rank ${rank}; use an integer in [${-rank}, ${rank - 1}]`,
  );
  return axis < 0 ? axis + rank : axis;
}

/**
 * The same elements in a new shape of equal size. One entry may be `-1`, meaning "whatever
 * makes the sizes match".
 * @param x - tensor to reshape
 * @param shape - new shape; at most one `-1`
 * @returns a tensor of `shape` (sharing storage where the backend allows; tensors are immutable)
 * @example
 * ```ts
 * reshape(x, [2, -1]); // [2, 3, 4] → [2, 12]
 * ```
 */
export function reshape<D extends DType>(x: Tensor<D>, shape: readonly number[]): Tensor<D> {
  checkTensor('reshape', x);
  assert(Array.isArray(shape), 'INVALID_ARGUMENT', 'reshape: shape must be an array of integers');
  let inferred = -1;
  let known = 1;
  shape.forEach((d, i) => {
    if (d === -1) {
      assert(inferred < 0, 'INVALID_ARGUMENT', () => `reshape: shape ${shapeText(shape)} has more than one -1; give every axis but one explicitly`);
      inferred = i;
    } else {
      assert(Number.isInteger(d) && d >= 0, 'INVALID_ARGUMENT', () => `reshape: shape ${shapeText(shape)} has an invalid dimension ${d}; use non-negative integers and at most one -1`);
      known *= d;
    }
  });
  const out = [...shape];
  if (inferred >= 0) {
    assert(
      known > 0 && x.size % known === 0,
      'SHAPE_MISMATCH',
      () => `reshape: cannot infer the -1 in ${shapeText(shape)} for ${x.size} elements (shape ${shapeText(x.shape)}); the other axes must divide the size`,
    );
    out[inferred] = x.size / known;
  }
  assert(
    sizeOf(out) === x.size,
    'SHAPE_MISMATCH',
    () => `reshape: cannot reshape ${shapeText(x.shape)} (${x.size} elements) to ${shapeText(out)} (${sizeOf(out)} elements); the sizes must be equal`,
  );
  return run('reshape', 'reshape', [x], (k, r) => k(r[0], { shape: out }), { shape: out, dtype: x.dtype }) as Tensor<D>;
}

/**
 * Permutes axes: output axis i is input axis `perm[i]`.
 * @param x - tensor to transpose
 * @param perm - a permutation of the axes (negative entries count from the end); the axes
 *   reversed when omitted (a matrix transpose for rank 2)
 * @example
 * ```ts
 * transpose(x, [0, 2, 1]); // [b, m, n] → [b, n, m]
 * ```
 */
export function transpose<D extends DType>(x: Tensor<D>, perm?: readonly number[]): Tensor<D> {
  checkTensor('transpose', x);
  const rank = x.rank;
  const p = perm === undefined ? x.shape.map((_, i) => rank - 1 - i) : perm.map((a) => resolveAxis('transpose', a, rank));
  assert(
    p.length === rank && new Set(p).size === rank,
    'INVALID_ARGUMENT',
    () => `transpose: perm [${perm?.join(', ')}] is not a permutation of the ${rank} axes of ${shapeText(x.shape)}; list each axis exactly once`,
  );
  const outShape = p.map((a) => x.shape[a]);
  return run('transpose', 'transpose', [x], (k, r) => k(r[0], { perm: p, outShape }), { shape: outShape, dtype: x.dtype }) as Tensor<D>;
}

/**
 * A contiguous block of `x`.
 * @param x - tensor to slice
 * @param begin - start index per axis; missing trailing axes start at 0
 * @param size - extent per axis, `-1` meaning "to the end"; missing axes run to the end
 * @example
 * ```ts
 * slice(w, [0, 128], [-1, 64]); // all rows, columns 128..191
 * ```
 */
export function slice<D extends DType>(x: Tensor<D>, begin: readonly number[], size?: readonly number[]): Tensor<D> {
  checkTensor('slice', x);
  const rank = x.rank;
  assert(Array.isArray(begin) && begin.length <= rank, 'INVALID_ARGUMENT', () => `slice: begin must be an array of at most ${rank} integers for shape ${shapeText(x.shape)}`);
  assert(size === undefined || (Array.isArray(size) && size.length <= rank), 'INVALID_ARGUMENT', () => `slice: size must be an array of at most ${rank} integers for shape ${shapeText(x.shape)}`);
  const b: number[] = [];
  const s: number[] = [];
  for (let a = 0; a < rank; a++) {
    const dim = x.shape[a];
    const start = begin[a] ?? 0;
    assert(
      Number.isInteger(start) && start >= 0 && start <= dim,
      'OUT_OF_RANGE',
      () => `slice: begin ${start} on axis ${a} is outside [0, ${dim}] for shape ${shapeText(x.shape)}`,
    );
    const want = size?.[a] ?? -1;
    const extent = want === -1 ? dim - start : want;
    assert(
      Number.isInteger(extent) && extent >= 0 && start + extent <= dim,
      'OUT_OF_RANGE',
      () => `slice: size ${want} from begin ${start} on axis ${a} runs past the axis length ${dim} of ${shapeText(x.shape)}; use -1 for "to the end"`,
    );
    b.push(start);
    s.push(extent);
  }
  return run('slice', 'slice', [x], (k, r) => k(r[0], { begin: b, size: s }), { shape: s, dtype: x.dtype }) as Tensor<D>;
}

/**
 * A copy of `x` in new storage.
 * @param x - tensor to copy
 */
export function clone<D extends DType>(x: Tensor<D>): Tensor<D> {
  checkTensor('clone', x);
  return slice(x, x.shape.map(() => 0));
}

function checkList(op: string, xs: readonly Tensor[]): void {
  assert(Array.isArray(xs) && xs.length > 0, 'INVALID_ARGUMENT', `${op}: needs a non-empty array of tensors`);
  xs.forEach((t, i) => checkTensor(op, t, `xs[${i}]`));
  const first = xs[0];
  for (let i = 1; i < xs.length; i++) {
    const t = xs[i];
    assert(
      t.dtype === first.dtype,
      'DTYPE_MISMATCH',
      () => `${op}: xs[${i}] is ${t.dtype} but xs[0] is ${first.dtype}; cast them to one dtype first`,
    );
    assert(
      t.rank === first.rank,
      'SHAPE_MISMATCH',
      () => `${op}: xs[${i}] has rank ${t.rank} (${shapeText(t.shape)}) but xs[0] has rank ${first.rank} (${shapeText(first.shape)}); all inputs need the same rank`,
    );
  }
}

/**
 * Joins tensors along an existing axis.
 * @param xs - tensors of one dtype and rank, equal in every axis but `axis`
 * @param axis - the axis to join along (negative counts from the end); 0 when omitted
 * @example
 * ```ts
 * concat([a, b], 1); // [2, 3] and [2, 5] → [2, 8]
 * ```
 */
export function concat<D extends DType>(xs: readonly Tensor<D>[], axis = 0): Tensor<D> {
  checkList('concat', xs);
  const first = xs[0];
  assert(first.rank > 0, 'INVALID_ARGUMENT', 'concat: cannot join rank-0 tensors along an axis; use stack() to make a new axis');
  const ax = resolveAxis('concat', axis, first.rank);
  const outShape = [...first.shape];
  outShape[ax] = 0;
  xs.forEach((t, i) => {
    for (let a = 0; a < first.rank; a++) {
      assert(
        a === ax || t.shape[a] === first.shape[a],
        'SHAPE_MISMATCH',
        () => `concat: xs[${i}] has shape ${shapeText(t.shape)} but xs[0] has ${shapeText(first.shape)}; they may differ only on axis ${ax}`,
      );
    }
    outShape[ax] += t.shape[ax];
  });
  return run('concat', 'concat', xs, (k, r) => k(r, { axis: ax, outShape }), { shape: outShape, dtype: first.dtype }) as Tensor<D>;
}

/**
 * Inserts an axis of length 1.
 * @param x - tensor
 * @param axis - position of the new axis in the output, in [-(rank+1), rank]
 */
export function expandDims<D extends DType>(x: Tensor<D>, axis: number): Tensor<D> {
  checkTensor('expandDims', x);
  const ax = resolveAxis('expandDims', axis, x.rank + 1);
  const shape = [...x.shape];
  shape.splice(ax, 0, 1);
  return reshape(x, shape);
}

/**
 * Removes axes of length 1.
 * @param x - tensor
 * @param axis - the axis or axes to remove (each must have length 1); all length-1 axes when omitted
 */
export function squeeze<D extends DType>(x: Tensor<D>, axis?: number | readonly number[]): Tensor<D> {
  checkTensor('squeeze', x);
  let drop: Set<number>;
  if (axis === undefined) {
    drop = new Set(x.shape.flatMap((d, i) => (d === 1 ? [i] : [])));
  } else {
    const axes = typeof axis === 'number' ? [axis] : axis;
    drop = new Set(axes.map((a) => resolveAxis('squeeze', a, x.rank)));
    for (const a of drop) {
      assert(
        x.shape[a] === 1,
        'INVALID_ARGUMENT',
        () => `squeeze: axis ${a} of ${shapeText(x.shape)} has length ${x.shape[a]}, not 1; only length-1 axes can be removed`,
      );
    }
  }
  return reshape(x, x.shape.filter((_, i) => !drop.has(i)));
}

/**
 * Joins tensors of equal shape along a new axis.
 * @param xs - tensors of one dtype and shape
 * @param axis - position of the new axis in the output, in [-(rank+1), rank]; 0 when omitted
 * @example
 * ```ts
 * stack([a, b]); // two [3, 4] → [2, 3, 4]
 * ```
 */
export function stack<D extends DType>(xs: readonly Tensor<D>[], axis = 0): Tensor<D> {
  checkList('stack', xs);
  const first = xs[0];
  xs.forEach((t, i) =>
    assert(
      t.shape.every((d, a) => d === first.shape[a]),
      'SHAPE_MISMATCH',
      () => `stack: xs[${i}] has shape ${shapeText(t.shape)} but xs[0] has ${shapeText(first.shape)}; stacked tensors must have equal shapes`,
    ),
  );
  const ax = resolveAxis('stack', axis, first.rank + 1);
  const expanded = xs.map((t) => expandDims(t, ax));
  try {
    return concat(expanded, ax);
  } finally {
    for (const t of expanded) t.dispose();
  }
}

/** Reads `indices` (tensor or array) to host integers, checking dtype, rank and range. */
function hostIndices(op: string, indices: Tensor<'int32'> | readonly number[], dim: number, axis: number, shape: Shape): Int32Array {
  let values: ArrayLike<number>;
  if (indices instanceof Tensor) {
    assert(indices.dtype === 'int32', 'DTYPE_MISMATCH', () => `${op}: indices must be int32, got ${indices.dtype}; cast them with cast(indices, 'int32')`);
    assert(indices.rank === 1, 'INVALID_ARGUMENT', () => `${op}: indices must be 1-D, got shape ${shapeText(indices.shape)}; flatten them with reshape(indices, [-1])`);
    values = indices.dataSync();
  } else {
    assert(Array.isArray(indices), 'INVALID_ARGUMENT', `${op}: indices must be an int32 tensor or an array of integers`);
    values = indices;
  }
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    assert(
      Number.isInteger(v) && v >= 0 && v < dim,
      'OUT_OF_RANGE',
      () => `${op}: index ${v} (position ${i}) is outside [0, ${dim - 1}] on axis ${axis} of ${shapeText(shape)}`,
    );
    out[i] = v;
  }
  return out;
}

/** Runs `body` with `indices` as an int32 tensor on `x`'s backend, made (and disposed) from an array if needed. */
function withIndexTensor<T>(x: Tensor, indices: Tensor<'int32'> | readonly number[], host: Int32Array, body: (t: Tensor) => T): T {
  if (indices instanceof Tensor) return body(indices);
  const t = fromArray(host, [host.length], 'int32', { backend: x.backend });
  try {
    return body(t);
  } finally {
    t.dispose();
  }
}

/**
 * Takes the slices at `indices` along `axis` (repeats allowed). Tensor indices are read
 * back to the host once to check their range.
 * @param x - tensor of rank ≥ 1
 * @param indices - 1-D int32 tensor or array of integers in [0, x.shape[axis])
 * @param axis - the axis to index (negative counts from the end); 0 when omitted
 * @returns `x.shape` with `axis` replaced by the number of indices
 * @example
 * ```ts
 * gather(w, [0, 2], 1); // keep columns 0 and 2
 * ```
 */
export function gather<D extends DType>(x: Tensor<D>, indices: Tensor<'int32'> | readonly number[], axis = 0): Tensor<D> {
  checkTensor('gather', x);
  assert(x.rank > 0, 'INVALID_ARGUMENT', 'gather: x must have rank ≥ 1; a scalar has no axis to index');
  const ax = resolveAxis('gather', axis, x.rank);
  const host = hostIndices('gather', indices, x.shape[ax], ax, x.shape);
  const outShape = [...x.shape];
  outShape[ax] = host.length;
  return withIndexTensor(x, indices, host, (idx) =>
    run('gather', 'gather', [x, idx], (k, r) => k(r[0], r[1], { axis: ax, outShape }), { shape: outShape, dtype: x.dtype }),
  ) as Tensor<D>;
}

/**
 * A copy of `x` with the slices at `indices` along `axis` replaced by the slices of
 * `updates`, in order. Tensor indices are read back to the host once to check them.
 * @param x - tensor of rank ≥ 1
 * @param indices - 1-D int32 tensor or array of distinct integers in [0, x.shape[axis])
 * @param updates - same dtype as `x`, same shape except `indices.length` along `axis`
 * @param axis - the axis to index (negative counts from the end); 0 when omitted
 * @example
 * ```ts
 * scatter(w, [1, 3], zeros([2, 8])); // rows 1 and 3 of a [4, 8] matrix set to 0
 * ```
 */
export function scatter<D extends DType>(x: Tensor<D>, indices: Tensor<'int32'> | readonly number[], updates: Tensor<D>, axis = 0): Tensor<D> {
  checkTensor('scatter', x);
  checkTensor('scatter', updates, 'updates');
  assert(x.rank > 0, 'INVALID_ARGUMENT', 'scatter: x must have rank ≥ 1; a scalar has no axis to index');
  const ax = resolveAxis('scatter', axis, x.rank);
  const host = hostIndices('scatter', indices, x.shape[ax], ax, x.shape);
  const seen = new Set<number>();
  for (const v of host) {
    assert(!seen.has(v), 'INVALID_ARGUMENT', () => `scatter: index ${v} appears more than once; indices must be distinct so the result does not depend on write order`);
    seen.add(v);
  }
  assert(updates.dtype === x.dtype, 'DTYPE_MISMATCH', () => `scatter: updates are ${updates.dtype} but x is ${x.dtype}; cast one of them`);
  const want = [...x.shape];
  want[ax] = host.length;
  assert(
    updates.rank === want.length && updates.shape.every((d, a) => d === want[a]),
    'SHAPE_MISMATCH',
    () => `scatter: updates have shape ${shapeText(updates.shape)}, expected ${shapeText(want)} (x's shape with ${host.length} on axis ${ax})`,
  );
  return withIndexTensor(x, indices, host, (idx) =>
    run('scatter', 'scatter', [x, idx, updates], (k, r) => k(r[0], r[1], r[2], { axis: ax }), { shape: x.shape, dtype: x.dtype }),
  ) as Tensor<D>;
}
