import { createTfjsBackend } from '@prune/tfjs';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildChannelGraph } from './graph.js';
import { removedMasks, selectChannels } from './select.js';

beforeAll(async () => {
  await createTfjsBackend({ backend: 'cpu' });
});

/** d1 (10 units) → d2 (20 units) → out (2): two groups of 10 and 20 channels. */
function mlp(): tfl.LayersModel {
  return tfl.sequential({
    layers: [tfl.layers.dense({ name: 'd1', inputShape: [3], units: 10 }), tfl.layers.dense({ name: 'd2', units: 20 }), tfl.layers.dense({ name: 'out', units: 2 })],
  });
}

// Scores: d1 channel u scores 10 − u (so the last channels go first); d2 channel u scores 100 + u.
const scores = () => [Float64Array.from({ length: 10 }, (_, u) => 10 - u), Float64Array.from({ length: 20 }, (_, u) => 100 + u)];
const removed = (plan: { removed: readonly Int32Array[] }) => plan.removed.map((r) => Array.from(r));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('selectChannels per group', () => {
  let graph: ReturnType<typeof buildChannelGraph>;
  beforeAll(() => {
    graph = buildChannelGraph(mlp());
  });

  it('removes floor(ratio·size) lowest-scoring channels of every group', () => {
    expect(removed(selectChannels(graph, scores(), { ratio: 0.3 }))).toEqual([[7, 8, 9], range(0, 6)]);
    expect(removed(selectChannels(graph, scores(), { ratio: 0 }))).toEqual([[], []]);
  });

  it('never removes every channel of a group, and honours minChannels', () => {
    expect(removed(selectChannels(graph, scores(), { ratio: 0.99 })).map((r) => r.length)).toEqual([9, 19]);
    expect(removed(selectChannels(graph, scores(), { ratio: 0.99, minChannels: 4 })).map((r) => r.length)).toEqual([6, 16]);
  });

  it('rounds each remaining width to a multiple of roundTo (at least one multiple)', () => {
    // Keep 7 → 8, keep 14 → 16; keep 1 → 8; keep 2 → 8 and keep 4 → 8 (round(0.5) = 1 multiple).
    expect(removed(selectChannels(graph, scores(), { ratio: 0.3, roundTo: 8 })).map((r) => r.length)).toEqual([2, 4]);
    expect(removed(selectChannels(graph, scores(), { ratio: 0.9, roundTo: 8 })).map((r) => r.length)).toEqual([2, 12]);
    // Nothing asked, nothing taken: 10 channels stay 10 although 8 is the nearest multiple.
    expect(removed(selectChannels(graph, scores(), { ratio: 0, roundTo: 8 })).map((r) => r.length)).toEqual([0, 0]);
    // Keep 5 → round(5/4)·4 = 4; keep 10 → 12 (10/4 = 2.5 rounds up).
    expect(removed(selectChannels(graph, scores(), { ratio: 0.5, roundTo: 4 })).map((r) => r.length)).toEqual([6, 8]);
  });

  it('breaks ties by the lower channel index', () => {
    const flat = [new Float64Array(10).fill(1), new Float64Array(20).fill(2)];
    expect(removed(selectChannels(graph, flat, { ratio: 0.2 }))).toEqual([[0, 1], [0, 1, 2, 3]]);
  });

  it('applies per-layer ratios to their group', () => {
    expect(removed(selectChannels(graph, scores(), { ratio: 0.1, layerRatios: { d2: 0.5 } })).map((r) => r.length)).toEqual([1, 10]);
  });

  it('leaves unscored groups and channels whole', () => {
    const partial = [new Float64Array(10).fill(Number.NaN), Float64Array.from({ length: 20 }, (_, u) => (u < 10 ? Number.NaN : u))];
    expect(removed(selectChannels(graph, partial, { ratio: 0.5 }))).toEqual([[], range(10, 20)]);
  });
});

describe('selectChannels globally', () => {
  let graph: ReturnType<typeof buildChannelGraph>;
  beforeAll(() => {
    graph = buildChannelGraph(mlp());
  });

  it('ranks all channels together; a group keeps at least one channel', () => {
    // 30% of 30 = 9 channels, all in d1 (scores 1…10 < 100).
    expect(removed(selectChannels(graph, scores(), { ratio: 0.3, global: true }))).toEqual([range(1, 10), []]);
    // 40% = 12: d1 can give 9, then d2's three lowest.
    expect(removed(selectChannels(graph, scores(), { ratio: 0.4, global: true }))).toEqual([range(1, 10), [0, 1, 2]]);
  });

  it('caps any one group with maxGroupRatio', () => {
    expect(removed(selectChannels(graph, scores(), { ratio: 0.3, global: true, maxGroupRatio: 0.5 }))).toEqual([range(5, 10), [0, 1, 2, 3]]);
  });

  it('keeps groups with their own layer ratio out of the ranking', () => {
    expect(removed(selectChannels(graph, scores(), { ratio: 0.5, global: true, layerRatios: { d1: 0.2 } }))).toEqual([[8, 9], range(0, 10)]);
  });
});

describe('selectChannels validation', () => {
  let graph: ReturnType<typeof buildChannelGraph>;
  beforeAll(() => {
    graph = buildChannelGraph(mlp());
  });

  it('rejects bad ratios, names and scores with clear messages', () => {
    expect(() => selectChannels(graph, scores(), { ratio: 1 })).toThrowError(/ratio must be a number in \[0, 1\), got 1/);
    expect(() => selectChannels(graph, scores(), { ratio: -0.1 })).toThrowError(/ratio must be/);
    expect(() => selectChannels(graph, scores(), { ratio: 0.2, roundTo: 0 })).toThrowError(/roundTo must be a positive integer/);
    expect(() => selectChannels(graph, scores(), { ratio: 0.2, layerRatios: { nope: 0.5 } })).toThrowError(/the model has no layer nope/);
    expect(() => selectChannels(graph, scores(), { ratio: 0.2, layerRatios: { out: 0.5 } })).toThrowError(/layer out has no removable output channels/);
    expect(() => selectChannels(graph, [scores()[0]], { ratio: 0.2 })).toThrowError(/scores do not match the graph/);
  });

  it('rejects different ratios for two producers of one residual group', () => {
    const x = tfl.input({ shape: [4] });
    const a = tfl.layers.dense({ name: 'a', units: 3 }).apply(x) as tfl.SymbolicTensor;
    const b = tfl.layers.dense({ name: 'b', units: 3 }).apply(x) as tfl.SymbolicTensor;
    const y = tfl.layers.dense({ units: 1 }).apply(tfl.layers.add().apply([a, b]) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    const g = buildChannelGraph(tfl.model({ inputs: x, outputs: y }));
    const s = [Float64Array.from([1, 2, 3])];
    expect(() => selectChannels(g, s, { ratio: 0.2, layerRatios: { a: 0.3, b: 0.6 } })).toThrowError(/layers a, b share one dependency group but were given ratios 0.3 and 0.6/);
    expect(removed(selectChannels(g, s, { ratio: 0.2, layerRatios: { a: 0.4, b: 0.4 } }))).toEqual([[0]]);
  });

  it('removedMasks marks the removed channels and checks the plan', () => {
    const plan = selectChannels(graph, scores(), { ratio: 0.3 });
    expect(Array.from(removedMasks(graph, plan)[0])).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
    expect(() => removedMasks(graph, { removed: [Int32Array.from([10]), new Int32Array(0)] })).toThrowError(/group 0 has 10 channels, got index 10/);
  });
});
