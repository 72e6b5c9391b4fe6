import { PruneError } from '@prune/core';
import { createTfjsBackend } from '@prune/tfjs';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ChannelGraph, buildChannelGraph } from './graph.js';

beforeAll(async () => {
  await createTfjsBackend({ backend: 'cpu' });
});

type T = tfl.SymbolicTensor;

/** The (group, channel) of each position of a layer's output, `-` for fixed positions. */
function unitsOf(graph: ChannelGraph, layer: string): string[] {
  return Array.from(graph.outputs.get(layer)!, (atom) => {
    const at = graph.unitOf(atom);
    return at === undefined ? '-' : `${at.group}:${at.unit}`;
  });
}

function conv(name: string, filters: number, kernelSize = 1): tfl.layers.Layer {
  return tfl.layers.conv2d({ name, filters, kernelSize, padding: 'same' });
}

// x → stem(4) → bn → relu ─┬→ a(2) → b(4) ─ add → c(3) → gap → head(2)
//                          └──────────────┘
function residualModel(): tfl.LayersModel {
  const x = tfl.input({ shape: [5, 5, 3] });
  const stem = conv('stem', 4).apply(x) as T;
  const bn = tfl.layers.batchNormalization({ name: 'bn' }).apply(stem) as T;
  const relu = tfl.layers.reLU({ name: 'relu' }).apply(bn) as T;
  const b = conv('b', 4, 3).apply(conv('a', 2).apply(relu) as T) as T;
  const sum = tfl.layers.add({ name: 'add' }).apply([relu, b]) as T;
  const c = conv('c', 3).apply(sum) as T;
  const head = tfl.layers.dense({ name: 'head', units: 2 }).apply(tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(c) as T) as T;
  return tfl.model({ inputs: x, outputs: head });
}

describe('buildChannelGraph on a residual graph', () => {
  it('joins the residual partners into one group and keeps the others apart', () => {
    const graph = buildChannelGraph(residualModel());
    expect(graph.groups.map((g) => ({ producers: g.producers, size: g.size, fixed: g.fixed }))).toEqual([
      { producers: ['stem', 'b'], size: 4, fixed: 0 },
      { producers: ['a'], size: 2, fixed: 0 },
      { producers: ['c'], size: 3, fixed: 0 },
    ]);
    // Channel u of the stem is channel u of b and of the sum.
    expect(unitsOf(graph, 'stem')).toEqual(['0:0', '0:1', '0:2', '0:3']);
    expect(unitsOf(graph, 'b')).toEqual(unitsOf(graph, 'stem'));
    expect(unitsOf(graph, 'add')).toEqual(unitsOf(graph, 'stem'));
    expect(unitsOf(graph, 'gap')).toEqual(['2:0', '2:1', '2:2']);
    // The model output is never pruned.
    expect(unitsOf(graph, 'head')).toEqual(['-', '-']);
    expect([...graph.groups[0].layers].sort()).toEqual(['a', 'b', 'bn', 'c', 'stem']);
    expect([...graph.groups[2].layers].sort()).toEqual(['c', 'head']);
  });

  it('binds every coupled weight axis with its role', () => {
    const graph = buildChannelGraph(residualModel());
    const of = (layer: string) => graph.bindings.filter((b) => b.layer === layer).map((b) => `${b.kind}@${b.axis}:${b.role}`);
    expect(of('stem')).toEqual(['kernel@2:in', 'kernel@3:out', 'bias@0:out']);
    expect(of('bn')).toEqual(['gamma@0:channel', 'beta@0:channel', 'moving_mean@0:channel', 'moving_variance@0:channel']);
    expect(of('head')).toEqual(['kernel@0:in', 'kernel@1:out', 'bias@0:out']);
  });
});

// x → a(3) ┐
// x → b(2) ┴ concat(5) → c(4) → flatten → head(2); a also feeds a second concat [c, a]
function concatModel(): tfl.LayersModel {
  const x = tfl.input({ shape: [2, 2, 1] });
  const a = conv('a', 3).apply(x) as T;
  const b = conv('b', 2).apply(x) as T;
  const cat = tfl.layers.concatenate({ name: 'cat' }).apply([a, b]) as T;
  const c = conv('c', 4).apply(cat) as T;
  const cat2 = tfl.layers.concatenate({ name: 'cat2' }).apply([c, a]) as T;
  const flat = tfl.layers.flatten({ name: 'flat' }).apply(cat2) as T;
  const head = tfl.layers.dense({ name: 'head', units: 2 }).apply(flat) as T;
  return tfl.model({ inputs: x, outputs: head });
}

describe('buildChannelGraph on a concatenation graph', () => {
  it('gives each concatenated producer its own group and maps channels by offset', () => {
    const graph = buildChannelGraph(concatModel());
    expect(graph.groups.map((g) => [g.producers, g.size])).toEqual([
      [['a'], 3],
      [['b'], 2],
      [['c'], 4],
    ]);
    expect(unitsOf(graph, 'cat')).toEqual(['0:0', '0:1', '0:2', '1:0', '1:1']);
    expect(unitsOf(graph, 'cat2')).toEqual(['2:0', '2:1', '2:2', '2:3', '0:0', '0:1', '0:2']);
    // Flatten (2×2 positions, channels last): position (h·W + w)·C + ch carries channel ch.
    const flat7 = unitsOf(graph, 'cat2');
    expect(unitsOf(graph, 'flat')).toEqual([...flat7, ...flat7, ...flat7, ...flat7]);
    const cIn = graph.bindings.find((bd) => bd.layer === 'c' && bd.role === 'in')!;
    expect(Array.from(cIn.labels, (l) => graph.unitOf(l)!.group)).toEqual([0, 0, 0, 1, 1]);
  });
});

