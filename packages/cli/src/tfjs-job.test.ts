import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTfjsModelAdapter } from '@prune/tfjs';
import { selectBackend } from './backend.js';
import { run } from '../test/run-main.js';

let dir: string;
let modelDir: string;
beforeAll(async () => {
  await selectBackend('tfjs-cpu');
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'prune-cli-tfjs-'));
  modelDir = join(dir, 'classifier');
  // A small conv classifier saved in tfjs format, as a user's model folder would be.
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 16, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
      tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }),
    ],
  });
  const writer = await openTfjsModelAdapter(model, { output: modelDir });
  await writer.finish();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('prune command on a tfjs model folder', () => {
  it('prunes data-free, writes a tfjs model stock tfjs reloads, and compares outputs', async () => {
    const out = join(dir, 'pruned');
    const r = await run(['--model', modelDir, '--method', 'magnitude', '--sparsity', '0.5', '--backend', 'tfjs-cpu', '--json', '--out', out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    const result = report.results[0];
    expect(result.format).toBe('layers-model');
    expect(result.sparsity).toBeGreaterThanOrEqual(0.5);
    expect(result.agreement.inputs).toBe(16);
    expect(result.agreement.top1Agreement).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(result.agreement.meanKl)).toBe(true);
    expect((await readdir(out)).sort()).toContain('model.json');
    expect(JSON.parse(await readFile(join(out, 'report.json'), 'utf8')).results[0].method).toBe('magnitude');
    // The dense head is skipped, as Wanda/SparseGPT leave classifiers dense.
    expect(result.skipped.map((s: { name: string }) => s.name).length).toBeGreaterThan(0);
  });

  it('refuses calibrated methods with a clear error', async () => {
    const r = await run(['--model', modelDir, '--method', 'wanda', '--backend', 'tfjs-cpu', '--out', join(dir, 'o2')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/needs calibration data/);
    await expect(readdir(join(dir, 'o2'))).rejects.toThrow();
  });
});
