import { describe, expect, it } from 'vitest';
import { defaultKdAlpha, kdLossValue } from './kd.js';

describe('defaultKdAlpha', () => {
  it('is 1 − f/2: decreasing in the kept fraction', () => {
    expect(defaultKdAlpha(1)).toBe(0.5);
    expect(defaultKdAlpha(0.5)).toBe(0.75);
    expect(defaultKdAlpha(0.3)).toBeCloseTo(0.85, 12);
    expect(() => defaultKdAlpha(0)).toThrow(/fraction/);
    expect(() => defaultKdAlpha(1.2)).toThrow(/fraction/);
  });
});

describe('kdLossValue', () => {
  it('matches a hand computation', () => {
    // student logits [0, ln 3]: p = [1/4, 3/4]; label 1 → CE = −ln(3/4)
    // τ = 1: teacher logits [0, 0] → q = [1/2, 1/2]; KL(q‖p) = ½ln(½/¼) + ½ln(½/¾) = ½ln 2 + ½ln(2/3)
    const s = [0, Math.log(3)];
    const t = [0, 0];
    const ce = -Math.log(0.75);
    const kl = 0.5 * Math.log(2) + 0.5 * Math.log(2 / 3);
    expect(kdLossValue(s, t, [1], 2, { alpha: 0, temperature: 1 })).toBeCloseTo(ce, 12);
    expect(kdLossValue(s, t, [1], 2, { alpha: 1, temperature: 1 })).toBeCloseTo(kl, 12);
    expect(kdLossValue(s, t, [1], 2, { alpha: 0.3, temperature: 1 })).toBeCloseTo(0.7 * ce + 0.3 * kl, 12);
  });

  it('scales the KL term by τ² at temperature τ', () => {
    // τ = 2: student [0, ln 9]/2 = [0, ln 3] → p = [1/4, 3/4]; teacher [0, 0] → q = [1/2, 1/2]
    const kl = 0.5 * Math.log(2) + 0.5 * Math.log(2 / 3);
    expect(kdLossValue([0, Math.log(9)], [0, 0], [0], 2, { alpha: 1, temperature: 2 })).toBeCloseTo(4 * kl, 12);
  });

  it('averages over the batch and picks α from the kept fraction', () => {
    const s = [1, 2, 0.5, -1];
    const t = [2, 0, 1, 1];
    const one = (i: number, alpha: number): number => kdLossValue(s.slice(2 * i, 2 * i + 2), t.slice(2 * i, 2 * i + 2), [[0, 1][i]], 2, { alpha, temperature: 3 });
    const both = kdLossValue(s, t, [0, 1], 2, { keptFraction: 0.5, temperature: 3 });
    expect(both).toBeCloseTo((one(0, 0.75) + one(1, 0.75)) / 2, 12);
  });

  it('rejects missing labels and bad options', () => {
    expect(() => kdLossValue([0, 1], [0, 1], undefined as unknown as number[], 2)).toThrow(/label/);
    expect(() => kdLossValue([0, 1], [0, 1], [0], 2, { temperature: 0 })).toThrow(/temperature/);
    expect(() => kdLossValue([0, 1], [0, 1], [0], 2, { alpha: 2 })).toThrow(/alpha/);
  });
});
