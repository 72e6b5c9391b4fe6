import { describe, expect, it } from 'vitest';
import { PruneError, tensor } from '@prune/core';
import { hiprune, hipruneBuffer, hipruneSelect } from './hiprune.js';

const arr = (a: Int32Array): number[] => Array.from(a);

describe('hipruneBuffer on a 4×4 grid', () => {
  // 0  1  2  3
  // 4  5  6  7
  // 8  9 10 11
  // 12 13 14 15
  it('takes an inner anchor with its four grid neighbours', () => {
    expect(arr(hipruneBuffer([5], { gridWidth: 4, count: 16 }))).toEqual([1, 4, 5, 6, 9]);
  });

  it('clamps at the grid borders and de-duplicates', () => {
    // 0−1 and 0−4 clamp to 0.
    expect(arr(hipruneBuffer([0], { gridWidth: 4, count: 16 }))).toEqual([0, 1, 4]);
    // 15+1 and 15+4 clamp to 15.
    expect(arr(hipruneBuffer([15], { gridWidth: 4, count: 16 }))).toEqual([11, 14, 15]);
    // Two adjacent anchors share neighbours.
    expect(arr(hipruneBuffer([5, 6], { gridWidth: 4, count: 16 }))).toEqual([1, 2, 4, 5, 6, 7, 9, 10]);
  });

  it('wraps across rows like the reference, unless noRowWrap', () => {
    // Anchor 3 ends row 0: the reference takes 4 (start of row 1) as its right neighbour;
    // 3 − 4 clamps to 0.
    expect(arr(hipruneBuffer([3], { gridWidth: 4, count: 16 }))).toEqual([0, 2, 3, 4, 7]);
    expect(arr(hipruneBuffer([3], { gridWidth: 4, count: 16, noRowWrap: true }))).toEqual([0, 2, 3, 7]);
    expect(arr(hipruneBuffer([4], { gridWidth: 4, count: 16, noRowWrap: true }))).toEqual([0, 4, 5, 8]);
  });

  it('rejects anchors off the grid and counts that do not fill it', () => {
    expect(() => hipruneBuffer([16], { gridWidth: 4, count: 16 })).toThrow(PruneError);
    expect(() => hipruneBuffer([1], { gridWidth: 5, count: 16 })).toThrow(/grid of width 5/);
  });
});

