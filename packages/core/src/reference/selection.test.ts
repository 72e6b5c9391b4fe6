import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TypedArray } from '../dtype.js';
import type { TensorRef } from '../kernels.js';
import { Random } from '../random.js';
import { select, selectionKernels } from './selection.js';

const { topk, kthValue, argsort, selectMask } = selectionKernels as Required<typeof selectionKernels>;

function ref(handle: TypedArray, shape: number[]): TensorRef<TypedArray> {
  return { handle, shape, dtype: handle instanceof Float32Array ? 'float32' : handle instanceof Int32Array ? 'int32' : 'bool' };
}

// Independent oracle: Array.prototype.sort (stable) on [value, index] pairs with NaN above
// +Infinity; descending reverses the value order but keeps ties in index order.
function stableOrder(row: ArrayLike<number>, descending: boolean): number[] {
  const pairs = Array.from(row, (v, i) => [v, i] as const);
  const cmpValue = (a: number, b: number): number => {
    const an = Number.isNaN(a);
    const bn = Number.isNaN(b);
    if (an || bn) return an === bn ? 0 : an ? 1 : -1;
    return a < b ? -1 : a > b ? 1 : 0;
  };
  pairs.sort((p, q) => (descending ? -cmpValue(p[0], q[0]) : cmpValue(p[0], q[0])));
  return pairs.map((p) => p[1]);
}

/** Index of the first difference between two sequences, or -1 when they are equal. */
function firstDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Math.min(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) if (!Object.is(actual[i], expected[i])) return i;
  return -1;
}

function rowsOf(data: TypedArray, n: number): TypedArray[] {
  const rows: TypedArray[] = [];
  for (let o = 0; o < data.length; o += n) rows.push(data.subarray(o, o + n));
  return rows;
}

function randomFloats(rng: Random, size: number, ties: boolean, specials: boolean): Float32Array {
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = ties ? rng.int(4) - 1.5 : rng.normal();
  if (specials && size > 0) {
    for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, Number.NaN]) a[rng.int(size)] = v;
  }
  return a;
}

const rowArb = fc.array(fc.oneof(fc.constantFrom(0, -0, 1, -1, 2, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY), fc.float({ noDefaultInfinity: false })), { minLength: 1, maxLength: 80 });

