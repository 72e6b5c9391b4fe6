import { createTfjsBackend } from '@prune/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { keptWidths, maskChannels, shrinkModel } from './apply.js';
import { buildChannelGraph } from './graph.js';
import { l1Norm, scoreChannels } from './importance.js';
import { selectChannels } from './select.js';

// The shrunk model must compute exactly what the masked model (same shapes, removed channels
// zeroed in every coupled weight) computes, for every kind of coupling.

beforeAll(async () => {
  await createTfjsBackend({ backend: 'cpu' });
});

const init = (seed: number) => ({ kernelInitializer: tfl.initializers.glorotUniform({ seed }), biasInitializer: tfl.initializers.randomUniform({ minval: -0.3, maxval: 0.3, seed: seed + 1000 }) });

/** Random BN statistics and affine parameters, so BN really transforms each channel. */
function randomizeBatchNorms(model: tfl.LayersModel, seed: number): void {
  let s = seed;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    layer.setWeights(
      layer.getWeights().map((w, i) => {
        s++;
        const u = tf.randomUniform(w.shape, 0, 1, 'float32', s);
        // gamma, beta, mean in [-1, 1]; variance in [0.5, 1.5].
        return i === 3 ? tf.add(u, 0.5) : tf.sub(tf.mul(u, 2), 1);
      }),
    );
  }
}

function sequentialCnn(): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 6, kernelSize: 3, padding: 'same', ...init(1) }));
  m.add(tfl.layers.batchNormalization());
  m.add(tfl.layers.reLU());
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.conv2d({ filters: 5, kernelSize: 3, ...init(2) }));
  m.add(tfl.layers.activation({ activation: 'relu' }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 7, activation: 'relu', ...init(3) }));
  m.add(tfl.layers.dropout({ rate: 0.5 }));
  m.add(tfl.layers.dense({ units: 3, ...init(4) }));
  return m;
}

function residual(): tfl.LayersModel {
  const x = tfl.input({ shape: [6, 6, 2] });
  const stem = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', ...init(10) }).apply(x) as tfl.SymbolicTensor;
  const bn = tfl.layers.batchNormalization().apply(stem) as tfl.SymbolicTensor;
  const r = tfl.layers.reLU({ maxValue: 6 }).apply(bn) as tfl.SymbolicTensor;
  const c1 = tfl.layers.conv2d({ filters: 4, kernelSize: 1, ...init(11) }).apply(r) as tfl.SymbolicTensor;
  const c2 = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', ...init(12) }).apply(c1) as tfl.SymbolicTensor;
  const sum = tfl.layers.add().apply([r, c2]) as tfl.SymbolicTensor;
  const c3 = tfl.layers.conv2d({ filters: 8, kernelSize: 1, ...init(13) }).apply(sum) as tfl.SymbolicTensor;
  const prod = tfl.layers.multiply().apply([sum, c3]) as tfl.SymbolicTensor;
  const gap = tfl.layers.globalAveragePooling2d({}).apply(prod) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, activation: 'softmax', ...init(14) }).apply(gap) as tfl.SymbolicTensor;
  return tfl.model({ inputs: x, outputs: out });
}

function concat(): tfl.LayersModel {
  const x = tfl.input({ shape: [5, 5, 3] });
  const a = tfl.layers.conv2d({ filters: 6, kernelSize: 1, activation: 'relu', ...init(20) }).apply(x) as tfl.SymbolicTensor;
  const b = tfl.layers.conv2d({ filters: 10, kernelSize: 3, padding: 'same', ...init(21) }).apply(x) as tfl.SymbolicTensor;
  const pad = tfl.layers.zeroPadding2d({ padding: 1 }).apply(tfl.layers.concatenate().apply([a, b]) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
  const c = tfl.layers.conv2d({ filters: 4, kernelSize: 3, ...init(22) }).apply(pad) as tfl.SymbolicTensor;
  const both = tfl.layers.concatenate({ axis: -1 }).apply([c, a]) as tfl.SymbolicTensor;
  const gap = tfl.layers.globalMaxPooling2d({}).apply(both) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, ...init(23) }).apply(gap) as tfl.SymbolicTensor;
  return tfl.model({ inputs: x, outputs: out });
}

