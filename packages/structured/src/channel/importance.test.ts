import { createTfjsBackend } from '@prune/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildChannelGraph } from './graph.js';
import { type MemberImportance, activationAware, bnScale, groupImportance, l1Norm, l2Norm, scoreChannels, taylor } from './importance.js';

beforeAll(async () => {
  await createTfjsBackend({ backend: 'cpu' });
});

const none = { normalize: 'none' } as const;
const close = (a: ArrayLike<number>, b: readonly number[], digits = 5) => {
  expect(a.length).toBe(b.length);
  Array.from(a).forEach((v, i) => expect(v).toBeCloseTo(b[i], digits));
};

/** x[1×1×2] → p: 1×1 conv, 3 filters → q: 1×1 conv, 2 filters (output), with hand-set kernels. */
function twoConvs(): tfl.LayersModel {
  const m = tfl.sequential({
    layers: [tfl.layers.conv2d({ name: 'p', inputShape: [1, 1, 2], filters: 3, kernelSize: 1 }), tfl.layers.conv2d({ name: 'q', filters: 2, kernelSize: 1 })],
  });
  // p's filters: [1, −2], [0.5, 0.5], [−3, 4] → L1 3, 1, 7; L2 √5, √0.5, 5.
  m.getLayer('p').setWeights([tf.tensor4d([1, 0.5, -3, -2, 0.5, 4], [1, 1, 2, 3]), tf.zeros([3])]);
  // q's input rows: channel 0 [1, 1], channel 1 [2, 0], channel 2 [0, −1] → L1 2, 2, 1.
  m.getLayer('q').setWeights([tf.tensor4d([1, 1, 2, 0, 0, -1], [1, 1, 3, 2]), tf.zeros([2])]);
  return m;
}

describe('filter norms', () => {
  it('L1 and L2 of each filter', async () => {
    const graph = buildChannelGraph(twoConvs());
    close((await scoreChannels(graph, l1Norm(), none))[0], [3, 1, 7]);
    close((await scoreChannels(graph, l2Norm(), none))[0], [Math.sqrt(5), Math.sqrt(0.5), 5]);
  });

  it("scope 'all' adds the consumers' input slices; the group reduction combines layers", async () => {
    const graph = buildChannelGraph(twoConvs());
    const all = l1Norm({ scope: 'all' });
    close((await scoreChannels(graph, all, { ...none, reduce: 'mean' }))[0], [2.5, 1.5, 4]);
    close((await scoreChannels(graph, all, { ...none, reduce: 'sum' }))[0], [5, 3, 8]);
    close((await scoreChannels(graph, all, { ...none, reduce: 'max' }))[0], [3, 2, 7]);
    const members = await all.score(graph);
    expect(members.map((m) => m.layer).sort()).toEqual(['p', 'q']);
  });

  it('normalises each group by mean, max, sum or to [0, 1]', async () => {
    const graph = buildChannelGraph(twoConvs());
    close((await scoreChannels(graph, l1Norm(), { normalize: 'mean' }))[0], [9 / 11, 3 / 11, 21 / 11]);
    close((await scoreChannels(graph, l1Norm(), { normalize: 'max' }))[0], [3 / 7, 1 / 7, 1]);
    close((await scoreChannels(graph, l1Norm(), { normalize: 'sum' }))[0], [3 / 11, 1 / 11, 7 / 11]);
    close((await scoreChannels(graph, l1Norm(), { normalize: 'minmax' }))[0], [1 / 3, 0, 1]);
  });

  it('sums the two producers of a residual group', async () => {
    const x = tfl.input({ shape: [1, 1, 1] });
    const a = tfl.layers.conv2d({ name: 'a', filters: 2, kernelSize: 1, useBias: false }).apply(x) as tfl.SymbolicTensor;
    const b = tfl.layers.conv2d({ name: 'b', filters: 2, kernelSize: 1, useBias: false }).apply(x) as tfl.SymbolicTensor;
    const y = tfl.layers.conv2d({ name: 'y', filters: 1, kernelSize: 1 }).apply(tfl.layers.add().apply([a, b]) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: x, outputs: y });
    model.getLayer('a').setWeights([tf.tensor4d([1, -2], [1, 1, 1, 2])]);
    model.getLayer('b').setWeights([tf.tensor4d([3, 0], [1, 1, 1, 2])]);
    const graph = buildChannelGraph(model);
    close((await scoreChannels(graph, l1Norm(), { ...none, reduce: 'sum' }))[0], [4, 2]);
    close((await scoreChannels(graph, l1Norm(), { ...none, reduce: 'max' }))[0], [3, 2]);
  });
});

