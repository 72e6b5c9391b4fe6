import { describe, expect, it } from 'vitest';
import { ColumnNormAccumulator, PruneError, Random, fromArray, tensor } from '@prune/core';
import { pruneWanda, wanda, wandaMask, wandaScore } from './wanda.js';

// The hand example: W = [[1, -2, 3, -4], [0.5, 0.5, -1, 2]], one calibration token
// x = [2, 1, 0.5, 1] → s = ‖X[:, j]‖² = [4, 1, 0.25, 1], √s = [2, 1, 0.5, 1],
// S = |W|·√s = [[2, 2, 1.5, 4], [1, 0.5, 0.5, 2]].
const W = [
  [1, -2, 3, -4],
  [0.5, 0.5, -1, 2],
];
const X = [[2, 1, 0.5, 1]];

function columnNorm(): ReturnType<ColumnNormAccumulator['value']> {
  const acc = new ColumnNormAccumulator(4);
  acc.update(tensor(X));
  const s = acc.value();
  acc.dispose();
  return s;
}

describe('Wanda score / select / apply (2×4 by hand)', () => {
  it('scores |W|·√s', () => {
    const s = columnNorm();
    expect([...s.dataSync()]).toEqual([4, 1, 0.25, 1]);
    expect([...wandaScore(tensor(W), s).dataSync()]).toEqual([2, 2, 1.5, 4, 1, 0.5, 0.5, 2]);
  });

  it('50%: per row prunes the 2 lowest, the tie 2 = 2 at indices 0 and 1 resolved to index 0', () => {
    // Row 0: 1.5 (idx 2), then the tie 2@0 vs 2@1 → idx 0. Row 1: 0.5@1 and 0.5@2.
    const { weight, mask } = pruneWanda(tensor(W), columnNorm(), { kind: 'unstructured', sparsity: 0.5 });
    expect([...mask.dataSync()]).toEqual([0, 1, 0, 1, 1, 0, 0, 1]);
    expect([...weight.dataSync()]).toEqual([0, -2, 0, -4, 0.5, 0, 0, 2]);
  });

  it('25% prunes floor(4·0.25) = 1 per row; magnitude alone would choose differently', () => {
    const keep = wandaMask(wandaScore(tensor(W), columnNorm()), { kind: 'unstructured', sparsity: 0.25 });
    expect([...keep.dataSync()]).toEqual([1, 1, 0, 1, 1, 0, 1, 1]);
    // By |W| alone row 0 would lose index 0 (|1|), not index 2 (|3|): the activation matters.
    expect(Math.abs(W[0][0])).toBeLessThan(Math.abs(W[0][2]));
  });

  it('1:2 prunes one of every 2 consecutive inputs; 2:4 two of 4', () => {
    const scores = wandaScore(tensor(W), columnNorm());
    // Row 0 groups (2, 2) → idx 0 (tie), (1.5, 4) → idx 2. Row 1: (1, 0.5) → idx 1, (0.5, 2) → idx 2.
    expect([...wandaMask(scores, { kind: 'nm', prune: 1, group: 2 }).dataSync()]).toEqual([0, 1, 0, 1, 1, 0, 0, 1]);
    expect([...wandaMask(scores, { kind: 'nm', prune: 2, group: 4 }).dataSync()]).toEqual([0, 1, 0, 1, 1, 0, 0, 1]);
  });

  it('rejects a statistic of the wrong length, non-float weights and missing statistics', () => {
    expect(() => wandaScore(tensor(W), tensor([1, 2, 3]))).toThrow(/\[4\]/);
    expect(() => wandaScore(tensor(W, undefined, 'int32'), tensor([1, 2, 3, 4]))).toThrow(PruneError);
    const method = wanda();
    const layer = { name: 'fc', shape: [2, 4] as [number, number], kind: 'linear' as const };
    expect(() => method.pruneLayer(layer, tensor(W), { kind: 'unstructured', sparsity: 0.5 }, undefined)).toThrow(/fc has no calibration statistic/);
    expect(() => wanda({ variant: 'yes' as never })).toThrow(PruneError);
    expect(() => wanda({ statistic: { weighting: 'bytes' as never } })).toThrow(PruneError);
  });
});

describe('wanda() as a PruningMethod', () => {
  it('creates a column-norm statistic per layer and prunes with it', () => {
    const method = wanda();
    const layer = { name: 'fc', shape: [2, 4] as [number, number], kind: 'linear' as const };
    const stat = method.createStatistic!(layer);
    stat.update(tensor(X));
    const { mask } = method.pruneLayer(layer, tensor(W), { kind: 'unstructured', sparsity: 0.5 }, stat);
    expect([...mask.dataSync()]).toEqual([0, 1, 0, 1, 1, 0, 0, 1]);
    stat.dispose();
    expect(method.options).toEqual({ variant: false });
  });

  it('prunes exactly floor(d·s) per row on a random layer, keeping survivors unchanged', () => {
    const rng = new Random(11);
    const [rows, cols] = [7, 33];
    const w = fromArray(Float32Array.from({ length: rows * cols }, () => rng.normal()), [rows, cols], 'float32');
    const acc = new ColumnNormAccumulator(cols);
    acc.update(fromArray(Float32Array.from({ length: 5 * cols }, () => rng.normal()), [5, cols], 'float32'));
    const { weight } = pruneWanda(w, acc.value(), { kind: 'unstructured', sparsity: 0.6 });
    const data = weight.dataSync();
    const orig = w.dataSync();
    for (let r = 0; r < rows; r++) expect(data.subarray(r * cols, (r + 1) * cols).filter((v) => v === 0).length).toBe(Math.floor(cols * 0.6));
    data.forEach((v, i) => expect(v === 0 || v === orig[i]).toBe(true));
  });
});
