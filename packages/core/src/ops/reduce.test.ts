import { describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import type { ReduceOp } from '../kernels.js';
import { Random } from '../random.js';
import { type Shape, sizeOf, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { scalar, tensor } from './creation.js';
import * as rd from './reduce.js';

function expectValues(t: Tensor, expected: readonly number[], tol = 0): void {
  const got = Array.from(t.dataSync());
  expect(got.length).toBe(expected.length);
  got.forEach((g, i) => {
    const e = expected[i];
    if (Number.isNaN(e)) expect(g, `element ${i}`).toBeNaN();
    else if (!Number.isFinite(e)) expect(g, `element ${i}`).toBe(e);
    else expect(Math.abs(g - e), `element ${i}: ${g} vs ${e}`).toBeLessThanOrEqual(tol * (1 + Math.abs(e)));
  });
}

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PruneError);
    expect((e as PruneError).code).toBe(code);
    return;
  }
  throw new Error(`expected a PruneError ${code}, but nothing was thrown`);
}

const f32 = (values: number[], shape?: Shape): Tensor<'float32'> => tensor(values, shape ?? [values.length], 'float32');
const i32 = (values: number[], shape?: Shape): Tensor<'int32'> => tensor(values, shape ?? [values.length], 'int32');
const bool = (values: number[], shape?: Shape): Tensor<'bool'> => tensor(values, shape ?? [values.length], 'bool');

