import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PruneError, tensor } from '@prune/core';
import { MoeModel, createRandomMoeModel, loadMoeModelFolder, parseMoeConfig } from '@prune/zoo';
import { maskExperts, removeExperts, saveMoeCheckpoint } from './expert-removal.js';
import { asMoeModel } from './model.js';

const base = { vocab_size: 30, hidden_size: 16, intermediate_size: 8, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 12, rms_norm_eps: 1e-5, rope_theta: 10000, num_local_experts: 6, num_experts_per_tok: 2 };
const variants = {
  mixtral: parseMoeConfig(base),
  deepseek: parseMoeConfig({ ...base, scoring_func: 'sigmoid', n_shared_experts: 1, router_bias: true, routed_scaling_factor: 2 }),
};
const ids = tensor([3, 14, 15, 9, 2, 6, 5, 3, 5, 8, 9, 7], [12], 'int32');
const keep = [[0, 2, 5], [1, 3, 4]];

describe('expert removal', () => {
  for (const [name, config] of Object.entries(variants)) {
    it(`masking and the physically smaller model give identical outputs (${name})`, async () => {
      const model = createRandomMoeModel(config, { seed: 3 });
      const dense = Array.from(model.forward(ids).dataSync());
      const smaller = removeExperts(model, keep);
      expect(smaller.config.num_local_experts).toBe(3);
      const small = new MoeModel(smaller.config, smaller.tensors);
      maskExperts(model, keep);
      const masked = Array.from(model.forward(ids).dataSync());
      const physical = Array.from(small.forward(ids).dataSync());
      expect(physical).toEqual(masked);
      expect(masked).not.toEqual(dense); // the selection changed routing
      // Router rows and bias are the kept experts' rows, renumbered in order.
      const gate = model.weights().get('model.layers.1.block_sparse_moe.gate.weight')!.dataSync();
      const sliced = small.weights().get('model.layers.1.block_sparse_moe.gate.weight')!.dataSync();
      expect(Array.from(sliced.subarray(16, 32))).toEqual(Array.from(gate.subarray(3 * 16, 4 * 16)));
      const w2 = model.weights().get('model.layers.0.block_sparse_moe.experts.5.w2.weight')!.dataSync();
      expect(Array.from(small.weights().get('model.layers.0.block_sparse_moe.experts.2.w2.weight')!.dataSync())).toEqual(Array.from(w2));
      expect(small.weights().has('model.layers.0.block_sparse_moe.experts.3.w1.weight')).toBe(false);
      maskExperts(model, null);
      expect(Array.from(model.forward(ids).dataSync())).toEqual(dense);
      model.dispose();
      small.dispose();
    });
  }

  it('saves the smaller model and reloads it with the same outputs and fewer weights', async () => {
    const model = createRandomMoeModel(variants.deepseek, { seed: 4 });
    const smaller = removeExperts(model, keep);
    const small = new MoeModel(smaller.config, smaller.tensors);
    const dir = mkdtempSync(join(tmpdir(), 'moe-removal-'));
    try {
      await saveMoeCheckpoint(dir, { config: smaller.config, tensors: new Map(small.weights()) });
      const { model: reloaded, config } = await loadMoeModelFolder(dir);
      expect(config.num_local_experts).toBe(3);
      expect(Array.from(reloaded.forward(ids).dataSync())).toEqual(Array.from(small.forward(ids).dataSync()));
      const count = (m: MoeModel) => [...m.weights().values()].reduce((a, t) => a + t.size, 0);
      expect(count(reloaded)).toBeLessThan(count(model));
      reloaded.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      model.dispose();
      small.dispose();
    }
  });

  it('rejects bad selections and models without MoE layers', () => {
    const model = createRandomMoeModel(variants.mixtral, { seed: 5 });
    expect(() => removeExperts(model, [[0, 1, 2, 3, 4, 5, 6], [0, 1]])).toThrow(/outside 0..5/);
    expect(() => removeExperts(model, [[0], [1]])).toThrow(/at least/);
    expect(() => removeExperts(model, [[0, 1]])).toThrow(/each of the 2/);
    expect(() => maskExperts(model, [[0, 1], [0, 1, 2]])).toThrow(/same number/);
    expect(() => maskExperts(model, [[0, 0], [1, 2]])).toThrow(/twice/);
    expect(() => asMoeModel({ description: 'dense-lm', blocks: () => [] }, 'removeExperts')).toThrow(PruneError);
    expect(() => asMoeModel({ description: 'dense-lm', blocks: () => [] }, 'removeExperts')).toThrow(/"dense-lm" has no mixture-of-experts layers/);
    model.dispose();
  });
});
