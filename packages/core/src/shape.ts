import { assert } from './errors.js';

/** A tensor shape: one non-negative integer per axis. `[]` is a scalar. */
export type Shape = readonly number[];

/** Number of elements of a tensor of `shape`. */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of `shape`, in elements. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Checks that `shape` holds only non-negative integers. */
export function checkShape(shape: Shape, what = 'shape'): void {
  assert(Array.isArray(shape), 'INVALID_ARGUMENT', `${what} must be an array of integers`);
  for (const d of shape) {
    assert(
      Number.isInteger(d) && d >= 0,
      'INVALID_ARGUMENT',
      () => `${what} [${shape.join(', ')}] has an invalid dimension ${d}; use non-negative integers`,
    );
  }
}

/** Resolves a possibly negative `axis` against `rank`, with a clear error when out of range. */
export function normalizeAxis(axis: number, rank: number): number {
  assert(
    Number.isInteger(axis) && axis >= -rank && axis < Math.max(rank, 1),
    'OUT_OF_RANGE',
    () => `axis ${axis} is out of range for a tensor of rank ${rank}; use an axis in [${-rank}, ${rank - 1}]`,
  );
  return axis < 0 ? axis + rank : axis;
}

/** Numpy-style broadcast of two shapes; throws `SHAPE_MISMATCH` when they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    assert(
      da === db || da === 1 || db === 1,
      'SHAPE_MISMATCH',
      () => `shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast (axis ${i}: ${da} vs ${db})`,
    );
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** True when two shapes are equal axis by axis. */
export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