describe('hipruneSelect', () => {
  // 4×4 grid. Object layer peaks at 5 then 10; deep layer favours 15, 0, 12, 3, 6, 1 …
  const object = Array.from({ length: 16 }, (_, i) => (i === 5 ? 1 : i === 10 ? 0.9 : 0.01 * i));
  const deep = [0.8, 0.5, 0.1, 0.6, 0.05, 0.95, 0.55, 0.02, 0.03, 0.04, 0.3, 0.01, 0.7, 0.06, 0.07, 0.9];

  it('keeps anchors, their buffers and the best deep tokens outside them', () => {
    // keep 10, α = 1: n_a = round(10/5) = 2 anchors (5, 10) → S = {1,4,5,6,9} ∪ {6,9,10,11,14}
    // = 8 tokens; 2 registers: the deep ranking is 5, 15, 0, 12, 3 … and 5 ∈ S → 15, 0.
    const sel = hipruneSelect(object, deep, { keep: 10, gridWidth: 4, alpha: 1 });
    expect(arr(sel.anchors)).toEqual([5, 10]);
    expect(arr(sel.buffer)).toEqual([1, 4, 5, 6, 9, 10, 11, 14]);
    expect(arr(sel.registers)).toEqual([0, 15]);
    expect(arr(sel.kept)).toEqual([0, 1, 4, 5, 6, 9, 10, 11, 14, 15]);
  });

  it('with the reference α = 0.1 and a small budget has no anchors: all registers', () => {
    // n_a = round(6 · 0.1 / 5) = round(0.12) = 0.
    const sel = hipruneSelect(object, deep, { keep: 6, gridWidth: 4 });
    expect(sel.anchors).toHaveLength(0);
    expect(arr(sel.kept)).toEqual([0, 3, 5, 6, 12, 15]);
  });

  it('rounds n_a half to even as Python does', () => {
    // keep 5, α = 0.5: 5 · 0.5 / 5 = 0.5 → 0 anchors; keep 15, α = 0.5: 1.5 → 2 anchors.
    const big = Array.from({ length: 64 }, (_, i) => i);
    expect(hipruneSelect(big, big, { keep: 5, gridWidth: 8, alpha: 0.5 }).anchors).toHaveLength(0);
    expect(hipruneSelect(big, big, { keep: 15, gridWidth: 8, alpha: 0.5 }).anchors).toHaveLength(2);
  });

  it('cuts the buffer set to the budget by object-layer score when it overflows', () => {
    // keep 5, α = 1: one anchor (5) with 4 neighbours fills the budget exactly.
    expect(arr(hipruneSelect(object, deep, { keep: 5, gridWidth: 4, alpha: 1 }).kept)).toEqual([1, 4, 5, 6, 9]);
    // keep 3: the buffer {1,4,5,6,9} is cut to the 3 best object scores: 5, 9, 6.
    expect(arr(hipruneSelect(object, deep, { keep: 3, gridWidth: 4, alpha: 1 }).kept)).toEqual([5, 6, 9]);
  });

  it('returns exactly the budget for every keep ratio', () => {
    const n = 49;
    const a = Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) + 1);
    const b = Array.from({ length: n }, (_, i) => Math.cos(i * 0.9) + 1);
    for (const keep of [25, 16, 5, 1, 49]) {
      for (const alpha of [0.1, 0.5, 1]) {
        const kept = hipruneSelect(a, b, { keep, gridWidth: 7, alpha }).kept;
        expect(kept).toHaveLength(keep);
        expect(new Set(kept).size).toBe(keep);
        for (let i = 1; i < kept.length; i++) expect(kept[i]).toBeGreaterThan(kept[i - 1]);
      }
    }
  });

  it('rejects mismatched scores, a bad α and a budget above N', () => {
    expect(() => hipruneSelect(object, deep.slice(1), { keep: 4, gridWidth: 4 })).toThrow(PruneError);
    expect(() => hipruneSelect(object, deep, { keep: 4, gridWidth: 4, alpha: 2 })).toThrow(/alpha/);
    expect(() => hipruneSelect(object, deep, { keep: 17, gridWidth: 4 })).toThrow(PruneError);
  });
});

describe('hiprune from attention maps', () => {
  it('scores both layers by the global attention each patch receives, CLS column dropped', () => {
    // One head, CLS + a 2×2 grid. Object layer: everyone attends patch 3 (token 4);
    // deep layer: everyone attends patch 0 (token 1).
    const onto = (j: number): number[][] => Array.from({ length: 5 }, () => Array.from({ length: 5 }, (_, k) => (k === j ? 0.6 : 0.1)));
    const objectMap = tensor([onto(4)], [1, 5, 5]);
    const deepMap = tensor([onto(1)], [1, 5, 5]);
    // keep 2, α = 1 → n_a = round(0.4) = 0; only registers: patch 0 then the tie 1 < 2 < 3.
    expect(arr(hiprune(objectMap, deepMap, { keep: 2, gridWidth: 2, alpha: 1 }).kept)).toEqual([0, 1]);
    // keep 3, α = 1 → n_a = round(0.6) = 1 anchor: patch 3, the object layer's peak; its
    // buffer 3, 2, 3+1 → 3, 3−2 = 1, 3+2 → 3 is {1, 2, 3} and fills the budget.
    const sel = hiprune(objectMap, deepMap, { keep: 3, gridWidth: 2, alpha: 1 });
    expect(arr(sel.anchors)).toEqual([3]);
    expect(arr(sel.kept)).toEqual([1, 2, 3]);
    expect(sel.registers).toHaveLength(0);
  });
});
