import { Random, dispose, fromArray, matmul, referenceBackend } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { createTfjsBackend } from '../index.js';

// tfjs-wasm's matmul takes three routes: plain XNNPACK products (transposes done first),
// batched products on the host's SIMD kernel, and large single products on it with threads.
// Each must agree with the reference backend (float64 sums) to float32 accuracy.
describe('matmul on tfjs-wasm', async () => {
  const wasm = await createTfjsBackend({ backend: 'wasm' });
  const cases: [string, number[], number[], { transposeA?: boolean; transposeB?: boolean }][] = [
    ['plain, B transposed', [37, 50], [41, 50], { transposeB: true }],
    ['plain, A transposed', [50, 37], [50, 41], { transposeA: true }],
    ['batched heads, B transposed', [6, 33, 16], [6, 29, 16], { transposeB: true }],
    ['batched, both transposed', [3, 16, 21], [3, 19, 16], { transposeA: true, transposeB: true }],
    ['batched, broadcast right operand', [2, 3, 10, 12], [3, 12, 7], {}],
    ['large single product on the host kernel', [300, 256], [300, 256], { transposeB: true }],
  ];
  it.each(cases)('%s', (_, aShape, bShape, options) => {
    const rng = new Random(aShape.length * 7 + bShape[0]);
    const a = Float32Array.from({ length: aShape.reduce((x, y) => x * y, 1) }, () => rng.normal());
    const b = Float32Array.from({ length: bShape.reduce((x, y) => x * y, 1) }, () => rng.normal());
    const ours = matmul(fromArray(a, aShape, 'float32', { backend: wasm }), fromArray(b, bShape, 'float32', { backend: wasm }), options);
    const ref = matmul(fromArray(a, aShape, 'float32', { backend: referenceBackend }), fromArray(b, bShape, 'float32', { backend: referenceBackend }), options);
    expect(ours.shape).toEqual(ref.shape);
    const x = ours.dataSync();
    const y = ref.dataSync();
    let err = 0;
    let scale = 0;
    for (let i = 0; i < y.length; i++) {
      err = Math.max(err, Math.abs(x[i] - y[i]));
      scale = Math.max(scale, Math.abs(y[i]));
    }
    expect(err / scale).toBeLessThan(1e-5);
    dispose([ours, ref]);
  });
});
