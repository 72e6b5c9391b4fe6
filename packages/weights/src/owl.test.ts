import { describe, expect, it } from 'vitest';
import { PruneError, type Tensor, dispose, tensor } from '@prune/core';
import { loadTinyLm, snapshot, tinySamples } from '../test/tiny-lm.js';
import { outlierRatio, owlLayerSparsity, owlSparsities } from './owl.js';

/** The OWL formula written out in float64 on plain arrays (independent of the module). */
function owlByHand(blocks: number[][], m: number, lambda: number, s: number): { lod: number[]; sparsity: number[] } {
  const lod = blocks.map((scores) => {
    const mean = scores.reduce((a, v) => a + v, 0) / scores.length;
    return (100 * scores.filter((v) => v > m * mean).length) / scores.length;
  });
  const lo = Math.min(...lod);
  const hi = Math.max(...lod);
  const r = lod.map((v) => ((v - lo) / (hi - lo)) * 2 * lambda);
  const meanR = r.reduce((a, v) => a + v, 0) / r.length;
  return { lod, sparsity: r.map((v) => 1 - (v - meanR + 1 - s)) };
}

describe('OWL layerwise sparsity', () => {
  it('LOD and sparsities on hand-made scores', () => {
    // Block A: nine 1s and a 100 → mean 10.9, 5·mean = 54.5 → 1 outlier of 10 → 10%.
    // Block B: nineteen 1s and a 200 split over two tensors → mean 10.95 → 1 of 20 → 5%.
    // Block C: all 1s → 0%.
    const a = [tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 100]])];
    const b = [tensor(new Array(12).fill(1)), tensor([...new Array(7).fill(1), 200])];
    const c = [tensor(new Array(6).fill(1))];
    const lod = [a, b, c].map((scores) => outlierRatio(scores));
    expect(lod).toEqual([10, 5, 0]);
    // r = LOD/10 · 0.16 = [0.16, 0.08, 0], mean 0.08; density = r − 0.08 + 0.3.
    const sparsity = owlSparsities(lod, { sparsity: 0.7 });
    [0.62, 0.7, 0.78].forEach((v, i) => expect(sparsity[i]).toBeCloseTo(v, 12));
    const hand = owlByHand([[...new Array(9).fill(1), 100], [...new Array(19).fill(1), 200], new Array(6).fill(1)], 5, 0.08, 0.7);
    expect(hand.lod).toEqual(lod);
    hand.sparsity.forEach((v, i) => expect(sparsity[i]).toBeCloseTo(v, 12));
    // Mean sparsity stays s.
    expect(sparsity.reduce((x, v) => x + v, 0) / 3).toBeCloseTo(0.7, 12);
    dispose([...a, ...b, ...c]);
  });

  it('follows the reference at the edges: ≤ 0 becomes 0.01, equal LODs give s, ≥ 1 is an error', () => {
    expect(owlSparsities([10, 0], { sparsity: 0.05, lambda: 0.08 })).toEqual([0.01, 0.05 + 0.08]);
    expect(owlSparsities([3, 3, 3], { sparsity: 0.5 })).toEqual([0.5, 0.5, 0.5]);
    expect(() => owlSparsities([0, 10, 10], { sparsity: 0.9 })).toThrow(/s \+ 2λ < 1/);
    expect(() => owlSparsities([1], { sparsity: 1 })).toThrow(PruneError);
    expect(() => owlSparsities([], { sparsity: 0.5 })).toThrow(PruneError);
    expect(() => outlierRatio([tensor([1])], 0)).toThrow(PruneError);
  });

  it('first pass on the tiny LM: dense propagation, Wanda scores per block, weights only read', async () => {
    const model = await loadTinyLm();
    const before = await snapshot(model);
    const samples = tinySamples(3, 2);
    const owl = await owlLayerSparsity(model, { sparsity: 0.6, calibration: samples, nsamples: 3, m: 2 });
    // Independently: run the dense model block by block, summing squared inputs per column.
    const blockScores: number[][] = [];
    let hidden: Tensor[] = samples.map((s) => model.runner.embed(s));
    model.blocks().forEach((block, b) => {
      const sq = new Map(block.layers.map((l) => [l.name, new Float64Array(l.shape[1])]));
      hidden = hidden.map((h) => {
        const out = model.runner.runBlock(b, h, (name, x) => {
          const d = x.dataSync();
          const acc = sq.get(name)!;
          for (let i = 0; i < d.length; i++) acc[i % acc.length] += d[i] * d[i];
        });
        h.dispose();
        return out;
      });
      const scores: number[] = [];
      for (const layer of block.layers) {
        const w = before.get(layer.name)!;
        const s = sq.get(layer.name)!;
        w.forEach((v, i) => scores.push(Math.abs(v) * Math.sqrt(s[i % s.length] / 3)));
      }
      blockScores.push(scores);
    });
    dispose(hidden);
    const hand = owlByHand(blockScores, 2, 0.08, 0.6);
    expect(owl.blocks).toEqual(['model.layers.0', 'model.layers.1']);
    hand.lod.forEach((v, i) => expect(owl.lod[i]).toBeCloseTo(v, 9));
    hand.sparsity.forEach((v, i) => expect(owl.sparsity[i]).toBeCloseTo(v, 9));
    expect(owl.lod[0]).not.toBe(owl.lod[1]);
    const after = await snapshot(model);
    for (const [name, w] of before) expect(Array.from(after.get(name)!)).toEqual(Array.from(w));
    model.dispose();
    dispose(samples);
  });

  it('rejects a model without a runner and bad options', async () => {
    const model = await loadTinyLm();
    const samples = tinySamples(1);
    const noRunner = { description: 'x', blocks: () => model.blocks(), readWeight: model.readWeight.bind(model), writeWeight: model.writeWeight.bind(model) };
    await expect(owlLayerSparsity(noRunner, { sparsity: 0.5, calibration: samples, nsamples: 1 })).rejects.toThrow(/runner/);
    await expect(owlLayerSparsity(model, { sparsity: 1.2, calibration: samples, nsamples: 1 })).rejects.toThrow(PruneError);
    await expect(owlLayerSparsity(model, { sparsity: 0.5, calibration: samples, nsamples: 1, m: -1 })).rejects.toThrow(PruneError);
    model.dispose();
    dispose(samples);
  });
});