describe('reductions', () => {
  const m = f32([1, 2, 3, 4, 5, 6], [2, 3]);

  it('reduce every axis by default, or the axes asked for', () => {
    const all = rd.sum(m);
    expect(all.shape).toEqual([]);
    expectValues(all, [21]);
    expectValues(rd.sum(m, { axis: 0 }), [5, 7, 9]);
    expectValues(rd.sum(m, { axis: -1 }), [6, 15]);
    expectValues(rd.sum(m, { axis: [1, 0] }), [21]);
    expectValues(rd.mean(m, { axis: 1 }), [2, 5]);
    expectValues(rd.max(m, { axis: 0 }), [4, 5, 6]);
    expectValues(rd.min(m, { axis: 1 }), [1, 4]);
    expectValues(rd.prod(m, { axis: 0 }), [4, 10, 18]);
    const none = rd.sum(m, { axis: [] });
    expect(none.shape).toEqual([2, 3]);
    expectValues(none, [1, 2, 3, 4, 5, 6]);
  });

  it('keepDims leaves unit axes in place', () => {
    const r = rd.sum(m, { axis: 1, keepDims: true });
    expect(r.shape).toEqual([2, 1]);
    expectValues(r, [6, 15]);
    expect(rd.max(m, { keepDims: true }).shape).toEqual([1, 1]);
  });

  it('norms are Σ|x| and √Σx²', () => {
    const v = f32([3, -4]);
    expectValues(rd.norm(v, { ord: 1 }), [7]);
    expectValues(rd.norm(v), [5]);
    expectValues(rd.norm(f32([3, 4, 0, -1], [2, 2]), { ord: 2, axis: 0 }), [3, Math.sqrt(17)], 2e-7);
  });

  it('give the documented values over no elements', () => {
    const empty = f32([], [2, 0]);
    expectValues(rd.sum(empty, { axis: 1 }), [0, 0]);
    expectValues(rd.prod(empty, { axis: 1 }), [1, 1]);
    expectValues(rd.mean(empty, { axis: 1 }), [NaN, NaN]);
    expectValues(rd.max(empty, { axis: 1 }), [-Infinity, -Infinity]);
    expectValues(rd.min(empty, { axis: 1 }), [Infinity, Infinity]);
    expectValues(rd.norm(empty, { axis: 1 }), [0, 0]);
    expectValues(rd.max(i32([], [0])), [-2147483648]);
    expectValues(rd.min(i32([], [0])), [2147483647]);
    expectValues(rd.any(bool([], [0])), [0]);
    expectValues(rd.all(bool([], [0])), [1]);
    expect(rd.sum(empty, { axis: 0 }).shape).toEqual([0]);
  });

  it('propagate NaN through max and min', () => {
    const x = f32([1, NaN, 3, 4, 5, 6], [2, 3]);
    expectValues(rd.max(x, { axis: 1 }), [NaN, 6]);
    expectValues(rd.min(x, { axis: 0 }), [1, NaN, 3]);
    expectValues(rd.max(f32([NaN, 1, 2])), [NaN]);
  });

  it('accumulate float32 sums in float64', () => {
    // In float32, 2²⁴ + 1 rounds back to 2²⁴, so a float32 running sum would stay at 2²⁴.
    expectValues(rd.sum(f32([16777216, 1, 1, 1, 1])), [16777220]);
    expectValues(rd.mean(f32([16777216, 1, 1, 1, 1, 16777216, 2, 0])), [4194305]);
  });

  it('keep int32 and wrap; count trues of a bool tensor as int32', () => {
    const s = rd.sum(i32([2147483647, 1]));
    expect(s.dtype).toBe('int32');
    expectValues(s, [-2147483648]);
    expectValues(rd.prod(i32([65536, 65536, 3])), [0]);
    const count = rd.sum(bool([1, 0, 1, 1, 0, 1], [2, 3]), { axis: 1 });
    expect(count.dtype).toBe('int32');
    expectValues(count, [2, 2]);
    expectValues(rd.any(bool([0, 0, 1, 0], [2, 2]), { axis: 1 }), [0, 1]);
    expectValues(rd.all(bool([1, 1, 1, 0], [2, 2]), { axis: 1 }), [1, 0]);
  });

  it('reduce a scalar to itself', () => {
    expectValues(rd.sum(scalar(2.5)), [2.5]);
    expectValues(rd.mean(scalar(2.5)), [2.5]);
  });

  it('match a brute-force reduction on random shapes and axis sets', () => {
    const rng = new Random(11);
    const ops: readonly ReduceOp[] = ['sum', 'mean', 'max', 'min', 'prod', 'norm1', 'norm2'];
    for (let trial = 0; trial < 80; trial++) {
      const rank = rng.int(5);
      const shape = Array.from({ length: rank }, () => rng.int(5));
      const axes = shape.map((_, i) => i).filter(() => rng.uniform() < 0.5);
      const values = Array.from({ length: sizeOf(shape) }, () => Math.fround(rng.uniform() * 3 - 1));
      const op = ops[trial % ops.length];
      const x = f32(values, shape);
      const options = { axis: axes };
      const got =
        op === 'norm1' ? rd.norm(x, { ...options, ord: 1 }) : op === 'norm2' ? rd.norm(x, options) : rd[op](x, options);
      expect(got.shape).toEqual(shape.filter((_, i) => !axes.includes(i)));
      expectValues(got, bruteReduce(op, shape, values, axes), 1e-6);
    }
  });

  it('reject bad axes and dtypes', () => {
    expectCode(() => rd.sum(m, { axis: 2 }), 'OUT_OF_RANGE');
    expectCode(() => rd.sum(m, { axis: -3 }), 'OUT_OF_RANGE');
    expectCode(() => rd.sum(m, { axis: [0, -2] }), 'INVALID_ARGUMENT');
    expectCode(() => rd.sum(m, { axis: 0.5 }), 'INVALID_ARGUMENT');
    expectCode(() => rd.sum(scalar(1), { axis: 0 }), 'OUT_OF_RANGE');
    expectCode(() => rd.mean(i32([1, 2])), 'DTYPE_MISMATCH');
    expectCode(() => rd.norm(i32([1, 2])), 'DTYPE_MISMATCH');
    expectCode(() => rd.max(bool([1])), 'DTYPE_MISMATCH');
    expectCode(() => rd.any(f32([1])), 'DTYPE_MISMATCH');
    expectCode(() => rd.norm(m, { ord: 3 as 2 }), 'INVALID_ARGUMENT');
    expectCode(() => rd.sum(null as unknown as Tensor), 'INVALID_ARGUMENT');
  });
});

