import { describe, expect, it } from 'vitest';
import { PruneError, Random, fromArray, tensor } from '@prune/core';
import { bipartiteSoftMatching, mergeSources, mergeWeightedAverage, tomeSchedule, tomeScheduleToKeep } from './tome.js';

const deg = (a: number): number[] => [Math.cos((a * Math.PI) / 180), Math.sin((a * Math.PI) / 180)];
// CLS + 6 tokens as 2-D directions. A = even tokens {0, 2, 4, 6}, B = odd tokens {1, 3, 5}.
// Best matches: 2 → 1 (cos 10° = 0.985), 4 → 3 (cos 5° = 0.996), 6 → 3 (cos 30° = 0.866).
const metric = tensor([deg(0), deg(0), deg(10), deg(90), deg(85), deg(180), deg(120)], [7, 2]);
const values = tensor([[0], [1], [2], [3], [4], [5], [6]], [7, 1]);

/**
 * Brute-force bipartite soft matching: every A–B cosine by explicit loops, each A token's
 * best B, the r best edges by repeated maximum search, and the merged groups by listing
 * the members of each output token.
 */
function bruteForceMerge(m: number[][], x: number[][], size: number[], r: number, cls: boolean): { x: number[][]; size: number[] } {
  const t = m.length;
  const cos = (i: number, j: number): number => {
    let d = 0, ni = 0, nj = 0;
    for (let k = 0; k < m[i].length; k++) {
      d += m[i][k] * m[j][k];
      ni += m[i][k] ** 2;
      nj += m[j][k] ** 2;
    }
    return d / Math.sqrt(ni * nj);
  };
  const aTokens = [...Array(t).keys()].filter((i) => i % 2 === 0);
  const bTokens = [...Array(t).keys()].filter((i) => i % 2 === 1);
  const best = new Map<number, { b: number; s: number }>();
  for (const a of aTokens) {
    if (cls && a === 0) continue;
    let top = { b: -1, s: -Infinity };
    for (const b of bTokens) if (cos(a, b) > top.s) top = { b, s: cos(a, b) };
    best.set(a, top);
  }
  const merged = new Set<number>();
  for (let k = 0; k < Math.min(r, Math.floor((t - (cls ? 1 : 0)) / 2)); k++) {
    let pick = -1;
    for (const [a, e] of best) if (!merged.has(a) && (pick < 0 || e.s > best.get(pick)!.s)) pick = a;
    merged.add(pick);
  }
  const groups: number[][] = [...aTokens.filter((a) => !merged.has(a)).map((a) => [a]), ...bTokens.map((b) => [b, ...[...merged].filter((a) => best.get(a)!.b === b)])];
  return {
    x: groups.map((g) => x[0].map((_, c) => g.reduce((s, i) => s + size[i] * x[i][c], 0) / g.reduce((s, i) => s + size[i], 0))),
    size: groups.map((g) => g.reduce((s, i) => s + size[i], 0)),
  };
}

