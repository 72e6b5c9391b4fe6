import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTfjsBackend } from '@prune/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The tfjs package's test helpers decode nsfwjs' bundled MobileNetV2 and its sample photos.
import { samplePhotos, writeNsfwjsMobileNetV2 } from '../../../tfjs/test/tfjs-folder.js';
import { maskChannels } from './apply.js';
import { buildChannelGraph } from './graph.js';
import { bnScale, l1Norm, taylor } from './importance.js';
import { loadModelFolder, saveModelFolder, storageLike } from './io.js';
import { compareLatency, pruneChannels, savedBytes } from './prune.js';
import { countMacs } from './report.js';

let root: string;

beforeAll(async () => {
  await createTfjsBackend({ backend: 'wasm' });
  root = await mkdtemp(join(tmpdir(), 'prune-structured-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function cnn(): tfl.LayersModel {
  const seed = (s: number) => tfl.initializers.glorotUniform({ seed: s });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ name: 'c1', inputShape: [8, 8, 3], filters: 16, kernelSize: 3, padding: 'same', kernelInitializer: seed(1) }),
      tfl.layers.batchNormalization({ name: 'bn1' }),
      tfl.layers.reLU(),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ name: 'c2', filters: 24, kernelSize: 3, padding: 'same', kernelInitializer: seed(2) }),
      tfl.layers.flatten(),
      tfl.layers.dense({ name: 'head', units: 4, kernelInitializer: seed(3) }),
    ],
  });
}

describe('countMacs', () => {
  it('counts conv and dense multiply-accumulates by hand', () => {
    // c1: 8·8 positions × 3·3·3·16; c2: 4·4 × 3·3·16·24; head: 4·4·24 × 4.
    expect(countMacs(cnn())).toBe(64 * 432 + 16 * 3456 + 384 * 4);
  });
});

describe('pruneChannels', () => {
  it('reports sizes and widths before and after, and rounds widths to 8', async () => {
    const model = cnn();
    const { model: small, report, plan } = await pruneChannels(model, { ratio: 0.3, roundTo: 8 });
    // c1: 16 → keep 12 (rounded to 16? no: round(12/8)·8 = 16 → nothing); c2: 24 → keep 17 → 16.
    expect(report.layers).toEqual([{ layer: 'c2', before: 24, after: 16 }]);
    expect(plan.removed.map((r) => r.length)).toEqual([0, 8]);
    expect(report).toMatchObject({ criterion: 'l1', groups: 2, prunableChannels: 40, removedChannels: 8 });
    expect(report.before.parameters).toBe(model.countParams());
    expect(report.after.parameters).toBe(small.countParams());
    // c2 loses 8 filters (each 3·3·16 + bias), head loses 8·4·4 inputs.
    expect(report.before.parameters - report.after.parameters).toBe(8 * (144 + 1) + 8 * 16 * 4);
    expect(report.after.macs).toBe(64 * 432 + 16 * 3 * 3 * 16 * 16 + 256 * 4);
    expect(await savedBytes(small)).toBeLessThan(await savedBytes(model));
    const [a, b] = await compareLatency([model, small], tf.zeros([2, 8, 8, 3]), { rounds: 2 });
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
  });

  it('says to use the cpu backend when the tfjs backend cannot differentiate a conv (Taylor on wasm)', async () => {
    const batches = [{ x: tf.zeros([1, 8, 8, 3]), y: tf.oneHot(tf.tensor1d([1], 'int32'), 4) }];
    const loss = (y: tf.Tensor, p: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, p) as tf.Scalar;
    await expect(pruneChannels(cnn(), { ratio: 0.3, criterion: taylor({ batches, loss }) })).rejects.toThrowError(/backend cannot differentiate this model .*cpu backend/);
  });

  it('rejects missing options', async () => {
    await expect(pruneChannels(cnn(), null as never)).rejects.toThrowError(/pass options such as \{ ratio: 0.3 \}/);
    await expect(compareLatency([cnn()], tf.zeros([1, 8, 8, 3]), { rounds: 0 })).rejects.toThrowError(/rounds must be a positive integer/);
  });
});

