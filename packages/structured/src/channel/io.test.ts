import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTfjsBackend } from '@prune/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shrinkModel } from './apply.js';
import { buildChannelGraph } from './graph.js';
import { l2Norm, scoreChannels } from './importance.js';
import { loadModelFolder, saveModelFolder, storageLike } from './io.js';
import { selectChannels } from './select.js';

let root: string;

beforeAll(async () => {
  await createTfjsBackend({ backend: 'cpu' });
  root = await mkdtemp(join(tmpdir(), 'prune-structured-io-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Stock tfjs only: model.json + shards from disk handed to tf.io.fromMemory. */
async function stockLoad(folder: string): Promise<tfl.LayersModel> {
  const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) for (const p of group.paths) buffers.push(await readFile(join(folder, p)));
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData }));
}

function separableNet(): tfl.LayersModel {
  const seed = (s: number) => tfl.initializers.glorotUniform({ seed: s });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [6, 6, 3], filters: 8, kernelSize: 3, kernelInitializer: seed(1), biasInitializer: tfl.initializers.randomNormal({ seed: 2 }) }),
      tfl.layers.batchNormalization({ gammaInitializer: tfl.initializers.randomUniform({ minval: 0.2, maxval: 2, seed: 3 }) }),
      tfl.layers.reLU(),
      tfl.layers.separableConv2d({ filters: 6, kernelSize: 3, depthMultiplier: 2, padding: 'same', depthwiseInitializer: seed(4), pointwiseInitializer: seed(5) }),
      tfl.layers.globalAveragePooling2d({}),
      tfl.layers.dense({ units: 3, kernelInitializer: seed(6) }),
    ],
  });
}

async function pruned(): Promise<tfl.LayersModel> {
  const graph = buildChannelGraph(separableNet());
  return shrinkModel(graph, selectChannels(graph, await scoreChannels(graph, l2Norm()), { ratio: 0.5 }));
}

describe('saveModelFolder → stock tf.loadLayersModel', () => {
  it('round-trips a pruned model exactly (float32), separable depth multiplier included', async () => {
    const small = await pruned();
    const folder = join(root, 'f32');
    const written = await saveModelFolder(small, folder);
    expect((await readdir(folder)).sort()).toEqual(['group1-shard1of1.bin', 'model.json']);
    const reloaded = await stockLoad(folder);
    const x = tf.randomNormal([2, 6, 6, 3], 0, 1, 'float32', 9);
    const a = (small.predict(x) as tf.Tensor).dataSync();
    const b = (reloaded.predict(x) as tf.Tensor).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(reloaded.layers[3].getWeights()[1].shape).toEqual([1, 1, 8, 3]);
    expect(written.bytes).toBeGreaterThan(small.countParams() * 4);
    const viaHelper = await loadModelFolder(folder);
    expect(viaHelper.bytes).toBe(written.bytes);
    expect(Array.from((viaHelper.model.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from(a));
    x.dispose();
  });

  it('stores weights quantized on request, and storageLike reads the storage back', async () => {
    const small = await pruned();
    const f32 = await saveModelFolder(small, join(root, 'q-f32'));
    const u8 = await saveModelFolder(small, join(root, 'q-u8'), { storage: 'uint8' });
    const f16 = await saveModelFolder(small, join(root, 'q-f16'), { storage: (name) => (name.endsWith('/kernel') ? 'float16' : 'float32') });
    // Weight shards: 4 bytes per parameter in float32, 1 in uint8, 2 for float16 kernels.
    const shard = async (r: { files: readonly string[] }) => (await stat(r.files[1])).size;
    const params = small.countParams();
    expect(await shard(f32)).toBe(4 * params);
    expect(await shard(u8)).toBe(params);
    const kernelParams = small.weights.filter((w) => w.originalName.endsWith('/kernel')).reduce((a, w) => a + w.shape.reduce((x: number, y) => x * (y as number), 1), 0);
    expect(await shard(f16)).toBe(4 * params - 2 * kernelParams);
    const x = tf.randomNormal([2, 6, 6, 3], 0, 1, 'float32', 10);
    const exact = (small.predict(x) as tf.Tensor).dataSync();
    const approx = ((await stockLoad(join(root, 'q-u8'))).predict(x) as tf.Tensor).dataSync();
    const scale = Math.max(...Array.from(exact, Math.abs));
    const worst = Math.max(...Array.from(exact, (v, i) => Math.abs(v - approx[i])));
    expect(worst).toBeGreaterThan(0);
    expect(worst / scale).toBeLessThan(0.1);
    const like = await storageLike(join(root, 'q-f16'));
    const kernels = small.weights.map((w) => w.originalName).filter((n) => n.endsWith('/kernel'));
    expect(kernels.length).toBeGreaterThan(0);
    for (const k of kernels) expect(like(k)).toBe('float16');
    expect(like('no/such')).toBe('float32');
    x.dispose();
  });

  it('never writes into the input folder and rejects a bad storage choice', async () => {
    const small = await pruned();
    const input = join(root, 'input');
    await saveModelFolder(small, input);
    await expect(saveModelFolder(small, join(input, 'inner'), { inputFolder: input })).rejects.toThrowError(/inside the input model folder/);
    await expect(saveModelFolder(small, join(root, 'bad'), { storage: 'int4' as 'uint8' })).rejects.toThrowError(/storage for .* must be 'float32', 'float16', 'uint8' or 'uint16'/);
  });

  it('loadModelFolder explains a missing folder', async () => {
    await expect(loadModelFolder(join(root, 'missing'))).rejects.toThrowError(/no such file or folder/);
  });
});
