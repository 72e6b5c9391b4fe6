import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PruneError, openSafetensors, tensor, tidy } from '@prune/core';
import { parseLlamaConfig } from './config.js';
import { LlamaModel } from './llama.js';

const fixture = fileURLToPath(new URL('../../test/fixtures/tiny-lm/', import.meta.url));
const expected = JSON.parse(readFileSync(`${fixture}expected.json`, 'utf8')) as { ids: number[][]; logits: number[] };

async function load(): Promise<LlamaModel> {
  const config = parseLlamaConfig(JSON.parse(readFileSync(`${fixture}config.json`, 'utf8')));
  const file = await openSafetensors(`${fixture}model.safetensors`);
  try {
    return await LlamaModel.fromSafetensors(config, file);
  } finally {
    await file.close();
  }
}

describe('LlamaModel', () => {
  it('reproduces the PyTorch logits of the training code (parity fixture)', async () => {
    const model = await load();
    const logits = tidy(() => model.forward(tensor(expected.ids.flat(), [2, 8], 'int32')));
    const got = logits.dataSync();
    expect(logits.shape).toEqual([2, 8, 50]);
    let maxErr = 0;
    for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - expected.logits[i]));
    expect(maxErr).toBeLessThan(2e-4);
    model.dispose();
  });

  it('runs block by block with each linear input observed as [tokens, d_in]', async () => {
    const model = await load();
    const seen: [string, number[]][] = [];
    const ids = tensor(expected.ids[0], [8], 'int32');
    const viaBlocks = tidy(() => {
      let x = model.runner.embed(ids);
      for (let i = 0; i < 2; i++) x = model.runner.runBlock(i, x, (name, input) => seen.push([name, [...input.shape]]));
      return model.head(x);
    });
    const direct = model.forward(ids);
    expect(Array.from(viaBlocks.dataSync())).toEqual(Array.from(direct.dataSync()));
    expect(seen.map(([n]) => n)).toEqual(model.blocks().flatMap((b) => b.layers.map((l) => l.name)));
    expect(seen.find(([n]) => n.endsWith('down_proj'))![1]).toEqual([8, 24]);
    model.dispose();
  });

  it('writes weights back and rejects wrong shapes', async () => {
    const model = await load();
    const layer = 'model.layers.0.mlp.up_proj';
    const w = await model.readWeight(layer);
    await model.writeWeight(layer, tidy(() => tensor(new Float32Array(w.size), w.shape)));
    expect(Array.from((await model.readWeight(layer)).dataSync()).every((v) => v === 0)).toBe(true);
    await expect(model.writeWeight(layer, tensor([1, 2]))).rejects.toThrow(PruneError);
    model.dispose();
  });

  it('rejects bad configs and token ids with clear errors', async () => {
    expect(() => parseLlamaConfig({ vocab_size: 10 })).toThrow(/hidden_size/);
    const model = await load();
    expect(() => model.forward(tensor([1, 2], [2], 'float32'))).toThrow(PruneError);
    expect(() => model.forward(tensor(new Array(9).fill(1), [9], 'int32'))).toThrow(/seq/);
    model.dispose();
  });
});
