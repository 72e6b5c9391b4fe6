import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PruneError, fromArray, tensor } from '@prune/core';
import { globalScoreThreshold } from './global-threshold.js';

describe('globalScoreThreshold', () => {
  it('finds sorted(pooled)[floor(N·s)] across tensors (hand-checked)', async () => {
    const a = tensor([[0.5, 4], [3, 0.1]]);
    const b = tensor([2, 1, 6]);
    // Pooled sorted: 0.1 0.5 1 2 3 4 6 (N = 7); floor(7·0.5) = 3 → 2.
    expect(await globalScoreThreshold(() => [a, b], { sparsity: 0.5 })).toBe(2);
    expect(await globalScoreThreshold(() => [a, b], { sparsity: 0.1 })).toBe(Math.fround(0.1));
    expect(await globalScoreThreshold(() => [a, b], { sparsity: 0.99 })).toBe(6);
    expect(await globalScoreThreshold(() => [a, b], { sparsity: 0 })).toBeUndefined();
    expect(a.isDisposed).toBe(false);
  });

  it('equals a full sort on random values with ties, negatives, ±0 and ±Infinity (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.oneof(fc.integer({ min: -20, max: 20 }).map((v) => v / 8), fc.constantFrom(0, -0, Infinity, -Infinity, 1e-30, 3e38)), { minLength: 0, maxLength: 40 }), { minLength: 1, maxLength: 4 }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        async (parts, s) => {
          const tensors = parts.map((p) => fromArray(Float32Array.from(p), [p.length], 'float32'));
          const pooled = parts.flat().map((v) => Math.fround(v)).sort((x, y) => x - y);
          const thr = await globalScoreThreshold(() => tensors, { sparsity: s });
          if (s === 0 || pooled.length === 0) expect(thr).toBeUndefined();
          else expect(thr === pooled[Math.floor(pooled.length * s)] || (thr === 0 && pooled[Math.floor(pooled.length * s)] === 0)).toBe(true);
          tensors.forEach((t) => t.dispose());
        },
      ),
      { numRuns: 150, seed: 7 },
    );
  });

  it('disposes yielded scores when asked, and rejects NaN, bad sparsity and changing walks', async () => {
    const made: ReturnType<typeof tensor>[] = [];
    await globalScoreThreshold(
      function* () {
        const t = tensor([1, 2, 3]);
        made.push(t);
        yield t;
      },
      { sparsity: 0.5, disposeScores: true },
    );
    expect(made.length).toBe(2);
    expect(made.every((t) => t.isDisposed)).toBe(true);
    await expect(globalScoreThreshold(() => [tensor([1, Number.NaN])], { sparsity: 0.5 })).rejects.toThrow(PruneError);
    await expect(globalScoreThreshold(() => [tensor([1])], { sparsity: 1 })).rejects.toThrow(/\[0, 1\)/);
    let pass = 0;
    await expect(globalScoreThreshold(() => [tensor(pass++ === 0 ? [1, 2] : [1, 5])], { sparsity: 0.5 })).rejects.toThrow(/second pass/);
  });
});
