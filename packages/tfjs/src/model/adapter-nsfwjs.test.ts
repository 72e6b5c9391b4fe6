import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { magnitude, pruneModel, unstructured } from '@prune/weights';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderHandler, samplePhotos, writeNsfwjsMobileNetV2 } from '../../test/tfjs-folder.js';
import { createTfjsBackend } from '../backend.js';
import { openTfjsModelAdapter } from './adapter.js';

// A real pretrained network nobody here trained: nsfwjs 4.3.0's MobileNetV2 (a Keras
// functional LayersModel, 5 classes, uint8-quantized weights), decoded from the npm package.
// It is pruned data-free (magnitude, 50% of each matrix) through the adapter and the
// @prune/weights pipeline, saved, reloaded with stock tfjs and compared with the dense model
// on real photographs.

let root: string;
let input: string;
let photos: tf.Tensor4D;

beforeAll(async () => {
  await createTfjsBackend({ backend: 'wasm' });
  root = await mkdtemp(join(tmpdir(), 'prune-nsfwjs-'));
  input = join(root, 'mobilenet_v2');
  await writeNsfwjsMobileNetV2(input);
  // nsfwjs' own preprocessing: pixels / 255, bilinear resize to 224 (aligned corners).
  const small = await samplePhotos();
  photos = tf.tidy(() => tf.image.resizeBilinear(tf.div(small, 255) as tf.Tensor4D, [224, 224], true));
  small.dispose();
});

afterAll(async () => {
  photos?.dispose();
  await rm(root, { recursive: true, force: true });
});

function klDivergence(p: Float32Array, q: Float32Array, classes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < p.length / classes; i++) {
    let kl = 0;
    for (let c = 0; c < classes; c++) {
      const a = p[i * classes + c];
      const b = q[i * classes + c];
      if (a > 0) kl += a * Math.log(a / Math.max(b, 1e-12));
    }
    out.push(kl);
  }
  return out;
}

function argmax(values: Float32Array, classes: number): number[] {
  return Array.from({ length: values.length / classes }, (_, i) => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (values[i * classes + c] > values[i * classes + best]) best = c;
    return best;
  });
}

describe('openTfjsModelAdapter on nsfwjs MobileNetV2 (real pretrained LayersModel)', () => {
  it('prunes 50% of each matrix by magnitude; the saved model loads with stock tfjs, runs, and is compared with the dense one (agreement, KL)', async () => {
    const output = join(root, 'pruned');
    const adapter = await openTfjsModelAdapter(input, { output });
    expect(adapter.format).toBe('layers-model');
    // Conv2D and Dense layers, the classifier head (dense_3) left dense, depthwise excluded.
    const classes = new Set(adapter.layers.map((l) => l.className));
    expect([...classes].sort()).toEqual(['Conv2D', 'Dense']);
    expect(adapter.layers.some((l) => l.name === 'dense_3')).toBe(false);
    expect(adapter.skipped.find((s) => s.name === 'dense_3')?.reason).toMatch(/output head/);
    expect(adapter.skipped.filter((s) => s.className === 'DepthwiseConv2D').length).toBe(17);
    expect(adapter.layers.length).toBe(35 + 2);

    const report = await pruneModel(adapter, { method: magnitude(), target: unstructured(0.5) });
    const result = await adapter.finish();
    expect(report.layers.length).toBe(adapter.layers.length);
    // Quantized weights tie often, and magnitude prunes every weight tied with the threshold
    // (as the reference does), so a layer can end a little above 50%.
    for (const l of report.layers) {
      expect(l.sparsity).toBeGreaterThanOrEqual(0.5 - 1 / l.total);
      expect(l.sparsity).toBeLessThan(0.56);
    }

    // Stock tfjs reads both folders; the pruned weights decode to exact zeros.
    const dense = await tfl.loadLayersModel(folderHandler(input));
    const pruned = await tfl.loadLayersModel(folderHandler(output));
    for (const l of report.layers) {
      const values = pruned.getLayer(l.name).getWeights()[0].dataSync();
      expect(Array.from(values).filter((v) => v === 0).length).toBe(l.pruned);
    }
    const densePs = dense.predict(photos) as tf.Tensor;
    const prunedPs = pruned.predict(photos) as tf.Tensor;
    expect(prunedPs.shape).toEqual([3, 5]);
    const p = densePs.dataSync() as Float32Array;
    const q = prunedPs.dataSync() as Float32Array;
    expect(q.every(Number.isFinite)).toBe(true);
    const top1 = argmax(p, 5);
    const agreement = argmax(q, 5).filter((c, i) => c === top1[i]).length / top1.length;
    const kl = klDivergence(p, q, 5);
    const meanKl = kl.reduce((a, b) => a + b, 0) / kl.length;
    const inputBytes = result.inputBytes!;
    const json = JSON.parse(await readFile(join(output, 'model.json'), 'utf8')) as { weightsManifest: { weights: { quantization?: { dtype: string } }[] }[] };
    expect(json.weightsManifest[0].weights.every((w) => w.quantization?.dtype === 'uint8')).toBe(true);
    console.log(
      `nsfwjs MobileNetV2, magnitude 50% on ${adapter.layers.length} layers (${(report.sparsity * 100).toFixed(2)}% of their weights): ` +
        `top-1 agreement ${(agreement * 100).toFixed(0)}% on ${top1.length} photos, KL(dense‖pruned) mean ${meanKl.toFixed(4)} max ${Math.max(...kl).toFixed(4)}; ` +
        `files ${inputBytes} → ${result.bytes} bytes (uint8 kept)`,
    );
    // Loose sanity bounds: magnitude at 50% without fine-tuning shifts a MobileNetV2 visibly.
    expect(meanKl).toBeGreaterThan(0);
    expect(Number.isFinite(meanKl)).toBe(true);
    expect((await stat(join(input, 'model.json'))).isFile()).toBe(true);
    tf.dispose([densePs, prunedPs]);
    dense.dispose();
    pruned.dispose();
  });
});
