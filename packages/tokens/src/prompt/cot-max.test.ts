import { Random } from '@prune/core';
import { describe, expect, it } from 'vitest';
import {
  type CotMaxAction,
  type CotMaxPruner,
  type ShotEncoding,
  accumulateLogProbabilityGradient,
  accumulateReinforceGradient,
  cotMaxActionSelection,
  cotMaxActionTokens,
  cotMaxLengthTerm,
  cotMaxLogProbability,
  cotMaxPrunerFromJson,
  cotMaxPrunerToJson,
  cotMaxReward,
  createCotMaxPruner,
  sampleCotMaxAction,
  scoreCotMax,
  selectCotMax,
  shotMeanEmbedding,
  trainCotMax,
  zeroCotMaxGradient,
} from './cot-max.js';

function randomShots(lengths: readonly number[], dim: number, seed: number): ShotEncoding[] {
  const rng = new Random(seed);
  return lengths.map((tokens) => ({ values: Float32Array.from({ length: tokens * dim }, () => rng.normal()), tokens, dim }));
}

function perturbed(pruner: CotMaxPruner, seed: number, scale = 0.5): CotMaxPruner {
  const rng = new Random(seed);
  for (const p of [pruner.shotPruner.params, pruner.tokenPruner.params]) for (let i = 0; i < p.length; i++) p[i] += scale * rng.normal();
  return pruner;
}

/** Every action of the policy on `lengths` shots (shot bits, then free token bits of kept shots). */
function allActions(lengths: readonly number[], keepFirst: number): CotMaxAction[] {
  const out: CotMaxAction[] = [];
  for (let shotBits = 0; shotBits < 1 << lengths.length; shotBits++) {
    const shots = Uint8Array.from(lengths, (_, i) => (shotBits >> i) & 1);
    const free: [number, number][] = [];
    lengths.forEach((n, i) => {
      if (shots[i]) for (let t = keepFirst; t < n; t++) free.push([i, t]);
    });
    for (let tokenBits = 0; tokenBits < 1 << free.length; tokenBits++) {
      const tokens = lengths.map((n, i) => Uint8Array.from({ length: n }, (_, t) => (shots[i] && t < keepFirst ? 1 : 0)));
      free.forEach(([i, t], k) => {
        tokens[i][t] = (tokenBits >> k) & 1;
      });
      out.push({ shots, tokens });
    }
  }
  return out;
}

