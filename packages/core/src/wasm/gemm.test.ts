import { describe, expect, it } from 'vitest';
import { gramUpperJs } from '../calibration/hessian.js';
import { Random } from '../random.js';
import { gramUpper, mirrorUpper } from './gemm.js';
import { simdAvailable, simdGram, simdMatmul } from './index.js';

function normals(seed: number, n: number): Float32Array {
  const rng = new Random(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** Largest |a − b| over the largest |b|, for float32 sums against float64 ones. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let scale = 1e-30;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

describe('WebAssembly SIMD matrix products', () => {
  it('runs here (Node ≥ 20 has WebAssembly SIMD)', () => {
    expect(simdAvailable()).toBe(true);
  });

  // Sizes off every tile: odd rows (row tiles of 2), columns not a multiple of 4 or 8
  // (groups of four, tiles of two groups), inner sizes across several slices of 128.
  for (const [m, k, n] of [[1, 1, 1], [3, 5, 7], [33, 130, 9], [64, 257, 70], [70, 128, 12], [2, 300, 5]] as const) {
    it(`simdMatmul equals a float64 product to float32 accuracy (${m}×${k} · ${k}×${n})`, () => {
      const a = normals(m * 1000 + k, m * k);
      const b = normals(n * 7 + k, k * n);
      const c = simdMatmul(a, b, m, k, n)!;
      const exact = new Float64Array(m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let t = 0; t < k; t++) exact[i * n + j] += a[i * k + t] * b[t * n + j];
      expect(c).toHaveLength(m * n);
      expect(relativeError(c, exact)).toBeLessThan(2e-6);
    });
  }

  // Triangular operands (with real zeros) and a symmetric result give the plain product bit for
  // bit: the skipped slices could only add exact zeros.
  for (const [m, k, n] of [[300, 300, 300], [131, 260, 257], [40, 390, 33]] as const) {
    it(`simdMatmul skips the zero blocks of triangular operands without changing the product (${m}×${k} · ${k}×${n})`, () => {
      const lower = (rows: number, cols: number, seed: number): Float32Array => normals(seed, rows * cols).map((v, i) => (i % cols > Math.floor(i / cols) ? 0 : v));
      const upper = (rows: number, cols: number, seed: number): Float32Array => normals(seed, rows * cols).map((v, i) => (i % cols < Math.floor(i / cols) ? 0 : v));
      const same = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
      const aL = lower(m, k, 1);
      const bU = upper(k, n, 2);
      const bL = lower(k, n, 3);
      const b = normals(4, k * n);
      expect(same(simdMatmul(aL, b, m, k, n, { aLower: true })!, simdMatmul(aL, b, m, k, n)!)).toBe(true);
      expect(same(simdMatmul(aL, bU, m, k, n, { bUpper: true })!, simdMatmul(aL, bU, m, k, n)!)).toBe(true);
      expect(same(simdMatmul(aL, bL, m, k, n, { aLower: true, bLower: true })!, simdMatmul(aL, bL, m, k, n)!)).toBe(true);
    });
  }

  it('simdMatmul with a symmetric result computes the upper triangle and mirrors it', () => {
    const [m, k] = [150, 270];
    const a = normals(5, m * k);
    const at = new Float32Array(k * m);
    for (let i = 0; i < m; i++) for (let t = 0; t < k; t++) at[t * m + i] = a[i * k + t];
    const full = simdMatmul(a, at, m, k, m)!;
    const sym = simdMatmul(a, at, m, k, m, { symmetric: true })!;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) expect(sym[i * m + j]).toBe(j >= i ? full[i * m + j] : full[j * m + i]);
    }
    expect(() => simdMatmul(a, at, m, k, m - 1, { symmetric: true })).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
  });

  it('simdMatmul reads operands stored transposed', () => {
    const [m, k, n] = [37, 150, 21];
    const a = normals(11, m * k);
    const b = normals(12, k * n);
    const at = new Float32Array(k * m);
    const bt = new Float32Array(n * k);
    for (let i = 0; i < m; i++) for (let t = 0; t < k; t++) at[t * m + i] = a[i * k + t];
    for (let t = 0; t < k; t++) for (let j = 0; j < n; j++) bt[j * k + t] = b[t * n + j];
    const plain = simdMatmul(a, b, m, k, n)!;
    // Same products in the same order: identical bits.
    expect(Array.from(simdMatmul(at, b, m, k, n, { transposeA: true })!)).toEqual(Array.from(plain));
    expect(Array.from(simdMatmul(a, bt, m, k, n, { transposeB: true })!)).toEqual(Array.from(plain));
    expect(Array.from(simdMatmul(at, bt, m, k, n, { transposeA: true, transposeB: true })!)).toEqual(Array.from(plain));
  });

  it('simdMatmul handles empty operands', () => {
    expect(simdMatmul(new Float32Array(0), new Float32Array(0), 3, 0, 4)).toEqual(new Float32Array(12));
    expect(simdMatmul(new Float32Array(0), new Float32Array(5), 0, 1, 5)).toEqual(new Float32Array(0));
  });

  for (const [tokens, d] of [[1, 1], [7, 13], [300, 70], [128, 33], [129, 64]] as const) {
    it(`simdGram equals (s·X)ᵀ(s·X) with s·x rounded to float32 and is exactly symmetric (${tokens} tokens × ${d})`, () => {
      const x = normals(tokens + d, tokens * d);
      const s = 0.37;
      const g = simdGram(x, tokens, d, s)!;
      const exact = new Float64Array(d * d);
      for (let t = 0; t < tokens; t++) {
        for (let i = 0; i < d; i++) {
          const xi = Math.fround(x[t * d + i] * Math.fround(s));
          for (let j = 0; j < d; j++) exact[i * d + j] += xi * Math.fround(x[t * d + j] * Math.fround(s));
        }
      }
      expect(relativeError(g, exact)).toBeLessThan(2e-6);
      for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) expect(g[i * d + j]).toBe(g[j * d + i]);
      // The JavaScript fallback (float64 sums) agrees on the upper triangle.
      const js = gramUpperJs(x, tokens, d, Math.fround(s));
      const upper = gramUpper(x, tokens, d, s)!;
      for (let i = 0; i < d; i++) for (let j = i; j < d; j++) expect(Math.abs(upper.values[i * upper.stride + j] - js[i * d + j])).toBeLessThanOrEqual(2e-6 * Math.max(1, Math.abs(js[i * d + j])) * tokens);
    });
  }

  it('propagates non-finite inputs into the products that use them', () => {
    const x = Float32Array.of(1, 2, Number.NaN, 4);
    const g = simdGram(x, 2, 2, 1)!;
    expect(Number.isNaN(g[0])).toBe(true);
    expect(g[3]).toBe(20);
  });

  it('mirrorUpper copies the upper triangle onto the lower one across tiles', () => {
    const d = 70;
    const a = normals(3, d * d);
    const before = a.slice();
    mirrorUpper(a, d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) expect(a[i * d + j]).toBe(j >= i ? before[i * d + j] : before[j * d + i]);
    }
  });
});