function separable(): tfl.LayersModel {
  const x = tfl.input({ shape: [7, 7, 3] });
  const a = tfl.layers.conv2d({ filters: 6, kernelSize: 1, ...init(30) }).apply(x) as tfl.SymbolicTensor;
  const bnA = tfl.layers.batchNormalization().apply(a) as tfl.SymbolicTensor;
  const d = tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', depthwiseInitializer: tfl.initializers.glorotUniform({ seed: 31 }), biasInitializer: tfl.initializers.randomUniform({ minval: -0.2, maxval: 0.2, seed: 32 }), useBias: true }).apply(bnA) as tfl.SymbolicTensor;
  const bnD = tfl.layers.batchNormalization().apply(d) as tfl.SymbolicTensor;
  const s = tfl.layers
    .separableConv2d({ filters: 5, kernelSize: 3, depthMultiplier: 2, padding: 'same', depthwiseInitializer: tfl.initializers.glorotUniform({ seed: 33 }), pointwiseInitializer: tfl.initializers.glorotUniform({ seed: 34 }), biasInitializer: tfl.initializers.randomUniform({ minval: -0.2, maxval: 0.2, seed: 35 }) })
    .apply(bnD) as tfl.SymbolicTensor;
  const p = tfl.layers.averagePooling2d({ poolSize: 2 }).apply(s) as tfl.SymbolicTensor;
  const f = tfl.layers.flatten().apply(p) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 4, ...init(36) }).apply(f) as tfl.SymbolicTensor;
  return tfl.model({ inputs: x, outputs: out });
}

function flattenDense(): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [4, 4, 2], filters: 6, kernelSize: 2, strides: 2, ...init(40) }));
  m.add(tfl.layers.leakyReLU({ alpha: 0.1 }));
  m.add(tfl.layers.reshape({ targetShape: [24] }));
  m.add(tfl.layers.dense({ units: 9, activation: 'tanh', ...init(41) }));
  m.add(tfl.layers.reshape({ targetShape: [1, 9] }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 8, activation: 'relu', ...init(42) }));
  m.add(tfl.layers.dense({ units: 2, ...init(43) }));
  return m;
}

async function check(build: () => tfl.LayersModel, inputShape: number[], ratio: number): Promise<{ graph: ReturnType<typeof buildChannelGraph>; small: tfl.LayersModel; masked: tfl.LayersModel; diff: number }> {
  const dense = build();
  randomizeBatchNorms(dense, 7);
  const graph = buildChannelGraph(dense);
  const scores = await scoreChannels(graph, l1Norm());
  const plan = selectChannels(graph, scores, { ratio });
  const small = await shrinkModel(graph, plan);
  // The masked model: the same model with the removed channels zeroed in place.
  maskChannels(graph, plan);
  const x = tf.randomNormal([3, ...inputShape], 0, 1, 'float32', 99);
  const a = dense.predict(x) as tf.Tensor;
  const b = small.predict(x) as tf.Tensor;
  expect(b.shape).toEqual(a.shape);
  const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
  expect(Number.isFinite(diff)).toBe(true);
  tf.dispose([x, a, b]);
  return { graph, small, masked: dense, diff };
}

