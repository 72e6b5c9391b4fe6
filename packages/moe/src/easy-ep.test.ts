import { describe, expect, it } from 'vitest';
import { PruneError, type Tensor, tensor } from '@prune/core';
import { chooseDemonstrations, expertStatistics, mixDomainScores, randomExpertSubset, selectTopExperts, selectionOverlap, tokenContribution } from './easy-ep.js';
import type { MoeHooks, MoeModelAdapter } from './model.js';

// A one-layer, three-expert, top-2 "model" whose forward replays fixed routing events, so
// every score can be computed by hand.
interface Replay {
  h: number[][]; // residual per token
  r: number[][]; // routed output per token
  indices: number[]; // [tokens·2]
  gates: number[];
  outputs: Record<number, number[][]>; // expert → raw output rows (in token order)
}

function fakeModel(replays: Replay[]): MoeModelAdapter {
  let call = 0;
  return {
    description: 'fake',
    config: { num_hidden_layers: 1, num_local_experts: 3, num_experts_per_tok: 2, n_shared_experts: 0, router_bias: false },
    blocks: () => [],
    readWeight: async () => tensor([0]),
    writeWeight: async () => undefined,
    embed: (ids: Tensor) => ids,
    block: (_i: number, h: Tensor) => h,
    head: (h: Tensor) => h,
    weights: () => new Map(),
    setExpertMask: () => undefined,
    forward(ids: Tensor, hooks?: MoeHooks): Tensor {
      const rep = replays[call++ % replays.length];
      const T = rep.h.length;
      const d = rep.h[0].length;
      const experts = [0, 1, 2].map((e) => {
        const tokens: number[] = [];
        const gates: number[] = [];
        rep.indices.forEach((idx, i) => {
          if (idx === e) {
            tokens.push(Math.floor(i / 2));
            gates.push(rep.gates[i]);
          }
        });
        return { tokens: Int32Array.from(tokens), gates: Float32Array.from(gates) };
      });
      const residual = tensor(rep.h.flat(), [T, d]);
      hooks?.routing?.({ layer: 0, residual, input: residual, topK: 2, indices: Int32Array.from(rep.indices), gates: Float32Array.from(rep.gates), experts });
      experts.forEach((routed, e) => {
        if (routed.tokens.length > 0) hooks?.expert?.({ layer: 0, expert: e, routed, output: tensor(rep.outputs[e].flat(), [routed.tokens.length, d]) });
      });
      hooks?.output?.({ layer: 0, residual, routedOutput: tensor(rep.r.flat(), [T, d]) });
      return ids;
    },
  } as MoeModelAdapter;
}

describe('tokenContribution', () => {
  it('is 1 − cos(h, h + r), floored at 0, on hand-checked vectors', () => {
    expect(tokenContribution([1, 0], [0, 1])).toBeCloseTo(1 - Math.SQRT1_2, 12); // 45°
    expect(tokenContribution([1, 0], [3, 0])).toBe(0); // same direction
    expect(tokenContribution([1, 0], [-2, 0])).toBeCloseTo(2, 12); // reversed
    expect(tokenContribution([1, 2], [-1, -2])).toBe(0); // h + r = 0: no direction
    expect(() => tokenContribution([1], [1, 2])).toThrow(PruneError);
  });
});

