import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PruneError, type Tensor, fromArray, openSafetensors, tensor, tidy } from '@prune/core';
import { perplexity } from '../perplexity.js';
import { type FoxConfig, parseFoxConfig } from './config.js';
import { FoxModel } from './model.js';

const fixtureDir = (name: string) => fileURLToPath(new URL(`./fixtures/${name}/`, import.meta.url));
interface Expected {
  ids: number[][];
  logits: number[];
}

async function load(name: string): Promise<{ model: FoxModel; config: FoxConfig; expected: Expected }> {
  const dir = fixtureDir(name);
  const config = parseFoxConfig(JSON.parse(readFileSync(`${dir}config.json`, 'utf8')));
  const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8')) as Expected;
  const file = await openSafetensors(`${dir}model.safetensors`);
  try {
    return { model: await FoxModel.fromSafetensors(config, file), config, expected };
  } finally {
    await file.close();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Rows [from, to) of every sequence of `[b, t, v]` logits, flattened. */
function rows(x: ArrayLike<number>, b: number, t: number, v: number, from: number, to: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < b; s++) for (let i = from; i < to; i++) for (let c = 0; c < v; c++) out.push(x[(s * t + i) * v + c]);
  return out;
}

describe.each(['tiny-fox-pro', 'tiny-fox-plain'])('FoxModel on %s', (name) => {
  it('reproduces the PyTorch logits of the training code (parity fixture)', async () => {
    const { model, expected } = await load(name);
    const logits = model.forward(tensor(expected.ids.flat(), [2, 40], 'int32'));
    expect(logits.shape).toEqual([2, 40, 32]);
    // Logits here reach |x| ≈ 10; float32 differences between the two implementations.
    expect(maxAbsDiff(logits.dataSync(), expected.logits)).toBeLessThan(1e-4);
    logits.dispose();
    model.dispose();
  });

  it('decodes token by token from the prefill cache to the same logits as the full forward, with and without ACP', async () => {
    const { model, expected } = await load(name);
    const ids = expected.ids;
    for (const acp of [false, { logTolerance: -10, blockM: 8, blockN: 8 }] as const) {
      const { logits: first, state } = model.prefill(tensor(ids.map((r) => r.slice(0, 30)).flat(), [2, 30], 'int32'), { acp });
      expect(maxAbsDiff(first.dataSync(), rows(expected.logits, 2, 40, 32, 0, 30))).toBeLessThan(1e-4);
      first.dispose();
      for (let t = 30; t < 40; t++) {
        const step = model.decode(tensor([ids[0][t], ids[1][t]], [2], 'int32'), state, { acp });
        expect(step.shape).toEqual([2, 1, 32]);
        expect(maxAbsDiff(step.dataSync(), rows(expected.logits, 2, 40, 32, t, t + 1))).toBeLessThan(1e-4);
        step.dispose();
      }
      expect(state.layers[0].kv.length).toBe(40);
    }
    model.dispose();
  });

  it('ACP prunes the fast-forgetting head and keeps the logits within the ε bound', async () => {
    const { model, expected } = await load(name);
    const ids = tensor(expected.ids.flat(), [2, 40], 'int32');
    const savings: number[][] = [];
    const logits = model.forward(ids, { acp: { logTolerance: -10, blockM: 4, blockN: 4 }, onLayer: (_, s) => savings.push(Array.from(s)) });
    expect(savings).toHaveLength(2);
    // Head 0's gate bias is −2 (f ≈ 0.12 per token), head 1's is 3 (f ≈ 0.95): the fast head
    // loses most of its causal tiles, the slow one much less.
    // Without QK-norm the bound is the data bound max‖q‖·max‖k‖/√d, which these large random
    // weights push to U ≈ 20, so over 40 tokens only a few tiles of the fast head go.
    const minFast = name === 'tiny-fox-pro' ? 0.3 : 0.02;
    for (const [fast, slow] of savings) {
      expect(fast).toBeGreaterThan(minFast);
      expect(fast).toBeGreaterThan(slow);
    }
    // Each attention row moves by < 2ε·max‖v‖ with ε = e⁻¹⁰; through two layers that is
    // far below the 1e-4 parity tolerance.
    expect(maxAbsDiff(logits.dataSync(), expected.logits)).toBeLessThan(1e-4);
    model.dispose();
  });

  it('left padding: the real rows of a padded batch equal the unpadded sequence', async () => {
    const { model, expected } = await load(name);
    const pad = 6;
    const padded = [...new Array<number>(pad).fill(0), ...expected.ids[1].slice(0, 34)];
    const logits = model.forward(tensor([...expected.ids[0], ...padded], [2, 40], 'int32'), { seqStart: [0, pad] });
    const got = logits.dataSync();
    const real = Array.from({ length: 34 * 32 }, (_, i) => got[(40 + pad) * 32 + i]);
    expect(maxAbsDiff(real, rows(expected.logits, 2, 40, 32, 0, 34).slice(34 * 32))).toBeLessThan(1e-4);
    model.dispose();
  });

  it('perplexity() scores the model with the NLL of the PyTorch logits', async () => {
    const { model, expected } = await load(name);
    const tokens = expected.ids[0];
    const r = perplexity(model, tokens, { window: 40, stride: 40, maxWindows: 1 });
    let nll = 0;
    for (let p = 1; p < 40; p++) {
      const row = expected.logits.slice((p - 1) * 32, p * 32);
      const mx = Math.max(...row);
      nll += mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0)) - row[tokens[p]];
    }
    expect(r.tokens).toBe(39);
    expect(r.nll).toBeCloseTo(nll / 39, 4);
    model.dispose();
  });
});