describe('pruneChannels on nsfwjs MobileNetV2 (a real pretrained LayersModel)', () => {
  it('prunes 30% of every group by BN scale: shrunk = masked on real photos; saved uint8 like the source and reloaded', async () => {
    const input = join(root, 'mobilenet_v2');
    await writeNsfwjsMobileNetV2(input);
    const { model: dense, bytes: denseBytes } = await loadModelFolder(input);
    const graph = buildChannelGraph(dense);
    // Stem, first projection, 16 expansions (each tied to its depthwise conv), 6 stages whose
    // projections are joined by residual adds, Conv_1 and the two hidden dense layers.
    expect(graph.groups.length).toBe(1 + 1 + 16 + 6 + 1 + 2);
    expect(graph.groups.find((g) => g.producers.includes('block_5_project'))!.producers).toEqual(['block_3_project', 'block_4_project', 'block_5_project']);
    expect(graph.blocked).toEqual([{ layer: 'dense_3', className: 'Dense', reason: 'its softmax activation mixes its output channels; they are kept' }]);
    const stage = graph.groups.find((g) => g.producers.includes('block_2_project'))!;
    expect(stage.producers).toEqual(['block_1_project', 'block_2_project']);
    const { model: small, report, plan } = await pruneChannels(dense, { ratio: 0.3, criterion: bnScale() });
    expect(report.after.parameters).toBeLessThan(0.75 * report.before.parameters);
    expect(report.after.macs).toBeLessThan(0.65 * report.before.macs);
    // The dense head layers have no BN: bnScale leaves them whole.
    expect(report.layers.some((l) => l.layer === 'dense_1')).toBe(false);

    const raw = await samplePhotos();
    const photos = tf.tidy(() => tf.image.resizeBilinear(tf.div(raw, 255) as tf.Tensor4D, [224, 224], true));
    raw.dispose();
    const prunedOut = small.predict(photos) as tf.Tensor;
    maskChannels(graph, plan);
    const maskedOut = dense.predict(photos) as tf.Tensor;
    const diff = tf.max(tf.abs(tf.sub(prunedOut, maskedOut))).dataSync()[0];
    expect(diff).toBeLessThan(1e-4);

    const output = join(root, 'pruned');
    const written = await saveModelFolder(small, output, { storage: await storageLike(input), inputFolder: input });
    expect(written.bytes).toBeLessThan(0.8 * denseBytes);
    const { model: reloaded } = await loadModelFolder(output);
    const reloadedOut = reloaded.predict(photos) as tf.Tensor;
    expect(reloadedOut.shape).toEqual([3, 5]);
    // Requantized to uint8: the same top-1 class as the in-memory pruned model.
    expect(Array.from(tf.argMax(reloadedOut, 1).dataSync())).toEqual(Array.from(tf.argMax(prunedOut, 1).dataSync()));
    tf.dispose([photos, prunedOut, maskedOut, reloadedOut]);
    for (const m of [dense, small, reloaded]) m.dispose();
  }, 60_000);

  it('also prunes by L1 norm globally without breaking the model', async () => {
    const { model: dense } = await loadModelFolder(join(root, 'mobilenet_v2'));
    const { model: small, report } = await pruneChannels(dense, { ratio: 0.3, criterion: l1Norm(), global: true, maxGroupRatio: 0.8 });
    expect(report.removedChannels).toBe(Math.floor(0.3 * report.prunableChannels));
    const y = small.predict(tf.zeros([1, 224, 224, 3])) as tf.Tensor;
    expect(y.shape).toEqual([1, 5]);
    expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
    y.dispose();
    dense.dispose();
    small.dispose();
  }, 60_000);
});
