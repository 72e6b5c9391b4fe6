import { describe, expect, it } from 'vitest';
import { DynamicCurator } from './dynamic.js';

describe('DynamicCurator', () => {
  it('uses all data during warm-up, then re-curates every period with embeddings of a random pool', async () => {
    const curator = new DynamicCurator({ count: 200, keepFraction: 0.25, warmupEpochs: 2, period: 3, poolSize: 120, seed: 1, levels: [6] });
    const calls: number[][] = [];
    // embeddings: two coordinates derived from the index (the "model"); one call per re-curation
    const embed = (rows: Int32Array): Float32Array => {
      calls.push(Array.from(rows));
      return Float32Array.from(Array.from(rows).flatMap((r) => [r % 10, Math.floor(r / 10)]));
    };
    const sizes: number[] = [];
    for (let epoch = 0; epoch < 9; epoch++) sizes.push((await curator.subsetFor(epoch, embed)).length);
    expect(sizes).toEqual([200, 200, 30, 30, 30, 30, 30, 30, 30]);
    // re-curations at epochs 2, 5 and 8
    expect(calls.length).toBe(3);
    expect(curator.recurations).toBe(3);
    expect([0, 1, 2, 3, 4, 5, 8].map((e) => curator.recuratesAt(e))).toEqual([false, false, true, false, false, true, true]);
    for (const pool of calls) {
      expect(pool.length).toBe(120);
      expect(new Set(pool).size).toBe(120);
    }
    // the kept subset comes from the last pool
    const last = new Set(calls[2]);
    expect(Array.from(curator.current).every((i) => last.has(i))).toBe(true);
  });

  it('is deterministic under a seed', async () => {
    const run = async (seed: number): Promise<number[]> => {
      const c = new DynamicCurator({ count: 100, keepFraction: 0.3, warmupEpochs: 0, seed, levels: [5] });
      return Array.from(await c.subsetFor(0, (rows) => Float32Array.from(rows, (r) => (r * 37) % 11)));
    };
    expect(await run(3)).toEqual(await run(3));
  });

  it('rejects bad options and embeddings with NaN', async () => {
    expect(() => new DynamicCurator({ count: 10, keepFraction: 1.5 })).toThrow(/fraction/);
    expect(() => new DynamicCurator({ count: 10, keepFraction: 0.5, period: 0 })).toThrow(/period/);
    expect(() => new DynamicCurator({ count: 10, keepFraction: 0.5, poolSize: 20 })).toThrow(/poolSize/);
    const c = new DynamicCurator({ count: 4, keepFraction: 0.5, warmupEpochs: 0 });
    await expect(c.subsetFor(0, () => Float32Array.from([0, Number.NaN, 1, 2]))).rejects.toThrow(/NaN/);
  });
});
