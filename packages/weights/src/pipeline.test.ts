import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  ColumnNormAccumulator,
  type ModelAdapter,
  Random,
  openSafetensors,
  type ProgressEvent,
  PruneError,
  type Tensor,
  abs,
  dispose,
  full,
  globalThresholdMasks,
  tensor,
} from '@prune/core';
import { countingBackend } from '@prune/core/testing';
import { LlamaModel, parseLlamaConfig } from '@prune/zoo';
import { loadTinyLm, snapshot, tinySamples } from '../test/tiny-lm.js';
import { magnitude } from './magnitude.js';
import type { PruningMethod } from './method.js';
import { pruneModel } from './pipeline.js';
import { selectTokens } from './tamp-amia.js';
import { diversityAwareSparsity } from './tamp-das.js';
import { type MultimodalSample, tamp, tampLayerSparsity } from './tamp.js';
import { wanda } from './wanda.js';

async function errorOf(promise: Promise<unknown>): Promise<PruneError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof PruneError) return e;
    throw e;
  }
  throw new Error('expected a PruneError');
}

/** The model behind an adapter that records every write. */
function spy(model: LlamaModel): { adapter: ModelAdapter; writes: string[] } {
  const writes: string[] = [];
  const adapter: ModelAdapter = {
    description: model.description,
    blocks: () => model.blocks(),
    readWeight: (name) => model.readWeight(name),
    writeWeight: async (name, w) => {
      writes.push(name);
      await model.writeWeight(name, w);
    },
    runner: model.runner,
  };
  return { adapter, writes };
}

/** Oracle: prune the first floor(d·s) entries of a stable ascending sort of each row. */
function oracleRowPruned(scores: Float32Array, rows: number, cols: number, sparsity: number): boolean[] {
  const pruned = new Array<boolean>(rows * cols).fill(false);
  const k = Math.floor(cols * sparsity);
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: cols }, (_, j) => j).sort((a, b) => scores[r * cols + a] - scores[r * cols + b] || a - b);
    for (const j of order.slice(0, k)) pruned[r * cols + j] = true;
  }
  return pruned;
}

/**
 * The pipeline's protocol written out independently on the model's own runner: per block,
 * statistics from the current hidden states, masks by the oracle, weights zeroed, and the
 * next block's inputs from the pruned (propagate) or the dense block.
 */
async function manualWanda(model: LlamaModel, samples: Tensor[], sparsity: number, propagate: boolean): Promise<Map<string, boolean[]>> {
  const masks = new Map<string, boolean[]>();
  let hidden = samples.map((s) => model.runner.embed(s));
  const blocks = model.blocks();
  for (let b = 0; b < blocks.length; b++) {
    const stats = new Map(blocks[b].layers.map((l) => [l.name, new ColumnNormAccumulator(l.shape[1])]));
    const dense = hidden.map((h) => model.runner.runBlock(b, h, (name, x) => stats.get(name)!.update(x)));
    for (const layer of blocks[b].layers) {
      const s = stats.get(layer.name)!.value().dataSync();
      const w = await model.readWeight(layer.name);
      const wd = w.dataSync() as Float32Array;
      const [rows, cols] = layer.shape;
      const scores = new Float32Array(rows * cols);
      for (let i = 0; i < rows * cols; i++) scores[i] = Math.abs(wd[i]) * Math.fround(Math.sqrt(s[i % cols]));
      const pruned = oracleRowPruned(scores, rows, cols, sparsity);
      masks.set(layer.name, pruned);
      await model.writeWeight(layer.name, tensor(Array.from(wd, (v, i) => (pruned[i] ? 0 : v)), [rows, cols]));
      w.dispose();
    }
    if (propagate) {
      dispose(dense);
      hidden = hidden.map((h) => {
        const out = model.runner.runBlock(b, h);
        h.dispose();
        return out;
      });
    } else {
      dispose(hidden);
      hidden = dense;
    }
  }
  dispose(hidden);
  return masks;
}

function zeroMasks(weights: Map<string, Float32Array>): Map<string, boolean[]> {
  return new Map([...weights].map(([name, w]) => [name, Array.from(w, (v) => v === 0)]));
}