describe('bnScale', () => {
  it('scores |γ| and leaves groups without BN unscored', async () => {
    const m = tfl.sequential({
      layers: [
        tfl.layers.dense({ name: 'p', inputShape: [2], units: 3 }),
        tfl.layers.batchNormalization({ name: 'bn' }),
        tfl.layers.dense({ name: 'r', units: 2 }),
        tfl.layers.dense({ name: 'out', units: 1 }),
      ],
    });
    const bn = m.getLayer('bn');
    bn.setWeights([tf.tensor1d([0.5, -2, 1]), ...bn.getWeights().slice(1)]);
    const scores = await scoreChannels(buildChannelGraph(m), bnScale(), none);
    close(scores[0], [0.5, 2, 1]);
    expect(Array.from(scores[1]).every(Number.isNaN)).toBe(true);
  });
});

describe('taylor', () => {
  // x → d1 (2 units, linear) → d2 (1 unit) = ŷ; L = mean((ŷ − y)²).
  function linearNet(): tfl.LayersModel {
    const m = tfl.sequential({ layers: [tfl.layers.dense({ name: 'd1', inputShape: [2], units: 2 }), tfl.layers.dense({ name: 'd2', units: 1 })] });
    m.getLayer('d1').setWeights([tf.tensor2d([1, -1, 2, 0.5], [2, 2]), tf.tensor1d([0.1, -0.2])]);
    m.getLayer('d2').setWeights([tf.tensor2d([0.5, -3], [2, 1]), tf.tensor1d([0.3])]);
    return m;
  }
  const mse = (y: tf.Tensor, yHat: tf.Tensor) => tf.mean(tf.square(tf.sub(yHat, y))) as tf.Scalar;

  it('equals |Σ a·∂L/∂a| computed by hand, summed over batches', async () => {
    const xs = [
      [
        [1, 2],
        [-1, 0.5],
      ],
      [[0.3, -2]],
    ];
    const ys = [[[1], [0]], [[2]]];
    // By hand: a = x·W1 + b1, ŷ = a·W2 + b2, ∂L/∂a_j = (2/N)(ŷ − y)·W2_j per batch of N samples.
    const W1 = [
      [1, -1],
      [2, 0.5],
    ];
    const b1 = [0.1, -0.2];
    const W2 = [0.5, -3];
    const expected = [0, 0];
    xs.forEach((batch, k) => {
      batch.forEach((x, n) => {
        const a = [0, 1].map((j) => x[0] * W1[0][j] + x[1] * W1[1][j] + b1[j]);
        const yHat = a[0] * W2[0] + a[1] * W2[1] + 0.3;
        for (const j of [0, 1]) expected[j] += a[j] * ((2 / batch.length) * (yHat - ys[k][n][0]) * W2[j]);
      });
    });
    const batches = xs.map((x, k) => ({ x: tf.tensor2d(x), y: tf.tensor2d(ys[k]) }));
    const scores = await scoreChannels(buildChannelGraph(linearNet()), taylor({ batches, loss: mse }), none);
    close(scores[0], expected.map(Math.abs), 4);
  });

  it('matches finite differences of the loss when a channel is scaled, for a producer and its BN', async () => {
    const m = tfl.sequential({
      layers: [
        tfl.layers.dense({ name: 'd1', inputShape: [3], units: 4, kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }), biasInitializer: tfl.initializers.randomNormal({ seed: 2 }) }),
        tfl.layers.batchNormalization({ name: 'bn', gammaInitializer: tfl.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 3 }), betaInitializer: tfl.initializers.randomNormal({ seed: 4 }) }),
        tfl.layers.activation({ activation: 'tanh' }),
        tfl.layers.dense({ name: 'd2', units: 2, kernelInitializer: tfl.initializers.glorotNormal({ seed: 5 }) }),
      ],
    });
    const x = tf.randomNormal([6, 3], 0, 1, 'float32', 7);
    const y = tf.randomNormal([6, 2], 0, 1, 'float32', 8);
    const graph = buildChannelGraph(m);
    const members = await taylor({ batches: [{ x, y }], loss: mse }).score(graph);
    const lossAt = (): number => tf.tidy(() => mse(y, m.predict(x) as tf.Tensor).dataSync()[0]);
    // Scaling channel j's own parameters by (1 + s) scales its activation by (1 + s): dL/ds = Σ a·∂L/∂a.
    const scaled = (layer: string, kinds: number[], j: number, s: number): number => {
      const l = m.getLayer(layer);
      const saved = l.getWeights().map((w) => w.clone());
      l.setWeights(saved.map((w, i) => (kinds.includes(i) ? tf.tidy(() => tf.mul(w, tf.add(tf.mul(tf.sum(tf.oneHot([j], w.shape.at(-1)!), 0), s), 1))) : w)));
      const value = lossAt();
      l.setWeights(saved);
      return value;
    };
    const eps = 1e-2;
    for (const [layer, kinds] of [
      ['d1', [0, 1]],
      ['bn', [0, 1]],
    ] as const) {
      const member = members.find((mm: MemberImportance) => mm.layer === layer)!;
      for (let j = 0; j < 4; j++) {
        const fd = Math.abs((scaled(layer, [...kinds], j, eps) - scaled(layer, [...kinds], j, -eps)) / (2 * eps));
        expect(member.values[j]).toBeCloseTo(fd, 3);
      }
    }
    tf.dispose([x, y]);
  });

  it('needs a loss and labelled batches', async () => {
    expect(() => taylor({ batches: [] } as never)).toThrowError(/needs labelled calibration data and a loss/);
    const graph = buildChannelGraph(linearNet());
    await expect(taylor({ batches: [{ x: tf.zeros([1, 2]) }], loss: mse }).score(graph)).rejects.toThrowError(/needs a target y/);
    await expect(taylor({ batches: [], loss: mse }).score(graph)).rejects.toThrowError(/batches are empty/);
  });
});

