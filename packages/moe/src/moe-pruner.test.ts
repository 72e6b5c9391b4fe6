import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type Tensor, clone, keep, tensor, tidy } from '@prune/core';
import { LlamaModel, createRandomMoeModel, parseLlamaConfig, parseMoeConfig } from '@prune/zoo';
import type { MoeHooks, MoeModelAdapter } from './model.js';
import { moePruner, moePrunerStatistics } from './moe-pruner.js';

const config = parseMoeConfig({ vocab_size: 30, hidden_size: 16, intermediate_size: 8, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 12, rms_norm_eps: 1e-5, rope_theta: 10000, num_local_experts: 4, num_experts_per_tok: 2 });
const samples = [tensor([1, 4, 7, 2, 9, 11, 3, 5], [8], 'int32'), tensor([20, 21, 2, 2, 8, 13, 17, 29], [8], 'int32'), tensor([5, 5, 6, 7, 0, 1, 28, 12], [8], 'int32')];

describe('moePrunerStatistics', () => {
  it('weights each token row of an expert input by its router gate: s_j = Σ_samples Σ_t (g_t·x_tj)² / n', () => {
    const model = createRandomMoeModel(config, { seed: 11 });
    const hiddens = samples.map((s) => keep(model.embed(s)));
    // Independent value: collect x_t and gates of expert 1 from the routing hook, sum by hand.
    const byHand = new Float64Array(16);
    const plain = new Float64Array(16);
    for (const h of hiddens) {
      tidy(() => {
        model.block(0, h, undefined, {
          routing: (r) => {
            const x = r.input.dataSync();
            const e = r.experts[1];
            e.tokens.forEach((t, i) => {
              for (let j = 0; j < 16; j++) {
                byHand[j] += (e.gates[i] * x[t * 16 + j]) ** 2;
                plain[j] += x[t * 16 + j] ** 2;
              }
            });
          },
        });
      });
    }
    const stats = moePrunerStatistics(model as MoeModelAdapter, 0, hiddens);
    const s = stats.get('model.layers.0.block_sparse_moe.experts.1.w1')!.value().dataSync();
    for (let j = 0; j < 16; j++) expect(s[j]).toBeCloseTo(byHand[j] / samples.length, 5);
    // The gates (< 1) really shrink it relative to plain Wanda's statistic.
    expect(s.reduce((a, b) => a + b, 0)).toBeLessThan(plain.reduce((a, b) => a + b, 0) / samples.length);
    // Attention inputs keep the plain statistic (all 8 tokens of each sample).
    expect(stats.get('model.layers.0.self_attn.q_proj')!.tokens).toBe(24);
    for (const st of stats.values()) st.dispose();
    hiddens.forEach((h) => h.dispose());
    model.dispose();
  });
});

describe('moePruner', () => {
  it('prunes every expert linear per row to 50% and can leave attention dense', async () => {
    const model = createRandomMoeModel(config, { seed: 12 });
    const q = Array.from((await model.readWeight('model.layers.1.self_attn.q_proj')).dataSync());
    const report = await moePruner(model as MoeModelAdapter, { target: { kind: 'unstructured', sparsity: 0.5 }, calibration: samples, attention: 'dense' });
    expect(report.nsamples).toBe(3);
    expect(Array.from((await model.readWeight('model.layers.1.self_attn.q_proj')).dataSync())).toEqual(q);
    const w2 = (await model.readWeight('model.layers.0.block_sparse_moe.experts.2.w2')).dataSync();
    for (let r = 0; r < 16; r++) expect(w2.subarray(r * 8, r * 8 + 8).filter((v) => v === 0).length).toBe(4);
    const experts = report.layers.filter((l) => l.expert !== null);
    expect(experts).toHaveLength(2 * 4 * 3);
    expect(experts.every((l) => l.sparsity === 0.5)).toBe(true);
    expect(report.layers.filter((l) => l.dense)).toHaveLength(8);
    model.dispose();
  });

  it('prunes to 2:4 with Wanda on attention too', async () => {
    const model = createRandomMoeModel(config, { seed: 13 });
    const report = await moePruner(model as MoeModelAdapter, { target: { kind: 'nm', prune: 2, group: 4 }, calibration: samples });
    expect(report.pattern).toBe('2:4');
    const w1 = (await model.readWeight('model.layers.1.block_sparse_moe.experts.0.w1')).dataSync();
    for (let g = 0; g < w1.length / 4; g++) expect(w1.subarray(g * 4, g * 4 + 4).filter((v) => v === 0).length).toBe(2);
    expect(report.layers.every((l) => !l.dense && l.sparsity === 0.5)).toBe(true);
    model.dispose();
  });

  it('rejects a dense model, bad options and empty calibration', async () => {
    const fixture = fileURLToPath(new URL('../../zoo/test/fixtures/tiny-lm/', import.meta.url));
    const { openSafetensors } = await import('@prune/core');
    const file = await openSafetensors(`${fixture}model.safetensors`);
    const dense = await LlamaModel.fromSafetensors(parseLlamaConfig(JSON.parse(readFileSync(`${fixture}config.json`, 'utf8'))), file);
    await file.close();
    await expect(moePruner(dense as unknown as MoeModelAdapter, { target: { kind: 'unstructured', sparsity: 0.5 }, calibration: samples })).rejects.toThrow(/no mixture-of-experts layers/);
    dense.dispose();
    const model = createRandomMoeModel(config, { seed: 14 });
    await expect(moePruner(model as MoeModelAdapter, { target: { kind: 'unstructured', sparsity: 0.5 }, calibration: [] as Tensor[] })).rejects.toThrow(/no samples/);
    await expect(moePruner(model as MoeModelAdapter, { target: { kind: 'unstructured', sparsity: 0.5 }, calibration: samples, attention: 'skip' as 'dense' })).rejects.toThrow(/attention/);
    model.dispose();
  });
});