describe('CoT-Max scoring and deterministic inference', () => {
  it('scores shots from their mean embedding and every token', () => {
    const pruner = perturbed(createCotMaxPruner({ dim: 3, hidden: 2, seed: 1 }), 2);
    const shots = randomShots([2, 4], 3, 3);
    expect(Array.from(shotMeanEmbedding({ values: [1, 2, 3, 5, 6, 7], tokens: 2, dim: 3 }))).toEqual([3, 4, 5]);
    const s = scoreCotMax(pruner, shots);
    expect(s.shotKeep.length).toBe(2);
    expect(s.tokenKeep.map((t) => t.length)).toEqual([2, 4]);
    for (const p of [...s.shotKeep, ...s.tokenKeep.flatMap((t) => [...t])]) expect(p > 0 && p < 1).toBe(true);
  });

  it('keeps the top shots, the leading tokens, then the top tokens — exactly the budget', () => {
    const pruner = perturbed(createCotMaxPruner({ dim: 4, hidden: 3, seed: 5, keepFirst: 2 }), 6);
    const shots = randomShots([6, 5, 7, 4], 4, 7);
    const scores = scoreCotMax(pruner, shots);
    for (const targetTokens of [0, 3, 8, 11, 15, 40]) {
      const sel = selectCotMax(pruner, shots, { targetTokens, targetShots: 3 });
      const kept = sel.demonstrations.reduce((n, d) => n + d.length, 0);
      // Brute force: the three highest-scoring shots.
      const topShots = [0, 1, 2, 3].sort((a, b) => scores.shotKeep[b] - scores.shotKeep[a]).slice(0, 3);
      // Exactly the budget, or every token of the kept shots when they hold fewer.
      expect(kept).toBe(Math.min(targetTokens, topShots.reduce((n, i) => n + shots[i].tokens, 0)));
      sel.demonstrations.forEach((d, i) => {
        if (!topShots.includes(i)) expect(d.length).toBe(0);
      });
      // Leading tokens of kept shots come first (when the budget covers them), then p_keep.
      if (targetTokens >= 6) for (const i of topShots) expect(Array.from(sel.demonstrations[i].slice(0, 2))).toEqual([0, 1]);
      const keptFree = topShots.flatMap((i) => Array.from(sel.demonstrations[i]).filter((t) => t >= 2).map((t) => scores.tokenKeep[i][t]));
      const droppedFree = topShots.flatMap((i) => Array.from(scores.tokenKeep[i]).filter((_, t) => t >= 2 && !sel.demonstrations[i].includes(t)));
      if (keptFree.length > 0 && droppedFree.length > 0) expect(Math.min(...keptFree)).toBeGreaterThanOrEqual(Math.max(...droppedFree));
    }
  });

  it('by default adds shots in score order until they hold 1.5× the budget; ratio budgets round', () => {
    const pruner = perturbed(createCotMaxPruner({ dim: 3, hidden: 2, seed: 8 }), 9);
    const shots = randomShots([10, 10, 10, 10], 3, 10);
    const sel = selectCotMax(pruner, shots, { ratio: 0.33 });
    expect(sel.demonstrations.reduce((n, d) => n + d.length, 0)).toBe(13);
    // ceil(1.5 × 13) = 20 tokens → two shots of 10.
    expect(sel.demonstrations.filter((d) => d.length > 0).length).toBeLessThanOrEqual(2);
    const all = selectCotMax(pruner, shots, { ratio: 1 });
    expect(all.demonstrations.map((d) => d.length)).toEqual([10, 10, 10, 10]);
  });

  it('rejects mismatched widths and bad options', () => {
    const pruner = createCotMaxPruner({ dim: 3 });
    expect(() => scoreCotMax(pruner, randomShots([2], 4, 0))).toThrow(/width/);
    expect(() => selectCotMax(pruner, randomShots([2], 3, 0), { targetTokens: 1, targetShots: 2 })).toThrow(/targetShots/);
    expect(() => selectCotMax(pruner, randomShots([2], 3, 0), { ratio: 1.5 })).toThrow(/ratio/);
    expect(() => createCotMaxPruner({ dim: 3, keepFirst: -1 })).toThrow(/keepFirst/);
  });

  it('round-trips through JSON', () => {
    const pruner = perturbed(createCotMaxPruner({ dim: 3, hidden: 2 }), 1);
    const copy = cotMaxPrunerFromJson(JSON.parse(JSON.stringify(cotMaxPrunerToJson(pruner))));
    const shots = randomShots([3, 2], 3, 2);
    expect(Array.from(scoreCotMax(copy, shots).shotKeep)).toEqual(Array.from(scoreCotMax(pruner, shots).shotKeep));
    expect(() => cotMaxPrunerFromJson({ dim: 3, hidden: 2, keepFirst: 1, shotPruner: [1], tokenPruner: [] })).toThrow(/do not match/);
  });
});

describe('CoT-Max reward', () => {
  it('length term peaks at the budget: (t/T) below, (T/t) above', () => {
    expect(cotMaxLengthTerm(5, 10)).toBe(0.5);
    expect(cotMaxLengthTerm(10, 10)).toBe(1);
    expect(cotMaxLengthTerm(20, 10)).toBe(0.5);
    expect(cotMaxReward({ loss: 1 }, 10, 10)).toBe(0.5);
    expect(cotMaxReward({ loss: 3, accuracy: 0.5 }, 5, 10, { accuracyBonus: 1 })).toBeCloseTo((0.25 + 0.5) * 0.5, 12);
    expect(() => cotMaxLengthTerm(1, 0)).toThrow(/positive/);
  });
});