describe('pruneModel with Wanda on the tiny LM', () => {
  it('prunes exactly floor(d_in·s) weights per row of every layer and reports it', async () => {
    const model = await loadTinyLm();
    const samples = tinySamples(4);
    const before = await snapshot(model);
    for (const w of before.values()) expect(w.every((v) => v !== 0)).toBe(true);
    const report = await pruneModel(model, {
      method: wanda(),
      target: { kind: 'unstructured', sparsity: 0.3 },
      calibration: samples,
      nsamples: 4,
      protocol: { data: 'seeded random ids', seqlen: 8, seed: 0 },
    });
    const after = await snapshot(model);
    expect(report.layers.map((l) => l.name)).toEqual([...before.keys()]);
    for (const layer of report.layers) {
      const [rows, cols] = layer.shape;
      const w = after.get(layer.name)!;
      const perRow = Math.floor(cols * 0.3); // 4 of 16, 7 of 24
      for (let r = 0; r < rows; r++) expect(w.subarray(r * cols, (r + 1) * cols).filter((v) => v === 0).length).toBe(perRow);
      expect(layer.sparsity).toBe(perRow / cols);
      expect(layer.pruned).toBe(perRow * rows);
      expect(layer.ms).toBeGreaterThanOrEqual(0);
      // Survivors are untouched.
      const old = before.get(layer.name)!;
      w.forEach((v, i) => expect(v === 0 || v === old[i]).toBe(true));
    }
    expect(report.method).toBe('wanda');
    expect(report.options).toEqual({ variant: false });
    expect(report.pattern).toBe('unstructured 30%');
    expect(report.calibration).toEqual({ nsamples: 4, propagate: true, protocol: { data: 'seeded random ids', seqlen: 8, seed: 0 } });
    expect(report.blocks.map((b) => b.name)).toEqual(['model.layers.0', 'model.layers.1']);
    expect(report.total).toBe(before.size > 0 ? [...before.values()].reduce((n, w) => n + w.length, 0) : 0);
    expect(report.sparsity).toBeCloseTo(report.pruned / report.total, 12);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    model.dispose();
    dispose(samples);
  });

  it('follows the sequential protocol: masks equal an independent block-by-block run, with and without propagation', async () => {
    const samples = tinySamples(3, 5);
    const results: Record<string, Map<string, boolean[]>> = {};
    for (const propagate of [true, false]) {
      const model = await loadTinyLm();
      await pruneModel(model, { method: wanda(), target: { kind: 'unstructured', sparsity: 0.5 }, calibration: samples, nsamples: 3, propagate });
      results[`ours-${propagate}`] = zeroMasks(await snapshot(model));
      model.dispose();
      const manual = await loadTinyLm();
      results[`manual-${propagate}`] = await manualWanda(manual, samples, 0.5, propagate);
      manual.dispose();
    }
    expect(results['ours-true']).toEqual(results['manual-true']);
    expect(results['ours-false']).toEqual(results['manual-false']);
    const names = [...results['ours-true'].keys()];
    const same = (name: string): boolean => results['ours-true'].get(name)!.every((v, i) => v === results['ours-false'].get(name)![i]);
    // Block 0 sees the same (embedded) inputs either way; block 1 sees pruned vs dense outputs.
    for (const name of names.filter((n) => n.startsWith('model.layers.0.'))) expect(same(name)).toBe(true);
    expect(names.filter((n) => n.startsWith('model.layers.1.')).some((n) => !same(n))).toBe(true);
    dispose(samples);
  });

  it('streams an async generator of samples, reading only nsamples, and reports progress', async () => {
    const source = tinySamples(6, 9);
    let pulled = 0;
    async function* stream(): AsyncGenerator<Tensor> {
      for (const s of source) {
        pulled++;
        yield s;
      }
    }
    const events: ProgressEvent[] = [];
    const model = await loadTinyLm();
    await pruneModel(model, { method: wanda(), target: { kind: 'nm', prune: 2, group: 4 }, calibration: stream(), nsamples: 4, onProgress: (e) => events.push(e) });
    expect(pulled).toBe(4);
    const stages = new Set(events.map((e) => e.stage));
    expect([...stages].sort()).toEqual(['calibrate', 'embed', 'prune']);
    const lastPrune = events.filter((e) => e.stage === 'prune').at(-1)!;
    expect(lastPrune).toMatchObject({ done: 14, total: 14, unit: 'layers' });
    const lastCalib = events.filter((e) => e.stage === 'calibrate').at(-1)!;
    // 2 statistics passes + 1 propagation pass (none after the last block), 4 samples each.
    expect(lastCalib).toMatchObject({ done: 12, total: 12 });
    // 2:4: every group of 4 inputs keeps exactly 2.
    for (const w of (await snapshot(model)).values()) {
      for (let g = 0; g < w.length; g += 4) expect(w.subarray(g, g + 4).filter((v) => v === 0).length).toBe(2);
    }
    model.dispose();
    dispose(source);
  });

  it('applies per-block sparsity overrides (layerSparsity)', async () => {
    const model = await loadTinyLm();
    const samples = tinySamples(2);
    const report = await pruneModel(model, { method: wanda(), target: { kind: 'unstructured', sparsity: 0.5 }, calibration: samples, nsamples: 2, layerSparsity: [0.25, 0.75] });
    for (const layer of report.layers) {
      const s = layer.block === 'model.layers.0' ? 0.25 : 0.75;
      expect(layer.target).toEqual({ kind: 'unstructured', sparsity: s });
      expect(layer.sparsity).toBe(Math.floor(layer.shape[1] * s) / layer.shape[1]);
    }
    expect(report.layerSparsity).toEqual([0.25, 0.75]);
    model.dispose();
    dispose(samples);
  });
});