// One block with one routed expert linear W [2, 2]; calibration is one sequence of two tokens
// x_0 = [1, 0] and x_1 = [0, 1], routed to expert 0 with gate weights g_0 and g_1.
function handModel(gates: [number, number]): MoeModelAdapter {
  const name = 'model.layers.0.block_sparse_moe.experts.0.w1';
  let weight: Tensor = tensor([1, 2, 2, 1], [2, 2]);
  const x = [1, 0, 0, 1];
  return {
    description: 'hand',
    config: { num_hidden_layers: 1, num_local_experts: 1, num_experts_per_tok: 1, n_shared_experts: 0, router_bias: false },
    blocks: () => [{ name: 'model.layers.0', layers: [{ name, kind: 'linear', shape: [2, 2] }] }],
    readWeight: async () => clone(weight),
    writeWeight: async (_n: string, w: Tensor) => {
      weight.dispose();
      weight = keep(clone(w));
    },
    embed: () => tensor(x, [1, 2, 2]),
    block(_i: number, h: Tensor, observe?: (layer: string, input: Tensor) => void, hooks?: MoeHooks): Tensor {
      const rows = tensor(x, [2, 2]);
      const experts = [{ tokens: Int32Array.from([0, 1]), gates: Float32Array.from(gates) }];
      hooks?.routing?.({ layer: 0, residual: rows, input: rows, topK: 1, indices: Int32Array.from([0, 0]), gates: Float32Array.from(gates), experts });
      observe?.(name, rows);
      rows.dispose();
      return clone(h);
    },
    head: (h: Tensor) => h,
    forward: (ids: Tensor) => ids,
    weights: () => new Map([[`${name}.weight`, weight]]),
    setExpertMask: () => undefined,
  } as MoeModelAdapter;
}

describe('MoE-Pruner router weighting on a hand-checkable case', () => {
  it('s_j = Σ_t (g_t·x_tj)², so the gate decides which column survives', async () => {
    // Gates 0.9 / 0.1: s = [0.81, 0.01], sqrt(s) = [0.9, 0.1]; scores |W|·sqrt(s) are
    // row 0: [0.9, 0.2] and row 1: [1.8, 0.1] → 50% per row prunes column 1 in both rows.
    const routed = handModel([0.9, 0.1]);
    const stats = moePrunerStatistics(routed, 0, [tensor([1, 0, 0, 1], [1, 2, 2])]);
    const s = stats.get('model.layers.0.block_sparse_moe.experts.0.w1')!.value().dataSync();
    expect(s[0]).toBeCloseTo(0.81, 6);
    expect(s[1]).toBeCloseTo(0.01, 6);
    for (const st of stats.values()) st.dispose();
    await moePruner(routed, { target: { kind: 'unstructured', sparsity: 0.5 }, calibration: [tensor([0, 1], [2], 'int32')] });
    expect(Array.from((await routed.readWeight('')).dataSync())).toEqual([1, 0, 2, 0]);
    // Equal gates are plain Wanda: s = [1, 1], scores row 0: [1, 2], row 1: [2, 1].
    const plain = handModel([1, 1]);
    await moePruner(plain, { target: { kind: 'unstructured', sparsity: 0.5 }, calibration: [tensor([0, 1], [2], 'int32')] });
    expect(Array.from((await plain.readWeight('')).dataSync())).toEqual([0, 2, 2, 0]);
  });
});
