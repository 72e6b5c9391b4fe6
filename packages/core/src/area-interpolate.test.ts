import { describe, expect, it } from 'vitest';
import { areaInterpolate } from './area-interpolate.js';
import { PruneError } from './errors.js';

describe('areaInterpolate', () => {
  it('averages the covering cells of each output cell (by hand: 3×3 → 2×2 and 2×2 → 3×3)', () => {
    // 3 → 2: bins [0, 2) and [1, 3) on each axis.
    expect(Array.from(areaInterpolate([1, 2, 3, 4, 5, 6, 7, 8, 9], 1, 1, { height: 3, width: 3 }, { height: 2, width: 2 }))).toEqual([3, 4, 6, 7]);
    // 2 → 3: bins [0, 1), [0, 2), [1, 2).
    expect(Array.from(areaInterpolate([0, 4, 8, 12], 1, 1, { height: 2, width: 2 }, { height: 3, width: 3 }))).toEqual([0, 2, 4, 4, 6, 8, 8, 10, 12]);
  });

  it('keeps channels and maps of a batch apart, and is the identity at the same size', () => {
    const data = [1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60, 7, 70, 8, 80];
    const half = areaInterpolate(data, 2, 2, { height: 2, width: 2 }, { height: 1, width: 1 });
    expect(Array.from(half)).toEqual([2.5, 25, 6.5, 65]);
    expect(Array.from(areaInterpolate(data, 2, 2, { height: 2, width: 2 }, { height: 2, width: 2 }))).toEqual(data);
  });

  it('rejects sizes that do not match the data', () => {
    expect(() => areaInterpolate(new Float32Array(5), 1, 1, { height: 2, width: 2 }, { height: 3, width: 3 })).toThrow(PruneError);
    expect(() => areaInterpolate(new Float32Array(4), 1, 1, { height: 2, width: 2 }, { height: 0, width: 3 })).toThrow(/positive integers/);
  });
});
