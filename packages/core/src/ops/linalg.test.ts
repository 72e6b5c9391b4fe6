import { describe, expect, it } from 'vitest';
import type { Backend } from '../backend.js';
import type { TypedArray } from '../dtype.js';
import { PruneError } from '../errors.js';
import type { Kernels } from '../kernels.js';
import { Random } from '../random.js';
import { referenceBackend } from '../reference/index.js';
import { type Shape, sizeOf, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { checkCase } from '../testing/conformance.js';
import { linalgCases } from '../testing/cases/linalg.js';
import { fromArray, tensor } from './creation.js';
import { transpose } from './layout.js';
import { cholesky, choleskyInverse, cosineSimilarity, dot, matmul, outer, triangularInverse } from './linalg.js';

const fr = Math.fround;

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PruneError);
    expect((e as PruneError).code).toBe(code);
    return;
  }
  throw new Error(`expected a PruneError with code ${code}, but nothing was thrown`);
}

function values(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

function f32(data: ArrayLike<number>, shape: Shape): Tensor<'float32'> {
  return fromArray(Float32Array.from(data), shape, 'float32');
}

function randomData(n: number, seed: number, lo = -2, hi = 2): Float32Array {
  const rng = new Random(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
}

/** Brute-force float64 product of row-major `[m, k]` and `[k, n]`. */
function product(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) c[i * n + j] += a[i * k + p] * b[p * n + j];
  return c;
}

function transposed(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= atol + rtol * Math.abs(expected[i]))) {
      throw new Error(`element ${i}: got ${actual[i]}, expected ${expected[i]} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

function identity(n: number): Float64Array {
  const e = new Float64Array(n * n);
  for (let i = 0; i < n; i++) e[i * n + i] = 1;
  return e;
}

/** Host SPD matrix A·Aᵀ + n·I. */
function spd(n: number, seed: number): Float32Array {
  const a = randomData(n * n, seed);
  const h = product(a, transposed(a, n, n), n, n, n);
  for (let i = 0; i < n; i++) h[i * n + i] += n;
  return Float32Array.from(h);
}

// A second implementation of the linear-algebra kernels in plain float32: every operation
// rounds to single precision and sums run left to right. It stands in for a float32 backend,
// so the conformance tolerances are shown to be reachable without float64 accumulation.
function unravel(flat: number, shape: Shape): number[] {
  const strides = stridesOf(shape);
  return shape.map((_, a) => Math.floor(flat / strides[a]) % shape[a]);
}
function batchOffset(outIdx: readonly number[], batchShape: Shape): number {
  const strides = stridesOf(batchShape);
  const off = outIdx.length - batchShape.length;
  return batchShape.reduce((s, d, a) => s + (d === 1 ? 0 : outIdx[a + off] * strides[a]), 0);
}
const naiveFloat32: Partial<Kernels<TypedArray>> = {
  matmul(a, b, { transposeA, transposeB, outShape }) {
    const r = outShape.length;
    const [m, n] = [outShape[r - 2], outShape[r - 1]];
    const k = transposeA ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
    const batch = outShape.slice(0, r - 2);
    const out = new Float32Array(sizeOf(outShape));
    for (let q = 0; q < sizeOf(batch); q++) {
      const idx = unravel(q, batch);
      const ao = batchOffset(idx, a.shape.slice(0, -2)) * m * k;
      const bo = batchOffset(idx, b.shape.slice(0, -2)) * k * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) {
            const x = a.handle[ao + (transposeA ? p * m + i : i * k + p)];
            const y = b.handle[bo + (transposeB ? j * k + p : p * n + j)];
            s = fr(s + fr(x * y));
          }
          out[q * m * n + i * n + j] = s;
        }
      }
    }
    return out;
  },
  cholesky(x) {
    const n = x.shape[x.shape.length - 1];
    const out = new Float32Array(x.handle.length);
    for (let off = 0; off < out.length; off += n * n) {
      let ok = true;
      for (let j = 0; j < n && ok; j++) {
        let d = x.handle[off + j * n + j];
        for (let p = 0; p < j; p++) d = fr(d - fr(out[off + j * n + p] * out[off + j * n + p]));
        if (!(d > 0)) ok = false;
        out[off + j * n + j] = fr(Math.sqrt(d));
        for (let i = j + 1; i < n; i++) {
          let s = x.handle[off + i * n + j];
          for (let p = 0; p < j; p++) s = fr(s - fr(out[off + i * n + p] * out[off + j * n + p]));
          out[off + i * n + j] = fr(s / out[off + j * n + j]);
        }
      }
      if (!ok) out.fill(NaN, off, off + n * n);
    }
    return out;
  },
  triangularInverse(x, { lower }) {
    const n = x.shape[x.shape.length - 1];
    const out = new Float32Array(x.handle.length);
    for (let off = 0; off < out.length; off += n * n) {
      const at = (i: number, j: number): number => x.handle[off + (lower ? i * n + j : j * n + i)];
      for (let c = 0; c < n; c++) {
        // Column c of the inverse of the lower matrix by forward substitution.
        const col = new Float32Array(n);
        for (let i = c; i < n; i++) {
          let s = i === c ? 1 : 0;
          for (let p = c; p < i; p++) s = fr(s - fr(at(i, p) * col[p]));
          col[i] = fr(s / at(i, i));
        }
        for (let i = c; i < n; i++) out[off + (lower ? i * n + c : c * n + i)] = col[i];
      }
    }
    return out;
  },
  cosineSimilarity(a, b, { outShape }) {
    const [n, m] = outShape;
    const d = a.shape[1];
    const out = new Float32Array(n * m);
    const norm = (v: TypedArray, i: number): number => {
      let s = 0;
      for (let p = 0; p < d; p++) s = fr(s + fr(v[i * d + p] * v[i * d + p]));
      return fr(Math.sqrt(s));
    };
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) {
        let s = 0;
        for (let p = 0; p < d; p++) s = fr(s + fr(a.handle[i * d + p] * b.handle[j * d + p]));
        const den = fr(norm(a.handle, i) * norm(b.handle, j));
        out[i * m + j] = den === 0 ? (Number.isNaN(s) ? NaN : 0) : fr(s / den);
      }
    }
    return out;
  },
};
const naiveBackend: Backend<TypedArray> = { ...referenceBackend, name: 'naive-float32', kernels: naiveFloat32 };

describe('linalg conformance cases', () => {
  it('has cases for every linalg kernel', () => {
    const kernels = new Set(linalgCases.map((c) => c.kernel));
    expect([...kernels].sort()).toEqual(['cholesky', 'cosineSimilarity', 'matmul', 'triangularInverse']);
  });

  it('a plain float32 implementation meets every stated tolerance against the reference', () => {
    const failures = linalgCases.map((c) => checkCase(c, naiveBackend)).filter((r) => !r.passed);
    expect(failures).toEqual([]);
  });

});

describe('matmul', () => {
  const a = f32([1, 2, 3, 4], [2, 2]);
  const b = f32([5, 6, 7, 8], [2, 2]);

  it('multiplies 2×2 matrices by hand under every transpose flag', () => {
    expect(values(matmul(a, b))).toEqual([19, 22, 43, 50]);
    // aᵀ = [[1,3],[2,4]], bᵀ = [[5,7],[6,8]]
    expect(values(matmul(a, b, { transposeA: true }))).toEqual([26, 30, 38, 44]);
    expect(values(matmul(a, b, { transposeB: true }))).toEqual([17, 23, 39, 53]);
    expect(values(matmul(a, b, { transposeA: true, transposeB: true }))).toEqual([23, 31, 34, 46]);
  });

  it('multiplies [2,3] × [3,2] by hand', () => {
    const y = matmul(f32([1, 2, 3, 4, 5, 6], [2, 3]), f32([7, 8, 9, 10, 11, 12], [3, 2]));
    expect(y.shape).toEqual([2, 2]);
    expect(values(y)).toEqual([58, 64, 139, 154]);
  });

  it('broadcasts batch axes', () => {
    const av = randomData(2 * 1 * 3 * 4, 1);
    const bv = randomData(3 * 4 * 5, 2);
    const y = matmul(f32(av, [2, 1, 3, 4]), f32(bv, [3, 4, 5]));
    expect(y.shape).toEqual([2, 3, 3, 5]);
    const got = y.dataSync();
    for (let p = 0; p < 2; p++) {
      for (let q = 0; q < 3; q++) {
        const want = product(av.subarray(p * 12, p * 12 + 12), bv.subarray(q * 20, q * 20 + 20), 3, 4, 5);
        expectClose(got.subarray((p * 3 + q) * 15, (p * 3 + q + 1) * 15), want, 1e-5);
      }
    }
  });

  it('matches a float64 brute force off block boundaries (m % 4 ≠ 0, n > one panel)', () => {
    for (const [m, k, n, ta, tb] of [
      [67, 129, 515, false, false],
      [3, 33, 1030, true, false],
      [5, 7, 9, false, true],
      [66, 65, 17, true, true],
    ] as [number, number, number, boolean, boolean][]) {
      const av = randomData(m * k, m + k);
      const bv = randomData(k * n, k + n);
      const y = matmul(f32(ta ? transposed(av, m, k) : av, ta ? [k, m] : [m, k]), f32(tb ? transposed(bv, k, n) : bv, tb ? [n, k] : [k, n]), {
        transposeA: ta,
        transposeB: tb,
      });
      // float64 sums: only the final rounding to float32 remains.
      expectClose(y.dataSync(), product(av, bv, m, k, n), 1e-6, 1e-6);
    }
  });

  it('gives zeros for an empty inner dimension and empty results for empty outer ones', () => {
    expect(values(matmul(f32([], [2, 0]), f32([], [0, 3])))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(matmul(f32([], [0, 4]), f32(new Float32Array(12), [4, 3])).shape).toEqual([0, 3]);
  });

  it('rejects rank-1 operands, inner mismatches, unbroadcastable batches and non-float dtypes', () => {
    expectCode(() => matmul(f32([1, 2], [2]), a), 'SHAPE_MISMATCH');
    expectCode(() => matmul(f32([1, 2, 3, 4, 5, 6], [2, 3]), a), 'SHAPE_MISMATCH');
    expectCode(() => matmul(f32(new Float32Array(8), [2, 2, 2]), f32(new Float32Array(12), [3, 2, 2])), 'SHAPE_MISMATCH');
    expectCode(() => matmul(tensor([[1, 2], [3, 4]], undefined, 'int32') as unknown as Tensor<'float32'>, a), 'DTYPE_MISMATCH');
  });

  it('dot and outer by hand', () => {
    const y = dot(f32([1, 2, 3], [3]), f32([4, 5, 6], [3]));
    expect(y.shape).toEqual([]);
    expect(values(y)).toEqual([32]);
    const o = outer(f32([1, 2], [2]), f32([3, 4, 5], [3]));
    expect(o.shape).toEqual([2, 3]);
    expect(values(o)).toEqual([3, 4, 5, 6, 8, 10]);
    expectCode(() => dot(f32([1, 2], [2]), f32([1], [1])), 'SHAPE_MISMATCH');
  });
});

describe('cholesky', () => {
  it('factors a known matrix exactly', () => {
    // The classic example: L = [[2,0,0],[6,1,0],[-8,5,3]].
    const x = f32([4, 12, -16, 12, 37, -43, -16, -43, 98], [3, 3]);
    expect(values(cholesky(x))).toEqual([2, 0, 0, 6, 1, 0, -8, 5, 3]);
    expect(values(cholesky(x, { upper: true }))).toEqual([2, 6, -8, 0, 1, 5, 0, 0, 3]);
  });

  it('reconstructs random SPD matrices (L·Lᵀ = A, zero upper triangle) for every block remainder', () => {
    for (const n of [1, 2, 3, 5, 6, 7, 13, 37, 70]) {
      const h = spd(n, 100 + n);
      const l = cholesky(f32(h, [n, n])).dataSync();
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(l[i * n + j]).toBe(0);
      expectClose(product(l, transposed(l, n, n), n, n, n), h, 1e-5 * n, 1e-5);
    }
  });

  it('reads only the lower triangle', () => {
    const h = spd(9, 7);
    const messy = h.slice();
    for (let i = 0; i < 9; i++) for (let j = i + 1; j < 9; j++) messy[i * 9 + j] = 1000;
    expect(values(cholesky(f32(messy, [9, 9])))).toEqual(values(cholesky(f32(h, [9, 9]))));
  });

  it('throws NOT_POSITIVE_DEFINITE, naming the batch entry, or returns NaN without the check', () => {
    const bad = f32([1, 2, 2, 1], [2, 2]); // eigenvalues 3 and -1
    expectCode(() => cholesky(bad), 'NOT_POSITIVE_DEFINITE');
    expect(values(cholesky(bad, { check: false })).every(Number.isNaN)).toBe(true);
    const batch = f32([4, 0, 0, 9, 1, 2, 2, 1], [2, 2, 2]);
    expect(() => cholesky(batch)).toThrow(/matrix 1 of the batch.*damping/);
    expect(values(cholesky(batch, { check: false })).slice(0, 4)).toEqual([2, 0, 0, 3]);
    expectCode(() => cholesky(f32([1, Number.NaN, Number.NaN, 1], [2, 2])), 'NOT_POSITIVE_DEFINITE');
  });

  it('rejects non-square input', () => {
    expectCode(() => cholesky(f32(new Float32Array(6), [2, 3])), 'SHAPE_MISMATCH');
    expectCode(() => cholesky(f32(new Float32Array(3), [3])), 'SHAPE_MISMATCH');
  });
});

describe('triangularInverse and choleskyInverse', () => {
  function lowerData(n: number, seed: number): Float32Array {
    const rng = new Random(seed);
    const l = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) l[i * n + j] = i === j ? 1 + rng.uniform() : (2 * rng.uniform() - 1) / n;
    return l;
  }

  it('inverts a 2×2 lower matrix by hand', () => {
    // [[2,0],[1,4]]⁻¹ = [[1/2,0],[-1/8,1/4]]
    expect(values(triangularInverse(f32([2, 0, 1, 4], [2, 2])))).toEqual([0.5, 0, -0.125, 0.25]);
    // [[2,1],[0,4]]⁻¹ = [[1/2,-1/8],[0,1/4]]
    expect(values(triangularInverse(f32([2, 1, 0, 4], [2, 2]), { lower: false }))).toEqual([0.5, -0.125, 0, 0.25]);
  });

  it('L·L⁻¹ = I for lower and upper matrices of every block remainder', () => {
    for (const n of [1, 3, 4, 5, 6, 7, 33, 70]) {
      const l = lowerData(n, n);
      const li = triangularInverse(f32(l, [n, n])).dataSync();
      expectClose(product(l, li, n, n, n), identity(n), 1e-5);
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(li[i * n + j]).toBe(0);
      const u = transposed(l, n, n);
      const ui = triangularInverse(f32(u, [n, n]), { lower: false }).dataSync();
      expectClose(product(u, ui, n, n, n), identity(n), 1e-5);
    }
  });

  it('choleskyInverse(cholesky(H))·H = I', () => {
    for (const n of [1, 6, 33]) {
      const h = spd(n, 50 + n);
      const hi = choleskyInverse(cholesky(f32(h, [n, n]))).dataSync();
      expectClose(product(hi, h, n, n, n), identity(n), 1e-4);
      // Symmetric, as an inverse of a symmetric matrix must be.
      expectClose(hi, transposed(hi, n, n), 1e-7, 1e-5);
    }
  });

  it('gives the upper Cholesky factor of H⁻¹ as SparseGPT uses it', () => {
    const n = 12;
    const h = spd(n, 9);
    const u = cholesky(choleskyInverse(cholesky(f32(h, [n, n]))), { upper: true });
    const uv = u.dataSync();
    // Uᵀ·U = H⁻¹, so H·Uᵀ·U = I.
    const utu = product(transposed(uv, n, n), uv, n, n, n);
    expectClose(product(h, utu, n, n, n), identity(n), 1e-4);
    expect(values(transpose(u))).toEqual(values(cholesky(choleskyInverse(cholesky(f32(h, [n, n]))))));
  });

  it('rejects non-square and non-float input', () => {
    expectCode(() => triangularInverse(f32(new Float32Array(6), [3, 2])), 'SHAPE_MISMATCH');
    expectCode(() => choleskyInverse(f32(new Float32Array(6), [1, 2, 3])), 'SHAPE_MISMATCH');
    expectCode(() => triangularInverse(tensor([[1]], undefined, 'int32') as unknown as Tensor<'float32'>), 'DTYPE_MISMATCH');
  });
});

describe('cosineSimilarity', () => {
  it('computes similarities by hand, zero rows giving 0', () => {
    const a = f32([1, 0, 1, 1, 0, 0], [3, 2]);
    const b = f32([1, 0, 0, 2, 3, 4], [3, 2]);
    const s = Math.SQRT1_2;
    expectClose(cosineSimilarity(a, b).dataSync(), [1, 0, 0.6, s, s, 7 / (5 * Math.SQRT2), 0, 0, 0], 1e-7);
  });

  it('rejects mismatched widths and ranks', () => {
    expectCode(() => cosineSimilarity(f32(new Float32Array(6), [3, 2]), f32(new Float32Array(6), [2, 3])), 'SHAPE_MISMATCH');
    expectCode(() => cosineSimilarity(f32(new Float32Array(6), [6]), f32(new Float32Array(6), [6])), 'SHAPE_MISMATCH');
  });
});
