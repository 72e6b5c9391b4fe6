import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  type Backend,
  ColumnNormAccumulator,
  type Kernels,
  type ModelAdapter,
  Random,
  openSafetensors,
  referenceBackend,
  type ProgressEvent,
  PruneError,
  type Tensor,
  abs,
  dispose,
  full,
  globalThresholdMasks,
  tensor,
} from '@prune/core';
import { LlamaModel, parseLlamaConfig } from '@prune/zoo';
import { loadTinyLm, snapshot, tinySamples } from '../test/tiny-lm.js';
import { magnitude } from './magnitude.js';
import type { PruningMethod } from './method.js';
import { pruneModel } from './pipeline.js';
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

/** The reference backend, counting live storage handles and their peak. */
function countingBackend(): { backend: Backend; live: () => number; peak: () => number; resetPeak: () => void } {
  const counts = new Map<unknown, number>();
  let live = 0;
  let peak = 0;
  const add = (h: unknown): void => {
    counts.set(h, (counts.get(h) ?? 0) + 1);
    peak = Math.max(peak, ++live);
  };
  const kernels: Record<string, unknown> = {};
  for (const [name, kernel] of Object.entries(referenceBackend.kernels)) {
    kernels[name] = (...args: unknown[]) => {
      const out = (kernel as (...a: unknown[]) => unknown).apply(referenceBackend.kernels, args);
      for (const h of Array.isArray(out) ? out : [out]) add(h);
      return out;
    };
  }
  const backend = {
    ...referenceBackend,
    name: 'counting',
    kernels: kernels as Partial<Kernels<unknown>>,
    upload: (values, shape, dtype) => {
      const h = referenceBackend.upload(values, shape, dtype);
      add(h);
      return h;
    },
    dispose: (h) => {
      const c = counts.get(h) ?? 0;
      if (c === 0) return;
      live--;
      if (c === 1) counts.delete(h);
      else counts.set(h, c - 1);
    },
  } as Backend;
  return { backend, live: () => live, peak: () => peak, resetPeak: () => void (peak = live) };
}

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