describe('CoT-Max REINFORCE gradient', () => {
  // Tiny case: two shots of 2 and 3 tokens, first token forced; every action enumerable.
  const lengths = [2, 3];
  const keepFirst = 1;
  const value = [
    [0.3, 1.1],
    [0.2, -0.4, 0.9],
  ];
  const reward = (a: CotMaxAction): number => {
    let v = 0;
    a.tokens.forEach((m, i) => m.forEach((bit, t) => (v += bit * value[i][t])));
    return cotMaxReward({ loss: Math.exp(-v) }, cotMaxActionTokens(a), 3);
  };
  const setup = () => {
    const pruner = perturbed(createCotMaxPruner({ dim: 3, hidden: 2, seed: 11, keepFirst }), 12, 0.8);
    return { pruner, shots: randomShots(lengths, 3, 13) };
  };
  const expectedReward = (pruner: CotMaxPruner, shots: ShotEncoding[]): number => {
    const s = scoreCotMax(pruner, shots);
    return allActions(lengths, keepFirst).reduce((sum, a) => sum + Math.exp(cotMaxLogProbability(pruner, s, a)) * reward(a), 0);
  };

  it('the action probabilities of the enumerated policy sum to one', () => {
    const { pruner, shots } = setup();
    const s = scoreCotMax(pruner, shots);
    const total = allActions(lengths, keepFirst).reduce((sum, a) => sum + Math.exp(cotMaxLogProbability(pruner, s, a)), 0);
    expect(total).toBeCloseTo(1, 12);
  });

  it('Σ π(a) R(a) ∇log π(a) equals finite differences of the expected reward', () => {
    const { pruner, shots } = setup();
    const s = scoreCotMax(pruner, shots);
    const grad = zeroCotMaxGradient(pruner);
    for (const a of allActions(lengths, keepFirst)) accumulateLogProbabilityGradient(pruner, s, a, Math.exp(cotMaxLogProbability(pruner, s, a)) * reward(a), grad);
    const eps = 1e-6;
    for (const [params, g] of [
      [pruner.shotPruner.params, grad.shot],
      [pruner.tokenPruner.params, grad.token],
    ] as const) {
      let norm = 0;
      for (let i = 0; i < params.length; i++) {
        const saved = params[i];
        params[i] = saved + eps;
        const up = expectedReward(pruner, shots);
        params[i] = saved - eps;
        const down = expectedReward(pruner, shots);
        params[i] = saved;
        expect(g[i]).toBeCloseTo((up - down) / (2 * eps), 7);
        norm += g[i] ** 2;
      }
      expect(norm).toBeGreaterThan(1e-8);
    }
  });

  it('the sampled estimate with the leave-one-out baseline converges to the exact gradient', () => {
    const { pruner, shots } = setup();
    const s = scoreCotMax(pruner, shots);
    const exact = zeroCotMaxGradient(pruner);
    for (const a of allActions(lengths, keepFirst)) accumulateLogProbabilityGradient(pruner, s, a, Math.exp(cotMaxLogProbability(pruner, s, a)) * reward(a), exact);
    const rng = new Random(14);
    const estimate = zeroCotMaxGradient(pruner);
    const groups = 4000;
    for (let k = 0; k < groups; k++) {
      const actions = Array.from({ length: 4 }, () => sampleCotMaxAction(pruner, s, rng));
      accumulateReinforceGradient(pruner, s, actions, actions.map(reward), estimate, 1 / groups);
    }
    for (const key of ['shot', 'token'] as const) {
      let diff = 0;
      let norm = 0;
      for (let i = 0; i < exact[key].length; i++) {
        diff += (estimate[key][i] - exact[key][i]) ** 2;
        norm += exact[key][i] ** 2;
      }
      // A plain mean baseline (own reward included) would be off by 1/S = 25%.
      expect(Math.sqrt(diff / norm)).toBeLessThan(0.05);
    }
  });

  it('samples keep the leading tokens and nothing of dropped shots', () => {
    const { pruner, shots } = setup();
    const s = scoreCotMax(pruner, shots);
    const rng = new Random(3);
    for (let k = 0; k < 50; k++) {
      const a = sampleCotMaxAction(pruner, s, rng);
      a.tokens.forEach((m, i) => {
        if (!a.shots[i]) expect(Array.from(m).every((v) => v === 0)).toBe(true);
        else expect(m[0]).toBe(1);
      });
      expect(cotMaxActionSelection(a).demonstrations.reduce((n, d) => n + d.length, 0)).toBe(cotMaxActionTokens(a));
    }
    expect(() => accumulateReinforceGradient(pruner, s, [sampleCotMaxAction(pruner, s, rng)], [1], zeroCotMaxGradient(pruner))).toThrow(/two actions/);
  });
});

