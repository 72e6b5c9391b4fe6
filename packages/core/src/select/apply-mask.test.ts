import { describe, expect, it } from 'vitest';
import { PruneError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import { applyMask } from './apply-mask.js';

function errorOf(fn: () => unknown): PruneError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PruneError) return e;
    throw e;
  }
  throw new Error('expected a PruneError');
}

describe('applyMask', () => {
  it('zeros pruned weights, including NaN and Infinity ones, and leaves the input unchanged', () => {
    const w = tensor([
      [1.5, -2, Number.NaN],
      [Number.POSITIVE_INFINITY, 3, -0.25],
    ]);
    const keep = tensor([[true, false, false], [false, true, true]], undefined, 'bool');
    const pruned = applyMask(w, keep);
    expect(pruned.shape).toEqual([2, 3]);
    expect(pruned.dtype).toBe('float32');
    expect([...pruned.dataSync()]).toEqual([1.5, 0, 0, 0, 3, -0.25]);
    expect([...w.dataSync()]).toEqual([1.5, -2, Number.NaN, Number.POSITIVE_INFINITY, 3, -0.25]);
  });

  it('keeps int32 weights int32', () => {
    const pruned = applyMask(tensor([5, -7, 9], undefined, 'int32'), tensor([false, true, false], undefined, 'bool'));
    expect(pruned.dtype).toBe('int32');
    expect([...pruned.dataSync()]).toEqual([0, -7, 0]);
  });

  it('rejects a mask of another shape (no broadcasting), a non-bool mask and non-tensors', () => {
    const w = tensor([[1, 2], [3, 4]]);
    const e = errorOf(() => applyMask(w, tensor([true, false], undefined, 'bool')));
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toContain('[2, 2]');
    expect(errorOf(() => applyMask(w, tensor([[1, 0], [0, 1]]) as never)).code).toBe('DTYPE_MISMATCH');
    expect(errorOf(() => applyMask(tensor([true], undefined, 'bool') as never, tensor([true], undefined, 'bool'))).code).toBe('DTYPE_MISMATCH');
    expect(errorOf(() => applyMask([1] as never, tensor([true], undefined, 'bool'))).code).toBe('INVALID_ARGUMENT');
  });
});
