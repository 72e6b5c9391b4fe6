import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PruneError, type Tensor, openSafetensors, tensor, tidy } from '@prune/core';
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

  it('runBlockObserved shows each linear its input, output = x·Wᵀ and the last-row attention', async () => {
    const model = await load();
    const ids = tensor(expected.ids[1], [8], 'int32');
    const seen: { name: string; input: Float32Array; inShape: number[]; output: Float32Array; outShape: number[]; attention?: Float32Array }[] = [];
    const hidden = model.runner.embed(ids);
    const out = model.runner.runBlockObserved!(
      0,
      hidden,
      (name, o) =>
        seen.push({
          name,
          input: Float32Array.from(o.input.dataSync() as Float32Array),
          inShape: [...o.input.shape],
          output: Float32Array.from(o.output.dataSync() as Float32Array),
          outShape: [...o.output.shape],
          attention: o.attention && Float32Array.from(o.attention.dataSync() as Float32Array),
        }),
      true,
    );
    // Same block output as the plain run.
    const plain = model.runner.runBlock(0, hidden);
    expect(Array.from(out.dataSync())).toEqual(Array.from(plain.dataSync()));
    expect(seen.map((s) => s.name)).toEqual(model.blocks()[0].layers.map((l) => l.name));
    for (const s of seen) {
      // output = x·Wᵀ, recomputed in float64 from the observed input and the stored weight.
      const w = (await model.readWeight(s.name)).dataSync();
      const [tokens, dIn] = s.inShape;
      const dOut = w.length / dIn;
      expect(s.outShape).toEqual([tokens, dOut]);
      for (let t = 0; t < tokens; t++) {
        for (let o = 0; o < dOut; o++) {
          let acc = 0;
          for (let c = 0; c < dIn; c++) acc += s.input[t * dIn + c] * w[o * dIn + c];
          expect(Math.abs(s.output[t * dOut + o] - acc)).toBeLessThan(1e-5);
        }
      }
      // Last query row of a causal softmax, averaged over heads: a distribution over all 8 tokens.
      expect(s.attention).toBeDefined();
      expect(s.attention!.length).toBe(8);
      expect(Math.abs(s.attention!.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
      expect(s.attention!.every((v) => v > 0)).toBe(true);
      expect(Array.from(s.attention!)).toEqual(Array.from(seen[0].attention!));
    }
    // Without the flag no attention is computed.
    const noRow: (Tensor | undefined)[] = [];
    model.runner.runBlockObserved!(0, hidden, (_n, o) => noRow.push(o.attention), false).dispose();
    expect(noRow.every((a) => a === undefined)).toBe(true);
    // The attention row belongs to one sample.
    const batch = model.runner.embed(tensor(expected.ids.flat(), [2, 8], 'int32'));
    expect(() => model.runner.runBlockObserved!(0, batch, () => {}, true)).toThrow(/one sample/);
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
