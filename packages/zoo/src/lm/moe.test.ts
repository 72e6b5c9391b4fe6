import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PruneError, tensor, tidy } from '@prune/core';
import { loadMoeModelFolder, type MoeModel, type MoeRouting } from './moe.js';
import { parseMoeConfig } from './moe-config.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/tiny-moe/${name}/`, import.meta.url));
const expected = (name: string) => JSON.parse(readFileSync(`${fixture(name)}expected.json`, 'utf8')) as { ids: number[][]; logits: number[] };

async function load(name: string): Promise<MoeModel> {
  return (await loadMoeModelFolder(fixture(name))).model;
}

describe('MoeModel', () => {
  for (const variant of ['mixtral', 'deepseek']) {
    it(`reproduces the PyTorch logits of the training code (${variant} parity fixture)`, async () => {
      const model = await load(variant);
      const exp = expected(variant);
      const logits = tidy(() => model.forward(tensor(exp.ids.flat(), [2, 8], 'int32')));
      expect(logits.shape).toEqual([2, 8, 40]);
      const got = logits.dataSync();
      let maxErr = 0;
      for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - exp.logits[i]));
      expect(maxErr).toBeLessThan(2e-4);
      model.dispose();
    });
  }

  it('reports routing, expert outputs and linear inputs consistently', async () => {
    const model = await load('mixtral');
    const ids = tensor(expected('mixtral').ids[0], [8], 'int32');
    const routings: { gatesSum: number[]; counts: number[]; tokens: number }[] = [];
    const linearRows = new Map<string, number>();
    let expertRows = 0;
    const viaBlocks = tidy(() => {
      let x = model.runner.embed(ids);
      for (let i = 0; i < 2; i++) {
        x = model.block(
          i,
          x,
          (name, input) => linearRows.set(name, input.shape[0]),
          {
            routing: (r: MoeRouting) => {
              const sums = Array.from({ length: r.input.shape[0] }, (_, t) => r.gates[t * 2] + r.gates[t * 2 + 1]);
              routings.push({ gatesSum: sums, counts: r.experts.map((e) => e.tokens.length), tokens: r.input.shape[0] });
              expect(r.routerLogits.shape).toEqual([8, 4]);
              expect(r.residual.shape).toEqual([8, 16]);
            },
            expert: (o) => {
              expertRows += o.output.shape[0];
              expect(o.output.shape).toEqual([o.routed.tokens.length, 16]);
            },
          },
        );
      }
      return model.head(x);
    });
    const direct = model.forward(ids);
    expect(Array.from(viaBlocks.dataSync())).toEqual(Array.from(direct.dataSync()));
    for (const r of routings) {
      for (const s of r.gatesSum) expect(s).toBeCloseTo(1, 6); // renormalised top-2
      expect(r.counts.reduce((a, b) => a + b, 0)).toBe(r.tokens * 2);
    }
    expect(expertRows).toBe(2 * 8 * 2);
    // Each expert's w1 input has one row per routed token; attention sees all 8.
    expect(linearRows.get('model.layers.0.self_attn.q_proj')).toBe(8);
    expect(linearRows.get('model.layers.0.block_sparse_moe.experts.0.w2')).toBe(routings[0].counts[0]);
    model.dispose();
  });

  it('lists every expert linear as prunable and masks routing', async () => {
    const model = await load('deepseek');
    const names = model.blocks()[0].layers.map((l) => l.name);
    expect(names).toHaveLength(4 + 4 * 3 + 3);
    expect(names).toContain('model.layers.0.block_sparse_moe.experts.3.w2');
    expect(names).toContain('model.layers.0.block_sparse_moe.shared_experts.0.w1');
    model.setExpertMask(0, [true, false, true, false]);
    const used = new Set<number>();
    model.forward(tensor(expected('deepseek').ids[0], [8], 'int32'), {
      routing: (r) => {
        if (r.layer === 0) r.indices.forEach((i) => used.add(i));
      },
    });
    expect([...used].sort()).toEqual([0, 2]);
    expect(() => model.setExpertMask(0, [true, false, false, false])).toThrow(/at least/);
    expect(() => model.setExpertMask(5, null)).toThrow(PruneError);
    model.dispose();
  });

  it('rejects bad MoE configs with the field named', () => {
    const base = { vocab_size: 4, hidden_size: 4, intermediate_size: 4, num_hidden_layers: 1, num_attention_heads: 1, max_position_embeddings: 4, rms_norm_eps: 1e-5, rope_theta: 10000 };
    expect(parseMoeConfig(base).num_local_experts).toBe(8);
    expect(() => parseMoeConfig({ ...base, num_local_experts: 2, num_experts_per_tok: 3 })).toThrow(/num_experts_per_tok/);
    expect(() => parseMoeConfig({ ...base, scoring_func: 'relu' })).toThrow(/scoring_func/);
  });
});
