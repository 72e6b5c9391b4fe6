import { describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import { fromArray, scalar, tensor } from '../ops/creation.js';
import { sparsityOf } from './sparsity.js';

describe('sparsityOf', () => {
  it('counts false entries of a KEEP mask per row (hand-checked)', () => {
    const report = sparsityOf(tensor([[true, false, false], [true, true, false]], undefined, 'bool'));
    expect(report.pruned).toBe(3);
    expect(report.total).toBe(6);
    expect(report.sparsity).toBe(0.5);
    expect(report.rowLength).toBe(3);
    expect([...report.prunedPerRow]).toEqual([2, 1]);
  });

  it('counts ±0 in a weight as pruned and NaN as not', () => {
    const report = sparsityOf(tensor([[0, -0, Number.NaN, 2], [1, 0, 3, 4]]));
    expect(report.pruned).toBe(3);
    expect([...report.prunedPerRow]).toEqual([2, 1]);
    expect(sparsityOf(tensor([0, 5, 0], undefined, 'int32')).sparsity).toBeCloseTo(2 / 3, 12);
  });

  it('reports per-row counts of a rank-3 tensor and 0 for an empty one', () => {
    const report = sparsityOf(tensor([[[0, 1], [0, 0]], [[1, 1], [2, 0]]]));
    expect([...report.prunedPerRow]).toEqual([1, 2, 0, 1]);
    const empty = sparsityOf(fromArray(new Float32Array(0), [0, 4], 'float32'));
    expect(empty).toMatchObject({ pruned: 0, total: 0, sparsity: 0, rowLength: 4 });
  });

  it('rejects scalars and non-tensors', () => {
    expect(() => sparsityOf(scalar(0))).toThrow(PruneError);
    expect(() => sparsityOf([0] as never)).toThrow(PruneError);
  });
});
