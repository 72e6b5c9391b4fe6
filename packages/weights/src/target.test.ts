import { describe, expect, it } from 'vitest';
import { PruneError } from '@prune/core';
import { checkTarget, checkTargetFits, describeTarget, nm, unstructured } from './target.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof PruneError) return e.code;
    throw e;
  }
  throw new Error('expected a PruneError');
}

describe('sparsity targets', () => {
  it('builds and labels unstructured and N:M targets', () => {
    expect(unstructured(0.5)).toEqual({ kind: 'unstructured', sparsity: 0.5 });
    expect(nm(2, 4)).toEqual({ kind: 'nm', prune: 2, group: 4 });
    expect(describeTarget(unstructured(0.5))).toBe('unstructured 50%');
    expect(describeTarget(unstructured(0.125))).toBe('unstructured 12.5%');
    expect(describeTarget(nm(4, 8))).toBe('4:8');
  });

  it('rejects sparsity outside [0, 1) and N:M without 0 < N < M', () => {
    for (const s of [1, -0.01, Number.NaN, Number.POSITIVE_INFINITY, '0.5']) expect(codeOf(() => unstructured(s as number))).toBe('OUT_OF_RANGE');
    expect(codeOf(() => nm(4, 4))).toBe('OUT_OF_RANGE');
    expect(codeOf(() => nm(5, 4))).toBe('OUT_OF_RANGE');
    expect(codeOf(() => nm(0, 4))).toBe('OUT_OF_RANGE');
    expect(codeOf(() => nm(1.5, 4))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => checkTarget('t', { kind: 'block' }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => checkTarget('t', null))).toBe('INVALID_ARGUMENT');
  });

  it('requires d_in divisible by M, naming the layer', () => {
    expect(() => checkTargetFits('t', nm(2, 4), 'fc1', 16)).not.toThrow();
    expect(() => checkTargetFits('t', unstructured(0.5), 'fc1', 15)).not.toThrow();
    expect(() => checkTargetFits('t', nm(2, 4), 'fc1', 18)).toThrow(/fc1 has d_in = 18/);
  });
});
