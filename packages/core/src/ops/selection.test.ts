import { describe, expect, it } from 'vitest';
import type { Backend } from '../backend.js';
import type { TypedArray } from '../dtype.js';
import { PruneError } from '../errors.js';
import { referenceBackend } from '../reference/index.js';
import { checkCase } from '../testing/conformance.js';
import { selectionCases } from '../testing/cases/selection.js';
import { fromArray, scalar, tensor } from './creation.js';
import { argsort, kthValue, selectMask, topk } from './selection.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof PruneError) return e.code;
    throw e;
  }
  return undefined;
}

describe('selection ops', () => {
  it('topk returns best-first values and indices with ties by index (hand-checked)', () => {
    const x = tensor([
      [3, 1, 3, 2],
      [0, Number.NaN, 5, 5],
    ]);
    const largest = topk(x, { k: 2 });
    expect(largest.values.shape).toEqual([2, 2]);
    expect([...largest.values.dataSync()]).toEqual([3, 3, Number.NaN, 5]);
    expect([...largest.indices.dataSync()]).toEqual([0, 2, 1, 2]);
    expect(largest.indices.dtype).toBe('int32');
    const smallest = topk(x, { k: 3, largest: false });
    expect([...smallest.indices.dataSync()]).toEqual([1, 3, 0, 0, 2, 3]);
  });

  it('kthValue counts k from 1 and removes the last axis (hand-checked)', () => {
    const x = tensor([
      [4, 2, 2, 9],
      [1, 1, 1, 1],
    ]);
    const second = kthValue(x, { k: 2 });
    expect(second.values.shape).toEqual([2]);
    expect([...second.values.dataSync()]).toEqual([2, 1]);
    // Stable order of row 0 is [1, 2, 0, 3]; of row 1 it is [0, 1, 2, 3].
    expect([...second.indices.dataSync()]).toEqual([2, 1]);
    const top = kthValue(x, { k: 1, largest: true });
    expect([...top.values.dataSync(), ...top.indices.dataSync()]).toEqual([9, 1, 3, 0]);
  });

  it('argsort is stable in both directions (hand-checked)', () => {
    const x = tensor([2, 0, 2, -1, 0], undefined, 'int32');
    expect([...argsort(x).dataSync()]).toEqual([3, 1, 4, 0, 2]);
    expect([...argsort(x, { descending: true }).dataSync()]).toEqual([0, 2, 1, 4, 3]);
  });

  it('selectMask marks the first k of a stable sort (hand-checked)', () => {
    const x = tensor([
      [2, 1, 1, 3],
      [5, 5, 5, 5],
    ]);
    const mask = selectMask(x, { k: 2 });
    expect(mask.dtype).toBe('bool');
    expect([...mask.dataSync()]).toEqual([0, 1, 1, 0, 1, 1, 0, 0]);
    expect([...selectMask(x, { k: 1, largest: true }).dataSync()]).toEqual([0, 0, 0, 1, 1, 0, 0, 0]);
  });

  it('rejects bad k, dtype, rank and options with a PruneError code', () => {
    const x = tensor([[1, 2, 3]]);
    expect(code(() => topk(x, { k: 4 }))).toBe('OUT_OF_RANGE');
    expect(code(() => topk(x, { k: -1 }))).toBe('OUT_OF_RANGE');
    expect(code(() => kthValue(x, { k: 0 }))).toBe('OUT_OF_RANGE');
    expect(code(() => kthValue(fromArray(new Float32Array(0), [2, 0], 'float32'), { k: 1 }))).toBe('OUT_OF_RANGE');
    expect(code(() => selectMask(x, { k: 1.5 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => selectMask(x, { k: 4 }))).toBe('OUT_OF_RANGE');
    expect(code(() => selectMask(tensor([true, false], undefined, 'bool'), { k: 1 }))).toBe('DTYPE_MISMATCH');
    expect(code(() => argsort(scalar(1)))).toBe('OUT_OF_RANGE');
    expect(code(() => argsort(x, { descending: 'yes' as unknown as boolean }))).toBe('INVALID_ARGUMENT');
    expect(code(() => topk([1, 2] as unknown as typeof x, { k: 1 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => topk(x, undefined as unknown as { k: number }))).toBe('INVALID_ARGUMENT');
    try {
      topk(x, { k: 4 });
    } catch (e) {
      expect((e as Error).message).toContain('[0, 3]');
    }
  });

  it('every selection conformance case passes through the reference fallback path', () => {
    // A backend without selection kernels: ops must fall back to the reference kernels
    // with copies in and out, and agree exactly with the native reference run.
    const kernels = { ...referenceBackend.kernels } as Partial<typeof referenceBackend.kernels>;
    delete kernels.topk;
    delete kernels.kthValue;
    delete kernels.argsort;
    delete kernels.selectMask;
    const fallback: Backend<TypedArray> = { ...referenceBackend, name: 'no-selection', kernels };
    expect(selectionCases.length).toBeGreaterThan(300);
    const failed = selectionCases.map((c) => checkCase(c, fallback)).filter((r) => !r.passed);
    expect(failed).toEqual([]);
  });
});
