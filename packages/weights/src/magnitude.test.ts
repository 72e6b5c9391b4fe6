import { describe, expect, it } from 'vitest';
import { PruneError, Random, fromArray, globalThresholdMasks, tensor } from '@prune/core';
import { magnitude, magnitudeMask, magnitudeScore, pruneMagnitude, thresholdKeepMask } from './magnitude.js';

const layer = (name: string, shape: [number, number]) => ({ name, shape, kind: 'linear' as const });

describe('magnitude score / select / apply', () => {
  it('per matrix: prunes every |W| ≤ sorted(|W|)[floor(numel·s)], ties at the threshold included', () => {
    // |W| sorted: 0.5 1 1 1 2 3 4 5; floor(8·0.25) = 2 → thr = 1 → all three 1s are pruned (4 in all).
    const w = tensor([
      [1, -0.5, 3, -1],
      [5, 1, -2, 4],
    ]);
    const { weight, mask } = pruneMagnitude(w, { kind: 'unstructured', sparsity: 0.25 });
    expect([...mask.dataSync()]).toEqual([0, 0, 1, 0, 1, 0, 1, 1]);
    expect([...weight.dataSync()]).toEqual([0, 0, 3, 0, 5, 0, -2, 4]);
    expect([...w.dataSync()]).toEqual([1, -0.5, 3, -1, 5, 1, -2, 4]);
  });

  it('per row: exactly floor(d·s) per row, ties lower index first', () => {
    const scores = magnitudeScore(tensor([[1, -1, 2, 1], [4, 3, 2, 1]]));
    expect([...magnitudeMask(scores, { kind: 'unstructured', sparsity: 0.5 }, { scope: 'row' }).dataSync()]).toEqual([0, 0, 1, 1, 1, 1, 0, 0]);
  });

  it('N:M prunes N of every M consecutive inputs (reference sense: 1:4 prunes one)', () => {
    const w = tensor([[0.1, -0.9, 0.5, 0.2, 3, -1, 2, 0]]);
    expect([...magnitudeMask(magnitudeScore(w), { kind: 'nm', prune: 2, group: 4 }).dataSync()]).toEqual([0, 1, 1, 0, 1, 0, 1, 0]);
    expect([...magnitudeMask(magnitudeScore(w), { kind: 'nm', prune: 1, group: 4 }).dataSync()]).toEqual([0, 1, 1, 1, 1, 1, 1, 0]);
    expect(() => magnitudeMask(magnitudeScore(w), { kind: 'nm', prune: 1, group: 3 }, { name: 'fc' })).toThrow(/fc has d_in = 8/);
  });

  it('thresholdKeepMask keeps S > thr, everything when thr is undefined', () => {
    const s = tensor([0.5, 1, 2]);
    expect([...thresholdKeepMask(s, 1).dataSync()]).toEqual([0, 0, 1]);
    expect([...thresholdKeepMask(s, undefined).dataSync()]).toEqual([1, 1, 1]);
  });

  it('rejects non-float32 weights, bad scopes and bad targets', () => {
    expect(() => magnitudeScore(tensor([[1, 2]], undefined, 'int32'))).toThrow(PruneError);
    expect(() => magnitude({ scope: 'layer' as never })).toThrow(/scope/);
    expect(() => magnitudeMask(tensor([[1, 2]]), { kind: 'unstructured', sparsity: 1 })).toThrow(PruneError);
    expect(() => magnitudeMask(tensor([[1, 2]]), { kind: 'unstructured', sparsity: 0.5 }, { scope: 'global' as never })).toThrow(/global/);
  });
});

describe('magnitude as a PruningMethod', () => {
  it('global scope: prepare finds the threshold over every matrix, equal to pooled globalThresholdMasks', async () => {
    const rng = new Random(3);
    const weights = new Map([
      ['a', fromArray(Float32Array.from({ length: 6 * 8 }, () => rng.normal()), [6, 8], 'float32')],
      ['b', fromArray(Float32Array.from({ length: 4 * 8 }, () => rng.normal() * 3), [4, 8], 'float32')],
    ]);
    const layers = [layer('a', [6, 8]), layer('b', [4, 8])];
    const target = { kind: 'unstructured', sparsity: 0.6 } as const;
    const method = magnitude({ scope: 'global' });
    expect(() => method.pruneLayer(layers[0], weights.get('a')!, target, undefined)).toThrow(/prepare/);
    const prepared = await method.prepare!({ layers, target, readWeight: async (name) => fromArray(weights.get(name)!.dataSync(), weights.get(name)!.shape, 'float32') });
    const expected = globalThresholdMasks([...weights.values()].map((w) => magnitudeScore(w)), { sparsity: 0.6 });
    layers.forEach((l, i) => {
      const { mask } = prepared.pruneLayer(l, weights.get(l.name)!, target, undefined);
      expect([...mask.dataSync()]).toEqual([...expected[i].dataSync()]);
    });
    // The larger matrix b loses less than a: one threshold, not one share per matrix.
    const pruned = layers.map((l) => prepared.pruneLayer(l, weights.get(l.name)!, target, undefined).mask.dataSync().filter((k) => k === 0).length / (l.shape[0] * l.shape[1]));
    expect(pruned[0]).toBeGreaterThan(pruned[1]);
  });

  it('matrix and row scopes prune each layer independently', () => {
    const w = tensor([[1, 2, 3, 4], [10, 20, 30, 40]]);
    const l = layer('x', [2, 4]);
    const target = { kind: 'unstructured', sparsity: 0.5 } as const;
    expect([...magnitude().pruneLayer(l, w, target, undefined).mask.dataSync()]).toEqual([0, 0, 0, 0, 0, 1, 1, 1]);
    expect([...magnitude({ scope: 'row' }).pruneLayer(l, w, target, undefined).mask.dataSync()]).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
    expect(magnitude().createStatistic).toBeUndefined();
  });
});
