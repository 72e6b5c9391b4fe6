import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTfjsBackend } from '../backend.js';
import { conv1dPatches, conv2dPatches } from './im2col.js';

beforeAll(async () => {
  await createTfjsBackend({ backend: 'cpu' });
});

function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

describe('im2col', () => {
  it('lists each 3×3 receptive field of a 5×5 image (valid, stride 2) by hand', () => {
    // one channel, pixel value = 10·row + column
    const x = tf.tensor4d(Float32Array.from({ length: 25 }, (_, i) => 10 * Math.floor(i / 5) + (i % 5)), [1, 5, 5, 1]);
    const patches = conv2dPatches(x, { kernelSize: [3, 3], strides: [2, 2], dilation: [1, 1], padding: 'valid' });
    expect(patches.shape).toEqual([4, 9]);
    const rows = patches.arraySync();
    const field = (r: number, c: number): number[] => [0, 1, 2].flatMap((dy) => [0, 1, 2].map((dx) => 10 * (r + dy) + c + dx));
    expect(rows).toEqual([field(0, 0), field(0, 2), field(2, 0), field(2, 2)]);
    tf.dispose([x, patches]);
  });

  it("pads 'same' like TensorFlow: a 5×5 image, 2×2 kernel, stride 2 pads one row and column after", () => {
    const x = tf.tensor4d(Float32Array.from({ length: 25 }, (_, i) => i + 1), [1, 5, 5, 1]);
    const patches = conv2dPatches(x, { kernelSize: [2, 2], strides: [2, 2], dilation: [1, 1], padding: 'same' });
    expect(patches.shape).toEqual([9, 4]);
    const rows = patches.arraySync();
    expect(rows[0]).toEqual([1, 2, 6, 7]);
    expect(rows[2]).toEqual([5, 0, 10, 0]); // right edge: padding after
    expect(rows[8]).toEqual([25, 0, 0, 0]);
    tf.dispose([x, patches]);
  });

  it('times the kernel matrix equals tf.conv2d (same/valid, strides, dilation, channels)', () => {
    const cases = [
      { h: 7, w: 6, c: 3, o: 4, k: [3, 3], s: [1, 1], d: [1, 1], p: 'same' },
      { h: 7, w: 6, c: 3, o: 4, k: [3, 2], s: [2, 2], d: [1, 1], p: 'same' },
      { h: 8, w: 8, c: 2, o: 5, k: [3, 3], s: [2, 1], d: [1, 1], p: 'valid' },
      { h: 9, w: 9, c: 2, o: 3, k: [3, 3], s: [1, 1], d: [2, 2], p: 'same' },
      { h: 5, w: 5, c: 4, o: 2, k: [1, 1], s: [1, 1], d: [1, 1], p: 'valid' },
    ] as const;
    cases.forEach((c, i) => {
      const x = tf.tensor4d(seeded(2 * c.h * c.w * c.c, i + 1), [2, c.h, c.w, c.c]);
      const kernel = tf.tensor4d(seeded(c.k[0] * c.k[1] * c.c * c.o, i + 100), [c.k[0], c.k[1], c.c, c.o]);
      const expected = tf.conv2d(x, kernel, [c.s[0], c.s[1]], c.p, 'NHWC', [c.d[0], c.d[1]]);
      const patches = conv2dPatches(x, { kernelSize: c.k, strides: c.s, dilation: c.d, padding: c.p });
      // kernel [kh, kw, in, out] flattened is [kh·kw·in, out]: patches · that = the convolution.
      const got = tf.reshape(tf.matMul(patches, tf.reshape(kernel, [-1, c.o])), expected.shape);
      const diff = tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0];
      expect(diff).toBeLessThan(1e-5);
      tf.dispose([x, kernel, expected, patches, got]);
    });
  });

  it('conv1d patches (valid, same, causal) times the kernel equal tf.conv1d', () => {
    for (const [padding, stride, dilation] of [['valid', 2, 1], ['same', 1, 2], ['causal', 1, 2]] as const) {
      const x = tf.tensor3d(seeded(2 * 11 * 3, 7), [2, 11, 3]);
      const kernel = tf.tensor3d(seeded(3 * 3 * 4, 8), [3, 3, 4]);
      const input = padding === 'causal' ? tf.pad(x, [[0, 0], [2 * dilation, 0], [0, 0]]) : x;
      const expected = tf.conv1d(input, kernel, stride, padding === 'causal' ? 'valid' : padding, 'NWC', dilation);
      const patches = conv1dPatches(x, 3, stride, dilation, padding);
      const got = tf.reshape(tf.matMul(patches, tf.reshape(kernel, [-1, 4])), expected.shape);
      expect(tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0]).toBeLessThan(1e-5);
      tf.dispose([x, kernel, input, expected, patches, got]);
    }
  });
});
