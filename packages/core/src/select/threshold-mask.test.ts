import { describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import { fromArray, tensor } from '../ops/creation.js';
import { Random } from '../random.js';
import { globalThresholdMasks, thresholdMask } from './threshold-mask.js';

function errorOf(fn: () => unknown): PruneError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PruneError) return e;
    throw e;
  }
  throw new Error('expected a PruneError');
}

/** The reference rule, written out: thr = sorted(flat)[floor(numel·s)], keep S > thr. */
function referenceKeep(flat: readonly number[], sparsity: number): boolean[] {
  const sorted = [...flat].sort((a, b) => a - b);
  const thr = sorted[Math.floor(flat.length * sparsity)];
  return flat.map((v) => v > thr);
}

describe('thresholdMask', () => {
  it('prunes every score ≤ sorted[floor(numel·s)] (hand-checked)', () => {
    // Sorted: 1 2 3 4; floor(4·0.25) = 1 → thr = 2 → prune 1 and 2.
    expect([...thresholdMask(tensor([[4, 1], [3, 2]]), { sparsity: 0.25 }).dataSync()]).toEqual([1, 0, 1, 0]);
    // Sorted: 1 2 2 2 5 9; floor(6·0.3) = 1 → thr = 2 → ties at the threshold are all pruned.
    expect([...thresholdMask(tensor([[2, 9, 1], [2, 5, 2]]), { sparsity: 0.3 }).dataSync()]).toEqual([0, 1, 0, 0, 1, 0]);
  });

  it('keeps everything at s = 0 (where the reference would prune the minimum)', () => {
    const keep = thresholdMask(tensor([[3, 1, 2]]), { sparsity: 0 });
    expect(keep.dtype).toBe('bool');
    expect([...keep.dataSync()]).toEqual([1, 1, 1]);
  });

  it('matches the reference rule on random matrices with ties and ±Infinity', () => {
    const rng = new Random(21);
    for (const [rows, cols] of [
      [1, 1],
      [3, 7],
      [16, 33],
      [40, 101],
    ]) {
      const data = Float32Array.from({ length: rows * cols }, () => rng.int(12) / 4);
      data[rng.int(data.length)] = Number.POSITIVE_INFINITY;
      if (data.length > 1) data[rng.int(data.length)] = Number.NEGATIVE_INFINITY;
      for (const sparsity of [0.1, 0.5, 0.9, 0.999]) {
        const keep = thresholdMask(fromArray(data, [rows, cols], 'float32'), { sparsity });
        expect([...keep.dataSync()].map(Boolean)).toEqual(referenceKeep([...data], sparsity));
      }
    }
  });

  it('rejects bad sparsity and NaN scores', () => {
    expect(errorOf(() => thresholdMask(tensor([1, 2]), { sparsity: 1 })).code).toBe('OUT_OF_RANGE');
    const e = errorOf(() => thresholdMask(tensor([1, Number.NaN]), { sparsity: 0.5, name: 'fc1.weight' }));
    expect(e.code).toBe('NON_FINITE');
    expect(e.message).toContain('fc1.weight');
  });
});

describe('globalThresholdMasks', () => {
  it('pools all matrices under one threshold (hand-checked)', () => {
    const a = tensor([[0.5, 4], [3, 0.1]]);
    const b = tensor([[2, 1, 6]]);
    // Pooled sorted: 0.1 0.5 1 2 3 4 6; floor(7·0.4) = 2 → thr = 1 → prune 0.1, 0.5, 1.
    const [ka, kb] = globalThresholdMasks([a, b], { sparsity: 0.4 });
    expect(ka.shape).toEqual([2, 2]);
    expect([...ka.dataSync()]).toEqual([0, 1, 1, 0]);
    expect([...kb.dataSync()]).toEqual([1, 0, 1]);
  });

  it('matches the reference rule on the concatenation of random matrices', () => {
    const rng = new Random(8);
    const shapes = [
      [5, 9],
      [13],
      [2, 3, 4],
    ];
    const datas = shapes.map((s) => Float32Array.from({ length: s.reduce((p, q) => p * q, 1) }, () => rng.int(10) - 5));
    const pooled = datas.flatMap((d) => [...d]);
    for (const sparsity of [0, 0.2, 0.5, 0.95]) {
      const masks = globalThresholdMasks(
        datas.map((d, i) => fromArray(d, shapes[i], 'float32')),
        { sparsity },
      );
      const expected = sparsity === 0 ? pooled.map(() => true) : referenceKeep(pooled, sparsity);
      expect(masks.flatMap((m) => [...m.dataSync()].map(Boolean))).toEqual(expected);
      masks.forEach((m, i) => expect(m.shape).toEqual(shapes[i]));
    }
  });

  it('rejects an empty list, mixed dtypes, mismatched names and NaN in any matrix', () => {
    expect(errorOf(() => globalThresholdMasks([], { sparsity: 0.5 })).code).toBe('INVALID_ARGUMENT');
    expect(errorOf(() => globalThresholdMasks([tensor([1]), tensor([1], undefined, 'int32')], { sparsity: 0.5 })).code).toBe('DTYPE_MISMATCH');
    expect(errorOf(() => globalThresholdMasks([tensor([1])], { sparsity: 0.5, names: ['a', 'b'] })).code).toBe('INVALID_ARGUMENT');
    const e = errorOf(() => globalThresholdMasks([tensor([1]), tensor([Number.NaN])], { sparsity: 0.5, names: ['q', 'k'] }));
    expect(e.code).toBe('NON_FINITE');
    expect(e.message).toContain('k [1]');
    expect(errorOf(() => globalThresholdMasks([tensor([1])], { sparsity: -1 })).code).toBe('OUT_OF_RANGE');
  });
});