describe('shrinkModel equals the masked model', () => {
  it('Sequential CNN (conv → BN → ReLU → pool → conv → flatten → dense → dense)', async () => {
    const { small, masked, diff } = await check(sequentialCnn, [8, 8, 3], 0.5);
    expect(diff).toBeLessThan(1e-5);
    expect(small.getLayer(masked.layers[0].name).getWeights()[0].shape).toEqual([3, 3, 3, 3]);
    expect(small.getLayer(masked.layers[4].name).getWeights()[0].shape).toEqual([3, 3, 3, 3]);
    // Flatten: conv2 keeps 3 of 5 channels over 2·2 positions → dense_1 reads 12 of 20 inputs.
    expect(small.getLayer(masked.layers[7].name).getWeights()[0].shape).toEqual([12, 4]);
    expect(small.getLayer(masked.layers[9].name).getWeights()[0].shape).toEqual([4, 3]);
    expect(small.countParams()).toBeLessThan(masked.countParams());
  });

  it('residual graph (Add and Multiply couple the stem with two convs)', async () => {
    const { graph, small, diff } = await check(residual, [6, 6, 2], 0.5);
    expect(diff).toBeLessThan(1e-6);
    const names = graph.model.layers.map((l) => l.name);
    const stem = graph.groups.find((g) => g.producers.includes(names[1]))!;
    expect(stem.producers).toEqual([names[1], names[5], names[7]]);
    expect(stem.size).toBe(8);
    // Stem, second conv and the gate conv all keep 4 of their 8 channels; the 1×1 squeeze keeps 2 of 4.
    for (const i of [1, 5, 7]) expect(small.getLayer(names[i]).getWeights()[0].shape.at(-1)).toBe(4);
    expect(small.getLayer(names[4]).getWeights()[0].shape).toEqual([1, 1, 4, 2]);
  });

  it('concatenation (channel offsets, a tensor used twice, zero padding)', async () => {
    const { graph, small, diff } = await check(concat, [5, 5, 3], 0.5);
    expect(diff).toBeLessThan(1e-5);
    const names = graph.model.layers.map((l) => l.name);
    const cKernel = small.getLayer(names.find((n) => graph.model.getLayer(n).getClassName() === 'Conv2D' && graph.model.getLayer(n).getWeights()[0].shape[0] === 3 && graph.model.getLayer(n).getWeights()[0].shape[3] === 4)!).getWeights()[0];
    expect(cKernel.shape).toEqual([3, 3, 3 + 5, 2]);
    const head = small.layers.at(-1)!;
    expect(head.getWeights()[0].shape).toEqual([2 + 3, 2]);
  });

  it('depthwise (multiplier 2) and separable convolutions, pooling and flatten', async () => {
    const { graph, small, diff } = await check(separable, [7, 7, 3], 0.5);
    expect(diff).toBeLessThan(1e-5);
    const byClass = (c: string) => small.layers.find((l) => l.getClassName() === c)!;
    expect(byClass('DepthwiseConv2D').getWeights()[0].shape).toEqual([3, 3, 3, 2]);
    const sep = byClass('SeparableConv2D').getWeights();
    // Its input: 3 kept channels × multiplier 2 = 6; its own multiplier 2 → 12 pointwise inputs.
    expect(sep[0].shape).toEqual([3, 3, 6, 2]);
    expect(sep[1].shape).toEqual([1, 1, 12, 3]);
    // Flatten after 3×3 pooling: 3 kept channels × 9 positions.
    expect(small.layers.at(-1)!.getWeights()[0].shape).toEqual([27, 4]);
    expect(graph.groups.length).toBe(2);
  });

  it('flatten-style reshape → dense → channel-preserving reshape → flatten → dense', async () => {
    const { small, diff } = await check(flattenDense, [4, 4, 2], 0.34);
    expect(diff).toBeLessThan(1e-5);
    const shapes = small.layers.filter((l) => l.getClassName() === 'Dense').map((l) => l.getWeights()[0].shape);
    // conv 6 → 4 channels over 2·2 positions = 16 inputs; dense 9 → 6 units; 8 → 6 units.
    expect(shapes).toEqual([
      [16, 6],
      [6, 6],
      [6, 2],
    ]);
  });

  it('keptWidths reports each layer output before and after', async () => {
    const model = sequentialCnn();
    const graph = buildChannelGraph(model);
    const plan = selectChannels(graph, await scoreChannels(graph, l1Norm()), { ratio: 0.5 });
    const widths = keptWidths(graph, plan);
    expect(widths.get(model.layers[0].name)).toEqual({ kept: 3, total: 6 });
    expect(widths.get(model.layers[6].name)).toEqual({ kept: 12, total: 20 });
    expect(widths.get(model.layers[9].name)).toEqual({ kept: 3, total: 3 });
  });
});
