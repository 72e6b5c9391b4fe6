import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadZooVar } from './load.js';

// PyTorch tokens, decoded maps and teacher-forced logits of two test images under the
// shipped weights, written by train/train_var.py next to them.
const expected = JSON.parse(readFileSync(fileURLToPath(new URL('../../weights/var/parity.json', import.meta.url)), 'utf8')) as {
  images: number[][];
  labels: number[];
  tokens: number[][];
  inputs: number[][];
  decoded: number[][];
  logits: number[][];
};

describe('shipped Fashion-MNIST next-scale-prediction model', () => {
  it('reproduces the PyTorch tokenizer and teacher-forced logits of the trained weights', async () => {
    const { model, config } = await loadZooVar();
    expect(config.scales).toEqual([1, 2, 3, 4, 5, 7]);
    for (let i = 0; i < 2; i++) {
      const image = Float32Array.from(expected.images[i]);
      const { tokens, inputs, decoded } = model.tokenize(image);
      expect(tokens.flatMap((t) => Array.from(t))).toEqual(expected.tokens[i]);
      const flatInputs = inputs.flatMap((v) => Array.from(v));
      flatInputs.forEach((v, j) => expect(Math.abs(v - expected.inputs[i][j])).toBeLessThan(1e-5));
      decoded.forEach((v, j) => expect(Math.abs(v - expected.decoded[i][j])).toBeLessThan(1e-5));
      const logits = model.logits(image, 0, expected.labels[i]);
      expect(logits.length).toBe(expected.logits[i].length);
      let maxErr = 0;
      logits.forEach((v, j) => (maxErr = Math.max(maxErr, Math.abs(v - expected.logits[i][j]))));
      expect(maxErr).toBeLessThan(2e-4);
    }
    model.dispose();
  });
});