describe('pruneModel with per-layer targets', () => {
  it('layerTargets override target and layerSparsity for the layers they name, and are validated', async () => {
    const model = await loadTinyLm();
    const report = await pruneModel(model, {
      method: magnitude({ scope: 'row' }),
      target: { kind: 'unstructured', sparsity: 0.5 },
      layerSparsity: [0.25, 0.5],
      layerTargets: new Map([
        ['model.layers.0.mlp.down_proj', { kind: 'nm', prune: 4, group: 8 } as const],
        ['model.layers.1.self_attn.q_proj', { kind: 'unstructured', sparsity: 0.875 } as const],
      ]),
    });
    const byName = new Map(report.layers.map((l) => [l.name, l]));
    expect(byName.get('model.layers.0.mlp.down_proj')!.target).toEqual({ kind: 'nm', prune: 4, group: 8 });
    expect(byName.get('model.layers.0.mlp.down_proj')!.sparsity).toBe(0.5);
    expect(byName.get('model.layers.1.self_attn.q_proj')!.sparsity).toBe(0.875);
    expect(byName.get('model.layers.0.self_attn.q_proj')!.sparsity).toBe(0.25);
    expect(byName.get('model.layers.1.self_attn.k_proj')!.sparsity).toBe(0.5);
    expect(report.layerTargets).toEqual({
      'model.layers.0.mlp.down_proj': { kind: 'nm', prune: 4, group: 8 },
      'model.layers.1.self_attn.q_proj': { kind: 'unstructured', sparsity: 0.875 },
    });
    const { adapter, writes } = spy(model);
    const base = { method: magnitude(), target: { kind: 'unstructured', sparsity: 0.5 } as const };
    expect((await errorOf(pruneModel(adapter, { ...base, layerTargets: { 'model.layers.9.mlp.up_proj': { kind: 'unstructured', sparsity: 0.5 } } }))).code).toBe('NOT_FOUND');
    const e = await errorOf(pruneModel(adapter, { ...base, layerTargets: { 'model.layers.0.mlp.down_proj': { kind: 'nm', prune: 2, group: 16 } } }));
    expect(e.message).toContain('model.layers.0.mlp.down_proj');
    expect((await errorOf(pruneModel(adapter, { ...base, layerTargets: { 'model.layers.0.mlp.up_proj': { kind: 'unstructured', sparsity: 1 } } }))).code).toBe('OUT_OF_RANGE');
    expect(writes).toEqual([]);
    model.dispose();
  });
});

