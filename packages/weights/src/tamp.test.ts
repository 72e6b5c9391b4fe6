import { type ModelAdapter, type ModelBlock, Random, type Tensor, clone, dispose, fromArray, matmul, relu, softmax, tensor, tidy } from '@prune/core';
import { describe, expect, it } from 'vitest';
import type { SparsityTarget } from './method.js';
import { selectTokens } from './tamp-amia.js';
import { modalitySimilarities } from './tamp-das.js';
import type { LayerObservation } from './tamp-observation.js';
import { type MultimodalSample, type ObservingBlockRunner, tamp, tampLayerSparsity, tampPlanner } from './tamp.js';

const D = 6;
const HIDDEN = 8;
const TOKENS = 10; // 5 visual then 5 language

function randomMatrix(rng: Random, rows: number, cols: number, scale = 1): Tensor<'float32'> {
  return fromArray(Float32Array.from({ length: rows * cols }, () => rng.normal() * scale), [rows, cols], 'float32');
}

/**
 * A two-block toy vision-language model: each block is x + down(relu(up(x))) with
 * single-head attention scores softmax(x·xᵀ/√d) for its last token. Visual tokens cluster
 * (shared direction plus small noise), language tokens are spread out.
 */
function toyModel(seed: number): { adapter: ModelAdapter; runner: ObservingBlockRunner; weights: Map<string, Tensor<'float32'>> } {
  const rng = new Random(seed);
  const weights = new Map<string, Tensor<'float32'>>();
  const blocks: ModelBlock[] = [0, 1].map((b) => {
    weights.set(`b${b}.up`, randomMatrix(rng, HIDDEN, D));
    weights.set(`b${b}.down`, randomMatrix(rng, D, HIDDEN, 0.5));
    return {
      name: `b${b}`,
      layers: [
        { name: `b${b}.up`, shape: [HIDDEN, D] as const, kind: 'linear' as const },
        { name: `b${b}.down`, shape: [D, HIDDEN] as const, kind: 'linear' as const },
      ],
    };
  });
  const runner: ObservingBlockRunner = {
    embed: (sample) => clone(sample),
    runBlockObserved(index, hidden, observe, withAttention) {
      const x = hidden as Tensor<'float32'>;
      const up = weights.get(`b${index}.up`)!;
      const down = weights.get(`b${index}.down`)!;
      // Last query row of softmax(x·xᵀ/√d): one head, so the head average is itself.
      const lastRow = withAttention
        ? tidy(() => {
            const logits = matmul(x, x, { transposeB: true }).dataSync().slice((TOKENS - 1) * TOKENS);
            return softmax(fromArray(Float32Array.from(logits, (v) => v / Math.sqrt(D)), [TOKENS], 'float32'));
          })
        : undefined;
      const h = matmul(x, up, { transposeB: true });
      observe(`b${index}.up`, { input: x, output: h, attention: lastRow });
      const a = relu(h);
      const o = matmul(a, down, { transposeB: true });
      observe(`b${index}.down`, { input: a, output: o, attention: lastRow });
      const out = tidy(() => {
        const xs = x.dataSync();
        const os = o.dataSync();
        return fromArray(Float32Array.from(xs, (v, i) => v + os[i]), x.shape, 'float32');
      });
      dispose([h, a, o, lastRow]);
      return out;
    },
  };
  const adapter: ModelAdapter = {
    description: 'toy two-modality model',
    blocks: () => blocks,
    readWeight: async (name) => weights.get(name)!,
    writeWeight: async () => {},
    runner: runner as unknown as ModelAdapter['runner'],
  };
  return { adapter, runner, weights };
}

function samples(seed: number, count: number): MultimodalSample[] {
  const rng = new Random(seed);
  const shared = Array.from({ length: D }, () => rng.normal());
  return Array.from({ length: count }, () => {
    const rows = Array.from({ length: TOKENS }, (_, t) => Array.from({ length: D }, (_, j) => (t < 5 ? shared[j] + 0.2 * rng.normal() : rng.normal())));
    return { input: tensor(rows), modalityMask: tensor(Array.from({ length: TOKENS }, (_, t) => (t < 5 ? 1 : 0)), undefined, 'bool') };
  });
}

