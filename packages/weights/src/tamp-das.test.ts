import { PruneError, tensor } from '@prune/core';
import { describe, expect, it } from 'vitest';

const flags = (values: boolean[]) => tensor(values.map(Number), undefined, 'bool');
import { DiversityStatistic, allocateKeepBudget, diversityAwareSparsity, diversityScore, modalitySimilarities, similaritiesFromGram } from './tamp-das.js';

describe('modalitySimilarities', () => {
  it('matches hand-computed S_vv, S_ll, S_vl on unit-friendly vectors', () => {
    // visual: (1,0), (1,1)/√2·k, (0,1)·3 — language: (1,0)·2, (−1,0)
    const out = tensor([
      [1, 0],
      [2, 2],
      [0, 3],
      [2, 0],
      [-1, 0],
    ]);
    const mask = flags([true, true, true, false, false]);
    const s = modalitySimilarities(out, mask);
    const r = Math.SQRT1_2;
    // visual pairs (upper): cos(v0,v1) = r, cos(v0,v2) = 0 (not > 0, dropped), cos(v1,v2) = r
    expect(s.visual).toBeCloseTo(r, 6);
    // language pair: cos = −1, not positive: a pair but no positive one → 0
    expect(s.language).toBe(0);
    // cross: v0·l = [1, −1], v1·l = [r, −r], v2·l = [0, 0] → mean 0
    expect(s.cross).toBeCloseTo(0, 6);
    expect(diversityScore(s)).toBeCloseTo(1 - r + 1 + 1, 6);
    // one visual token only: no visual pair at all → undefined
    expect(modalitySimilarities(tensor([[1, 0], [0, 1], [1, 1]]), flags([true, false, false])).visual).toBeUndefined();
  });

  it('takes every positive upper-triangular pair, including pairs in different positions', () => {
    const gram = [1, 0.5, 0.2, 0.9, 0.5, 1, 0.4, 0.1, 0.2, 0.4, 1, 0.3, 0.9, 0.1, 0.3, 1];
    // tokens 0, 2 visual; 1, 3 language
    const s = similaritiesFromGram(gram, 4, [1, 0, 1, 0]);
    expect(s.visual).toBeCloseTo(0.2, 12);
    expect(s.language).toBeCloseTo(0.1, 12);
    expect(s.cross).toBeCloseTo((0.5 + 0.9 + 0.4 + 0.3) / 4, 12);
  });

  it('requires a modality mask with one flag per token', () => {
    const out = tensor([[1, 0], [0, 1]]);
    expect(() => modalitySimilarities(out, undefined as never)).toThrow(/needs the modality of every token/);
    expect(() => modalitySimilarities(out, flags([true, false, true]))).toThrow(PruneError);
    expect(() => modalitySimilarities(tensor([[[1, 0]], [[0, 1]]]), flags([true]))).toThrow(/one sample at a time/);
  });
});

describe('DiversityStatistic', () => {
  it('running-averages each term over the samples where it exists, and rejects inputs-only updates', () => {
    const stat = new DiversityStatistic();
    // Sample 1: two parallel visual tokens (S_vv = 1), two language at 60° (S_ll = 0.5), cross all 0.
    stat.observe({ input: tensor([[0]]), output: tensor([[1, 0, 0], [2, 0, 0], [0, 1, 0], [0, 0.5, Math.sqrt(3) / 2]]), modalityMask: flags([true, true, false, false]) });
    // Sample 2: text only: S_ll = cos = 1; no visual or cross term.
    stat.observe({ input: tensor([[0]]), output: tensor([[0, 1, 0], [0, 3, 0]]), modalityMask: flags([false, false]) });
    const v = stat.value();
    expect(v.visual).toBeCloseTo(1, 6);
    expect(v.language).toBeCloseTo(0.75, 6);
    expect(v.cross).toBeCloseTo(0, 6);
    expect(stat.score()).toBeCloseTo(0 + 0.25 + 1, 6);
    expect(stat.samples).toBe(2);
    expect(() => stat.update(tensor([[1]]))).toThrow(/observe\(\{ input, output, modalityMask \}\)/);
    expect(() => stat.observe({ input: tensor([[0]]) })).toThrow(/has no output/);
  });
});