describe('ToMe bipartite soft matching', () => {
  it('merges the r most similar A→B edges, CLS first and protected', () => {
    const m2 = bipartiteSoftMatching(metric, 2);
    expect(m2.r).toBe(2);
    expect(Array.from(m2.source)).toEqual([2, 1]); // A-local: tokens 4 then 2, by similarity
    expect(Array.from(m2.destination)).toEqual([1, 0]); // into B-local 1 (token 3) and 0 (token 1)
    expect(Array.from(m2.unmerged)).toEqual([0, 3]); // CLS and token 6, in position order
    expect(mergeSources(m2)).toEqual([[0], [6], [1, 2], [3, 4], [5]]);
    const out = mergeWeightedAverage(m2, values);
    expect(Array.from(out.tokens.dataSync())).toEqual([0, 6, 1.5, 3.5, 5]);
    expect(Array.from(out.sizes)).toEqual([1, 1, 2, 2, 1]);
  });

  it('averages by size: tokens that already stand for several patches weigh more', () => {
    const out = mergeWeightedAverage(bipartiteSoftMatching(metric, 2), values, [1, 1, 3, 1, 1, 1, 1]);
    // Token 1 (size 1, value 1) absorbs token 2 (size 3, value 2): (1 + 6) / 4.
    expect(out.tokens.dataSync()[2]).toBeCloseTo(7 / 4, 6);
    expect(Array.from(out.sizes)).toEqual([1, 1, 4, 2, 1]);
  });

  it('clamps r to half of the unprotected tokens; several A tokens may share one B', () => {
    const m = bipartiteSoftMatching(metric, 10);
    expect(m.r).toBe(3);
    const out = mergeWeightedAverage(m, values);
    expect(Array.from(out.sizes)).toEqual([1, 2, 3, 1]);
    expect(out.tokens.dataSync()[2]).toBeCloseTo(13 / 3, 6);
    expect(mergeSources(m)).toEqual([[0], [1, 2], [3, 4, 6], [5]]);
  });

  it('merges CLS like any token when classToken is false; unmerged A keep score order', () => {
    const m = bipartiteSoftMatching(metric, 1, { classToken: false });
    // Token 0 matches token 1 with cos 1, the best edge.
    expect(Array.from(m.source)).toEqual([0]);
    // Remaining A tokens by descending best score: 4 (0.996), 2 (0.985), 6 (0.866).
    expect(Array.from(m.unmerged)).toEqual([2, 1, 3]);
  });

  it('r = 0 leaves the tokens as they are', () => {
    const m = bipartiteSoftMatching(metric, 0);
    const out = mergeWeightedAverage(m, values);
    expect(Array.from(out.sizes)).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(out.tokens.dataSync())).toEqual([0, 2, 4, 6, 1, 3, 5]);
  });

  it('equals a brute-force matching on random tokens, with and without CLS, over several layers', () => {
    const rng = new Random(11);
    for (const cls of [true, false]) {
      for (const t of [9, 12, 17]) {
        let m = Array.from({ length: t }, () => Array.from({ length: 5 }, () => rng.normal()));
        let x = Array.from({ length: t }, () => Array.from({ length: 3 }, () => rng.normal()));
        let size = new Array<number>(t).fill(1);
        let sizes: Float32Array | undefined;
        for (const r of [3, 2, 5]) {
          const want = bruteForceMerge(m, x, size, r, cls);
          const matching = bipartiteSoftMatching(fromArray(Float32Array.from(m.flat()), [m.length, 5], 'float32'), r, { classToken: cls });
          const got = mergeWeightedAverage(matching, fromArray(Float32Array.from(x.flat()), [x.length, 3], 'float32'), sizes);
          // Without CLS, unmerged A tokens come in score order; compare as multisets then.
          const key = (row: number[], s: number): string => `${s}:${row.map((v) => v.toFixed(4)).join(',')}`;
          const gotRows = Array.from({ length: got.sizes.length }, (_, i) => key(Array.from(got.tokens.dataSync().slice(i * 3, i * 3 + 3)), got.sizes[i]));
          const wantRows = want.x.map((row, i) => key(row, want.size[i]));
          if (cls) expect(gotRows).toEqual(wantRows);
          else expect([...gotRows].sort()).toEqual([...wantRows].sort());
          // Next layer: merge the merged tokens again (metric follows the same grouping).
          const mSources = mergeSources(matching);
          m = mSources.map((g) => m[0].map((_, c) => g.reduce((s, i) => s + m[i][c], 0)));
          x = Array.from({ length: got.sizes.length }, (_, i) => Array.from(got.tokens.dataSync().slice(i * 3, i * 3 + 3)));
          size = Array.from(got.sizes);
          sizes = got.sizes;
        }
      }
    }
  });

  it('rejects negative r and mismatched inputs', () => {
    expect(() => bipartiteSoftMatching(metric, -1)).toThrow(PruneError);
    expect(() => mergeWeightedAverage(bipartiteSoftMatching(metric, 1), tensor([[1], [2]], [2, 1]))).toThrow(/matching was made for 7/);
    expect(() => mergeWeightedAverage(bipartiteSoftMatching(metric, 1), values, [1, 2])).toThrow(PruneError);
  });
});

describe('ToMe schedules', () => {
  it('parse_r: constant r, or a linear ramp with an inflection', () => {
    expect(tomeSchedule(4, 8)).toEqual([8, 8, 8, 8]);
    // min = ⌊8 · 0.5⌋ = 4, max = 12, step 8/3 → 4, 6.67, 9.33, 12 truncated.
    expect(tomeSchedule(4, 8, 0.5)).toEqual([4, 6, 9, 12]);
  });

  it('reaches the budget by the chosen block when the half-per-block limit allows', () => {
    expect(tomeScheduleToKeep({ count: 49, keep: 25, layers: 6, byLayer: 2 })).toEqual([8, 8, 8, 0, 0, 0]);
    expect(tomeScheduleToKeep({ count: 49, keep: 16, layers: 6, byLayer: 2 })).toEqual([11, 11, 11, 0, 0, 0]);
    // 49 → 34 → 19 → 10 (limit ⌊19/2⌋ = 9) → 5 in the next block.
    expect(tomeScheduleToKeep({ count: 49, keep: 5, layers: 6, byLayer: 2 })).toEqual([15, 15, 9, 5, 0, 0]);
    expect(() => tomeScheduleToKeep({ count: 49, keep: 1, layers: 3, byLayer: 2 })).toThrow(/cannot be merged/);
    expect(() => tomeScheduleToKeep({ count: 49, keep: 5, layers: 3, byLayer: 3 })).toThrow(PruneError);
  });
});
