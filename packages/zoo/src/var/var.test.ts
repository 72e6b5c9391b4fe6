import { describe, expect, it } from 'vitest';
import { Random, type Tensor, areaInterpolate, fromArray } from '@prune/core';
import { type VarConfig, parseVarConfig, varExpectedShapes, varSequenceLength } from './config.js';
import { type VarBranchHook, VarModel } from './var.js';

function tinyConfig(over: Partial<VarConfig> = {}): VarConfig {
  return {
    model_type: 'var',
    scales: [1, 2, 3],
    side: 3,
    image_size: 6,
    levels: 3,
    hidden_size: 8,
    num_layers: 2,
    num_heads: 2,
    mlp_size: 16,
    num_classes: 4,
    layer_norm_eps: 1e-6,
    codebooks: [
      [0, 0.4, 1],
      [-0.2, 0.1, 0.3],
      [-0.05, 0, 0.05],
    ],
    ...over,
  };
}

function randomModel(config: VarConfig, seed = 1): VarModel {
  const rng = new Random(seed);
  const w = new Map<string, Tensor>();
  for (const [name, shape] of varExpectedShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isScale = name.endsWith('norm1.weight') || name.endsWith('norm2.weight') || name === 'norm.weight';
    w.set(name, fromArray(Float32Array.from({ length: n }, () => (isScale ? 1 : 0) + (rng.uniform() - 0.5)), shape, 'float32'));
  }
  return new VarModel(config, w, w.get('start')!.backend);
}

describe('VarModel.tokenize', () => {
  it('writes a flat image as residual tokens by hand', () => {
    const model = randomModel(tinyConfig());
    const { tokens, inputs, decoded } = model.tokenize(new Float32Array(36).fill(0.5));
    // 0.5 → nearest 0.4 (index 1); residual 0.1 → index 1 of scale 2 (0.1); residual 0 → index 1 (0).
    expect(tokens.map((t) => Array.from(t))).toEqual([[1], [1, 1, 1, 1], Array(9).fill(1)]);
    expect(Array.from(inputs[0])).toEqual([0]);
    expect(Array.from(inputs[1])).toEqual(Array(4).fill(Math.fround(0.4)));
    for (const v of decoded) expect(v).toBeCloseTo(0.5, 6);
    model.dispose();
  });
  it('rejects an image index outside the array', () => {
    const model = randomModel(tinyConfig());
    expect(() => model.tokenize(new Float32Array(36), 1)).toThrow(/image 1 is not in an array of 1/);
    model.dispose();
  });
});

describe('VarModel.generate', () => {
  it('is deterministic per seed and its map is the sum of the sampled tokens\u2019 codebook maps', () => {
    const config = tinyConfig();
    const model = randomModel(config);
    const a = model.generate(2, { seed: 5 });
    const b = model.generate(2, { seed: 5 });
    expect(a.tokens.map((t) => Array.from(t))).toEqual(b.tokens.map((t) => Array.from(t)));
    const sum = new Float64Array(9);
    a.tokens.forEach((t, k) => {
      const s = config.scales[k];
      const up = areaInterpolate(Float32Array.from(t, (i) => config.codebooks[k][i]), 1, 1, { height: s, width: s }, { height: 3, width: 3 });
      up.forEach((v, i) => (sum[i] += v));
    });
    a.map.forEach((v, i) => expect(v).toBeCloseTo(sum[i], 6));
    expect(a.image.length).toBe(36);
    expect(a.image[0]).toBe(a.map[0]);
    model.dispose();
  });

  it('gives a pass-through branch hook exactly the unhooked output and calls it on every branch of every scale', () => {
    const model = randomModel(tinyConfig());
    const calls: string[] = [];
    const hook: VarBranchHook = {
      branch(layer, name, x, size, run) {
        calls.push(`${layer}${name}${size.height}`);
        expect(x.shape).toEqual([size.height * size.width, 8]);
        return run(x, undefined);
      },
    };
    const plain = model.generate(1, { seed: 3 });
    const hooked = model.generate(1, { seed: 3, hook });
    expect(Array.from(hooked.map)).toEqual(Array.from(plain.map));
    expect(calls).toHaveLength(3 * 2 * 2);
    expect(calls.slice(0, 4)).toEqual(['0attn1', '0ffn1', '1attn1', '1ffn1']);
    model.dispose();
  });

  it('teacher-forced logits of a scale do not see later scales (block-causal attention)', () => {
    const model = randomModel(tinyConfig());
    const flat = new Float32Array(36).fill(0.5);
    // Same mean (same scale-1 token), different scale-2 tokens: [2, 0, 2, 0] instead of [1, 1, 1, 1].
    const split = Float32Array.from({ length: 36 }, (_, i) => (i % 6 < 3 ? 0.9 : 0.1));
    expect(Array.from(model.tokenize(split).tokens[1])).toEqual([2, 0, 2, 0]);
    const a = model.logits(flat, 0, 0);
    const b = model.logits(split, 0, 0);
    expect(a.length).toBe(varSequenceLength(tinyConfig()) * 3);
    expect(Array.from(b.subarray(0, 15))).toEqual(Array.from(a.subarray(0, 15)));
    expect(Array.from(b.subarray(15))).not.toEqual(Array.from(a.subarray(15)));
    model.dispose();
  });

  it('rejects a class outside the model, a non-positive temperature and a hook that skips a scale', () => {
    const model = randomModel(tinyConfig());
    const skipper: VarBranchHook = { branch: (_l, _n, x, _s, run) => run(x, undefined), skips: (size) => size.height === 3 };
    expect(() => model.generate(0, { hook: skipper })).toThrow(/skip scale 3×3/);
    expect(() => model.generate(4)).toThrow(/class 4 is not in \[0, 4\)/);
    expect(() => model.generate(0, { temperature: 0 })).toThrow(/temperature 0/);
    model.dispose();
  });
});

describe('parseVarConfig', () => {
  it('accepts a valid config and rejects broken ones with what is wrong', () => {
    expect(parseVarConfig(tinyConfig()).scales).toEqual([1, 2, 3]);
    expect(() => parseVarConfig({ ...tinyConfig(), model_type: 'vit' })).toThrow(/model_type must be "var"/);
    expect(() => parseVarConfig({ ...tinyConfig(), scales: [1, 3, 2] })).toThrow(/increasing/);
    expect(() => parseVarConfig({ ...tinyConfig(), scales: [2, 3] })).toThrow(/first scale must be 1/);
    expect(() => parseVarConfig({ ...tinyConfig(), codebooks: [[0, 1, 2]] })).toThrow(/codebooks must hold 3 lists/);
    expect(() => parseVarConfig({ ...tinyConfig(), hidden_size: 9 })).toThrow(/not divisible/);
  });
  it('makes the model reject a checkpoint tensor of the wrong shape', () => {
    const config = tinyConfig();
    const w = new Map<string, Tensor>();
    for (const [name, shape] of varExpectedShapes(config)) w.set(name, fromArray(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, 'float32'));
    w.set('head.bias', fromArray(new Float32Array(2), [2], 'float32'));
    expect(() => new VarModel(config, w, w.get('start')!.backend)).toThrow(/"head.bias" has shape \[2\]/);
  });
});
