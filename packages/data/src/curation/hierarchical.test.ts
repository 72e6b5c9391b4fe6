import { Random } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { embeddingMatrix } from './embeddings.js';
import { balancedCuration, balancedSample, capAllocation, hierarchicalKmeans } from './hierarchical.js';

function blobs(sizes: number[], dim: number, seed: number, spread = 0.3): { data: Float32Array; group: Int32Array } {
  const rng = new Random(seed);
  const n = sizes.reduce((a, b) => a + b, 0);
  const data = new Float32Array(n * dim);
  const group = new Int32Array(n);
  let row = 0;
  sizes.forEach((size, g) => {
    const center = Array.from({ length: dim }, (_, t) => (t === g % dim ? 10 * (1 + Math.floor(g / dim)) : 0));
    for (let i = 0; i < size; i++, row++) {
      group[row] = g;
      for (let t = 0; t < dim; t++) data[row * dim + t] = center[t] + spread * rng.normal();
    }
  });
  return { data, group };
}

describe('capAllocation', () => {
  it('finds the largest cap with Σ min(c, size) ≤ budget and spreads the remainder over larger groups', () => {
    // sizes 2, 5, 9, budget 12: c = 5 uses 2 + 5 + 5 = 12 exactly
    const a = capAllocation([2, 5, 9], 12, new Random(0));
    expect(a.cap).toBe(5);
    expect(Array.from(a.allocation)).toEqual([2, 5, 5]);
    // sizes 2, 9, 9, budget 13: c = 5 uses 12 (c = 6 would use 14); one remainder unit to one of the 9s
    const b = capAllocation([2, 9, 9], 13, new Random(0));
    expect(b.cap).toBe(5);
    expect(b.allocation[0]).toBe(2);
    expect([b.allocation[1], b.allocation[2]].sort()).toEqual([5, 6]);
    // budget covering everything keeps every group whole
    expect(Array.from(capAllocation([2, 5, 9], 40, new Random(0)).allocation)).toEqual([2, 5, 9]);
  });

  it('matches a brute-force cap search on random cases', () => {
    const rng = new Random(3);
    for (let trial = 0; trial < 300; trial++) {
      const sizes = Array.from({ length: 1 + rng.int(7) }, () => rng.int(15));
      const total = sizes.reduce((a, b) => a + b, 0);
      const budget = rng.int(total + 3);
      const { cap, allocation } = capAllocation(sizes, budget, new Random(trial));
      const used = (c: number): number => sizes.reduce((s, v) => s + Math.min(c, v), 0);
      if (budget < total) {
        let brute = 0;
        while (used(brute + 1) <= budget) brute++;
        expect(cap).toBe(brute);
      }
      expect(allocation.reduce((a, b) => a + b, 0)).toBe(Math.min(budget, total));
      allocation.forEach((v, i) => {
        expect(v).toBeLessThanOrEqual(sizes[i]);
        expect(v).toBeGreaterThanOrEqual(Math.min(cap, sizes[i]));
        expect(v).toBeLessThanOrEqual(cap + 1);
      });
    }
  });
});

describe('hierarchicalKmeans + balancedSample', () => {
  it('balances a heavily imbalanced set across its clusters', () => {
    // four blobs of 400, 100, 20 and 8 rows; keep 80 → the small blobs whole, the big ones capped
    const { data, group } = blobs([400, 100, 20, 8], 4, 1);
    const e = embeddingMatrix(data, 4);
    const tree = hierarchicalKmeans(e, { levels: [4], seed: 0, resamplingSteps: 3 });
    const kept = balancedSample(tree, e, { size: 80, seed: 0 });
    expect(kept.length).toBe(80);
    const per = [0, 0, 0, 0];
    for (const i of kept) per[group[i]]++;
    // sizes 400/100/20/8 with budget 80: cap 26 → 26, 26, 20, 8
    expect(per).toEqual([26, 26, 20, 8]);
    expect(new Set(kept).size).toBe(80);
  });

  it('recurses through two levels and takes the closest rows with closestFraction 1', () => {
    const { data, group } = blobs([60, 60, 60, 60, 30, 30], 3, 2);
    const e = embeddingMatrix(data, 3);
    const tree = hierarchicalKmeans(e, { levels: [6, 3], seed: 1, resamplingSteps: 2 });
    expect(tree.levels.map((l) => l.k)).toEqual([6, 3]);
    expect(tree.levels[1].assignments.length).toBe(6);
    const kept = balancedSample(tree, e, { size: 30, closestFraction: 1, seed: 0 });
    expect(kept.length).toBe(30);
    // with closestFraction 1, each kept row is at least as close to its leaf centroid as every
    // unkept row of the same leaf
    const leaf = tree.levels[0].assignments;
    const c = tree.levels[0].centroids;
    const dist = (i: number): number => {
      let s = 0;
      for (let t = 0; t < 3; t++) s += (data[i * 3 + t] - c[leaf[i] * 3 + t]) ** 2;
      return s;
    };
    const keptSet = new Set(kept);
    for (let j = 0; j < 6; j++) {
      const rows = Array.from(leaf.keys()).filter((i) => leaf[i] === j);
      const keptD = rows.filter((i) => keptSet.has(i)).map(dist);
      const restD = rows.filter((i) => !keptSet.has(i)).map(dist);
      if (keptD.length && restD.length) expect(Math.max(...keptD)).toBeLessThanOrEqual(Math.min(...restD) + 1e-6);
    }
    void group;
  });

  it('is deterministic under a seed', () => {
    const { data } = blobs([50, 30, 10], 3, 4);
    const e = embeddingMatrix(data, 3);
    const a = balancedCuration(e, { keep: 0.3, seed: 5 });
    const b = balancedCuration(e, { keep: 0.3, seed: 5 });
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(a.length).toBe(27);
  });

  it('rejects bad levels, sizes and fractions', () => {
    const e = embeddingMatrix(new Float32Array(20).map((_, i) => i), 2);
    expect(() => hierarchicalKmeans(e, { levels: [] })).toThrow(/levels/);
    expect(() => hierarchicalKmeans(e, { levels: [2, 5] })).toThrow(/must not grow/);
    expect(() => hierarchicalKmeans(e, { levels: [11] })).toThrow(/rows/);
    const tree = hierarchicalKmeans(e, { levels: [2], resamplingSteps: 0 });
    expect(() => balancedSample(tree, e, { size: 11 })).toThrow(/exceeds/);
    expect(() => balancedSample(tree, e, { size: 5, closestFraction: 2 })).toThrow(/closestFraction/);
    expect(() => balancedCuration(e, { keep: 0 })).toThrow(/fraction/);
  });
});
