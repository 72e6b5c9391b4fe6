import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadFashionMnist } from '../images/fashion-mnist.js';
import { loadZooVit } from './load.js';
import { argmaxOf } from './vit.js';

// PyTorch outputs of the shipped weights, made by train/make_vit_parity_fixture.py.
const expected = JSON.parse(readFileSync(fileURLToPath(new URL('../../test/fixtures/vit-trained.json', import.meta.url)), 'utf8')) as {
  labels: number[];
  logits: number[];
  predictions200: number[];
  correct200: number;
};

describe('shipped Fashion-MNIST ViT', () => {
  it('reproduces the PyTorch logits and predictions of the trained weights', async () => {
    const { model, config } = await loadZooVit();
    expect(config.num_layers).toBe(6);
    const test = await loadFashionMnist('test', { limit: 200 });
    expect(Array.from(test.labels.slice(0, 4))).toEqual(expected.labels);
    let maxErr = 0;
    for (let i = 0; i < 4; i++) {
      const logits = model.forward(test.images, i).logits;
      for (let k = 0; k < 10; k++) maxErr = Math.max(maxErr, Math.abs(logits[k] - expected.logits[i * 10 + k]));
    }
    expect(maxErr).toBeLessThan(2e-4);
    let agree = 0;
    let correct = 0;
    for (let i = 0; i < 200; i++) {
      const p = argmaxOf(model.forward(test.images, i).logits);
      if (p === expected.predictions200[i]) agree++;
      if (p === test.labels[i]) correct++;
    }
    // Near-ties may flip under float32 rounding; nothing else may differ.
    expect(agree).toBeGreaterThanOrEqual(199);
    expect(Math.abs(correct - expected.correct200)).toBeLessThanOrEqual(1);
    model.dispose();
  });
});
