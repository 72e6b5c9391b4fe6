import { describe, expect, it } from 'vitest';
import { PruneError, Random } from '@prune/core';
import { randomKeep, uniformGridKeep } from './baselines.js';

describe('uniformGridKeep', () => {
  it('takes band centres of a sub-grid', () => {
    // 4×4 keep 4: a 2×2 sub-grid at rows/cols ⌊(i + ½)·4/2⌋ = 1, 3.
    expect(Array.from(uniformGridKeep({ gridHeight: 4, gridWidth: 4, keep: 4 }))).toEqual([5, 7, 13, 15]);
    // 7×7 keep 9: rows/cols ⌊(i + ½)·7/3⌋ = 1, 3, 5.
    expect(Array.from(uniformGridKeep({ gridHeight: 7, gridWidth: 7, keep: 9 }))).toEqual([8, 10, 12, 22, 24, 26, 36, 38, 40]);
  });

  it('fills the budget exactly when it is not a product of two sides', () => {
    for (const keep of [1, 5, 16, 25, 48, 49]) {
      const kept = uniformGridKeep({ gridHeight: 7, gridWidth: 7, keep });
      expect(kept).toHaveLength(keep);
      expect(new Set(kept).size).toBe(keep);
      for (let i = 1; i < kept.length; i++) expect(kept[i]).toBeGreaterThan(kept[i - 1]);
    }
    // 7×7 keep 5: gh = round(√5) = 2, gw = 2 → rows/cols 1, 5 → 8, 12, 36, 40; then one
    // more at the middle of the 45 free patches (the 23rd, index 22 → patch 24).
    expect(Array.from(uniformGridKeep({ gridHeight: 7, gridWidth: 7, keep: 5 }))).toEqual([8, 12, 24, 36, 40]);
  });

  it('rejects grids and budgets that do not fit', () => {
    expect(() => uniformGridKeep({ gridHeight: 0, gridWidth: 4, keep: 1 })).toThrow(PruneError);
    expect(() => uniformGridKeep({ gridHeight: 2, gridWidth: 2, keep: 5 })).toThrow(PruneError);
  });
});

describe('randomKeep', () => {
  it('draws distinct sorted positions, repeatably for a seed', () => {
    const a = randomKeep({ count: 49, keep: 16, random: 5 });
    const b = randomKeep({ count: 49, keep: 16, random: new Random(5) });
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(new Set(a).size).toBe(16);
    for (let i = 1; i < a.length; i++) expect(a[i]).toBeGreaterThan(a[i - 1]);
    expect(Array.from(randomKeep({ count: 49, keep: 16, random: 6 }))).not.toEqual(Array.from(a));
  });

  it('is uniform: each position is kept about keep/count of the time', () => {
    const rng = new Random(1);
    const hits = new Array<number>(10).fill(0);
    for (let i = 0; i < 4000; i++) for (const p of randomKeep({ count: 10, keep: 3, random: rng })) hits[p]++;
    // Expected 1200 each; binomial sd ≈ 29.
    for (const h of hits) expect(Math.abs(h - 1200)).toBeLessThan(150);
  });

  it('rejects a budget above the count', () => {
    expect(() => randomKeep({ count: 4, keep: 5, random: 1 })).toThrow(PruneError);
  });
});
