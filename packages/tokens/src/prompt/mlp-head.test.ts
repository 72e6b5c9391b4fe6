import { Random } from '@prune/core';
import { describe, expect, it } from 'vitest';
import {
  adamStep,
  createAdamState,
  createMlpHead,
  gelu,
  geluDerivative,
  keepProbability,
  mlpHeadBackward,
  mlpHeadForward,
  mlpHeadFromParams,
  mlpHeadParameterCount,
} from './mlp-head.js';

function randomHead(dim: number, hidden: number, seed: number) {
  const head = createMlpHead(dim, { hidden, seed });
  // Perturb every parameter so LayerNorm gains/biases and b₁ are not at their trivial init.
  const rng = new Random(seed + 100);
  for (let i = 0; i < head.params.length; i++) head.params[i] += 0.3 * rng.normal();
  return head;
}

describe('MLP head', () => {
  it('lays out the parameters as LayerNorm, Linear, LayerNorm, Linear', () => {
    expect(mlpHeadParameterCount(4, 3)).toBe(4 + 4 + 12 + 3 + 3 + 3 + 6 + 2);
    const head = createMlpHead(4, { hidden: 3, keepBias: 2 });
    expect(Array.from(head.norm1Gain)).toEqual([1, 1, 1, 1]);
    expect(Array.from(head.bias2)).toEqual([-2, 2]);
    expect(createMlpHead(6).hidden).toBe(3);
  });

  it('computes the forward pass of a hand-checkable head', () => {
    // dim 2, hidden 2: x = (1, 3) → LN → (−1, 1)·(1/√(1+1e-5)) ≈ (−1, 1).
    const head = mlpHeadFromParams(2, 2, new Float64Array(mlpHeadParameterCount(2, 2)));
    head.norm1Gain.set([1, 1]);
    head.weight1.set([1, 0, 0, 2]); // h = (−1, 2)
    head.norm2Gain.set([1, 1]); // LN of (−1, 2): mean 0.5, std 1.5 → (−1, 1)
    head.weight2.set([0, 0, 1, -1]); // keep logit = gelu(−v) − gelu(v) with v ≈ 1
    const trace = mlpHeadForward(head, [1, 3]);
    const s = 1 / Math.sqrt(1 + 1e-5);
    expect(trace.out1[0]).toBeCloseTo(-s, 12);
    const s2 = 1 / Math.sqrt(2.25 * s * s + 1e-5);
    expect(trace.out2[1]).toBeCloseTo(1.5 * s * s2, 9);
    expect(trace.logits[0]).toBe(0);
    expect(trace.logits[1]).toBeCloseTo(-1.5 * s * s2, 12); // gelu(−v) − gelu(v) = −v
    expect(gelu(1) - gelu(-1)).toBeCloseTo(1, 12); // gelu(x) − gelu(−x) = x
    expect(keepProbability([0, Math.log(3)])).toBeCloseTo(0.75, 12);
  });

  it('GELU derivative matches finite differences', () => {
    for (const x of [-3, -1, -0.2, 0, 0.4, 1.7]) {
      const h = 1e-6;
      expect(geluDerivative(x)).toBeCloseTo((gelu(x + h) - gelu(x - h)) / (2 * h), 8);
    }
  });

  it('backward pass matches central finite differences of every parameter', () => {
    const dim = 5;
    const hidden = 3;
    const head = randomHead(dim, hidden, 1);
    const rng = new Random(2);
    const x = Array.from({ length: dim }, () => rng.normal());
    const dLogits = [0.7, -1.3];
    const objective = (): number => {
      const z = mlpHeadForward(head, x).logits;
      return dLogits[0] * z[0] + dLogits[1] * z[1];
    };
    const grad = new Float64Array(head.params.length);
    mlpHeadBackward(head, mlpHeadForward(head, x), dLogits, grad);
    const eps = 1e-6;
    for (let i = 0; i < head.params.length; i++) {
      const saved = head.params[i];
      head.params[i] = saved + eps;
      const up = objective();
      head.params[i] = saved - eps;
      const down = objective();
      head.params[i] = saved;
      expect(grad[i]).toBeCloseTo((up - down) / (2 * eps), 6);
    }
  });

  it('reads the input at an offset', () => {
    const head = randomHead(3, 2, 4);
    const a = mlpHeadForward(head, [9, 9, 0.5, -1, 2], 2).logits;
    const b = mlpHeadForward(head, [0.5, -1, 2]).logits;
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it('Adam ascends: the first step moves each parameter by the learning rate along the gradient sign', () => {
    const params = Float64Array.of(1, 1, 1);
    const state = createAdamState(3);
    adamStep(params, Float64Array.of(2, -0.5, 0), state, { learningRate: 0.1 });
    expect(params[0]).toBeCloseTo(1.1, 6);
    expect(params[1]).toBeCloseTo(0.9, 6);
    expect(params[2]).toBe(1);
  });

  it('rejects bad widths and parameter vectors', () => {
    expect(() => createMlpHead(0)).toThrow(/positive integers/);
    expect(() => mlpHeadFromParams(2, 2, new Float64Array(3))).toThrow(/parameters/);
  });
});
