import '@tensorflow/tfjs-backend-cpu';
import { Random, type Tensor as CoreTensor, fromArray } from '@prune/core';
import * as tf from '@tensorflow/tfjs-core';
import { initializers, layers, sequential } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff } from './brute-force.fixture.js';
import { type ForgettingLayerWeights, forgettingAttentionLayer } from './layer.js';
import { TfjsForgettingAttention } from './tfjs-layer.js';

const DM = 16;
const H = 2;
const T = 48;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Seeded weights in tfjs's [in, out] layout, by layer weight name. */
function seededWeights(layer: TfjsForgettingAttention, seed: number): Map<string, Float32Array> {
  const rng = new Random(seed);
  const out = new Map<string, Float32Array>();
  for (const w of layer.weights) {
    const name = w.originalName.split('/').pop()!;
    const size = w.shape.reduce((a, b) => a! * b!, 1)!;
    let values: Float32Array;
    if (name === 'fgate_bias') values = Float32Array.of(-1, 3); // a fast- and a slow-forgetting head
    else if (name.endsWith('_norm')) values = Float32Array.from({ length: size }, () => 1 + 0.3 * rng.normal());
    else values = Float32Array.from({ length: size }, () => 0.3 * rng.normal());
    out.set(name, values);
  }
  layer.setWeights(layer.weights.map((w) => tf.tensor(out.get(w.originalName.split('/').pop()!)!, w.shape as number[])));
  return out;
}

/** The same weights for the core reference layer: kernels transposed to [out, in]. */
function referenceWeights(w: Map<string, Float32Array>): ForgettingLayerWeights {
  const t = (name: string, rows: number, cols: number): CoreTensor => {
    const src = w.get(name)!;
    const dst = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) dst[j * rows + i] = src[i * cols + j];
    return fromArray(dst, [cols, rows], 'float32');
  };
  const vec = (name: string) => fromArray(w.get(name)!, [w.get(name)!.length], 'float32');
  return {
    qProj: t('q_kernel', DM, DM),
    kProj: t('k_kernel', DM, DM),
    vProj: t('v_kernel', DM, DM),
    oProj: t('o_kernel', DM, DM),
    fgateProj: t('fgate_kernel', DM, H),
    fgateBias: vec('fgate_bias'),
    ...(w.has('ogate_kernel') ? { ogateProj: t('ogate_kernel', DM, DM) } : {}),
    ...(w.has('q_norm') ? { qNorm: vec('q_norm'), kNorm: vec('k_norm') } : {}),
    ...(w.has('k_shift_kernel') ? { kShiftProj: t('k_shift_kernel', DM, H) } : {}),
    ...(w.has('v_shift_kernel') ? { vShiftProj: t('v_shift_kernel', DM, H) } : {}),
  };
}

const input = Float32Array.from({ length: 2 * T * DM }, (_, i) => Math.sin(3 + i * 0.37) * 1.5);

describe.each([
  ['Pro', { qkNorm: true, outputGate: true, keyShift: true, valueShift: true }],
  ['plain', {}],
])('TfjsForgettingAttention (%s)', (_, pro) => {
  it('forward equals the reference forgetting-attention layer, with ACP on and off', () => {
    const dense = new TfjsForgettingAttention({ heads: H, ...pro, acp: false });
    const acp = new TfjsForgettingAttention({ heads: H, ...pro, acp: { logTolerance: -10, blockM: 8, blockN: 8 } });
    const x = tf.tensor3d(input, [2, T, DM]);
    dense.apply(x);
    acp.apply(x);
    const w = seededWeights(dense, 5);
    seededWeights(acp, 5);
    const expected = forgettingAttentionLayer(fromArray(input, [2, T, DM], 'float32'), referenceWeights(w), { heads: H }).output.dataSync();
    expect(maxAbsDiff((dense.apply(x) as tf.Tensor).dataSync(), expected)).toBeLessThan(1e-4);
    expect(dense.lastFlopSaving.total).toBe(0);
    expect(maxAbsDiff((acp.apply(x) as tf.Tensor).dataSync(), expected)).toBeLessThan(1e-4);
    // Head 0 (b_f = −1, f ≈ 0.27) loses many tiles, head 1 (b_f = 3) few or none.
    expect(acp.lastFlopSaving.perHead[0]).toBeGreaterThan(0.3);
    expect(acp.lastFlopSaving.perHead[0]).toBeGreaterThan(acp.lastFlopSaving.perHead[1]);
    // The same boundaries as the core kernel on the same data.
    const core = forgettingAttentionLayer(fromArray(input, [2, T, DM], 'float32'), referenceWeights(w), { heads: H, acp: { logTolerance: -10, blockM: 8, blockN: 8 } });
    expect(Array.from(acp.lastFlopSaving.perHead)).toEqual(Array.from(core.headFlopSaving));
  });

  it('gradients through the kept tiles match full attention (pruned mass < ε)', () => {
    const make = (acp: false | object) => {
      const l = new TfjsForgettingAttention({ heads: H, ...pro, acp });
      l.apply(tf.zeros([2, T, DM]));
      seededWeights(l, 5);
      return l;
    };
    const full = make(false);
    const pruned = make({ logTolerance: -10, blockM: 8, blockN: 8 });
    const x = tf.tensor3d(input, [2, T, DM]);
    const target = tf.tensor3d(Float32Array.from(input, (v, i) => Math.cos(v + i)), [2, T, DM]);
    const grads = (l: TfjsForgettingAttention) => {
      const vars = l.trainableWeights.map((w) => w.read() as tf.Variable);
      const { grads: g } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(l.apply(x) as tf.Tensor, target))) as tf.Scalar, vars);
      return vars.map((v) => g[v.name].dataSync());
    };
    const gFull = grads(full);
    const gAcp = grads(pruned);
    expect(pruned.lastFlopSaving.perHead[0]).toBeGreaterThan(0.2);
    expect(gAcp).toHaveLength(gFull.length);
    for (let i = 0; i < gFull.length; i++) {
      const scale = Math.max(...Array.from(gFull[i], Math.abs));
      expect(scale).toBeGreaterThan(0); // every weight, forget gate included, gets a gradient
      expect(maxAbsDiff(gAcp[i], gFull[i])).toBeLessThan(1e-3 * scale);
    }
  });
});

