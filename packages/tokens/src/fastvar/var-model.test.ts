import { Random, type Tensor, fromArray } from '@prune/core';
import { type VarConfig, VarModel, varExpectedShapes } from '@prune/zoo';
import { describe, expect, it } from 'vitest';
import { FastVarCache } from './cache.js';

// FastVAR around the branches of the zoo's next-scale-prediction model (random weights).
const config: VarConfig = {
  model_type: 'var',
  scales: [1, 2, 3, 4],
  side: 4,
  image_size: 8,
  levels: 4,
  hidden_size: 8,
  num_layers: 3,
  num_heads: 2,
  mlp_size: 16,
  num_classes: 3,
  layer_norm_eps: 1e-6,
  codebooks: [
    [0, 0.3, 0.6, 0.9],
    [-0.2, -0.05, 0.05, 0.2],
    [-0.1, -0.03, 0.03, 0.1],
    [-0.05, -0.01, 0.01, 0.05],
  ],
};

function randomModel(): VarModel {
  const rng = new Random(11);
  const w = new Map<string, Tensor>();
  for (const [name, shape] of varExpectedShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    w.set(name, fromArray(Float32Array.from({ length: n }, () => rng.uniform() - 0.5 + (/norm\d?\.weight$/.test(name) ? 1 : 0)), shape, 'float32'));
  }
  return new VarModel(config, w, w.get('start')!.backend);
}

const schedule = (ratio: number) => ({
  cacheScale: { height: 2, width: 2 },
  prunedScales: [
    { height: 3, width: 3, ratio },
    { height: 4, width: 4, ratio },
  ],
  skippedScales: [],
  layers: { from: 1, to: 3 },
});

describe('FastVarCache on the zoo VAR model', () => {
  it('at ratio 0 generates exactly the unpruned image', () => {
    const model = randomModel();
    const fastvar = new FastVarCache(schedule(0));
    for (const label of [0, 2]) {
      fastvar.reset();
      const plain = model.generate(label, { seed: 4 });
      const pruned = model.generate(label, { seed: 4, hook: fastvar });
      expect(Array.from(pruned.map)).toEqual(Array.from(plain.map));
    }
    model.dispose();
  });

  it('forwards only the pivotal tokens of the pruned scales in the scheduled blocks', () => {
    const model = randomModel();
    const fastvar = new FastVarCache(schedule(0.5));
    const plain = model.generate(1, { seed: 9 });
    const pruned = model.generate(1, { seed: 9, hook: fastvar });
    // 3 blocks × 2 branches × 4 scales; blocks 1–2 keep 9 − 4 = 5 of 9 and 16 − 8 = 8 of 16.
    const total = 6 * (1 + 4 + 9 + 16);
    const forwarded = 6 * (1 + 4) + 2 * (9 + 16) + 4 * (5 + 8);
    expect(fastvar.stats()).toEqual({ branches: 24, forwardedTokens: forwarded, totalTokens: total });
    // Scales before the first pruned one are untouched.
    expect(Array.from(pruned.tokens[0])).toEqual(Array.from(plain.tokens[0]));
    expect(Array.from(pruned.tokens[1])).toEqual(Array.from(plain.tokens[1]));
    model.dispose();
  });
});
