import { Random, tensor } from '@prune/core';
import { describe, expect, it } from 'vitest';
import { AmiaColumnNorm, selectTokens, selectTokensFromGram, tokenGraph } from './tamp-amia.js';

const flags = (values: boolean[]) => tensor(values.map(Number), undefined, 'bool');

/** Cosine similarities of the rows of `x`, in float64. */
function cosGram(x: number[][]): number[] {
  const n = x.length;
  const norm = x.map((r) => Math.hypot(...r));
  const g: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const dot = x[i].reduce((s, v, t) => s + v * x[j][t], 0);
      g.push(norm[i] === 0 || norm[j] === 0 ? 0 : dot / (norm[i] * norm[j]));
    }
  }
  return g;
}

/**
 * A literal port of the reference loop: scores pushed to min − 1 once selected, MMD² from
 * full kernel means recomputed each step, kNN from a stable sort of each row (self first).
 */
function referenceSelection(x: number[][], a: number[], rho: number): number[] {
  const n = x.length;
  const g = cosGram(x);
  const dist = g.map((v) => 1 - v);
  const knn = Array.from({ length: n }, (_, i) =>
    [...Array(n).keys()]
      .sort((p, q) => dist[i * n + p] - dist[i * n + q] || p - q)
      .filter((j) => j !== i)
      .slice(0, 3),
  );
  const score = a.map((ai, i) => ai + knn[i].reduce((s, j) => s + Math.exp(-dist[i * n + j]) * a[j], 0));
  const unit = x.map((r) => r.map((v) => v / Math.hypot(...r)));
  const k = (i: number, j: number): number => Math.exp(-unit[i].reduce((s, v, t) => s + (v - unit[j][t]) ** 2, 0) / 2);
  const selected = new Set<number>();
  const all = [...Array(n).keys()];
  const mean = (rows: number[], cols: number[]): number => rows.reduce((s, i) => s + cols.reduce((t, j) => t + k(i, j), 0), 0) / (rows.length * cols.length);
  const order: number[] = [];
  for (;;) {
    let sel = 0;
    for (let i = 1; i < n; i++) if (score[i] > score[sel]) sel = i;
    for (const nb of knn[sel]) score[nb] -= Math.exp(-dist[sel * n + nb] * 0.2) * Math.max(score[sel], 0);
    selected.add(sel);
    order.push(sel);
    const low = Math.min(...score) - 1;
    for (const s of selected) score[s] = low;
    const s = [...selected];
    const mmd2 = mean(all, all) + mean(s, s) - 2 * mean(all, s);
    if (mmd2 < Math.sqrt(1 - rho) * 0.1 || selected.size === n) return order;
  }
}

describe('tokenGraph', () => {
  it('finds k nearest by cosine distance (self excluded, ties to the lower index) and propagates attention', () => {
    const g = cosGram([[1, 0], [1, 0], [0, 1]]);
    const graph = tokenGraph(g, 3, [0.1, 0.2, 0.7], 1);
    expect(Array.from(graph.neighbours)).toEqual([1, 0, 0]);
    expect(graph.scores[0]).toBeCloseTo(0.3, 12);
    expect(graph.scores[1]).toBeCloseTo(0.3, 12);
    expect(graph.scores[2]).toBeCloseTo(0.7 + Math.exp(-1) * 0.1, 12);
  });
});

describe('selectTokensFromGram', () => {
  it('picks, penalises neighbours and stops on the MMD rule in a hand-computed case', () => {
    // Tokens 0 and 1 coincide, token 2 is orthogonal; a = (0.1, 0.2, 0.7), ρ = 0.5 (S_vv = 1, S_vl = 0).
    // Step 1 picks 2 (0.737); MMD² = 0.562 ≥ 0.1·√0.5 = 0.0707. Token 0's score drops to −0.303.
    // Step 2 picks 1 (0.3); MMD² = 0.035 < 0.0707: stop. Token 0, a duplicate of 1, is left out.
    const g = cosGram([[1, 0], [1, 0], [0, 1]]);
    expect(selectTokensFromGram(g, 3, [0.1, 0.2, 0.7], 0.5, { neighbours: 1 })).toEqual([2, 1]);
  });

  it('agrees with a literal port of the reference loop on random samples', () => {
    const rng = new Random(11);
    for (let t = 0; t < 12; t++) {
      const n = 6 + (t % 5) * 3;
      const x = Array.from({ length: n }, () => Array.from({ length: 5 }, () => rng.normal() + (t % 2 ? 1 : 0)));
      const raw = Array.from({ length: n }, () => rng.uniform());
      const total = raw.reduce((s, v) => s + v, 0);
      const a = raw.map((v) => v / total);
      const rho = [0, 0.3, 0.8, 0.95][t % 4];
      expect(selectTokensFromGram(cosGram(x), n, a, rho)).toEqual(referenceSelection(x, a, rho));
    }
  });

  it('selects every token when ρ = 1 (the threshold is 0)', () => {
    const g = cosGram([[1, 0], [0, 1], [1, 1]]);
    expect(selectTokensFromGram(g, 3, [0.2, 0.3, 0.5], 1).sort()).toEqual([0, 1, 2]);
  });
});

describe('selectTokens and AmiaColumnNorm', () => {
  const output = tensor([[1, 0], [1, 0], [0, 1]]);
  const attention = tensor([0.1, 0.2, 0.7]);
  const mask = flags([true, true, false]);
  const input = tensor([[1, 2], [3, 4], [5, 6]]);

  it('selects on tensors with ρ from the sample', () => {
    const { indices, rho } = selectTokens(output, attention, mask, { neighbours: 1 });
    expect(rho).toBeCloseTo(0.5, 6);
    expect(indices).toEqual([2, 1]);
  });

  it('accumulates column norms over the selected tokens only, one count per token', () => {
    const stat = new AmiaColumnNorm(2, { neighbours: 1 });
    stat.observe({ input, output, attention, modalityMask: mask });
    // tokens 1 and 2: s = ((3² + 5²)/2, (4² + 6²)/2)
    expect(Array.from(stat.value().dataSync())).toEqual([17, 26]);
    expect(stat.selectedTokens).toBe(2);
    expect(stat.seenTokens).toBe(3);
    const all = new AmiaColumnNorm(2, { tokenSelection: 'all' });
    all.update(input);
    expect(Array.from(all.value().dataSync())).toEqual([35 / 3, 56 / 3].map(Math.fround));
  });

  it('says what is missing', () => {
    const stat = new AmiaColumnNorm(2);
    expect(() => stat.update(input)).toThrow(/needs the layer's outputs, the block's attention and the modality mask/);
    expect(() => stat.observe({ input, output, modalityMask: mask })).toThrow(/needs the block's attention/);
    expect(() => stat.observe({ input, output, attention })).toThrow(/needs the modality of every token/);
    expect(() => stat.observe({ input, attention, modalityMask: mask })).toThrow(/has no output/);
    expect(() => stat.observe({ input, output: tensor([[1, 0]]), attention, modalityMask: mask })).toThrow(/has 1 tokens but the sample has 3/);
    expect(() => stat.observe({ input, output, attention: tensor([0.5, 0.5]), modalityMask: mask })).toThrow(/one weight per token/);
    expect(() => new AmiaColumnNorm(2, { neighbours: 0 })).toThrow(/positive integer/);
  });
});