describe('TfjsForgettingAttention in a tfjs model', () => {
  it('trains with ACP in the forward pass: the loss of a previous-token task falls', async () => {
    // Predict feature 0 of the previous position: only attention can solve it.
    const t = 16;
    const n = 8;
    const rng = new Random(3);
    const xs = Float32Array.from({ length: n * t * 4 }, () => rng.normal());
    const ys = new Float32Array(n * t);
    for (let s = 0; s < n; s++) for (let i = 1; i < t; i++) ys[s * t + i] = xs[(s * t + i - 1) * 4];
    const attention = new TfjsForgettingAttention({ heads: 2, qkNorm: true, acp: { logTolerance: -10, blockM: 4, blockN: 4 }, forgetBiasInit: -2.5, initStd: 0.3 });
    const model = sequential({ layers: [layers.dense({ inputShape: [t, 4], units: 16, kernelInitializer: initializers.glorotNormal({ seed: 1 }) }), attention, layers.dense({ units: 1, kernelInitializer: initializers.glorotNormal({ seed: 2 }) })] });
    model.compile({ optimizer: tf.train.adam(0.03), loss: 'meanSquaredError' });
    const x = tf.tensor3d(xs, [n, t, 4]);
    const y = tf.tensor3d(ys, [n, t, 1]);
    const before = (model.evaluate(x, y) as tf.Scalar).dataSync()[0];
    const savings: number[] = [];
    for (let epoch = 0; epoch < 15; epoch++) {
      await model.fit(x, y, { epochs: 1, batchSize: n, verbose: 0 });
      savings.push(attention.lastFlopSaving.total);
    }
    const after = (model.evaluate(x, y) as tf.Scalar).dataSync()[0];
    expect(after).toBeLessThan(0.5 * before);
    // ACP was on in the training forward passes and pruned tiles there (with b_f = −2.5 the
    // first passes forget fast; the saving shrinks as training lengthens the memory).
    expect(savings[0]).toBeGreaterThan(0.05);
  });

  it('serialises its configuration and rejects bad arguments', () => {
    const l = new TfjsForgettingAttention({ heads: 4, qkNorm: true, acp: { blockM: 32 } });
    const cfg = l.getConfig();
    expect(cfg).toMatchObject({ heads: 4, qkNorm: true, outputGate: false, keyShift: false, valueShift: false, normEps: 1e-6, acp: { blockM: 32 }, forgetBiasInit: 0, initStd: 0.02 });
    expect(tf.serialization.SerializationMap.getMap().classNameMap.ForgettingAttention?.[0]).toBe(TfjsForgettingAttention);
    expect(() => new TfjsForgettingAttention({ heads: 0 })).toThrow(/heads must be a positive integer/);
    expect(() => new TfjsForgettingAttention({ heads: 2, acp: { logTolerance: 1 } })).toThrow(/logTolerance/);
    expect(() => new TfjsForgettingAttention({ heads: 3 }).apply(tf.zeros([1, 4, 16]))).toThrow(/dModel divisible by heads = 3/);
  });
});
