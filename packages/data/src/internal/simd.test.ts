import { Random } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { rowSquaredNorms } from './distance.js';
import { BLOCK_ROWS, accumulateBlock, assignedSquaredDistances, blockDots, blockNearest, nearestBlock, prepareCentroids, preparedSums, simdAvailable } from './simd.js';

/** Brute force in float64: nearest and second-nearest squared distances of one row. */
function bruteNearest(x: Float32Array, row: number, c: Float64Array, k: number, dim: number): { best: number; bestSq: number; secondSq: number } {
  let best = 0;
  let b1 = Infinity;
  let b2 = Infinity;
  for (let j = 0; j < k; j++) {
    let d = 0;
    for (let t = 0; t < dim; t++) d += (x[row * dim + t] - c[j * dim + t]) ** 2;
    if (d < b1) {
      b2 = b1;
      b1 = d;
      best = j;
    } else if (d < b2) b2 = d;
  }
  return { best, bestSq: b1, secondSq: b2 };
}

describe('WebAssembly SIMD distance kernels', () => {
  it('runs on Node 20', () => {
    expect(simdAvailable()).toBe(true);
  });

  // Odd sizes: dim not a multiple of the 2-step unroll or of 4, k not a multiple of the
  // 8-centroid tile, row counts not a multiple of the 2-row tile or the 32-row chunk.
  for (const [dim, k, count] of [
    [1, 1, 1],
    [3, 2, 5],
    [5, 9, 33],
    [36, 13, BLOCK_ROWS],
    [37, 17, 101],
    [130, 8, 64],
  ] as const) {
    it(`blocked dot products match float64 ones (dim ${dim}, k ${k}, ${count} rows)`, () => {
      const rng = new Random(dim * 1000 + k);
      const n = count + 7;
      const x = Float32Array.from({ length: n * dim }, () => rng.normal());
      const c = Float64Array.from({ length: k * dim }, () => rng.normal());
      const prepared = prepareCentroids(c, k, dim, rowSquaredNorms(c, k, dim))!;
      const stride = prepared.groups * 4;
      const dots = blockDots(prepared, x, null, 7, count);
      for (let r = 0; r < count; r++) {
        for (let j = 0; j < k; j++) {
          let s = 0;
          for (let t = 0; t < dim; t++) s += x[(7 + r) * dim + t] * c[j * dim + t];
          expect(Math.abs(dots[r * stride + j] - s)).toBeLessThan(1e-4 * (1 + Math.sqrt(dim)));
        }
      }
    });

    it(`nearest two and exact distances match brute force (dim ${dim}, k ${k}, ${count} rows)`, () => {
      const rng = new Random(dim * 7 + k);
      const n = 2 * count;
      const x = Float32Array.from({ length: n * dim }, () => rng.normal());
      const c = Float64Array.from({ length: k * dim }, () => rng.normal());
      const xn = rowSquaredNorms(x, n, dim);
      const prepared = prepareCentroids(c, k, dim, rowSquaredNorms(c, k, dim))!;
      // every other row, through the index path (runs of one row each)
      const rows = Int32Array.from({ length: count }, (_, i) => 2 * i);
      const out = blockNearest();
      expect(nearestBlock(prepared, x, rows, 0, count, xn, false, out)).toBe(-1);
      rows.forEach((row, r) => {
        const want = bruteNearest(x, row, c, k, dim);
        expect(out.best[r]).toBe(want.best);
        expect(out.bestSq[r]).toBeCloseTo(want.bestSq, 3);
        if (k === 1) expect(out.secondSq[r]).toBe(Infinity);
        else expect(out.secondSq[r]).toBeCloseTo(want.secondSq, 3);
      });
      // contiguous rows, exact distances
      expect(nearestBlock(prepared, x, null, 1, count, null, true, out)).toBe(-1);
      const sq = new Float64Array(BLOCK_ROWS);
      const assigned = new Int32Array(n);
      for (let r = 0; r < count; r++) {
        const want = bruteNearest(x, 1 + r, c, k, dim);
        expect(out.best[r]).toBe(want.best);
        expect(Math.abs(out.bestSq[r] - want.bestSq)).toBeLessThan(1e-5 * (1 + want.bestSq));
        assigned[1 + r] = (r * 5) % k;
      }
      assignedSquaredDistances(prepared, x, 1, count, assigned, sq);
      for (let r = 0; r < count; r++) {
        let d = 0;
        for (let t = 0; t < dim; t++) d += (x[(1 + r) * dim + t] - c[assigned[1 + r] * dim + t]) ** 2;
        expect(Math.abs(sq[r] - d)).toBeLessThan(1e-5 * (1 + d));
      }
    });
  }

  it('breaks distance ties towards the lower centroid index', () => {
    const dim = 4;
    const c = Float64Array.from([1, 0, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0, 1, 0, 0, 0]);
    const k = 5; // centroids 0 and 4 coincide; the row is equidistant from all
    const prepared = prepareCentroids(c, k, dim, rowSquaredNorms(c, k, dim))!;
    const out = blockNearest();
    nearestBlock(prepared, new Float32Array(dim), null, 0, 1, new Float64Array(1), false, out);
    expect(out.best[0]).toBe(0);
    expect(out.bestSq[0]).toBeCloseTo(1, 6);
    expect(out.secondSq[0]).toBeCloseTo(1, 6);
  });

  it('reports the first non-finite row and redoes finite rows whose float32 products overflow', () => {
    const dim = 4;
    const c = Float64Array.from([0, 0, 0, 0, 1e18, 0, 0, 0]);
    const prepared = prepareCentroids(c, 2, dim, rowSquaredNorms(c, 2, dim))!;
    const out = blockNearest();
    const x = Float32Array.from([1, 0, 0, 0, 1e21, 0, 0, 0, 0, Number.NaN, 0, 0, 0, 0, Infinity, 0]);
    // row 1: x·c = 1e39 overflows float32, but the row is finite and nearest to centroid 1
    expect(nearestBlock(prepared, x, null, 0, 2, rowSquaredNorms(x, 2, dim), false, out)).toBe(-1);
    expect(out.best[0]).toBe(0);
    expect(out.best[1]).toBe(1);
    expect(out.bestSq[1] / (Math.fround(1e21) - 1e18) ** 2).toBeCloseTo(1, 6);
    expect(nearestBlock(prepared, x, null, 0, 4, null, false, out)).toBe(2);
    expect(nearestBlock(prepared, x, Int32Array.from([0, 3]), 0, 2, null, false, out)).toBe(1);
  });

  it('declines centroids whose squared norm does not fit float32', () => {
    const c = Float64Array.from([1e20, 0]);
    expect(prepareCentroids(c, 1, 2, rowSquaredNorms(c, 1, 2))).toBeNull();
  });
});

