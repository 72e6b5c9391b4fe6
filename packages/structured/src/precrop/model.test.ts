import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { createTfjsBackend } from '@prune/tfjs';
import { applyKernelMasks, buildModel, forward, initWeights, readWeights, toTensors } from './model.js';
import type { ConvNetSpec } from './architecture.js';

const spec: ConvNetSpec = {
  inputShape: [7, 6, 2],
  classes: 3,
  blocks: [
    { kind: 'conv', filters: 4, kernelSize: 3, strides: 2 },
    { kind: 'residual', shortcut: 'identity', body: [
      { kind: 'depthwise', kernelSize: 3 },
      { kind: 'conv', filters: 4, kernelSize: 1, activation: 'linear' },
    ] },
    { kind: 'residual', shortcut: 'projection', body: [
      { kind: 'conv', filters: 5, kernelSize: 3, strides: 2 },
      { kind: 'conv', filters: 5, kernelSize: 2, activation: 'linear' },
    ] },
  ],
};

beforeAll(async () => {
  await createTfjsBackend({ backend: 'cpu' });
});

describe('forward', () => {
  it('matches the built tfjs model, with tfjs convs and with patches', () => {
    const model = buildModel(spec, { seed: 3 });
    const w = readWeights(model, spec);
    const x = tf.randomUniform([2, 7, 6, 2], -1, 1, 'float32', 5) as tf.Tensor4D;
    const want = (model.predict(x) as tf.Tensor).arraySync() as number[][];
    const params = toTensors(spec, w);
    for (const patches of [false, true]) {
      const got = forward(spec, params, x, { patches }).arraySync();
      for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) expect(got[i][j]).toBeCloseTo(want[i][j], 5);
    }
    expect(initWeights(spec, 3).get('b0')!.kernel).toEqual(w.get('b0')!.kernel);
  });
  it('applyKernelMasks zeroes exactly the masked kernel entries and keeps biases', () => {
    const model = buildModel(spec, { seed: 1 });
    const before = readWeights(model, spec);
    const mask = Uint8Array.from({ length: 3 * 3 * 2 * 4 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    applyKernelMasks(model, new Map([['b0', mask]]));
    const after = readWeights(model, spec);
    after.get('b0')!.kernel.forEach((v, i) => (mask[i] ? expect(v).toBe(before.get('b0')!.kernel[i]) : expect(v === 0).toBe(true)));
    expect(after.get('b0')!.bias).toEqual(before.get('b0')!.bias);
    expect(after.get('classifier')!.kernel).toEqual(before.get('classifier')!.kernel);
    expect(() => applyKernelMasks(model, new Map([['b0', new Uint8Array(5)]]))).toThrow(/mask of "b0" has 5 entries, its kernel 72/);
  });

  it('initWeights is seeded: He-normal spread per layer, zero biases', () => {
    const a = initWeights(spec, 7);
    expect(initWeights(spec, 7).get('b2_0')!.kernel).toEqual(a.get('b2_0')!.kernel);
    expect(initWeights(spec, 8).get('b2_0')!.kernel).not.toEqual(a.get('b2_0')!.kernel);
    const k = a.get('b2_0')!.kernel; // 3·3·4 fan-in → std √(2/36)
    const std = Math.sqrt(k.reduce((acc, v) => acc + v * v, 0) / k.length);
    expect(std).toBeGreaterThan(0.6 * Math.sqrt(2 / 36));
    expect(std).toBeLessThan(1.4 * Math.sqrt(2 / 36));
    expect(Array.from(a.get('b2_0')!.bias)).toEqual([0, 0, 0, 0, 0]);
  });

  it('names a missing layer or a weight of the wrong width', () => {
    const w = initWeights(spec, 0);
    w.delete('b1_1');
    expect(() => buildModel(spec, { weights: w })).toThrow(/no weights for layer "b1_1"/);
    const narrow: ConvNetSpec = {
      ...spec,
      blocks: [...spec.blocks.slice(0, 2), { kind: 'residual', shortcut: 'projection', body: [{ kind: 'conv', filters: 3, kernelSize: 3, strides: 2 }, { kind: 'conv', filters: 3, kernelSize: 2, activation: 'linear' }] }],
    };
    expect(() => buildModel(narrow, { weights: initWeights(spec, 0) })).toThrow(/layer "b2_0" needs a kernel of 108 values \[3, 3, 4, 3\]/);
  });
});