describe('FoxModel attention inputs and validation', () => {
  it('shows each layer its q, k, v and gates, with QK-normalised rows of RMS |γ|', async () => {
    const { model, expected } = await load('tiny-fox-pro');
    const shapes: number[][][] = [];
    let maxNormRatio = 0;
    const gammaQ = model.weights().get('model.layers.0.self_attn.q_norm.weight')!.dataSync();
    tidy(() =>
      model.forward(tensor(expected.ids[0], [1, 40], 'int32'), {
        observeAttention: (layer, { q, k, v, logF }) => {
          shapes.push([q.shape, k.shape, v.shape, logF.shape].map((s) => [...s]));
          if (layer !== 0) return;
          // QK-norm: q / rms(q) · γ, so q_c / γ_c has RMS 1 over each head's 8 features.
          const qd = q.dataSync();
          for (let h = 0; h < 2; h++) {
            for (let t = 0; t < 40; t++) {
              let s = 0;
              for (let c = 0; c < 8; c++) s += (qd[(h * 40 + t) * 8 + c] / gammaQ[h * 8 + c]) ** 2;
              maxNormRatio = Math.max(maxNormRatio, Math.abs(Math.sqrt(s / 8) - 1));
            }
          }
          expect(Array.from(logF.dataSync()).every((x) => x < 0)).toBe(true);
        },
      }),
    );
    expect(shapes).toEqual([
      [[1, 2, 40, 8], [1, 2, 40, 8], [1, 2, 40, 8], [1, 2, 40]],
      [[1, 2, 40, 8], [1, 2, 40, 8], [1, 2, 40, 8], [1, 2, 40]],
    ]);
    expect(maxNormRatio).toBeLessThan(1e-4);
    model.dispose();
  });

  it('rejects bad configs, checkpoints and inputs with PruneErrors naming the problem', async () => {
    const base = JSON.parse(readFileSync(`${fixtureDir('tiny-fox-pro')}config.json`, 'utf8')) as Record<string, unknown>;
    expect(() => parseFoxConfig({ ...base, hidden_size: -1 })).toThrow(/"hidden_size" must be a positive number/);
    expect(() => parseFoxConfig({ ...base, qk_norm: 'yes' })).toThrow(/"qk_norm" must be true or false/);
    expect(() => parseFoxConfig({ ...base, use_rope: true })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
    expect(() => parseFoxConfig({ ...base, num_attention_heads: 3 })).toThrow(/split evenly into 3 heads/);
    expect(parseFoxConfig({ ...base, norm_eps: undefined, use_k_shift: undefined })).toMatchObject({ norm_eps: 1e-6, use_k_shift: false });
    const { model, config } = await load('tiny-fox-pro');
    const weights = new Map<string, Tensor>(model.weights());
    weights.delete('model.layers.1.self_attn.fgate_proj.bias');
    expect(() => new FoxModel(config, weights, 'partial', model.backend)).toThrow(/"model.layers.1.self_attn.fgate_proj.bias" is missing/);
    weights.set('model.layers.1.self_attn.fgate_proj.bias', fromArray(new Float32Array(3), [3], 'float32'));
    expect(() => new FoxModel(config, weights, 'bad', model.backend)).toThrow(PruneError);
    expect(() => model.forward(tensor([1.5], [1], 'float32'))).toThrow(expect.objectContaining({ code: 'DTYPE_MISMATCH' }));
    expect(() => model.forward(tensor([40], [1], 'int32'))).toThrow(/token ids must lie in 0..31/);
    expect(() => model.block(2, fromArray(new Float32Array(16), [1, 1, 16], 'float32'))).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
    const { state } = model.prefill(tensor([1, 2, 3], [1, 3], 'int32'));
    expect(() => model.decode(tensor([1, 2], [2], 'int32'), state)).toThrow(/one token per sequence/);
    model.dispose();
  });
});
