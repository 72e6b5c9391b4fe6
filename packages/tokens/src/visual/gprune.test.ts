import { describe, expect, it } from 'vitest';
import { PruneError, Random, fromArray, tensor } from '@prune/core';
import { gprune, gpruneGraph, gpruneScores } from './gprune.js';

/** The reference pipeline written with an explicit matrix power: s = (w · Pⁿ) / deg. */
function scoresByMatrixPower(x: number[][], tau: number, temp: number, n: number): number[] {
  const t = x.length;
  const norm = x.map((r) => Math.sqrt(r.reduce((s, v) => s + v * v, 0)));
  const a = x.map((ri, i) => x.map((rj, j) => ri.reduce((s, v, k) => s + v * rj[k], 0) / (norm[i] * norm[j])));
  const logits = a.map((row) => row.map((v) => (v < tau ? 0 : v / temp)).map((v) => (Math.abs(v) < 1e-6 ? -5000 : v)));
  const p = logits.map((row) => {
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const z = e.reduce((s, v) => s + v, 0);
    return e.map((v) => Math.fround(v / z));
  });
  const deg = p.map((row) => row.filter((v) => v > 0).length);
  let pw: number[][] = p.map((row, i) => row.map((_, j) => (i === j ? 1 : 0)));
  for (let s = 0; s < n; s++) pw = pw.map((row) => p[0].map((_, j) => row.reduce((acc, v, k) => acc + v * p[k][j], 0)));
  return p[0].map((_, j) => norm.reduce((acc, w, i) => acc + w * pw[i][j], 0) / deg[j]);
}

describe('G-Prune', () => {
  it('gives orthogonal tokens only their self-loop: P = I, deg = 1, s = ‖x‖', () => {
    const x = tensor([[3, 0, 0], [0, 2, 0], [0, 0, 5]], [3, 3]);
    const g = gpruneGraph(x);
    expect(Array.from(g.transition)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(Array.from(g.degree)).toEqual([1, 1, 1]);
    expect(Array.from(gpruneScores(x))).toEqual([3, 2, 5]);
    expect(Array.from(gprune(x, { keep: 2 }))).toEqual([0, 2]);
  });

  it('splits the mass of two parallel tokens evenly and divides by degree 2', () => {
    // Tokens 0 and 1 point the same way (cos = 1): P rows [½, ½, 0]; token 2 is alone.
    const x = tensor([[1, 0], [4, 0], [0, 3]], [2 * 1 + 1, 2]);
    const g = gpruneGraph(x);
    expect(Array.from(g.degree)).toEqual([2, 2, 1]);
    expect(g.transition[0]).toBeCloseTo(0.5, 7);
    // w = [1, 4, 3]; after any n ≥ 1 steps tokens 0 and 1 hold (1 + 4)/2 each, divided by 2.
    const s = gpruneScores(x);
    expect(s[0]).toBeCloseTo(1.25, 6);
    expect(s[1]).toBeCloseTo(1.25, 6);
    expect(s[2]).toBeCloseTo(3, 6);
    expect(Array.from(gprune(x, { keep: 1 }))).toEqual([2]);
  });

  it('matches the explicit matrix power Pⁿ on random features, for several n, τ and T', () => {
    const rng = new Random(7);
    for (const [tau, temp, n] of [
      [0.5, 0.03, 5],
      [0.2, 0.1, 3],
      [0.0, 0.5, 1],
      [0.5, 0.03, 0],
    ] as const) {
      // Features around a shared direction, so some similarities pass τ and some do not.
      const x = Array.from({ length: 12 }, () => Array.from({ length: 6 }, (_, k) => (k === 0 ? 1 : 0) + rng.normal() * 0.8));
      const want = scoresByMatrixPower(x, tau, temp, n);
      const got = gpruneScores(fromArray(Float32Array.from(x.flat()), [12, 6], 'float32'), { similarityThreshold: tau, temperature: temp, iterations: n });
      for (let i = 0; i < 12; i++) expect(Math.abs(got[i] - want[i]) / Math.abs(want[i])).toBeLessThan(1e-5);
    }
  });

  it('always keeps the forced tokens and scores the rest on their own graph', () => {
    const x = tensor([[3, 0, 0], [0, 2, 0], [0, 0, 5], [1, 1, 0]], [4, 3]);
    // Forced token 1; of the others (norms 3, 5, 1.41 with token 3 at cos 0.707 to token 0)
    // the best single one is token 2.
    expect(Array.from(gprune(x, { keep: 1, alwaysKeep: [1] }))).toEqual([1, 2]);
  });

  it('keeps exactly the budget for every ratio', () => {
    const rng = new Random(3);
    const x = fromArray(Float32Array.from({ length: 49 * 8 }, () => rng.normal()), [49, 8], 'float32');
    for (const keep of [25, 16, 5]) {
      const kept = gprune(x, { keep });
      expect(kept).toHaveLength(keep);
      expect(new Set(kept).size).toBe(keep);
    }
  });

  it('rejects bad options', () => {
    const x = tensor([[1, 0], [0, 1]], [2, 2]);
    expect(() => gpruneScores(x, { temperature: 0 })).toThrow(PruneError);
    expect(() => gpruneScores(x, { iterations: -1 })).toThrow(/iterations/);
    expect(() => gpruneScores(x, { similarityThreshold: 2 })).toThrow(PruneError);
    expect(() => gprune(x, { keep: 3 })).toThrow(PruneError);
    expect(() => gprune(x, { keep: 1, alwaysKeep: [2] })).toThrow(/alwaysKeep/);
    expect(() => gpruneScores(tensor([1, 2], [2]))).toThrow(/rank 2/);
  });
});
