import { PruneError } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { selectByScore } from './policy.js';

const scores = [0.9, 0.1, 0.5, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4, 0.0];
// hardest first (higher = harder): 0 5 3 7 2 8 4 6 1 9

describe('selectByScore', () => {
  it('keeps the hardest, the easiest, or the hardest after an offset', () => {
    expect(Array.from(selectByScore(scores, { keep: 0.3 }))).toEqual([0, 3, 5]);
    expect(Array.from(selectByScore(scores, { keep: 0.3, policy: 'easy' }))).toEqual([1, 6, 9]);
    expect(Array.from(selectByScore(scores, { keep: 0.3, policy: 'offset', offset: 0.2 }))).toEqual([2, 3, 7]);
    // offset + keep > 1: the window ends at the easiest example
    expect(Array.from(selectByScore(scores, { keep: 0.3, policy: 'offset', offset: 0.9 }))).toEqual([1, 6, 9]);
  });

  it('reverses for scores where lower is harder (AUM)', () => {
    expect(Array.from(selectByScore(scores, { keep: 0.2, harderIs: 'lower' }))).toEqual([1, 9]);
  });

  it('keeps class ratios with proportional balance and equalises with equal balance', () => {
    const labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2];
    // keep 5 of 10: proportional quotas 3 / 1.5 / 0.5 → largest remainders: 3, 2, 0 (tie to the lower class)
    const prop = selectByScore(scores, { keep: 0.5, labels, classBalance: 'proportional' });
    expect(prop.length).toBe(5);
    const count = (sel: Int32Array, c: number): number => Array.from(sel).filter((i) => labels[i] === c).length;
    expect([count(prop, 0), count(prop, 1), count(prop, 2)]).toEqual([3, 2, 0]);
    // hardest of class 0 {0:.9, 1:.1, 2:.5, 3:.7, 4:.3, 5:.8} → 0, 5, 3; of class 1 {6:.2, 7:.6, 8:.4} → 7, 8
    expect(Array.from(prop)).toEqual([0, 3, 5, 7, 8]);
    // equal: sizes 6/3/1, budget 5 → cap 2 (2+2+1 = 5)
    const eq = selectByScore(scores, { keep: 0.5, labels, classBalance: 'equal' });
    expect([count(eq, 0), count(eq, 1), count(eq, 2)]).toEqual([2, 2, 1]);
  });

  it('rejects a fraction out of range and balance without labels', () => {
    for (const keep of [0, -0.1, 1.5, Number.NaN]) {
      expect(() => selectByScore(scores, { keep })).toThrow(PruneError);
    }
    expect(() => selectByScore(scores, { keep: 0.5, classBalance: 'proportional' })).toThrow(/label/);
    expect(() => selectByScore([1, Number.NaN], { keep: 0.5 })).toThrow(/NaN/);
  });
});