describe('pruneModel with data-free methods', () => {
  const untouchable: Iterable<Tensor> = {
    [Symbol.iterator]() {
      throw new Error('a data-free method must not read calibration samples');
    },
  };

  it('never reads calibration data or runs the model for magnitude', async () => {
    const model = await loadTinyLm();
    const { adapter, writes } = spy(model);
    const noRunner: ModelAdapter = { ...adapter, runner: undefined };
    const report = await pruneModel(noRunner, { method: magnitude({ scope: 'row' }), target: { kind: 'unstructured', sparsity: 0.5 }, calibration: untouchable });
    expect(report.calibration).toBeNull();
    expect(writes.length).toBe(14);
    for (const layer of report.layers) expect(layer.sparsity).toBe(0.5);
    model.dispose();
  });

  it('prunes host weights in place when the method can (magnitude), with the same weights and report as the tensor path', async () => {
    const targets = [
      { kind: 'unstructured', sparsity: 0.5 },
      { kind: 'nm', prune: 2, group: 4 },
    ] as const;
    for (const scope of ['matrix', 'row'] as const) {
      for (const target of targets) {
        const method = magnitude({ scope });
        let inPlaceCalls = 0;
        const counted: PruningMethod = {
          ...method,
          pruneLayerInPlace: (layer, values, t) => {
            inPlaceCalls++;
            return method.pruneLayerInPlace!(layer, values, t);
          },
        };
        // The same method without its in-place form takes the score → select → apply path.
        const tensorPath: PruningMethod = { name: method.name, options: method.options, pruneLayer: method.pruneLayer };
        const a = await loadTinyLm();
        const b = await loadTinyLm();
        const inPlace = await pruneModel(a, { method: counted, target });
        const viaTensors = await pruneModel(b, { method: tensorPath, target });
        expect(inPlaceCalls).toBe(14);
        const strip = (r: typeof inPlace) => r.layers.map(({ ms: _ms, ...rest }) => rest);
        expect(strip(inPlace)).toEqual(strip(viaTensors));
        const [wa, wb] = [await snapshot(a), await snapshot(b)];
        for (const [name, w] of wa) expect(Array.from(w), `${scope} ${target.kind} ${name}`).toEqual(Array.from(wb.get(name)!));
        a.dispose();
        b.dispose();
      }
    }
  });

  it('accepts a custom method that returns the weight it was given (nothing pruned)', async () => {
    const model = await loadTinyLm();
    const before = await snapshot(model);
    const keepAll: PruningMethod = {
      name: 'keep-all',
      pruneLayer: (_layer, weight) => ({ weight, mask: full(weight.shape, 1, 'bool') }),
    };
    const report = await pruneModel(model, { method: keepAll, target: { kind: 'unstructured', sparsity: 0.5 } });
    expect(report.sparsity).toBe(0);
    expect(report.options).toEqual({});
    const after = await snapshot(model);
    for (const [name, w] of before) expect(Array.from(after.get(name)!)).toEqual(Array.from(w));
    model.dispose();
  });

  it('global magnitude prunes by one threshold over every matrix (as globalThresholdMasks)', async () => {
    const model = await loadTinyLm();
    const before = await snapshot(model);
    const scores = [...before.values()].map((w) => abs(tensor(Array.from(w), [w.length])));
    const expected = globalThresholdMasks(scores, { sparsity: 0.6 });
    const report = await pruneModel(model, { method: magnitude({ scope: 'global' }), target: { kind: 'unstructured', sparsity: 0.6 } });
    const after = zeroMasks(await snapshot(model));
    [...after.values()].forEach((pruned, i) => expect(pruned).toEqual(Array.from(expected[i].dataSync(), (k) => k === 0)));
    // Layers end at different sparsities; the total is the global share (+ ties at thr).
    expect(new Set(report.layers.map((l) => l.sparsity.toFixed(4))).size).toBeGreaterThan(1);
    expect(report.pruned).toBe(Math.floor(report.total * 0.6) + 1);
    expect(report.options).toEqual({ scope: 'global' });
    dispose([...expected, ...scores]);
    model.dispose();
  });
});