describe('CoT-Max training', () => {
  it('raises the reward on a toy task where some tokens carry the answer', () => {
    // Token embeddings: "useful" tokens point along ±e₀, filler the other way (plus noise),
    // with the sign chosen so the untrained head prefers the filler. Reward: quality grows
    // with the useful tokens kept, times the length term at T = 4.
    const dim = 4;
    const rng = new Random(21);
    const pruner = createCotMaxPruner({ dim, hidden: 4, seed: 1, keepFirst: 0 });
    const probe = (sign: number) => scoreCotMax(pruner, [{ values: [sign, 0, 0, 0], tokens: 1, dim }]).tokenKeep[0][0];
    const usefulSign = probe(1) < probe(-1) ? 1 : -1;
    const useful: boolean[][][] = [];
    const inputs = Array.from({ length: 12 }, () => {
      const flags: boolean[][] = [];
      const shots = [6, 6, 6].map((n) => {
        const f = Array.from({ length: n }, () => rng.uniform() < 0.3);
        flags.push(f);
        const values = new Float32Array(n * dim);
        f.forEach((u, t) => {
          for (let i = 0; i < dim; i++) values[t * dim + i] = 0.3 * rng.normal();
          values[t * dim] += u ? usefulSign : -usefulSign;
        });
        return { values, tokens: n, dim };
      });
      useful.push(flags);
      return shots;
    });
    const rewardOf = (index: number, a: CotMaxAction): number => {
      let hits = 0;
      a.tokens.forEach((m, i) => m.forEach((bit, t) => (hits += bit && useful[index][i][t] ? 1 : 0)));
      return cotMaxReward({ loss: 3 / (1 + hits) }, cotMaxActionTokens(a), 4);
    };
    const usefulShare = (): number => {
      let kept = 0;
      let hits = 0;
      inputs.forEach((shots, index) => {
        const sel = selectCotMax(pruner, shots, { targetTokens: 4, targetShots: 3 });
        sel.demonstrations.forEach((d, i) => d.forEach((t) => ((hits += useful[index][i][t] ? 1 : 0), kept++)));
      });
      return hits / kept;
    };
    const before = usefulShare();
    const result = trainCotMax(pruner, {
      inputs,
      reward: (index, actions) => actions.map((a) => rewardOf(index, a)),
      steps: 400,
      samples: 4,
      learningRate: 0.01,
      seed: 2,
    });
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(result.steps).toBe(400);
    expect(mean(result.meanReward.slice(-50))).toBeGreaterThan(mean(result.meanReward.slice(0, 50)) + 0.05);
    expect(before).toBeLessThan(0.5);
    expect(usefulShare()).toBeGreaterThan(0.9);
    expect(() => trainCotMax(pruner, { inputs, reward: () => [], steps: 1, samples: 1 })).toThrow(/samples/);
  });
});
