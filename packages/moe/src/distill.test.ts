import { describe, expect, it } from 'vitest';
import { clone, logSoftmax, mul, tensor, tidy } from '@prune/core';
import { MoeModel, createRandomMoeModel, parseMoeConfig } from '@prune/zoo';
import { expertDistillationLoss } from './distill.js';
import type { MoeModelAdapter } from './model.js';

const config = parseMoeConfig({ vocab_size: 20, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 8, rms_norm_eps: 1e-5, rope_theta: 10000, num_local_experts: 4, num_experts_per_tok: 2 });
const ids = tensor([1, 5, 9, 2, 17, 3, 3, 0], [8], 'int32');

describe('expertDistillationLoss', () => {
  it('is the student CE alone when student equals teacher, and adds λ·Σ MSE once experts differ', async () => {
    const teacher = createRandomMoeModel(config, { seed: 21 });
    const student = new MoeModel(config, new Map([...teacher.weights()].map(([n, t]) => [n, clone(t)])));
    const same = expertDistillationLoss(teacher as MoeModelAdapter, student as MoeModelAdapter, ids, { lambda: 3 });
    expect(same.expertMse).toBe(0);
    // CE by hand from the logits.
    const lp = tidy(() => logSoftmax(teacher.forward(ids), { axis: -1 })).dataSync();
    const next = [5, 9, 2, 17, 3, 3, 0];
    const ce = next.reduce((acc, tok, i) => acc - lp[i * 20 + tok], 0) / 7;
    expect(same.ce).toBeCloseTo(ce, 5);
    expect(same.loss).toBeCloseTo(ce, 5);
    expect(same.terms).toBeGreaterThan(0);
    // Zero expert 0's down projection in layer 0: its term is the mean of E_teacher(x)².
    const name = 'model.layers.0.block_sparse_moe.experts.0.w2';
    const w = await student.readWeight(name);
    await student.writeWeight(name, tidy(() => mul(w, 0)));
    const pruned = expertDistillationLoss(teacher as MoeModelAdapter, student as MoeModelAdapter, ids, { lambda: 3 });
    expect(pruned.expertMse).toBeGreaterThan(0);
    expect(pruned.loss).toBeCloseTo(pruned.ce + 3 * pruned.expertMse, 5);
    expect(() => expertDistillationLoss(teacher as MoeModelAdapter, student as MoeModelAdapter, ids, { lambda: -1 })).toThrow(/lambda/);
    teacher.dispose();
    student.dispose();
  });
});
