import { PruneError, fromArray } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { areaResize, gatherTokens, scatterTokens } from './token-map.js';

// A 3×3 map of 2 channels (channel 0 = 0..8, channel 1 = 0.1·t²), token-major.
const map3 = [0, 8.1, 1, 10, 2, 12.1, 3, 14.4, 4, 16.9, 5, 19.6, 6, 22.5, 7, 25.6, 8, 28.9];
// torch.nn.functional.interpolate(mode='area') on the same map (PyTorch 1.13).
const torchArea: Record<string, number[]> = {
  '5x4': [0, 8.1, 0.5, 9.05, 1.5, 11.05, 2, 12.1, 1.5, 11.25, 2, 12.35, 3, 14.65, 3.5, 15.85, 3, 14.4, 3.5, 15.65, 4.5, 18.25, 5, 19.6, 4.5, 18.45, 5, 19.85, 6, 22.75, 6.5, 24.25, 6, 22.5, 6.5, 24.05, 7.5, 27.25, 8, 28.9],
  '2x2': [2, 12.35, 3, 14.65, 5, 19.85, 6, 22.75],
  '4x7': [0, 8.1, 0, 8.1, 0.5, 9.05, 1, 10, 1.5, 11.05, 2, 12.1, 2, 12.1, 1.5, 11.25, 1.5, 11.25, 2, 12.35, 2.5, 13.45, 3, 14.65, 3.5, 15.85, 3.5, 15.85, 4.5, 18.45, 4.5, 18.45, 5, 19.85, 5.5, 21.25, 6, 22.75, 6.5, 24.25, 6.5, 24.25, 6, 22.5, 6, 22.5, 6.5, 24.05, 7, 25.6, 7.5, 27.25, 8, 28.9, 8, 28.9],
};

describe('areaResize', () => {
  it.each(Object.entries(torchArea))('matches PyTorch area interpolation 3×3 → %s (up, down, non-integer factors)', (size, expected) => {
    const [height, width] = size.split('x').map(Number);
    const x = fromArray(Float32Array.from(map3), [1, 9, 2], 'float32');
    const y = areaResize(x, { height: 3, width: 3 }, { height, width });
    expect(y.shape).toEqual([1, height * width, 2]);
    const got = Array.from(y.dataSync());
    expect(got.length).toBe(expected.length);
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
  });

  it('is the identity at the same size and averages 2×2 blocks when halving', () => {
    const x = fromArray(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]), [16, 1], 'float32');
    expect(Array.from(areaResize(x, { height: 4, width: 4 }, { height: 4, width: 4 }).dataSync())).toEqual(Array.from(x.dataSync()));
    expect(Array.from(areaResize(x, { height: 4, width: 4 }, { height: 2, width: 2 }).dataSync())).toEqual([3.5, 5.5, 11.5, 13.5]);
  });

  it('rejects a map size that does not hold the tokens', () => {
    const x = fromArray(new Float32Array(10), [5, 2], 'float32');
    expect(() => areaResize(x, { height: 2, width: 2 }, { height: 3, width: 3 })).toThrow(/5 tokens do not form a 2×2 map/);
  });
});

describe('gatherTokens / scatterTokens', () => {
  it('gathers rows per sample and scatters them back over a base', () => {
    const x = fromArray(Float32Array.from([0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]), [2, 3, 2], 'float32');
    const idx = Int32Array.from([2, 0, 1, 2]);
    const g = gatherTokens(x, idx);
    expect(g.shape).toEqual([2, 2, 2]);
    expect(Array.from(g.dataSync())).toEqual([4, 5, 0, 1, 12, 13, 14, 15]);
    const base = fromArray(new Float32Array(12).fill(-1), [2, 3, 2], 'float32');
    expect(Array.from(scatterTokens(base, idx, g).dataSync())).toEqual([0, 1, -1, -1, 4, 5, -1, -1, 12, 13, 14, 15]);
  });

  it('rejects out-of-range or repeated positions and mismatched values', () => {
    const x = fromArray(new Float32Array(6), [3, 2], 'float32');
    expect(() => gatherTokens(x, Int32Array.from([3]))).toThrow(PruneError);
    expect(() => gatherTokens(x, Int32Array.from([1, 1]))).toThrow(/repeated/);
    expect(() => scatterTokens(x, Int32Array.from([0, 1]), fromArray(new Float32Array(2), [1, 2], 'float32'))).toThrow(/values are 1×1×2/);
  });
});