describe('buildChannelGraph on other couplings', () => {
  it('keeps channels coupled to the model input (residual on the input)', () => {
    const x = tfl.input({ shape: [4, 4, 3] });
    const y = tfl.layers.add().apply([x, conv('c1', 3).apply(x) as T]) as T;
    const z = conv('c2', 5).apply(y) as T;
    const out = tfl.layers.globalAveragePooling2d({}).apply(conv('c3', 2).apply(z) as T) as T;
    const graph = buildChannelGraph(tfl.model({ inputs: x, outputs: out }));
    expect(graph.groups.map((g) => [g.producers, g.size])).toEqual([[['c2'], 5]]);
  });

  it('ties a depthwise chain (multiplier 2) to its producer', () => {
    const m = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ name: 'p', inputShape: [4, 4, 1], filters: 3, kernelSize: 1 }),
        tfl.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, depthMultiplier: 2, padding: 'same' }),
        tfl.layers.batchNormalization({ name: 'bn' }),
        tfl.layers.conv2d({ name: 'q', filters: 2, kernelSize: 1 }),
      ],
    });
    const graph = buildChannelGraph(m);
    expect(graph.groups.map((g) => [g.producers, g.size])).toEqual([[['p'], 3]]);
    expect(unitsOf(graph, 'dw')).toEqual(['0:0', '0:0', '0:1', '0:1', '0:2', '0:2']);
    expect(unitsOf(graph, 'q')).toEqual(['-', '-']);
    expect([...graph.groups[0].layers].sort()).toEqual(['bn', 'dw', 'p', 'q']);
  });

  it('keeps the inputs of channel-mixing layers (softmax over channels) and lists them', () => {
    const m = tfl.sequential({
      layers: [
        tfl.layers.dense({ name: 'd1', inputShape: [4], units: 6 }),
        tfl.layers.softmax({ name: 'sm' }),
        tfl.layers.dense({ name: 'd2', units: 5 }),
        tfl.layers.dense({ name: 'd3', units: 2 }),
      ],
    });
    const graph = buildChannelGraph(m);
    expect(graph.groups.map((g) => [g.producers, g.size])).toEqual([[['d2'], 5]]);
    expect(graph.blocked.map((b) => b.layer)).toEqual(['sm']);
  });
});

describe('buildChannelGraph errors and the keep policy', () => {
  function withTranspose(): tfl.LayersModel {
    return tfl.sequential({
      layers: [
        tfl.layers.conv2d({ name: 'c1', inputShape: [4, 4, 2], filters: 4, kernelSize: 1 }),
        tfl.layers.conv2dTranspose({ name: 'up', filters: 3, kernelSize: 2, strides: 2 }),
        tfl.layers.conv2d({ name: 'c2', filters: 5, kernelSize: 1 }),
        tfl.layers.conv2d({ name: 'c3', filters: 2, kernelSize: 1 }),
      ],
    });
  }

  it('names an unsupported layer and says why', () => {
    const model = withTranspose();
    expect(() => buildChannelGraph(model)).toThrowError(PruneError);
    expect(() => buildChannelGraph(model)).toThrowError(/layer up \(Conv2DTranspose\) blocks channel pruning: no channel rule for Conv2DTranspose layers\. Pass unsupported: 'keep'/);
  });

  it("keeps an unsupported layer's channels intact with unsupported: 'keep' and still prunes the rest", () => {
    const graph = buildChannelGraph(withTranspose(), { unsupported: 'keep' });
    expect(graph.blocked).toEqual([{ layer: 'up', className: 'Conv2DTranspose', reason: 'no channel rule for Conv2DTranspose layers' }]);
    expect(graph.groups.map((g) => [g.producers, g.size])).toEqual([[['c2'], 5]]);
  });

  it('rejects a reshape that moves channels, and BN over a non-channel axis', () => {
    const reshape = tfl.sequential({ layers: [tfl.layers.dense({ name: 'd', inputShape: [3], units: 6 }), tfl.layers.reshape({ name: 'r', targetShape: [2, 3] }), tfl.layers.flatten(), tfl.layers.dense({ units: 1 })] });
    expect(() => buildChannelGraph(reshape)).toThrowError(/layer r \(Reshape\).*target shape \[2, 3\] moves channels/);
    const bn = tfl.sequential({ layers: [tfl.layers.conv2d({ inputShape: [3, 3, 2], filters: 4, kernelSize: 1 }), tfl.layers.batchNormalization({ name: 'bn1', axis: 1 }), tfl.layers.flatten(), tfl.layers.dense({ units: 1 })] });
    expect(() => buildChannelGraph(bn)).toThrowError(/layer bn1 \(BatchNormalization\).*normalises axis 1/);
  });

  it('rejects a shared layer (called twice) under the error policy', () => {
    const x = tfl.input({ shape: [3] });
    const shared = tfl.layers.dense({ name: 'shared', units: 3 });
    const y = shared.apply(shared.apply(x) as T) as T;
    const model = tfl.model({ inputs: x, outputs: tfl.layers.dense({ units: 1 }).apply(y) as T });
    expect(() => buildChannelGraph(model)).toThrowError(/layer shared \(Dense\).*called 2 times/);
  });

  it('rejects bad arguments', () => {
    expect(() => buildChannelGraph({} as tfl.LayersModel)).toThrowError(/expected a built tfjs LayersModel/);
    const m = withTranspose();
    expect(() => buildChannelGraph(m, { unsupported: 'skip' as 'keep' })).toThrowError(/unsupported must be 'error' or 'keep'/);
  });
});