describe('expertStatistics', () => {
  // Token 0: experts 0 (g .75) and 2 (g .25); token 1: experts 2 (g .5) and 1 (g .5).
  const replay: Replay = {
    h: [[1, 0], [0, 2]],
    r: [[0, 1], [0, 2]], // c_0 = 1 − 1/√2; c_1 = 0 (r parallel to h)
    indices: [0, 2, 2, 1],
    gates: [0.75, 0.25, 0.5, 0.5],
    outputs: { 0: [[3, 4]], 1: [[0, 1]], 2: [[6, 8], [1, 0]] }, // norms 5; 1; 10 (token 0), 1 (token 1)
  };
  const c0 = 1 - Math.SQRT1_2;

  it('accumulates g·‖E(x)‖·c per expert, and the two baselines, over demonstrations', () => {
    const stats = expertStatistics(fakeModel([replay]), [tensor([1, 2], [2], 'int32'), tensor([1, 2], [2], 'int32')]);
    expect(stats.demonstrations).toBe(2);
    expect(stats.tokens).toBe(4);
    expect(stats.easyEp[0][0]).toBeCloseTo(2 * 0.75 * 5 * c0, 6);
    expect(stats.easyEp[0][1]).toBe(0); // only token 1, whose c is 0
    expect(stats.easyEp[0][2]).toBeCloseTo(2 * 0.25 * 10 * c0, 6);
    expect(stats.frequency).toEqual([[2, 2, 4]]);
    expect(stats.gateSum[0][0]).toBeCloseTo(1.5, 6);
    expect(stats.gateSum[0][1]).toBeCloseTo(1, 6);
    expect(stats.gateSum[0][2]).toBeCloseTo(1.5, 6);
    // The importance ranks expert 0 above 2 although the frequency baseline prefers 2.
    expect(selectTopExperts(stats.easyEp, 1)).toEqual([[0]]);
    expect(selectTopExperts(stats.frequency, 1)).toEqual([[2]]);
  });

  it('rejects demonstrations that route nowhere', () => {
    expect(() => expertStatistics(fakeModel([replay]), [])).toThrow(/no demonstrations/);
    const still: Replay = { ...replay, r: [[0, 0], [0, 0]] }; // every c_t = 0
    const stats = expertStatistics(fakeModel([still]), [tensor([1, 2], [2], 'int32')]);
    expect(() => selectTopExperts(stats.easyEp, 2)).toThrow(/scored 0/);
  });

  it('rejects a model without MoE layers', () => {
    const dense = { description: 'dense-lm', blocks: () => [], readWeight: async () => tensor([0]), writeWeight: async () => undefined };
    expect(() => expertStatistics(dense as unknown as MoeModelAdapter, [])).toThrow(/no mixture-of-experts layers/);
  });
});

describe('selection helpers', () => {
  it('selectTopExperts keeps the K best per layer, ties to the lower index, ascending', () => {
    expect(selectTopExperts([[0.1, 0.5, 0.5, 0.2], [4, 3, 2, 1]], 2)).toEqual([[1, 2], [0, 1]]);
    expect(() => selectTopExperts([[1, 2]], 3)).toThrow(/cannot keep 3 experts/);
    expect(() => selectTopExperts([[1, 2, 3]], 1, { minimum: 2 })).toThrow(PruneError);
  });

  it('mixDomainScores normalises each domain row to sum 1 before summing', () => {
    const mixed = mixDomainScores([[[1, 3]], [[20, 20]]]);
    expect(mixed[0][0]).toBeCloseTo(0.75, 12);
    expect(mixed[0][1]).toBeCloseTo(1.25, 12);
    // Unnormalised, the second domain alone would decide (a tie broken to expert 0);
    // normalised, the first domain's preference for expert 1 wins.
    expect(selectTopExperts(mixed, 1)).toEqual([[1]]);
    expect(() => mixDomainScores([[[1, 1]], [[0, 0]]])).toThrow(/domain 1/);
    expect(() => mixDomainScores([[[1, 1]], [[1, 1, 1]]])).toThrow(PruneError);
  });

  it('randomExpertSubset is seeded, distinct and in range', () => {
    const a = randomExpertSubset(3, 8, 4, 7);
    expect(a).toEqual(randomExpertSubset(3, 8, 4, 7));
    for (const row of a) {
      expect(new Set(row).size).toBe(4);
      expect(row.every((e) => e >= 0 && e < 8)).toBe(true);
    }
    expect(() => randomExpertSubset(1, 4, 5, 0)).toThrow(/cannot keep 5 of 4/);
  });

  it('chooseDemonstrations takes the longest after a seeded shuffle', () => {
    const texts = ['a', 'bbbb', 'cc', 'ddd', 'ee'];
    expect(chooseDemonstrations(texts, 2)).toEqual(['bbbb', 'ddd']);
    expect(chooseDemonstrations(texts, 3, 1)).toHaveLength(3);
  });

  it('selectionOverlap is the mean Jaccard index over layers', () => {
    expect(selectionOverlap([[0, 1], [2, 3]], [[0, 1], [3, 4]])).toBeCloseTo((1 + 1 / 3) / 2, 12);
  });
});
