import { PruneError, Random } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { kernelFromMatrix, matrixFromKernel, matrixShapeOf } from './layout.js';

function randomValues(n: number, seed: number): Float32Array {
  const rng = new Random(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.uniform() - 0.5) * 10 ** Math.floor(rng.uniform() * 8 - 4);
  out[0] = -0;
  return out;
}

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('kernel matrix views', () => {
  it('views a Dense kernel [in, out] as its transpose [out, in]', () => {
    // kernel[i][o] = 10·i + o for in = 2, out = 3
    const kernel = Float32Array.from([0, 1, 2, 10, 11, 12]);
    expect(matrixShapeOf([2, 3], 'inOut')).toEqual([3, 2]);
    expect(Array.from(matrixFromKernel(kernel, [2, 3], 'inOut'))).toEqual([0, 10, 1, 11, 2, 12]);
  });

  it('views a Conv2D kernel [kh, kw, in, out] as [out, (dy·kw + dx)·in + c]', () => {
    const shape = [2, 2, 3, 4];
    const kernel = new Float32Array(48);
    // value encodes (dy, dx, c, o) so the expected matrix can be written down directly
    for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) for (let c = 0; c < 3; c++) for (let o = 0; o < 4; o++) {
      kernel[((dy * 2 + dx) * 3 + c) * 4 + o] = 1000 * dy + 100 * dx + 10 * c + o;
    }
    expect(matrixShapeOf(shape, 'inOut')).toEqual([4, 12]);
    const m = matrixFromKernel(kernel, shape, 'inOut');
    for (let o = 0; o < 4; o++) for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) for (let c = 0; c < 3; c++) {
      expect(m[o * 12 + (dy * 2 + dx) * 3 + c]).toBe(1000 * dy + 100 * dx + 10 * c + o);
    }
  });

  it('views a depthwise kernel [kh, kw, in, m] as [in·m, kh·kw]', () => {
    const shape = [3, 3, 2, 2];
    const kernel = new Float32Array(36);
    for (let t = 0; t < 9; t++) for (let c = 0; c < 2; c++) for (let k = 0; k < 2; k++) kernel[(t * 2 + c) * 2 + k] = 100 * t + 10 * c + k;
    expect(matrixShapeOf(shape, 'depthwise')).toEqual([4, 9]);
    const m = matrixFromKernel(kernel, shape, 'depthwise');
    for (let c = 0; c < 2; c++) for (let k = 0; k < 2; k++) for (let t = 0; t < 9; t++) expect(m[(c * 2 + k) * 9 + t]).toBe(100 * t + 10 * c + k);
  });

  it('round-trips bit for bit for every view', () => {
    const cases: [number[], 'inOut' | 'outIn' | 'depthwise'][] = [
      [[7, 5], 'inOut'],
      [[3, 7, 5], 'inOut'],
      [[3, 2, 7, 5], 'inOut'],
      [[5, 7], 'outIn'],
      [[3, 3, 4, 2], 'depthwise'],
    ];
    cases.forEach(([shape, view], i) => {
      const kernel = randomValues(shape.reduce((a, b) => a * b, 1), 11 + i);
      const back = kernelFromMatrix(matrixFromKernel(kernel, shape, view), shape, view);
      expect(bits(back)).toEqual(bits(kernel));
    });
  });

  it('rejects a kernel whose size or rank does not fit', () => {
    expect(() => matrixFromKernel(new Float32Array(5), [2, 3], 'inOut')).toThrowError(PruneError);
    expect(() => matrixShapeOf([4], 'inOut')).toThrowError(/rank/);
    expect(() => matrixShapeOf([2, 2, 2], 'outIn')).toThrowError(/rank 2/);
  });
});