describe('reference selection kernels', () => {
  it('argsort matches a stable sort with NaN last (hand-checked row)', () => {
    const x = new Float32Array([3, Number.NaN, -1, 3, -0, 0, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]);
    expect([...argsort(ref(x, [8]), { descending: false })]).toEqual([6, 2, 4, 5, 0, 3, 7, 1]);
    expect([...argsort(ref(x, [8]), { descending: true })]).toEqual([1, 7, 0, 3, 4, 5, 2, 6]);
  });

  it('topk, kthValue and selectMask agree with the stable order (hand-checked row)', () => {
    const x = new Float32Array([2, 1, 2, 0, 1, 2]);
    const [v, i] = topk(ref(x, [6]), { k: 3, largest: true });
    expect([...v]).toEqual([2, 2, 2]);
    expect([...i]).toEqual([0, 2, 5]);
    const [v2, i2] = topk(ref(x, [6]), { k: 2, largest: false });
    expect([...v2]).toEqual([0, 1]);
    expect([...i2]).toEqual([3, 1]);
    const [kv, ki] = kthValue(ref(x, [6]), { k: 3, largest: false });
    expect([...kv, ...ki]).toEqual([1, 4]);
    expect([...selectMask(ref(x, [6]), { k: 2, largest: false })]).toEqual([0, 1, 0, 1, 0, 0]);
    expect([...selectMask(ref(x, [6]), { k: 2, largest: true })]).toEqual([1, 0, 1, 0, 0, 0]);
  });

  it('all four kernels match the oracle on random rows (fast-check, NaN, ±Inf, ±0)', () => {
    fc.assert(
      fc.property(rowArb, fc.nat(), fc.boolean(), (values, kSeed, largest) => {
        const x = new Float32Array(values);
        const n = x.length;
        const order = stableOrder(x, largest);
        const k = kSeed % (n + 1);
        expect([...argsort(ref(x, [n]), { descending: largest })]).toEqual(order);
        const [tv, ti] = topk(ref(x, [n]), { k, largest });
        expect([...ti]).toEqual(order.slice(0, k));
        expect([...tv]).toEqual(order.slice(0, k).map((j) => x[j]));
        const mask = selectMask(ref(x, [n]), { k, largest });
        const expected = new Array<number>(n).fill(0);
        for (const j of order.slice(0, k)) expected[j] = 1;
        expect([...mask]).toEqual(expected);
        const kk = Math.max(1, k);
        const [kv, ki] = kthValue(ref(x, [n]), { k: kk, largest });
        expect(ki[0]).toBe(order[kk - 1]);
        expect(Object.is(kv[0], x[order[kk - 1]])).toBe(true);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('handles long rows with heavy ties and specials (selection path with sampling)', () => {
    const rng = new Random(3);
    for (const [n, ties] of [
      [1000, true],
      [4099, true],
      [5000, false],
      [9000, true],
    ] as const) {
      const x = randomFloats(rng, 2 * n, ties, true);
      for (const largest of [false, true]) {
        const order = rowsOf(x, n).map((row) => stableOrder(row, largest));
        for (const k of [1, Math.floor(n / 2), n - 1, n]) {
          const mask = selectMask(ref(x, [2, n]), { k, largest });
          const [, ti] = topk(ref(x, [2, n]), { k, largest });
          const [, ki] = kthValue(ref(x, [2, n]), { k, largest });
          for (let r = 0; r < 2; r++) {
            const expected = new Uint8Array(n);
            for (const j of order[r].slice(0, k)) expected[j] = 1;
            expect(firstDifference(mask.subarray(r * n, (r + 1) * n), expected)).toBe(-1);
            expect(firstDifference(ti.subarray(r * k, (r + 1) * k), order[r].slice(0, k))).toBe(-1);
            expect(ki[r]).toBe(order[r][k - 1]);
          }
        }
        expect(firstDifference(argsort(ref(x, [2, n]), { descending: largest }), [...order[0], ...order[1]])).toBe(-1);
      }
    }
  });

  it('argsort of a long row (radix path with 11-bit digits) is the stable order', () => {
    const rng = new Random(11);
    const x = randomFloats(rng, 70000, false, true);
    for (let i = 0; i < x.length; i += 7) x[i] = 0.5; // many ties
    expect(firstDifference(argsort(ref(x, [70000]), { descending: false }), stableOrder(x, false))).toBe(-1);
    expect(firstDifference(argsort(ref(x, [70000]), { descending: true }), stableOrder(x, true))).toBe(-1);
  });

  it('int32 rows, including the extremes of the range', () => {
    const rng = new Random(5);
    const x = new Int32Array(3 * 700);
    for (let i = 0; i < x.length; i++) x[i] = rng.int(9) - 4;
    x[3] = 2147483647;
    x[10] = -2147483648;
    x[800] = -2147483648;
    for (const largest of [false, true]) {
      const order = rowsOf(x, 700).map((row) => stableOrder(row, largest));
      expect([...argsort(ref(x, [3, 700]), { descending: largest })]).toEqual(order.flat());
      const [tv, ti] = topk(ref(x, [3, 700]), { k: 5, largest });
      expect(tv).toBeInstanceOf(Int32Array);
      expect([...ti]).toEqual(order.flatMap((o) => o.slice(0, 5)));
      expect([...tv]).toEqual(order.flatMap((o, r) => o.slice(0, 5).map((j) => x[r * 700 + j])));
      const [kv] = kthValue(ref(x, [3, 700]), { k: 350, largest });
      expect([...kv]).toEqual(order.map((o, r) => x[r * 700 + o[349]]));
    }
  });

  it('adversarial rows (sorted, reversed, organ-pipe, all equal) stay exact', () => {
    const n = 3001;
    const patterns = [
      (i: number) => i,
      (i: number) => n - i,
      (i: number) => Math.min(i, n - i),
      () => 7,
      (i: number) => i % 2,
    ];
    for (const p of patterns) {
      const x = Float32Array.from({ length: n }, (_, i) => p(i));
      const order = stableOrder(x, false);
      for (const k of [1, 1500, 3000]) {
        const mask = selectMask(ref(x, [n]), { k, largest: false });
        const expected = new Uint8Array(n);
        for (const j of order.slice(0, k)) expected[j] = 1;
        expect(mask).toEqual(expected);
      }
    }
  });

  it('the selection falls back to sorting the range when its partition budget runs out', () => {
    const rng = new Random(13);
    for (const budget of [0, 1, 2]) {
      for (const n of [50, 2000]) {
        const a = Int32Array.from({ length: n }, () => rng.int(40) - 20);
        const sorted = Int32Array.from(a).sort();
        const k = rng.int(n);
        select(a, k, 0, n - 1, budget);
        expect(a[k]).toBe(sorted[k]);
        for (let i = 0; i < k; i++) expect(a[i] <= a[k]).toBe(true);
        for (let i = k + 1; i < n; i++) expect(a[i] >= a[k]).toBe(true);
      }
    }
  });

  it('empty tensors and k = 0 give empty or all-false results', () => {
    const x = new Float32Array(0);
    expect(selectMask(ref(x, [0, 5]), { k: 2, largest: false }).length).toBe(0);
    expect(argsort(ref(x, [3, 0]), { descending: false }).length).toBe(0);
    const [v, i] = topk(ref(new Float32Array([1, 2, 3]), [3]), { k: 0, largest: true });
    expect(v.length + i.length).toBe(0);
    expect([...selectMask(ref(new Float32Array([1, 2, 3]), [3]), { k: 0, largest: false })]).toEqual([0, 0, 0]);
  });
});