describe('pruneModel rejects bad input before writing anything', () => {
  const wandaHalf = { method: wanda(), target: { kind: 'unstructured', sparsity: 0.5 } as const };

  it('bad sparsity, bad N:M, N:M not dividing d_in (naming the layer), bad options', async () => {
    const model = await loadTinyLm();
    const { adapter, writes } = spy(model);
    const samples = tinySamples(2);
    const base = { method: magnitude(), calibration: samples, nsamples: 2 };
    for (const sparsity of [1, -0.1, Number.NaN, 1.5]) {
      expect((await errorOf(pruneModel(adapter, { ...base, target: { kind: 'unstructured', sparsity } }))).code).toBe('OUT_OF_RANGE');
    }
    expect((await errorOf(pruneModel(adapter, { ...base, target: { kind: 'nm', prune: 4, group: 4 } }))).code).toBe('OUT_OF_RANGE');
    expect((await errorOf(pruneModel(adapter, { ...base, target: { kind: 'nm', prune: 0, group: 4 } }))).code).toBe('OUT_OF_RANGE');
    const e = await errorOf(pruneModel(adapter, { ...base, target: { kind: 'nm', prune: 2, group: 5 } }));
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toContain('model.layers.0.self_attn.q_proj');
    // d_in = 16 divides by 8 but down_proj's 24 does not by 16.
    expect((await errorOf(pruneModel(adapter, { ...base, target: { kind: 'nm', prune: 8, group: 16 } }))).message).toContain('mlp.down_proj');
    expect((await errorOf(pruneModel(adapter, { ...wandaHalf, calibration: samples, nsamples: 0 }))).code).toBe('INVALID_ARGUMENT');
    expect((await errorOf(pruneModel(adapter, { ...wandaHalf, calibration: samples, nsamples: 2, layerSparsity: [0.5] }))).code).toBe('INVALID_ARGUMENT');
    expect((await errorOf(pruneModel(adapter, { ...wandaHalf, calibration: samples, nsamples: 2, layerSparsity: [0.5, 1] }))).code).toBe('OUT_OF_RANGE');
    expect((await errorOf(pruneModel(adapter, { ...wandaHalf, calibration: samples, propagate: 'yes' as never }))).code).toBe('INVALID_ARGUMENT');
    expect((await errorOf(pruneModel(adapter, { method: {} as never, target: { kind: 'unstructured', sparsity: 0.5 } }))).code).toBe('INVALID_ARGUMENT');
    expect(writes).toEqual([]);
    model.dispose();
    dispose(samples);
  });

  it('Wanda without samples, without a runner, or with too few samples', async () => {
    const model = await loadTinyLm();
    const { adapter, writes } = spy(model);
    const samples = tinySamples(2);
    expect((await errorOf(pruneModel(adapter, wandaHalf))).code).toBe('INVALID_ARGUMENT');
    expect((await errorOf(pruneModel({ ...adapter, runner: undefined }, { ...wandaHalf, calibration: samples }))).code).toBe('UNSUPPORTED');
    const few = await errorOf(pruneModel(adapter, { ...wandaHalf, calibration: samples, nsamples: 3 }));
    expect(few.code).toBe('INVALID_ARGUMENT');
    expect(few.message).toContain('ended after 2 samples');
    const bad = await errorOf(pruneModel(adapter, { ...wandaHalf, calibration: [tensor([1, 2], [2], 'float32')], nsamples: 1 }));
    expect(bad.code).toBe('DTYPE_MISMATCH');
    expect(writes).toEqual([]);
    model.dispose();
    dispose(samples);
  });

  it('NaN weights → NON_FINITE naming the layer, and nothing else is written', async () => {
    const model = await loadTinyLm();
    const layer = 'model.layers.1.mlp.up_proj';
    const w = await model.readWeight(layer);
    const data = w.dataSync() as Float32Array;
    data[5] = Number.NaN;
    await model.writeWeight(layer, tensor(Array.from(data), w.shape));
    w.dispose();
    const before = await snapshot(model);
    const { adapter, writes } = spy(model);
    const e = await errorOf(pruneModel(adapter, { method: magnitude(), target: { kind: 'unstructured', sparsity: 0.5 } }));
    expect(e.code).toBe('NON_FINITE');
    expect(e.message).toContain(layer);
    expect(writes).toEqual([]);
    const after = await snapshot(model);
    for (const [name, v] of before) expect(Array.from(after.get(name)!)).toEqual(Array.from(v));
    model.dispose();
  });

  it('a model without prunable layers, and an aborted signal', async () => {
    const empty: ModelAdapter = {
      description: 'empty',
      blocks: () => [{ name: 'b0', layers: [] }],
      readWeight: () => Promise.reject(new Error('no weights')),
      writeWeight: () => Promise.reject(new Error('no weights')),
    };
    const e = await errorOf(pruneModel(empty, { method: magnitude(), target: { kind: 'unstructured', sparsity: 0.5 } }));
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toContain('no prunable layer');
    const model = await loadTinyLm();
    const { adapter, writes } = spy(model);
    const controller = new AbortController();
    controller.abort();
    await expect(pruneModel(adapter, { method: magnitude(), target: { kind: 'unstructured', sparsity: 0.5 }, signal: controller.signal })).rejects.toThrow();
    expect(writes).toEqual([]);
    model.dispose();
  });
});


