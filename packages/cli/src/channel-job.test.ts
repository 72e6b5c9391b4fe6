import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelFolder, pruneChannels, saveModelFolder } from '@prune/structured';
import { createTfjsBackend } from '@prune/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelJobResult } from './channel-job.js';
import { run } from '../test/run-main.js';

let dir: string;
let modelDir: string;
let transposeDir: string;

/** A residual CNN with BN: stem → [conv → BN → add(stem)] → pool → flatten → dense → softmax head. */
function residualCnn(): tfl.LayersModel {
  const seed = (s: number) => tfl.initializers.glorotUniform({ seed: s });
  const x = tfl.input({ shape: [8, 8, 1] });
  const stem = tfl.layers.conv2d({ name: 'stem', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: seed(1) }).apply(x) as tfl.SymbolicTensor;
  const c = tfl.layers.conv2d({ name: 'body', filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: seed(2) }).apply(stem) as tfl.SymbolicTensor;
  const bn = tfl.layers.batchNormalization({ name: 'bn', gammaInitializer: tfl.initializers.randomUniform({ minval: 0.1, maxval: 2, seed: 3 }) }).apply(c) as tfl.SymbolicTensor;
  const sum = tfl.layers.add({ name: 'add' }).apply([stem, bn]) as tfl.SymbolicTensor;
  const pool = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(sum) as tfl.SymbolicTensor;
  const flat = tfl.layers.flatten().apply(pool) as tfl.SymbolicTensor;
  const hidden = tfl.layers.dense({ name: 'hidden', units: 16, activation: 'relu', kernelInitializer: seed(4) }).apply(flat) as tfl.SymbolicTensor;
  const head = tfl.layers.dense({ name: 'head', units: 3, activation: 'softmax', kernelInitializer: seed(5) }).apply(hidden) as tfl.SymbolicTensor;
  return tfl.model({ inputs: x, outputs: head });
}

beforeAll(async () => {
  await createTfjsBackend({ backend: 'cpu' });
  dir = await mkdtemp(join(tmpdir(), 'prune-cli-channel-'));
  modelDir = join(dir, 'classifier');
  await saveModelFolder(residualCnn(), modelDir);
  transposeDir = join(dir, 'upsampler');
  await saveModelFolder(
    tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [4, 4, 1], filters: 4, kernelSize: 1 }),
        tfl.layers.conv2dTranspose({ name: 'up', filters: 3, kernelSize: 2, strides: 2 }),
        tfl.layers.conv2d({ filters: 6, kernelSize: 1 }),
        tfl.layers.globalAveragePooling2d({}),
        tfl.layers.dense({ units: 2 }),
      ],
    }),
    transposeDir,
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('prune --method channel', () => {
  it('writes a smaller tfjs model equal to pruneChannels’ model, with a JSON report', async () => {
    const out = join(dir, 'small');
    const r = await run(['--method', 'channel', '--criterion', 'l1', '--ratio', '0.3', '--model', modelDir, '--out', out, '--backend', 'tfjs-cpu']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/channel l1 30%/);
    expect((await readdir(out)).sort()).toEqual(['group1-shard1of1.bin', 'model.json', 'report.json']);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as ChannelJobResult;
    // Groups: stem+body (residual, 8), hidden (16). 30%: 2 of 8, 4 of 16.
    expect(report).toMatchObject({ criterion: 'l1', ratio: 0.3, groups: 2, prunableChannels: 24, removedChannels: 6 });
    expect(report.layers).toEqual([
      { layer: 'stem', before: 8, after: 6 },
      { layer: 'body', before: 8, after: 6 },
      { layer: 'hidden', before: 16, after: 12 },
    ]);
    expect(report.after.parameters).toBeLessThan(report.before.parameters);
    expect(report.after.fileBytes).toBeLessThan(report.before.fileBytes);
    expect(report.after.macs).toBeLessThan(report.before.macs);
    expect(report.agreement.inputs).toBe(16);
    expect(report.before.latencyMs).toBeGreaterThan(0);

    // The folder holds what the library computes: same outputs as pruneChannels on the same model.
    const { model: dense } = await loadModelFolder(modelDir);
    const { model: expected } = await pruneChannels(dense, { ratio: 0.3 });
    const { model: written } = await loadModelFolder(out);
    const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 3);
    expect(Array.from((written.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((expected.predict(x) as tf.Tensor).dataSync()));
    expect(written.getLayer('hidden').getWeights()[0].shape).toEqual([4 * 4 * 6, 12]);
  });

  it('names the layer that blocks pruning, or keeps it with --keep-unsupported', async () => {
    const blocked = await run(['--method', 'channel', '--model', transposeDir, '--out', join(dir, 'x1'), '--backend', 'tfjs-cpu']);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/layer up \(Conv2DTranspose\) blocks channel pruning/);
    const kept = await run(['--method', 'channel', '--keep-unsupported', '--json', '--model', transposeDir, '--out', join(dir, 'x2'), '--backend', 'tfjs-cpu']);
    expect(kept.code).toBe(0);
    const report = JSON.parse(kept.stdout) as ChannelJobResult;
    expect(report.blocked.map((b) => b.layer)).toEqual(['up']);
    expect(report.removedChannels).toBe(Math.floor(0.3 * 6));
  });

  it('rejects bad options with exit code 2 and a message', async () => {
    const taylor = await run(['--method', 'channel', '--criterion', 'taylor', '--model', modelDir]);
    expect(taylor.code).toBe(2);
    expect(taylor.stderr).toMatch(/--criterion must be one of l1, l2, bn-scale/);
    const ratio = await run(['--method', 'channel', '--ratio', '1', '--model', modelDir]);
    expect(ratio.code).toBe(2);
    expect(ratio.stderr).toMatch(/--ratio must be in \[0, 1\)/);
    const stray = await run(['--method', 'wanda', '--ratio', '0.3']);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/--ratio belongs to channel pruning/);
    const notTfjs = await run(['--method', 'channel', '--model', 'lm']);
    expect(notTfjs.code).toBe(2);
    expect(notTfjs.stderr).toMatch(/--method channel prunes a tfjs LayersModel folder/);
  });
});
