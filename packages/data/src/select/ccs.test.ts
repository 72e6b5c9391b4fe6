import { describe, expect, it } from 'vitest';
import { ccsSelect, strataBudgets } from './ccs.js';

describe('strataBudgets', () => {
  it('fills strata from the smallest, each taking min(size, ⌊remaining / strata left⌋)', () => {
    // sizes 1, 1, 100 with budget 10: 1 (avg 3), 1 (avg 4), 8 (avg 8)
    expect(Array.from(strataBudgets([100, 1, 1], 10))).toEqual([8, 1, 1]);
    // sizes 0, 2, 5, 9 with budget 12: 0 (avg 3), 2 (avg 4), 5 (avg 5), then 5 (avg 5)
    expect(Array.from(strataBudgets([5, 0, 9, 2], 12))).toEqual([5, 0, 5, 2]);
    // a budget larger than everything keeps everything
    expect(Array.from(strataBudgets([3, 4], 100))).toEqual([3, 4]);
  });

  it('matches a brute-force transcription of the rule on random cases', () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let trial = 0; trial < 200; trial++) {
      const sizes = Array.from({ length: 1 + rand(8) }, () => rand(20));
      const budget = rand(80);
      const got = strataBudgets(sizes, budget);
      // every stratum takes what the rule gives in ascending order of size
      const order = sizes.map((s, i) => [s, i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      let rem = budget;
      order.forEach(([s, i], r) => {
        const take = Math.min(s, Math.floor(rem / (sizes.length - r)));
        expect(got[i]).toBe(take);
        rem -= take;
      });
      expect(got.reduce((a, b) => a + b, 0)).toBe(Math.min(budget, sizes.reduce((a, b) => a + b, 0)));
    }
  });
});

describe('ccsSelect', () => {
  const n = 100;
  const scores = Array.from({ length: n }, (_, i) => i / 10); // 0.0 … 9.9, evenly spread

  it('prunes the β hardest first and covers every stratum', () => {
    const kept = ccsSelect(scores, { keep: 0.2, hardPruneFraction: 0.1, strata: 9, seed: 1 });
    expect(kept.length).toBe(20);
    // β = 0.1 removes the 10 hardest (scores 9.0 … 9.9)
    expect(Math.max(...kept)).toBeLessThan(90);
    // 90 examples over 9 equal strata of 10; budget 20 → 2 or 3 per stratum (2,2,…,2 then 4 leftover)
    const perStratum = new Array(9).fill(0);
    for (const i of kept) perStratum[Math.min(8, Math.floor(scores[i] / (8.9 / 9)))]++;
    expect(perStratum.every((c) => c >= 2)).toBe(true);
  });

  it('respects harderIs and is deterministic under a seed', () => {
    const low = ccsSelect(scores, { keep: 0.3, hardPruneFraction: 0.2, harderIs: 'lower', seed: 3 });
    expect(Math.min(...low)).toBeGreaterThanOrEqual(20);
    expect(Array.from(ccsSelect(scores, { keep: 0.3, seed: 5 }))).toEqual(Array.from(ccsSelect(scores, { keep: 0.3, seed: 5 })));
    expect(Array.from(ccsSelect(scores, { keep: 0.3, seed: 5 }))).not.toEqual(Array.from(ccsSelect(scores, { keep: 0.3, seed: 6 })));
  });

  it('rejects a kept fraction that does not fit after the hard pruning', () => {
    expect(() => ccsSelect(scores, { keep: 0.95, hardPruneFraction: 0.1 })).toThrow(/lower keep/);
    expect(() => ccsSelect(scores, { keep: 1.2 })).toThrow(/fraction/);
    expect(() => ccsSelect(scores, { keep: 0.5, hardPruneFraction: 1.5 })).toThrow(/hardPruneFraction/);
  });
});
