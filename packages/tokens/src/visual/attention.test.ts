import { describe, expect, it } from 'vitest';
import { PruneError, tensor } from '@prune/core';
import { attentionReceived } from './attention.js';
import { fastv, fastvScores } from './fastv.js';

// Two heads over CLS + 3 patches; rows are queries and sum to 1.
const maps = tensor(
  [
    [
      [0.1, 0.2, 0.3, 0.4],
      [0.25, 0.25, 0.25, 0.25],
      [0.0, 0.5, 0.5, 0.0],
      [0.7, 0.1, 0.1, 0.1],
    ],
    [
      [0.4, 0.3, 0.2, 0.1],
      [0.1, 0.1, 0.1, 0.7],
      [0.2, 0.2, 0.2, 0.4],
      [0.0, 0.0, 1.0, 0.0],
    ],
  ],
  [2, 4, 4],
);

describe('attentionReceived', () => {
  it('averages the received attention over heads and all query rows (CLS column dropped)', () => {
    // Column 1: head 0 rows sum 0.2+0.25+0.5+0.1 = 1.05, head 1 0.3+0.1+0.2+0 = 0.6 → 1.65/8.
    const s = attentionReceived(maps);
    expect(s).toHaveLength(3);
    expect(s[0]).toBeCloseTo(1.65 / 8, 6);
    expect(s[1]).toBeCloseTo((1.15 + 1.5) / 8, 6);
    expect(s[2]).toBeCloseTo((0.75 + 1.2) / 8, 6);
  });

  it('keeps the CLS column when clsToken is false and reads one row on request', () => {
    const all = attentionReceived(maps, { clsToken: false });
    expect(all[0]).toBeCloseTo((1.05 + 0.7) / 8, 6);
    const cls = attentionReceived(maps, { queryRows: 0 });
    expect(Array.from(cls).map((v) => +v.toFixed(6))).toEqual([0.25, 0.25, 0.25]);
    const last = attentionReceived(maps, { queryRows: -1 });
    expect(last[1]).toBeCloseTo(0.55, 6);
  });

  it('rejects maps that are not [heads, n, n] and rows out of range', () => {
    expect(() => attentionReceived(tensor([[0.5, 0.5]], [1, 2]))).toThrow(PruneError);
    expect(() => attentionReceived(tensor(new Array(12).fill(0.25), [1, 3, 4]))).toThrow(/\[heads, n, n\]/);
    expect(() => attentionReceived(maps, { queryRows: 4 })).toThrow(PruneError);
    expect(() => attentionReceived(tensor([1, 2, 3, 4], [1, 2, 2], 'int32'))).toThrow(/float32/);
  });
});

describe('FastV', () => {
  it('ranks image tokens by the head-averaged attention of the last query row', () => {
    // Last row: head 0 → [0.1, 0.1, 0.1], head 1 → [0, 1, 0] on patches 0..2.
    expect(Array.from(fastvScores(maps)).map((v) => +v.toFixed(6))).toEqual([0.05, 0.55, 0.05]);
    expect(Array.from(fastv(maps, { keep: 1 }))).toEqual([1]);
    // Patches 0 and 2 tie; the lower position wins.
    expect(Array.from(fastv(maps, { keep: 2 }))).toEqual([0, 1]);
  });

  it('can rank by the CLS row instead (the readout of a ViT classifier)', () => {
    // Row 0: head 0 → [0.2, 0.3, 0.4], head 1 → [0.3, 0.2, 0.1] → [0.25, 0.25, 0.25].
    expect(Array.from(fastv(maps, { keep: 2, queryRow: 0 }))).toEqual([0, 1]);
    expect(Array.from(fastv(maps, { keep: 1, queryRow: 1 }))).toEqual([2]);
  });

  it('rejects a budget larger than the image tokens', () => {
    expect(() => fastv(maps, { keep: 4 })).toThrow(PruneError);
  });
});