describe('WebAssembly SIMD centroid sums', () => {
  for (const dim of [3, 8, 37]) {
    it(`adds each row to its centroid's float64 sums (dim ${dim})`, () => {
      const rng = new Random(dim);
      const k = 5;
      const count = 70;
      const x = Float32Array.from({ length: count * dim }, () => rng.normal());
      const c = Float64Array.from({ length: k * dim }, () => rng.normal());
      const prepared = prepareCentroids(c, k, dim, rowSquaredNorms(c, k, dim), true)!;
      const out = blockNearest();
      const rows = Int32Array.from({ length: count }, (_, i) => count - 1 - i);
      nearestBlock(prepared, x, rows, 0, count, null, false, out);
      accumulateBlock(prepared, count, out.best);
      accumulateBlock(prepared, count, out.best); // twice: the sums accumulate
      const want = new Float64Array(k * dim);
      for (let r = 0; r < count; r++) for (let t = 0; t < dim; t++) want[out.best[r] * dim + t] += 2 * x[rows[r] * dim + t];
      const got = preparedSums();
      for (let i = 0; i < k * dim; i++) expect(got[i]).toBeCloseTo(want[i], 10);
      prepareCentroids(c, k, dim, rowSquaredNorms(c, k, dim), true);
      expect(Array.from(preparedSums()).every((v) => v === 0)).toBe(true);
      // without sums the kernel memory holds none, and accumulating is refused
      prepareCentroids(c, k, dim, rowSquaredNorms(c, k, dim));
      expect(() => accumulateBlock(prepared, count, out.best)).toThrow(/withSums/);
    });
  }
});