/** Reduces by visiting every element and mapping it to its output slot, in float64. */
function bruteReduce(op: ReduceOp, shape: Shape, values: number[], axes: number[]): number[] {
  const outShape = shape.filter((_, i) => !axes.includes(i));
  const outStrides = stridesOf(outShape);
  const strides = stridesOf(shape);
  const groups: number[][] = Array.from({ length: sizeOf(outShape) }, () => []);
  values.forEach((v, flat) => {
    let o = 0;
    let k = 0;
    shape.forEach((d, i) => {
      const idx = Math.floor(flat / strides[i]) % d;
      if (!axes.includes(i)) o += idx * outStrides[k++];
    });
    groups[o].push(v);
  });
  return groups.map((g) => {
    switch (op) {
      case 'sum': return g.reduce((s, v) => s + v, 0);
      case 'mean': return g.reduce((s, v) => s + v, 0) / g.length;
      case 'max': return g.reduce((s, v) => Math.max(s, v), -Infinity);
      case 'min': return g.reduce((s, v) => Math.min(s, v), Infinity);
      case 'prod': return g.reduce((s, v) => s * v, 1);
      case 'norm1': return g.reduce((s, v) => s + Math.abs(v), 0);
      case 'norm2': return Math.sqrt(g.reduce((s, v) => s + v * v, 0));
      default: throw new Error(op);
    }
  });
}

describe('argmax and argmin', () => {
  it('pick the lowest index among ties', () => {
    const x = f32([1, 3, 3, 2, 0, 0], [2, 3]);
    const r = rd.argmax(x);
    expect(r.dtype).toBe('int32');
    expect(r.shape).toEqual([2]);
    expectValues(r, [1, 0]);
    expectValues(rd.argmin(x), [0, 1]);
    expectValues(rd.argmax(x, { axis: 0 }), [1, 0, 0]);
    expect(rd.argmin(x, { axis: 0, keepDims: true }).shape).toEqual([1, 3]);
  });

  it('treat NaN as the largest value', () => {
    const x = f32([1, NaN, 5, NaN, NaN, NaN, NaN, -1, -2], [3, 3]);
    expectValues(rd.argmax(x), [1, 0, 0]);
    expectValues(rd.argmin(x), [0, 0, 2]);
    expectValues(rd.argmax(f32([-Infinity, Infinity, Infinity])), [1]);
  });

  it('work on int32 and bool', () => {
    expectValues(rd.argmax(i32([-5, 7, 7])), [1]);
    expectValues(rd.argmax(bool([0, 0, 1, 1])), [2]);
    expectValues(rd.argmin(bool([1, 0, 1, 0])), [1]);
  });

  it('reject an empty axis and scalars', () => {
    expectCode(() => rd.argmax(f32([], [3, 0])), 'OUT_OF_RANGE');
    expectCode(() => rd.argmin(f32([], [0, 3]), { axis: 0 }), 'OUT_OF_RANGE');
    expect(rd.argmax(f32([], [0, 3])).shape).toEqual([0]);
    expectCode(() => rd.argmax(scalar(1)), 'OUT_OF_RANGE');
    expectCode(() => rd.argmax(f32([1, 2]), { axis: 1 }), 'OUT_OF_RANGE');
  });
});

describe('cumsum', () => {
  const v = f32([1, 2, 3, 4]);

  it('runs forwards, backwards, inclusive and exclusive', () => {
    expectValues(rd.cumsum(v), [1, 3, 6, 10]);
    expectValues(rd.cumsum(v, { exclusive: true }), [0, 1, 3, 6]);
    expectValues(rd.cumsum(v, { reverse: true }), [10, 9, 7, 4]);
    expectValues(rd.cumsum(v, { exclusive: true, reverse: true }), [9, 7, 4, 0]);
  });

  it('accumulates along any axis', () => {
    const m = f32([1, 2, 3, 4, 5, 6], [2, 3]);
    expectValues(rd.cumsum(m, { axis: 0 }), [1, 2, 3, 5, 7, 9]);
    expectValues(rd.cumsum(m, { axis: 1, reverse: true }), [6, 5, 3, 15, 11, 6]);
  });

  it('keeps float64 precision, wraps int32, and counts bool as int32', () => {
    expectValues(rd.cumsum(f32([16777216, 1, 1])), [16777216, 16777216, 16777218]);
    expectValues(rd.cumsum(i32([2147483647, 1, 1])), [2147483647, -2147483648, -2147483647]);
    const c = rd.cumsum(bool([1, 0, 1]));
    expect(c.dtype).toBe('int32');
    expectValues(c, [1, 1, 2]);
  });

  it('rejects scalars and out-of-range axes', () => {
    expectCode(() => rd.cumsum(scalar(1)), 'OUT_OF_RANGE');
    expectCode(() => rd.cumsum(v, { axis: 1 }), 'OUT_OF_RANGE');
  });
});