describe('activationAware', () => {
  it('scores Σ_i |W_ic|·‖X_i‖ for a dense layer', async () => {
    const m = tfl.sequential({ layers: [tfl.layers.dense({ name: 'd', inputShape: [3], units: 2 }), tfl.layers.dense({ name: 'out', units: 1 })] });
    m.getLayer('d').setWeights([tf.tensor2d([1, -1, 5, 5, 0.5, 2], [3, 2]), tf.zeros([2])]);
    // ‖X_0‖ = √(1 + 9 + 1) (over both batches), ‖X_1‖ = 0, ‖X_2‖ = 2.
    const batches = [{ x: tf.tensor2d([1, 0, 2, 3, 0, 0], [2, 3]) }, { x: tf.tensor2d([[1, 0, 0]]) }];
    const scores = await scoreChannels(buildChannelGraph(m), activationAware({ batches }), none);
    const n0 = Math.sqrt(11);
    close(scores[0], [n0 + 0.5 * 2, n0 + 2 * 2]);
  });

  it('sums the kernel taps for a convolution (brute force over the kernel)', async () => {
    const m = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ name: 'c', inputShape: [4, 4, 2], filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: tfl.initializers.glorotNormal({ seed: 11 }) }),
        tfl.layers.globalAveragePooling2d({}),
        tfl.layers.dense({ units: 1 }),
      ],
    });
    const x = tf.randomNormal([2, 4, 4, 2], 0, 1, 'float32', 12);
    const xs = x.arraySync() as number[][][][];
    const norms = [0, 1].map((i) => Math.sqrt(xs.flat(2).reduce((a, px) => a + px[i] ** 2, 0)));
    const w = m.getLayer('c').getWeights()[0].arraySync() as number[][][][];
    const expected = [0, 1, 2].map((j) => {
      let s = 0;
      for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) for (let i = 0; i < 2; i++) s += Math.abs(w[dy][dx][i][j]) * norms[i];
      return s;
    });
    const scores = await scoreChannels(buildChannelGraph(m), activationAware({ batches: [{ x }] }), none);
    close(scores[0], expected, 4);
    x.dispose();
  });
});

describe('groupImportance', () => {
  it('ignores layers that do not touch a channel and rejects unknown options', () => {
    const graph = buildChannelGraph(twoConvs());
    const members: MemberImportance[] = [
      { layer: 'p', group: 0, values: Float64Array.from([1, Number.NaN, 3]) },
      { layer: 'q', group: 0, values: Float64Array.from([3, 5, Number.NaN]) },
    ];
    close(groupImportance(graph, members, { reduce: 'mean', normalize: 'none' })[0], [2, 5, 3]);
    expect(() => groupImportance(graph, members, { reduce: 'median' as 'mean' })).toThrowError(/reduce must be/);
    expect(() => groupImportance(graph, members, { normalize: 'z' as 'mean' })).toThrowError(/normalize must be/);
  });
});
