import { describe, expect, it } from 'vitest';
import { PruneError, tensor } from '@prune/core';
import { wandaVariantMask } from './wanda-variant.js';

// Scores by hand: row 0 = [1, 2, 3, 4] (sorted v = 1 2 3 4, C = 1 3 6 10, Σ = 10),
// row 1 = [4, 4, 1, 1] (v = 1 1 4 4, C = 1 2 6 10, Σ = 10).
const S = [
  [1, 2, 3, 4],
  [4, 4, 1, 1],
];

describe('Wanda α-variant bisection (hand-checked)', () => {
  it('stops at the start α = 0.4 when it already meets s = 0.5', () => {
    // α·Σ = 4: row 0 keeps count #{C ≤ 4} = 2 → thr v[1] = 2 → prunes 1, 2;
    // row 1: #{C ≤ 4} = 2 → thr v[1] = 1 → prunes both 1s. 4/8 = 0.5.
    const r = wandaVariantMask(tensor(S), { sparsity: 0.5 });
    expect(r.alpha).toBe(0.4);
    expect(r.sparsity).toBe(0.5);
    expect([...r.mask.dataSync()]).toEqual([0, 0, 1, 1, 1, 1, 0, 0]);
  });

  it('halves α towards 0 until the interval is < 0.001 when s is unreachable (count clamped to ≥ 1)', () => {
    // s = 0.25: α = 0.4 → 0.5 (too sparse) → α = 0.2: row 0 #{C ≤ 2} = 1 → prunes {1};
    // row 1 #{C ≤ 2} = 2 → thr 1 → prunes both 1s: 3/8. Every smaller α gives c = 1 (or 0,
    // clamped to 1) and the same 3/8, because row 1's tie at 1 is pruned as a whole. The
    // interval [0, hi] halves from 0.8: 0.4, 0.2, …, 0.00078125 < 0.001 after ten steps, at
    // α = 0.4 / 2¹⁰.
    const r = wandaVariantMask(tensor(S), { sparsity: 0.25 });
    expect(r.alpha).toBe(0.4 / 1024);
    expect(r.sparsity).toBe(0.375);
    expect([...r.mask.dataSync()]).toEqual([0, 1, 1, 1, 1, 1, 0, 0]);
  });

  it('moves α up when too few are pruned: s = 0.75 on the hand rows', () => {
    // α = 0.4 → 0.5 < 0.75 → α = 0.6: row 0 #{C ≤ 6} = 3 → thr 3 → 3 pruned; row 1
    // #{C ≤ 6} = 3 → thr v[2] = 4 → all 4 pruned: 7/8 > 0.75 → back down to 0.5 → 4/8 …
    // Between C = 5 and C = 6 nothing changes except at α·Σ = 6 exactly, so the bisection
    // narrows on 0.6 from below and ends with 4/8 (the interval closes before reaching 0.6).
    const r = wandaVariantMask(tensor(S), { sparsity: 0.75 });
    expect(r.alpha).toBeGreaterThan(0.599);
    expect(r.alpha).toBeLessThan(0.6);
    expect(r.sparsity).toBe(0.5);
  });

  it('rejects negative or NaN scores and sparsity outside [0, 1)', () => {
    expect(() => wandaVariantMask(tensor([[1, -1]]), { sparsity: 0.5 })).toThrow(/negative/);
    expect(() => wandaVariantMask(tensor([[1, Number.NaN]]), { sparsity: 0.5, name: 'fc' })).toThrow(/fc holds NaN/);
    expect(() => wandaVariantMask(tensor([[1, 2]]), { sparsity: 1 })).toThrow(PruneError);
    expect(() => wandaVariantMask(tensor([1, 2]), { sparsity: 0.5 })).toThrow(PruneError);
  });
});
