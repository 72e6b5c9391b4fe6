import { describe, expect, it } from 'vitest';
import type { Backend } from '../backend.js';
import type { DType } from '../dtype.js';
import { PruneError } from '../errors.js';
import { referenceBackend } from '../reference/index.js';
import { Random } from '../random.js';
import { type Shape, sizeOf, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { scalar, tensor } from './creation.js';
import * as ew from './elementwise.js';

/** Compares element by element: NaN matches NaN, −0 matches 0, within `tol` (relative+absolute). */
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

describe('binary arithmetic', () => {
  it('broadcasts a column against a row', () => {
    const out = ew.add(f32([1, 2], [2, 1]), f32([10, 20, 30], [3]));
    expect(out.shape).toEqual([2, 3]);
    expectValues(out, [11, 21, 31, 12, 22, 32]);
  });

  it('accepts a plain number on either side, in the tensor dtype', () => {
    expectValues(ew.sub(5, f32([1, 2])), [4, 3]);
    expectValues(ew.mul(f32([1.5, -2]), 2), [3, -4]);
    const r = ew.add(i32([1, 2]), 7);
    expect(r.dtype).toBe('int32');
    expectValues(r, [8, 9]);
    expectValues(ew.div(1, f32([4, -0.5])), [0.25, -2]);
  });

  it('follows IEEE division and NaN-propagating max/min', () => {
    expectValues(ew.div(f32([1, -1, 0]), f32([0, 0, 0])), [Infinity, -Infinity, NaN]);
    expectValues(ew.maximum(f32([1, NaN, -3]), f32([2, 0, NaN])), [2, NaN, NaN]);
    expectValues(ew.minimum(f32([1, NaN, -3]), f32([2, 0, -4])), [1, NaN, -4]);
  });

  it('pow follows Math.pow', () => {
    expectValues(ew.pow(f32([2, -8, 4, NaN, 0]), f32([3, 1 / 3, 0.5, 0, -1])), [8, NaN, 2, 1, Infinity]);
    expectValues(ew.pow(i32([2, 3, -2]), i32([10, 2, 3])), [1024, 9, -8]);
  });

  it('wraps int32 add and mul like two\'s complement', () => {
    expectValues(ew.add(i32([2147483647, -2147483648]), i32([1, -1])), [-2147483648, 2147483647]);
    // 46341² = 2147488281 = 2³¹ + 4633 → wraps to −2147479015; 65536² = 2³² → 0.
    expectValues(ew.mul(i32([46341, 65536]), i32([46341, 65536])), [-2147479015, 0]);
  });

  it('matches a brute-force broadcast on random shape pairs', () => {
    const rng = new Random(7);
    for (let trial = 0; trial < 60; trial++) {
      const rank = rng.int(5);
      const out: number[] = [];
      const sa: number[] = [];
      const sb: number[] = [];
      for (let i = 0; i < rank; i++) {
        const d = rng.int(4);
        out.push(d);
        sa.push(rng.uniform() < 0.3 ? 1 : d);
        sb.push(rng.uniform() < 0.3 ? 1 : d);
      }
      const a = sa.slice(rng.int(rank + 1));
      const b = sb.slice(rng.int(rank + 1));
      const av = Array.from({ length: sizeOf(a) }, () => Math.fround(rng.uniform() * 4 - 2));
      const bv = Array.from({ length: sizeOf(b) }, () => Math.fround(rng.uniform() * 4 - 2));
      const got = ew.sub(f32(av, a), f32(bv, b));
      const shape = got.shape;
      const expected = bruteBroadcast(shape, [a, b], [av, bv], (x, y) => Math.fround(x - y));
      expectValues(got, expected);
    }
  });

  it('rejects mixed dtypes, bool arithmetic, int32 division and non-broadcastable shapes', () => {
    expectCode(() => ew.add(f32([1]), i32([1])), 'DTYPE_MISMATCH');
    expectCode(() => ew.add(bool([1]), bool([0])), 'DTYPE_MISMATCH');
    expectCode(() => ew.div(i32([4]), i32([2])), 'DTYPE_MISMATCH');
    expectCode(() => ew.add(i32([1]), 0.5), 'DTYPE_MISMATCH');
    expectCode(() => ew.add(f32([1, 2, 3], [3]), f32([1, 2], [2])), 'SHAPE_MISMATCH');
    expectCode(() => ew.mul(f32([1, 2, 3, 4, 5, 6], [2, 3]), f32([1, 2, 3, 4, 5, 6], [3, 2])), 'SHAPE_MISMATCH');
    expectCode(() => ew.add(1, 2), 'INVALID_ARGUMENT');
    expectCode(() => ew.add(f32([1]), '1' as unknown as number), 'INVALID_ARGUMENT');
  });

  it('creates number operands on the tensor\'s backend and releases them', () => {
    let disposed = 0;
    const counting: Backend = { ...referenceBackend, name: 'counting', dispose: () => void disposed++ };
    const x = tensor([1, 2], [2], 'float32', { backend: counting });
    const y = ew.add(x, 1);
    expect(y.backend).toBe(counting);
    expect(disposed).toBe(1);
    expectValues(y, [2, 3]);
    expectCode(() => ew.add(x, f32([1, 2])), 'BACKEND_MISMATCH');
  });
});

/** out[i] = fn(a[ia], b[ib]) with every index mapped through numpy broadcasting, one by one. */
function bruteBroadcast(out: Shape, shapes: Shape[], values: number[][], fn: (...v: number[]) => number): number[] {
  const strides = stridesOf(out);
  const result: number[] = [];
  for (let flat = 0; flat < sizeOf(out); flat++) {
    const idx = out.map((_, i) => Math.floor(flat / strides[i]) % out[i]);
    const args = shapes.map((s, k) => {
      const own = stridesOf(s);
      let off = 0;
      s.forEach((d, j) => {
        off += (d === 1 ? 0 : idx[out.length - s.length + j]) * own[j];
      });
      return values[k][off];
    });
    result.push(fn(...args));
  }
  return result;
}

describe('unary', () => {
  it('computes transcendental functions to float32 precision', () => {
    const tol = 2e-7;
    expectValues(ew.exp(f32([0, 1, -Infinity, Infinity])), [1, Math.E, 0, Infinity], tol);
    expectValues(ew.log(f32([1, Math.E, 0, -1])), [0, 1, -Infinity, NaN], tol);
    expectValues(ew.tanh(f32([0.5, -Infinity])), [0.46211715726000974, -1], tol);
    expectValues(ew.sqrt(f32([4, 2, -1, -0])), [2, Math.SQRT2, NaN, 0], tol);
    expectValues(ew.rsqrt(f32([4, 0])), [0.5, Infinity], tol);
    expectValues(ew.reciprocal(f32([4, 0, -0])), [0.25, Infinity, -Infinity], tol);
  });

  it('sigmoid and logSigmoid are stable for large |x|', () => {
    expectValues(ew.sigmoid(f32([0, 800, -800, 2])), [0.5, 1, 0, 0.8807970779778823], 2e-7);
    expectValues(ew.logSigmoid(f32([0, -100, 100, -800, -Infinity])), [-Math.LN2, -100, 0, -800, -Infinity], 2e-7);
  });

  it('gelu is the exact erf form; silu is x·σ(x); both vanish at −∞', () => {
    // Reference values: 0.5·x·(1 + math.erf(x/√2)) in CPython's float64.
    expectValues(
      ew.gelu(f32([1, -1, 3, -3, 0.5, -6, -Infinity, Infinity])),
      [0.8413447460685429, -0.15865525393145707, 2.99595030590511, -0.00404969409489031, 0.34573123063700656, -5.919525869479969e-9, 0, Infinity],
      2e-7,
    );
    // Relative accuracy in the far tail, where 1 + erf(x/√2) would cancel catastrophically.
    const tail = ew.gelu(f32([-6])).dataSync()[0];
    expect(Math.abs(tail / -5.919525869479969e-9 - 1)).toBeLessThan(1e-6);
    expectValues(ew.silu(f32([1, 0, -Infinity, -800])), [0.7310585786300049, 0, 0, 0], 2e-7);
  });

  it('relu keeps NaN; sign, floor, ceil and round behave as documented', () => {
    expectValues(ew.relu(f32([-1, 0, 2, NaN])), [0, 0, 2, NaN]);
    expectValues(ew.sign(f32([-3, 0, 2, NaN])), [-1, 0, 1, NaN]);
    expectValues(ew.floor(f32([-1.5, 1.5])), [-2, 1]);
    expectValues(ew.ceil(f32([-1.5, 1.5])), [-1, 2]);
    expectValues(ew.round(f32([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 2.6])), [0, 2, 2, 0, -2, -2, 0, 3]);
  });

  it('keeps int32 for abs, neg, square and sign, wrapping at the int32 limits', () => {
    const r = ew.abs(i32([-5, 3, -2147483648]));
    expect(r.dtype).toBe('int32');
    expectValues(r, [5, 3, -2147483648]);
    expectValues(ew.neg(i32([5, -2147483648])), [-5, -2147483648]);
    expectValues(ew.square(i32([-7, 46341])), [49, -2147479015]);
    expectValues(ew.sign(i32([-7, 0, 9])), [-1, 0, 1]);
  });

  it('returns bool for isNaN, isFinite and logicalNot', () => {
    const nan = ew.isNaN(f32([NaN, 1, Infinity]));
    expect(nan.dtype).toBe('bool');
    expectValues(nan, [1, 0, 0]);
    expectValues(ew.isFinite(f32([NaN, 1, Infinity, -Infinity])), [0, 1, 0, 0]);
    expectValues(ew.isFinite(i32([3])), [1]);
    expectValues(ew.logicalNot(bool([1, 0])), [0, 1]);
  });

  it('keeps shapes, including scalars and empty tensors', () => {
    expect(ew.exp(scalar(0)).shape).toEqual([]);
    expect(ew.exp(tensor([], [2, 0, 3])).shape).toEqual([2, 0, 3]);
  });

  it('rejects dtypes an op does not take', () => {
    expectCode(() => ew.sqrt(i32([4])), 'DTYPE_MISMATCH');
    expectCode(() => ew.exp(bool([1])), 'DTYPE_MISMATCH');
    expectCode(() => ew.abs(bool([1])), 'DTYPE_MISMATCH');
    expectCode(() => ew.logicalNot(f32([1])), 'DTYPE_MISMATCH');
    expectCode(() => ew.exp([1, 2] as unknown as Tensor), 'INVALID_ARGUMENT');
  });
});

describe('cast', () => {
  it('truncates toward zero, treats NaN as true, and rounds int32 to float32', () => {
    const x = f32([-1.7, 1.7, NaN, -0, 0.25]);
    expectValues(ew.cast(x, 'int32'), [-1, 1, 0, 0, 0]);
    expectValues(ew.cast(x, 'bool'), [1, 1, 1, 0, 1]);
    expectValues(ew.cast(bool([1, 0]), 'float32'), [1, 0]);
    expectValues(ew.cast(i32([16777217, -3]), 'float32'), [16777216, -3]);
    const copy = ew.cast(x, 'float32');
    expect(copy).not.toBe(x);
    expect(copy.dtype).toBe('float32');
  });

  it('rejects unknown dtypes', () => {
    expectCode(() => ew.cast(f32([1]), 'float64' as DType), 'INVALID_ARGUMENT');
  });
});

describe('comparisons and where', () => {
  it('treat NaN as unequal to everything and −0 as equal to 0', () => {
    const a = f32([NaN, -0, 1, 2]);
    const b = f32([NaN, 0, 2, 2]);
    expectValues(ew.equal(a, b), [0, 1, 0, 1]);
    expectValues(ew.notEqual(a, b), [1, 0, 1, 0]);
    expectValues(ew.less(a, b), [0, 0, 1, 0]);
    expectValues(ew.lessEqual(a, b), [0, 1, 1, 1]);
    expectValues(ew.greater(a, b), [0, 0, 0, 0]);
    expectValues(ew.greaterEqual(a, b), [0, 1, 0, 1]);
    expectValues(ew.greater(i32([1, 5]), 2), [0, 1]);
  });

  it('combine bool masks with broadcasting', () => {
    const a = bool([1, 0], [2, 1]);
    const b = bool([1, 0, 1], [3]);
    expectValues(ew.logicalAnd(a, b), [1, 0, 1, 0, 0, 0]);
    expectValues(ew.logicalOr(a, b), [1, 1, 1, 1, 0, 1]);
    expectCode(() => ew.logicalAnd(f32([1]), f32([1])), 'DTYPE_MISMATCH');
    expectCode(() => ew.equal(f32([1]), bool([1])), 'DTYPE_MISMATCH');
  });

  it('where selects with broadcasting and number operands', () => {
    const cond = bool([1, 0, 1], [3]);
    const w = f32([1, 2, 3, 4, 5, 6], [2, 3]);
    const out = ew.where(cond, w, 0);
    expect(out.shape).toEqual([2, 3]);
    expectValues(out, [1, 0, 3, 4, 0, 6]);
    expectValues(ew.where(bool([1, 0], [2, 1]), i32([7]), i32([1, 2, 3], [3])), [7, 7, 7, 1, 2, 3]);
    expectCode(() => ew.where(f32([1]), w, w), 'DTYPE_MISMATCH');
    expectCode(() => ew.where(cond, w, i32([1])), 'DTYPE_MISMATCH');
    expectCode(() => ew.where(bool([1, 0], [2]), w, w), 'SHAPE_MISMATCH');
  });

  it('where matches a brute-force three-way broadcast', () => {
    const c = [1, 0, 0, 1, 1, 0];
    const a = [10, 20, 30];
    const b = [-1, -2];
    const got = ew.where(bool(c, [2, 1, 3]), f32(a, [1, 3, 1]), f32(b, [2, 1, 1]));
    expect(got.shape).toEqual([2, 3, 3]);
    expectValues(got, bruteBroadcast([2, 3, 3], [[2, 1, 3], [1, 3, 1], [2, 1, 1]], [c, a, b], (k, x, y) => (k ? x : y)));
  });
});

describe('softmax', () => {
  it('normalises the last axis by default, with the max subtracted', () => {
    expectValues(ew.softmax(f32([1, 2, 3])), [0.09003057317038046, 0.24472847105479767, 0.6652409557748219], 2e-7);
    expectValues(ew.logSoftmax(f32([1, 2, 3])), [-2.4076059644443806, -1.4076059644443804, -0.4076059644443803], 2e-7);
    expectValues(ew.softmax(f32([1000, 1001])), [0.2689414213699951, 0.7310585786300049], 2e-7);
    expectValues(ew.logSoftmax(f32([-1000, 0])), [-1000, 0], 2e-7);
  });

  it('normalises along a chosen axis', () => {
    const p = 0.11920292202211755; // 1 / (1 + e²)
    expectValues(ew.softmax(f32([1, 2, 3, 4], [2, 2]), { axis: 0 }), [p, p, 1 - p, 1 - p], 2e-7);
  });

  it('gives NaN for a lane of only −Infinity and 0 probability to −Infinity entries', () => {
    expectValues(ew.softmax(f32([-Infinity, -Infinity, -Infinity, 0], [2, 2])), [NaN, NaN, 0, 1]);
    expectValues(ew.logSoftmax(f32([-Infinity, 0])), [-Infinity, 0]);
    expectValues(ew.softmax(f32([NaN, 0])), [NaN, NaN]);
  });

  it('rejects int32, scalars and out-of-range axes', () => {
    expectCode(() => ew.softmax(i32([1, 2])), 'DTYPE_MISMATCH');
    expectCode(() => ew.softmax(scalar(1)), 'OUT_OF_RANGE');
    expectCode(() => ew.softmax(f32([1, 2], [1, 2]), { axis: 2 }), 'OUT_OF_RANGE');
    expectCode(() => ew.logSoftmax(f32([1, 2], [1, 2]), { axis: -3 }), 'OUT_OF_RANGE');
    expectCode(() => ew.softmax(f32([1, 2], [1, 2]), { axis: 0.5 }), 'INVALID_ARGUMENT');
  });
});
