import { PruneError, fromArray } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { pivotalKeepCount, pivotalScores, pivotalTokens } from './pivotal.js';

describe('pivotal tokens', () => {
  // Four 2-channel tokens; mean = (1.5, 1). Scores ‖x − μ‖²: 3.25, 0.25, 6.25, 1.25 (by hand).
  const x = fromArray(Float32Array.from([0, 0, 1, 1, 3, 3, 2, 0]), [4, 2], 'float32');

  it('scores each token by its squared distance from the map mean', () => {
    expect(Array.from(pivotalScores(x))).toEqual([3.25, 0.25, 6.25, 1.25]);
  });

  it('keeps L − floor(r·L) tokens, highest scores first, ties to the lower position, ascending', () => {
    expect(pivotalKeepCount(4, 0.5)).toBe(2);
    expect(pivotalKeepCount(10, 0.45)).toBe(6);
    expect(pivotalKeepCount(10, 0)).toBe(10);
    expect(Array.from(pivotalTokens(x, 0.5))).toEqual([0, 2]);
    expect(Array.from(pivotalTokens(x, 0.25))).toEqual([0, 2, 3]);
    expect(Array.from(pivotalTokens(x, 0))).toEqual([0, 1, 2, 3]);
  });

  it('scores every sample of a batch against its own mean', () => {
    const batch = fromArray(Float32Array.from([0, 0, 1, 1, 3, 3, 2, 0, 5, 5, 5, 5, 5, 5, 9, 5]), [2, 4, 2], 'float32');
    // Sample 1: mean (6, 5); scores 1, 1, 1, 9.
    expect(Array.from(pivotalScores(batch))).toEqual([3.25, 0.25, 6.25, 1.25, 1, 1, 1, 9]);
    // Sample 1 keeps 9, then the three-way tie at 1 goes to the lowest position.
    expect(Array.from(pivotalTokens(batch, 0.5))).toEqual([0, 2, 0, 3]);
  });

  it('rejects ratios outside [0, 1) and NaN activations', () => {
    expect(() => pivotalTokens(x, 1)).toThrow(PruneError);
    expect(() => pivotalTokens(x, -0.1)).toThrow(/outside \[0, 1\)/);
    const bad = fromArray(Float32Array.from([0, Number.NaN, 1, 1]), [2, 2], 'float32');
    expect(() => pivotalScores(bad)).toThrow(/NaN/);
  });
});
