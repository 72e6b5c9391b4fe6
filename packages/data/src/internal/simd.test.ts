import { Random } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { type NearestTwo, nearestTwo, rowSquaredNorms } from './distance.js';
import { BLOCK_ROWS, nearestTwoBlock, prepareCentroids, simdAvailable } from './simd.js';

describe('WebAssembly SIMD distance kernel', () => {
  it('runs on Node 20 and agrees with the plain float64 kernel', () => {
    expect(simdAvailable()).toBe(true);
    const rng = new Random(1);
    const dim = 36;
    const k = 13; // not a multiple of 4: the last group is zero-padded
    const n = BLOCK_ROWS;
    const x = Float32Array.from({ length: n * dim }, () => rng.normal());
    const c = Float64Array.from({ length: k * dim }, () => rng.normal());
    const cn = rowSquaredNorms(c, k, dim);
    const xn = rowSquaredNorms(x, n, dim);
    const prepared = prepareCentroids(c, k, dim, cn)!;
    const best = new Int32Array(n);
    const bestSq = new Float64Array(n);
    const secondSq = new Float64Array(n);
    // every other row, through the index path
    const rows = Int32Array.from({ length: n / 2 }, (_, i) => 2 * i);
    nearestTwoBlock(prepared, x, rows, 0, rows.length, null, best, bestSq, secondSq);
    const one: NearestTwo = { best: 0, bestSq: 0, secondSq: 0 };
    rows.forEach((row, r) => {
      nearestTwo(x, row, dim, xn[row], c, cn, k, one);
      expect(best[r]).toBe(one.best);
      expect(bestSq[r]).toBeCloseTo(one.bestSq, 3);
      expect(secondSq[r]).toBeCloseTo(one.secondSq, 3);
    });
  });

  it('declines dimensions that are not a multiple of 4', () => {
    expect(prepareCentroids(new Float64Array(6), 2, 3, new Float64Array(2))).toBeNull();
  });
});