describe('pruneModel memory', () => {
  it('holds one hidden state per sample (not the linear inputs) and leaks nothing', async () => {
    const { backend, live, peak, resetPeak } = countingBackend();
    const fixture = join(dirname(createRequire(import.meta.url).resolve('@prune/zoo/package.json')), 'test', 'fixtures', 'tiny-lm');
    const config = parseLlamaConfig(JSON.parse(readFileSync(join(fixture, 'config.json'), 'utf8')));
    const file = await openSafetensors(join(fixture, 'model.safetensors'));
    const model = await LlamaModel.fromSafetensors(config, file, { backend });
    await file.close();
    const rng = new Random(4);
    const peaks: number[] = [];
    for (const nsamples of [2, 10]) {
      const samples = Array.from({ length: nsamples }, () => tensor(Array.from({ length: 8 }, () => rng.int(50)), [8], 'int32', { backend }));
      const baseline = live();
      resetPeak();
      await pruneModel(model, { method: wanda(), target: { kind: 'unstructured', sparsity: 0.5 }, calibration: samples, nsamples });
      expect(live()).toBe(baseline);
      peaks.push(peak() - baseline);
      dispose(samples);
    }
    // 8 more samples add 8 hidden states; keeping each linear's inputs would add 7 per
    // sample per block (≥ 56).
    expect(peaks[1] - peaks[0]).toBeGreaterThanOrEqual(8);
    expect(peaks[1] - peaks[0]).toBeLessThanOrEqual(10);
    model.dispose();
  });
});