describe('tamp end to end on a two-modality toy model', () => {
  it('plans diversity-aware sparsities with the exact budget, then prunes each row at them from AMIA-selected tokens', async () => {
    const { adapter, runner, weights } = toyModel(1);
    const data = samples(2, 4);
    const plan = await tampLayerSparsity(adapter, { sparsity: 0.5, calibration: data, nsamples: 4 });
    const layers = adapter.blocks().flatMap((b) => b.layers);
    const total = layers.reduce((s, l) => s + l.shape[0] * l.shape[1], 0);
    expect([...plan.keep.values()].reduce((a, b) => a + b, 0)).toBe(Math.floor(total * 0.5));
    for (const l of layers) {
      const s = plan.sparsity.get(l.name)!;
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(0.6 + 1e-12);
    }
    // d_m of the first layer, recomputed independently from its outputs on the dense model.
    let vv = 0, ll = 0, vl = 0;
    data.forEach((sample, j) => {
      const out = matmul(sample.input as Tensor<'float32'>, weights.get('b0.up')!, { transposeB: true });
      const s = modalitySimilarities(out, sample.modalityMask);
      vv += ((s.visual ?? 0) - vv) / (j + 1);
      ll += ((s.language ?? 0) - ll) / (j + 1);
      vl += ((s.cross ?? 0) - vl) / (j + 1);
    });
    expect(plan.score.get('b0.up')).toBeCloseTo(3 - vv - ll - vl, 5);
    // More diverse layers keep more (lower sparsity), unless clipped at a bound.
    const byScore = [...layers].sort((p, q) => plan.score.get(p.name)! - plan.score.get(q.name)!);
    expect(plan.sparsity.get(byScore[0].name)!).toBeGreaterThanOrEqual(plan.sparsity.get(byScore[byScore.length - 1].name)!);

    // Pruning pass (what the pipeline does, propagation off): observe every sample per block.
    const method = tamp();
    const stats = new Map(layers.map((l) => [l.name, method.createStatistic!(l)]));
    const selected = new Map<string, number[][]>(layers.map((l) => [l.name, []]));
    const inputs = new Map<string, number[][][]>(layers.map((l) => [l.name, []]));
    let hidden = data.map((s) => runner.embed(s.input));
    for (let b = 0; b < 2; b++) {
      hidden = hidden.map((x, j) =>
        runner.runBlockObserved(
          b,
          x,
          (layer: string, obs: LayerObservation) => {
            const full: LayerObservation = { ...obs, modalityMask: data[j].modalityMask };
            stats.get(layer)!.observe(full);
            selected.get(layer)!.push(selectTokens(obs.output!, obs.attention!, data[j].modalityMask).indices);
            const rows = Array.from({ length: TOKENS }, (_, t) => Array.from(obs.input.dataSync().slice(t * obs.input.shape[1], (t + 1) * obs.input.shape[1])));
            inputs.get(layer)!.push(rows);
          },
          true,
        ),
      );
    }
    for (const l of layers) {
      const target: SparsityTarget = { kind: 'unstructured', sparsity: plan.sparsity.get(l.name)! };
      const w = weights.get(l.name)!;
      const { weight, mask } = method.pruneLayer(l, w, target, stats.get(l.name));
      // Independent Wanda: s_j = Σ over selected tokens x² / #selected; per row prune floor(d_in·s) lowest |W|·√s_j.
      const [rows, cols] = l.shape;
      const norm = new Float64Array(cols);
      let count = 0;
      selected.get(l.name)!.forEach((idx, j) => {
        for (const t of idx) for (let c = 0; c < cols; c++) norm[c] += inputs.get(l.name)![j][t][c] ** 2;
        count += idx.length;
      });
      expect(stats.get(l.name)!.selectedTokens).toBe(count);
      expect(count).toBeLessThan(4 * TOKENS); // AMIA kept a strict subset somewhere
      const wv = w.dataSync();
      const keep = mask.dataSync();
      const pruneCount = Math.floor(cols * target.sparsity);
      for (let r = 0; r < rows; r++) {
        const scoresRow = Array.from({ length: cols }, (_, c) => Math.abs(wv[r * cols + c]) * Math.sqrt(norm[c] / count));
        const order = [...scoresRow.keys()].sort((p, q) => scoresRow[p] - scoresRow[q] || p - q);
        const expected = new Array(cols).fill(1);
        for (const c of order.slice(0, pruneCount)) expected[c] = 0;
        expect(Array.from(keep.slice(r * cols, (r + 1) * cols))).toEqual(expected);
        for (let c = 0; c < cols; c++) expect(weight.dataSync()[r * cols + c]).toBe(expected[c] ? wv[r * cols + c] : 0);
      }
    }
  });

  it('tampPlanner gives per-layer unstructured targets, and N:M unchanged', () => {
    const planner = tampPlanner();
    const layers = [
      { name: 'a', shape: [10, 10] as const, kind: 'linear' as const },
      { name: 'b', shape: [10, 10] as const, kind: 'linear' as const },
    ];
    const stats = new Map(layers.map((l) => [l.name, planner.createPlanStatistic(l)]));
    const obs = (out: number[][]): LayerObservation => ({ input: tensor([[0]]), output: tensor(out), modalityMask: tensor([1, 1, 0, 0], undefined, 'bool') });
    stats.get('a')!.observe(obs([[1, 0], [1, 0], [0, 1], [0, 1]])); // S_vv = S_ll = 1, S_vl = 0 → d = 1
    // S_vv = 0.707, S_ll = 0 (one pair, orthogonal), S_vl = (0 + 1 + 0.707 + 0.707)/4 → d ≈ 1.689
    stats.get('b')!.observe(obs([[1, 0], [1, 1], [0, 1], [1, 0]]));
    const plan = planner.plan(layers, stats, { kind: 'unstructured', sparsity: 0.5 });
    const sa = (plan.get('a') as { sparsity: number }).sparsity;
    const sb = (plan.get('b') as { sparsity: number }).sparsity;
    // K = 100, floors 40 + 40, rest 20: a +ceil(7.44) = 8 → 48, b +ceil(12.56) = 13 → 53; Σ 101, b gives one back.
    expect([sa, sb]).toEqual([0.52, 0.48]);
    expect(planner.plan(layers, stats, { kind: 'nm', prune: 2, group: 4 }).get('b')).toEqual({ kind: 'nm', prune: 2, group: 4 });
  });

  it('fails clearly without observations, modality masks or an observing runner', async () => {
    const { adapter } = toyModel(3);
    const layer = adapter.blocks()[0].layers[0];
    const method = tamp();
    expect(() => method.pruneLayer(layer, tensor([[1]]), { kind: 'unstructured', sparsity: 0.5 }, undefined)).toThrow(/no calibration statistic/);
    const noMask = [{ input: tensor([[1, 2, 3, 4, 5, 6]]) }] as unknown as MultimodalSample[];
    await expect(tampLayerSparsity(adapter, { sparsity: 0.5, calibration: noMask, nsamples: 1 })).rejects.toThrow(/modality of every token/);
    const plain: ModelAdapter = { ...adapter, runner: { embed: (s: Tensor) => s, runBlock: (_i: number, h: Tensor) => h } };
    await expect(tampLayerSparsity(plain, { sparsity: 0.5, calibration: samples(1, 1), nsamples: 1 })).rejects.toThrow(/no runBlockObserved/);
    await expect(tampLayerSparsity(adapter, { sparsity: 0.5, calibration: samples(1, 1), nsamples: 2 })).rejects.toThrow(/ended after 1/);
  });
});
