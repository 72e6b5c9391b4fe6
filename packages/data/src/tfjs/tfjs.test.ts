import { createTfjsBackend } from '@prune/tfjs';
import * as tf from '@tensorflow/tfjs-core';
// Registers tfjs' gradient kernels (the model ops of the GraNd test need them).
import '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { kdLossValue } from '../distill/kd.js';
import { grandLastLayerScores } from '../scores/grand.js';
import { grandScores } from './grand.js';
import { kdLoss } from './kd-loss.js';

beforeAll(async () => {
  await createTfjsBackend({ backend: 'cpu' });
});

describe('kdLoss (tfjs)', () => {
  const s = [1, 2, 0.5, 0.5, -1, 0, 3, 1, 0.2];
  const t = [2, 0, 1, 1, 1, -2, 0, 0, 0];
  const labels = [1, 0, 2];

  it('equals the float64 reference', () => {
    for (const options of [{ alpha: 0.3, temperature: 2 }, { keptFraction: 0.3, temperature: 4 }, { alpha: 0 }]) {
      const v = kdLoss(tf.tensor2d(s, [3, 3]), tf.tensor2d(t, [3, 3]), tf.tensor1d(labels, 'int32'), options).dataSync()[0];
      expect(v).toBeCloseTo(kdLossValue(s, t, labels, 3, options), 5);
    }
  });

  it('has the closed-form gradient ((1−α)(p − y) + ατ(p_τ − q_τ)) / batch', () => {
    const alpha = 0.6;
    const tau = 2;
    const grad = tf.grad((z: tf.Tensor) => kdLoss(z, tf.tensor2d(t, [3, 3]), tf.tensor1d(labels, 'int32'), { alpha, temperature: tau }))(tf.tensor2d(s, [3, 3])).dataSync();
    const softmax = (v: number[]): number[] => {
      const m = Math.max(...v);
      const e = v.map((x) => Math.exp(x - m));
      const sum = e.reduce((a, b) => a + b, 0);
      return e.map((x) => x / sum);
    };
    for (let r = 0; r < 3; r++) {
      const zs = s.slice(3 * r, 3 * r + 3);
      const zt = t.slice(3 * r, 3 * r + 3);
      const p = softmax(zs);
      const pt = softmax(zs.map((x) => x / tau));
      const qt = softmax(zt.map((x) => x / tau));
      for (let j = 0; j < 3; j++) {
        const expected = ((1 - alpha) * (p[j] - (j === labels[r] ? 1 : 0)) + alpha * tau * (pt[j] - qt[j])) / 3;
        expect(grad[3 * r + j]).toBeCloseTo(expected, 5);
      }
    }
  });

  it('rejects mismatched shapes and missing labels', () => {
    expect(() => kdLoss(tf.zeros([2, 3]), tf.zeros([2, 4]), tf.tensor1d([0, 1], 'int32'))).toThrow(/equal shape/);
    expect(() => kdLoss(tf.zeros([2, 3]), tf.zeros([2, 3]), undefined as unknown as tf.Tensor)).toThrow(/label/);
  });
});

describe('grandScores (tfjs)', () => {
  it('equals the closed-form last-layer GraNd on a one-layer softmax model', () => {
    const W = tf.variable(tf.tensor2d([0.3, -0.2, 0.1, 0.5, -0.4, 0.2], [2, 3]));
    const b = tf.variable(tf.tensor1d([0.1, 0, -0.1]));
    const x = tf.tensor2d([1, 2, -1, 0.5, 0, 0, 3, -2], [4, 2]);
    const y = tf.tensor1d([0, 2, 1, 1], 'int32');
    const logits = (xs: tf.Tensor): tf.Tensor => tf.add(tf.matMul(xs as tf.Tensor2D, W), b);
    const loss = (xs: tf.Tensor, ys: tf.Tensor): tf.Scalar =>
      tf.neg(tf.sum(tf.mul(tf.oneHot(ys as tf.Tensor1D, 3), tf.logSoftmax(logits(xs))))) as tf.Scalar;
    const full = grandScores({ loss, inputs: x, labels: y, variables: [W, b] });
    const probs = tf.softmax(logits(x)).dataSync() as Float32Array;
    const closed = grandLastLayerScores({ probabilities: probs, features: x.dataSync() as Float32Array, labels: [0, 2, 1, 1], numClasses: 3 });
    for (let i = 0; i < 4; i++) expect(full[i]).toBeCloseTo(closed[i], 5);
  });
});