describe('pruneModel with TAMP on a two-modality tiny LM', () => {
  const NS = 6;
  // The first half of each sample's 8 tokens is marked visual, the second half language.
  const modality = [1, 1, 1, 1, 0, 0, 0, 0];
  const samples = (seed: number): MultimodalSample[] =>
    tinySamples(NS, seed).map((input) => ({ input, modalityMask: tensor(modality, [8], 'bool') }));

  /** d_m of every layer from a dense pass, in float64: outputs = x·Wᵀ, cosine similarities by modality, running means. */
  async function independentScores(model: LlamaModel, data: MultimodalSample[]): Promise<Map<string, number>> {
    const blocks = model.blocks();
    const sums = new Map<string, { vv: number[]; ll: number[]; vl: number[] }>();
    let hidden = data.map((s) => model.runner.embed(s.input));
    for (let b = 0; b < blocks.length; b++) {
      const weights = new Map<string, Float32Array>();
      for (const l of blocks[b].layers) weights.set(l.name, (await model.readWeight(l.name)).dataSync() as Float32Array);
      hidden = hidden.map((h) => {
        const out = model.runner.runBlock(b, h, (name, input) => {
          const x = input.dataSync();
          const w = weights.get(name)!;
          const [n, dIn] = input.shape;
          const dOut = w.length / dIn;
          const o = Array.from({ length: n }, (_, t) =>
            Array.from({ length: dOut }, (_, r) => {
              let acc = 0;
              for (let c = 0; c < dIn; c++) acc += x[t * dIn + c] * w[r * dIn + c];
              return acc;
            }),
          );
          const unit = o.map((row) => {
            const norm = Math.hypot(...row);
            return row.map((v) => (norm === 0 ? 0 : v / norm));
          });
          const cos = (i: number, j: number): number => unit[i].reduce((a, v, k) => a + v * unit[j][k], 0);
          const vv: number[] = [], ll: number[] = [], vl: number[] = [];
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < n; j++) {
              const c = cos(i, j);
              if (modality[i] && !modality[j]) vl.push(c);
              else if (j > i && modality[i] === modality[j] && c > 0) (modality[i] ? vv : ll).push(c);
            }
          }
          const mean = (xs: number[]): number => xs.reduce((a, v) => a + v, 0) / xs.length;
          const entry = sums.get(name) ?? { vv: [], ll: [], vl: [] };
          entry.vv.push(mean(vv));
          entry.ll.push(mean(ll));
          entry.vl.push(mean(vl));
          sums.set(name, entry);
        });
        h.dispose();
        return out;
      });
    }
    dispose(hidden);
    const avg = (xs: number[]): number => xs.reduce((a, v) => a + v, 0) / xs.length;
    return new Map([...sums].map(([name, s]) => [name, 3 - avg(s.vv) - avg(s.ll) - avg(s.vl)]));
  }

  it('plans diversity-aware sparsity per layer (Σ keep = K) and prunes block 0 from AMIA-selected tokens only', async () => {
    const data = samples(11);
    const reference = await loadTinyLm();
    const layers = reference.blocks().flatMap((b) => b.layers);
    const sizes = layers.map((l) => l.shape[0] * l.shape[1]);
    const total = sizes.reduce((a, b) => a + b, 0);
    const plan = await tampLayerSparsity(reference, { sparsity: 0.5, calibration: data, nsamples: NS });
    const scores = await independentScores(reference, data);
    for (const l of layers) expect(plan.score.get(l.name)).toBeCloseTo(scores.get(l.name)!, 5);
    const das = diversityAwareSparsity(layers.map((l) => scores.get(l.name)!), sizes, 0.5);

    // Independent AMIA column norms of block 0 (its inputs do not depend on pruning).
    const block0 = reference.blocks()[0].layers;
    const norms = new Map(block0.map((l) => [l.name, { amia: new Float64Array(l.shape[1]), all: new Float64Array(l.shape[1]), chosen: 0, seen: 0 }]));
    for (const sample of data) {
      const h = reference.runner.embed(sample.input);
      reference.runner
        .runBlockObserved!(0, h, (name, o) => {
          const { indices } = selectTokens(o.output, o.attention!, sample.modalityMask!);
          const x = o.input.dataSync();
          const [n, d] = o.input.shape;
          const acc = norms.get(name)!;
          for (let t = 0; t < n; t++) for (let c = 0; c < d; c++) acc.all[c] += x[t * d + c] ** 2;
          for (const t of indices) for (let c = 0; c < d; c++) acc.amia[c] += x[t * d + c] ** 2;
          acc.chosen += indices.length;
          acc.seen += n;
        }, true)
        .dispose();
      h.dispose();
    }
    const dense = await snapshot(reference);
    reference.dispose();

    const model = await loadTinyLm();
    const report = await pruneModel(model, { method: tamp(), target: { kind: 'unstructured', sparsity: 0.5 }, calibration: data, nsamples: NS });
    expect(report.method).toBe('tamp');
    expect(report.planned).toBe(true);
    const targets = layers.map((l) => (report.layerTargets![l.name] as { sparsity: number }).sparsity);
    expect(targets).toEqual(layers.map((l) => plan.sparsity.get(l.name)));
    expect(targets).toEqual(das);
    expect(new Set(targets).size).toBeGreaterThan(1); // the allocation is not uniform
    // Σ keep_m = K = floor((1 − s)·Σ n_m); each matrix is then pruned per row, ⌊d_in·s_m⌋ per row (the reference).
    const keep = layers.map((l) => plan.keep.get(l.name)!);
    expect(keep.reduce((a, b) => a + b, 0)).toBe(Math.floor(total * 0.5));
    layers.forEach((l, m) => {
      expect(1 - keep[m] / sizes[m]).toBe(targets[m]);
      const row = report.layers.find((r) => r.name === l.name)!;
      expect(row.pruned).toBe(l.shape[0] * Math.floor(l.shape[1] * targets[m]));
    });
    const kept = report.total - report.pruned;
    expect(kept - Math.floor(total * 0.5)).toBeGreaterThanOrEqual(0);
    expect(kept - Math.floor(total * 0.5)).toBeLessThan(layers.reduce((a, l) => a + l.shape[0], 0));

    const pruned = zeroMasks(await snapshot(model));
    let differsFromAllTokens = 0;
    let strictSubset = 0;
    block0.forEach((l) => {
      const m = layers.findIndex((x) => x.name === l.name);
      const [rows, cols] = l.shape;
      const w = dense.get(l.name)!;
      const acc = norms.get(l.name)!;
      const oracle = (s: Float64Array, count: number): boolean[] => {
        const scoresF = new Float32Array(rows * cols);
        for (let i = 0; i < rows * cols; i++) scoresF[i] = Math.abs(w[i]) * Math.fround(Math.sqrt(s[i % cols] / count));
        return oracleRowPruned(scoresF, rows, cols, targets[m]);
      };
      const expected = oracle(acc.amia, acc.chosen);
      expect(pruned.get(l.name)).toEqual(expected);
      if (acc.chosen < acc.seen) strictSubset++;
      if (oracle(acc.all, acc.seen).some((p, i) => p !== expected[i])) differsFromAllTokens++;
    });
    // The check can tell AMIA from plain all-token Wanda statistics on this data.
    expect(strictSubset).toBeGreaterThan(0);
    expect(differsFromAllTokens).toBeGreaterThan(0);
    model.dispose();
    for (const s of data) dispose([s.input, s.modalityMask!]);
  });

  it('gives the same weights with a precomputed plan as layerTargets; plan: false prunes uniformly', async () => {
    const data = samples(12);
    const target = { kind: 'unstructured', sparsity: 0.5 } as const;
    const a = await loadTinyLm();
    const auto = await pruneModel(a, { method: tamp(), target, calibration: data, nsamples: NS });
    const b = await loadTinyLm();
    const plan = await tampLayerSparsity(b, { sparsity: 0.5, calibration: data, nsamples: NS });
    const layerTargets = new Map([...plan.sparsity].map(([name, s]) => [name, { kind: 'unstructured', sparsity: s } as const]));
    const given = await pruneModel(b, { method: tamp(), target, calibration: data, nsamples: NS, layerTargets });
    expect(given.planned).toBe(false);
    expect(given.layerTargets).toEqual(auto.layerTargets);
    expect(await snapshot(b)).toEqual(await snapshot(a));
    const c = await loadTinyLm();
    const uniform = await pruneModel(c, { method: tamp(), target, calibration: data, nsamples: NS, plan: false });
    expect(uniform.planned).toBe(false);
    expect(uniform.layerTargets).toBeNull();
    for (const l of uniform.layers) expect(l.sparsity).toBe(0.5);
    a.dispose();
    b.dispose();
    c.dispose();
    for (const s of data) dispose([s.input, s.modalityMask!]);
  });

  it('rejects samples without a modality mask and runners without runBlockObserved, before writing', async () => {
    const model = await loadTinyLm();
    const { adapter, writes } = spy(model);
    const target = { kind: 'unstructured', sparsity: 0.5 } as const;
    const plain = await errorOf(pruneModel(adapter, { method: tamp(), target, calibration: tinySamples(2), nsamples: 2 }));
    expect(plain.code).toBe('INVALID_ARGUMENT');
    expect(plain.message).toMatch(/modality of every token/);
    const noObserved: ModelAdapter = { ...adapter, runner: { embed: (s) => model.runner.embed(s), runBlock: (i, h, o) => model.runner.runBlock(i, h, o) } };
    const unsupported = await errorOf(pruneModel(noObserved, { method: tamp(), target, calibration: samples(1), nsamples: 2 }));
    expect(unsupported.code).toBe('UNSUPPORTED');
    expect(unsupported.message).toMatch(/runBlockObserved/);
    expect(writes).toEqual([]);
    // Wanda ignores the masks of { input, modalityMask } samples.
    const report = await pruneModel(adapter, { method: wanda(), target, calibration: samples(2), nsamples: 2 });
    expect(report.sparsity).toBe(0.5);
    model.dispose();
  });
});