describe('allocateKeepBudget', () => {
  it('follows the reference loop on a hand-checked case', () => {
    // n = 100, 100, 200; s = 0.5 → K = 200; s_max = 0.6 → floors 40, 40, 80 (Σ 160), rest 40.
    // d = 1, 1, 2 → add ceil(10), ceil(10), ceil(20) → 50, 50, 100: Σ = 200 = K.
    expect(allocateKeepBudget([1, 1, 2], [100, 100, 200], 0.5)).toEqual([50, 50, 100]);
  });

  it('fixes ceil overshoot so Σ keep = K exactly, taking from the largest budgets', () => {
    // n = 10 each, s = 0.5 → K = 15; floors ceil(10·0.4) = 4 → 12, rest 3; d = 1,1,1 → +1 each: 15.
    expect(allocateKeepBudget([1, 1, 1], [10, 10, 10], 0.5)).toEqual([5, 5, 5]);
    // d = 3, 1 with n = 10, 10: K = 10, floors 4 + 4, rest 2 → +ceil(1.5) = 2, +ceil(0.5) = 1
    // → 6 + 5 = 11, one too many: the largest budget (6) gives one back.
    expect(allocateKeepBudget([3, 1], [10, 10], 0.5)).toEqual([5, 5]);
  });

  it('clips a matrix at n_m and redistributes to the others', () => {
    // n = 10, 1000; s = 0.5 → K = 505; floors 4, 400 → rest 101; d = 100, 1:
    // add ceil(100/101·101) = 100 → 104 ≥ 10: clipped to 10, score drops; add ceil(1) → 401.
    // Next round: rest 505 − 411 = 94, all to the second matrix → 495.
    const keep = allocateKeepBudget([100, 1], [10, 1000], 0.5);
    expect(keep).toEqual([10, 495]);
    expect(keep[0] + keep[1]).toBe(505);
  });

  it('keeps Σ keep = K for many random cases, within [floor, n_m]', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let t = 0; t < 200; t++) {
      const count = 1 + Math.floor(rand() * 12);
      const sizes = Array.from({ length: count }, () => 50 + Math.floor(rand() * 5000));
      const scores = Array.from({ length: count }, () => (rand() < 0.1 ? 0 : rand() * 3));
      const s = Math.round(rand() * 80) / 100;
      const keep = allocateKeepBudget(scores, sizes, s);
      const total = sizes.reduce((a, b) => a + b, 0);
      expect(keep.reduce((a, b) => a + b, 0)).toBe(Math.floor(total * (1 - s)));
      keep.forEach((k, m) => {
        expect(Number.isInteger(k)).toBe(true);
        expect(k).toBeLessThanOrEqual(sizes[m]);
        expect(k).toBeGreaterThanOrEqual(Math.floor(sizes[m] * Math.max(0, 1 - Math.min(s + 0.1, 1))));
      });
    }
  });

  it('gives more diverse matrices lower sparsity, and equal shares when every score is 0', () => {
    const s = diversityAwareSparsity([0.2, 1.5], [1000, 1000], 0.5);
    expect(s[0]).toBeGreaterThan(s[1]);
    expect(allocateKeepBudget([0, 0], [100, 100], 0.5)).toEqual([50, 50]);
  });

  it('rejects bad input', () => {
    expect(() => allocateKeepBudget([1], [10, 10], 0.5)).toThrow(/one score and one size per matrix/);
    expect(() => allocateKeepBudget([1], [10], 1)).toThrow(/\[0, 1\)/);
    expect(() => allocateKeepBudget([-1], [10], 0.5)).toThrow(/≥ 0/);
    expect(() => allocateKeepBudget([1], [10.5], 0.5)).toThrow(/positive integers/);
    expect(() => allocateKeepBudget([1], [10], 0.5, { maxSparsity: 0.4 })).toThrow(/maxSparsity/);
  });
});
