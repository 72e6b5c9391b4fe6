import { describe, expect, it } from 'vitest';
import { PruneError } from '@prune/core';
import { keepCount, rankDescending, topKIndices, withClsToken } from './common.js';

describe('keepCount', () => {
  it('rounds ratio · N and keeps at least one token', () => {
    // 49 patches of the zoo ViT: 24.5 → 25 (Math.round), 16.17 → 16, 5.39 → 5.
    expect(keepCount(49, 0.5)).toBe(25);
    expect(keepCount(49, 0.33)).toBe(16);
    expect(keepCount(49, 0.11)).toBe(5);
    expect(keepCount(576, 1 / 3)).toBe(192);
    expect(keepCount(3, 0.01)).toBe(1);
  });

  it('rejects ratios outside (0, 1] and empty inputs', () => {
    expect(() => keepCount(49, 0)).toThrow(PruneError);
    expect(() => keepCount(49, 1.5)).toThrow(/outside/);
    expect(() => keepCount(0, 0.5)).toThrow(PruneError);
  });
});

describe('topKIndices', () => {
  it('returns the top positions in ascending order, lower index first on ties', () => {
    expect(Array.from(topKIndices([0.1, 0.9, 0.3, 0.9, 0.2], 3))).toEqual([1, 2, 3]);
    expect(Array.from(topKIndices([1, 1, 1, 1], 2))).toEqual([0, 1]);
    expect(Array.from(rankDescending([0.2, 0.5, 0.5, 0.1]))).toEqual([1, 2, 0, 3]);
    expect(topKIndices([1, 2], 0)).toHaveLength(0);
  });

  it('rejects k out of range and NaN scores', () => {
    expect(() => topKIndices([1, 2], 3)).toThrow(PruneError);
    expect(() => topKIndices([1, 2], -1)).toThrow(PruneError);
    expect(() => topKIndices([1, Number.NaN], 1)).toThrow(/NaN/);
  });
});

describe('withClsToken', () => {
  it('shifts patch positions by one and puts CLS first', () => {
    expect(Array.from(withClsToken([0, 4, 7]))).toEqual([0, 1, 5, 8]);
  });
});
