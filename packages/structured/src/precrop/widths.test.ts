import { describe, it, expect } from 'vitest';
import { PruneError } from '@prune/core';
import { countCost, layoutOf, weightCount, withGroupWidths } from './architecture.js';
import type { ConvNetSpec } from './architecture.js';
import { channelKeepRatios, precropSpec, scalingGroups } from './widths.js';

/** ResNet-style: stem, an identity block, a projection block (stride 2), an identity block. */
const resnet: ConvNetSpec = {
  inputShape: [16, 16, 3],
  classes: 10,
  blocks: [
    { kind: 'conv', filters: 16, kernelSize: 3 },
    { kind: 'residual', shortcut: 'identity', body: [{ kind: 'conv', filters: 16, kernelSize: 3 }, { kind: 'conv', filters: 16, kernelSize: 3, activation: 'linear' }] },
    { kind: 'residual', shortcut: 'projection', body: [{ kind: 'conv', filters: 32, kernelSize: 3, strides: 2 }, { kind: 'conv', filters: 32, kernelSize: 3, activation: 'linear' }] },
    { kind: 'residual', shortcut: 'identity', body: [{ kind: 'conv', filters: 32, kernelSize: 3 }, { kind: 'conv', filters: 32, kernelSize: 3, activation: 'linear' }] },
  ],
};

/** A MobileNet-style chain: pointwise → depthwise → pointwise → depthwise(stride 2) → pointwise. */
const mobile: ConvNetSpec = {
  inputShape: [8, 8, 3],
  classes: 4,
  blocks: [
    { kind: 'conv', filters: 16, kernelSize: 1 },
    { kind: 'depthwise', kernelSize: 3 },
    { kind: 'conv', filters: 24, kernelSize: 1 },
    { kind: 'depthwise', kernelSize: 3, strides: 2 },
    { kind: 'conv', filters: 32, kernelSize: 1 },
  ],
};

function filtersByLayer(spec: ConvNetSpec): Map<string, number> {
  return new Map(layoutOf(spec).layers.map((l) => [l.name, l.outChannels]));
}

function uniformDensities(spec: ConvNetSpec, d: number): Map<string, number> {
  return new Map(layoutOf(spec).layers.map((l) => [l.name, d]));
}

describe('layoutOf', () => {
  it('couples the channels a residual addition joins and fixes input and classifier groups', () => {
    const { layers, groups } = layoutOf(resnet);
    expect(layers.map((l) => l.name)).toEqual(['b0', 'b1_0', 'b1_1', 'b2_0', 'b2_1', 'b2_proj', 'b3_0', 'b3_1', 'classifier']);
    const producers = groups.map((g) => [...g.producers].sort());
    expect(producers).toEqual([[], ['b0', 'b1_1'], ['b1_0'], ['b2_0'], ['b2_1', 'b2_proj', 'b3_1'], ['b3_0'], ['classifier']]);
    expect(groups.map((g) => g.fixed)).toEqual([true, false, false, false, false, false, true]);
    const proj = layers.find((l) => l.name === 'b2_proj');
    expect(proj).toMatchObject({ kernelSize: 1, strides: 2, inGroup: 1, outGroup: 4, kernelShape: [1, 1, 16, 32], outputSize: [8, 8] });
  });

  it('ties a depthwise conv to the pointwise conv before it', () => {
    const { layers, groups } = layoutOf(mobile);
    const byName = new Map(layers.map((l) => [l.name, l]));
    expect(byName.get('b1')).toMatchObject({ kind: 'depthwise', inGroup: byName.get('b0')!.outGroup, outGroup: byName.get('b0')!.outGroup, kernelShape: [3, 3, 16, 1] });
    expect(byName.get('b3')).toMatchObject({ inGroup: byName.get('b2')!.outGroup, outGroup: byName.get('b2')!.outGroup, outputSize: [4, 4] });
    expect(groups[byName.get('b0')!.outGroup].producers).toEqual(['b0', 'b1']);
    expect(scalingGroups(byName.get('b1')!)).toEqual([byName.get('b0')!.outGroup]);
    expect(scalingGroups(byName.get('b2')!)).toEqual([byName.get('b0')!.outGroup, byName.get('b2')!.outGroup]);
  });

  it('counts parameters and FLOPs by hand', () => {
    const tiny: ConvNetSpec = { inputShape: [4, 4, 2], classes: 3, blocks: [{ kind: 'conv', filters: 5, kernelSize: 3, strides: 2 }, { kind: 'depthwise', kernelSize: 3 }] };
    // conv: 3·3·2·5 = 90 weights + 5 biases at 2×2 positions; depthwise: 3·3·5 = 45 + 5 at 2×2; dense 5·3 + 3.
    expect(countCost(tiny)).toEqual({
      parameters: 95 + 50 + 18,
      weights: 90 + 45 + 15,
      flops: 4 * (2 * 90 + 5) + 4 * (2 * 45 + 5) + (2 * 15 + 3),
    });
  });

  it('rejects malformed descriptions with a clear error', () => {
    const bad: ConvNetSpec = { inputShape: [8, 8, 3], classes: 2, blocks: [{ kind: 'residual', shortcut: 'identity', body: [{ kind: 'conv', filters: 4, kernelSize: 3 }] }] };
    expect(() => layoutOf(bad)).toThrow(/identity shortcut needs the body to keep 3 channels.*use shortcut: 'projection'/);
    expect(() => layoutOf({ ...resnet, classes: 0 })).toThrow(PruneError);
    expect(() => layoutOf({ ...resnet, blocks: [{ kind: 'conv', filters: 2.5, kernelSize: 3 }] })).toThrow(/filters must be a positive integer/);
    expect(() => layoutOf({ ...resnet, blocks: [{ kind: 'pool' } as never] })).toThrow(/kind must be 'conv' or 'depthwise'/);
  });

  it('withGroupWidths refuses to change a fixed width', () => {
    const widths = layoutOf(resnet).groups.map((g) => g.width);
    widths[0] = 2;
    expect(() => withGroupWidths(resnet, widths)).toThrow(/fixed at 3 channels/);
  });
});

describe('channelKeepRatios', () => {
  it('recovers the ratios exactly when the densities are a product of ratios (chain)', () => {
    const chain: ConvNetSpec = { inputShape: [6, 6, 2], classes: 3, blocks: [{ kind: 'conv', filters: 8, kernelSize: 3 }, { kind: 'conv', filters: 16, kernelSize: 3 }] };
    const layout = layoutOf(chain);
    // r = [1 (input), 0.5, 0.25, 1 (classes)] gives d = r_in·r_out per layer.
    const densities = new Map([['b0', 0.5], ['b1', 0.125], ['classifier', 0.25]]);
    const r = channelKeepRatios(layout, densities);
    expect(r[0]).toBe(1);
    expect(r[1]).toBeCloseTo(0.5, 9);
    expect(r[2]).toBeCloseTo(0.25, 9);
    expect(r[3]).toBe(1);
  });

  it('treats a depthwise layer as scaling with its one tied group', () => {
    const layout = layoutOf(mobile);
    const g = (name: string): number => layout.layers.find((l) => l.name === name)!.outGroup;
    const want = new Map([[g('b0'), 0.5], [g('b2'), 0.25], [g('b4'), 0.75]]);
    const ratio = (group: number): number => want.get(group) ?? 1;
    const densities = new Map(layout.layers.map((l) => [l.name, scalingGroups(l).reduce((p, h) => p * ratio(h), 1)]));
    expect(densities.get('b1')).toBe(0.5); // depthwise: d = r, not r²
    const r = channelKeepRatios(layout, densities);
    for (const [group, value] of want) expect(r[group]).toBeCloseTo(value, 9);
  });

  it('meets the default budget Σ d_l·P_l exactly before rounding', () => {
    const layout = layoutOf(resnet);
    const densities = new Map(layout.layers.map((l, i) => [l.name, [0.9, 0.3, 0.2, 0.25, 0.1, 0.05, 0.15, 0.12, 0.6][i]]));
    const r = channelKeepRatios(layout, densities);
    const kept = layout.layers.reduce((acc, l) => acc + weightCount(l) * scalingGroups(l).reduce((p, g) => p * r[g], 1), 0);
    const budget = layout.layers.reduce((acc, l) => acc + weightCount(l) * densities.get(l.name)!, 0);
    expect(kept / budget).toBeCloseTo(1, 9);
    for (const v of r) expect(v).toBeLessThanOrEqual(1);
  });

  it('names the layer whose density is missing or out of range', () => {
    const layout = layoutOf(resnet);
    expect(() => channelKeepRatios(layout, new Map([['b0', 0.5]]))).toThrow(/no density for layer "b1_0"/);
    expect(() => channelKeepRatios(layout, uniformDensities(resnet, 1.5))).toThrow(/density of "b0" must be in \[0, 1\]/);
  });
});

describe('precropSpec', () => {
  it('gives residual-coupled layers one width, keeps input and classifier, and meets the budget within rounding', () => {
    const layout = layoutOf(resnet);
    const densities = new Map(layout.layers.map((l, i) => [l.name, [0.9, 0.3, 0.2, 0.25, 0.1, 0.05, 0.15, 0.12, 0.6][i]]));
    const plan = precropSpec(resnet, densities);
    const f = filtersByLayer(plan.spec);
    expect(f.get('b1_1')).toBe(f.get('b0'));
    expect(f.get('b2_1')).toBe(f.get('b2_proj'));
    expect(f.get('b3_1')).toBe(f.get('b2_1'));
    expect(plan.spec.inputShape).toEqual([16, 16, 3]);
    expect(f.get('classifier')).toBe(10);
    expect(layoutOf(plan.spec).layers.find((l) => l.name === 'b0')!.inChannels).toBe(3);
    // Rounding moves each width by at most half a channel; bound the weight change that causes.
    const narrow = layoutOf(plan.spec);
    let slack = 0;
    for (const l of narrow.layers) {
      const groups = scalingGroups(l).filter((g) => !narrow.groups[g].fixed);
      const width = (g: number): number => narrow.groups[g].width;
      slack += weightCount(l) * groups.reduce((acc, g) => acc + 0.5 / width(g), 0) * 1.5;
    }
    expect(Math.abs(plan.weights - plan.targetWeights)).toBeLessThanOrEqual(slack);
    expect(plan.weights).toBe(countCost(plan.spec).weights);
    // Every width is a real narrowing of its group, at least one channel.
    plan.widths.forEach((w, g) => {
      expect(w).toBeGreaterThanOrEqual(1);
      expect(w).toBeLessThanOrEqual(layout.groups[g].width);
    });
  });

  it('keeps the full network at density 1 and narrows every free group at a uniform density', () => {
    expect(precropSpec(resnet, uniformDensities(resnet, 1)).spec).toEqual(resnet);
    const plan = precropSpec(resnet, uniformDensities(resnet, 0.25));
    const layout = layoutOf(resnet);
    plan.widths.forEach((w, g) => {
      if (!layout.groups[g].fixed) expect(w).toBeLessThan(layout.groups[g].width);
    });
  });

  it('rounds to multiples of 8 when asked, never below 8 or above the full width', () => {
    const plan = precropSpec(resnet, uniformDensities(resnet, 0.2), { multipleOf: 8 });
    const layout = layoutOf(resnet);
    plan.widths.forEach((w, g) => {
      if (layout.groups[g].fixed) return;
      expect(w % 8).toBe(0);
      expect(w).toBeGreaterThanOrEqual(8);
      expect(w).toBeLessThanOrEqual(layout.groups[g].width);
    });
    expect(() => precropSpec(resnet, uniformDensities(resnet, 0.2), { multipleOf: 0 })).toThrow(/multipleOf/);
  });

  it('keeps the depthwise kernel tied to the narrowed pointwise width', () => {
    const plan = precropSpec(mobile, uniformDensities(mobile, 0.3));
    const narrow = layoutOf(plan.spec).layers;
    const byName = new Map(narrow.map((l) => [l.name, l]));
    expect(byName.get('b1')!.kernelShape).toEqual([3, 3, byName.get('b0')!.outChannels, 1]);
    expect(byName.get('b3')!.kernelShape).toEqual([3, 3, byName.get('b2')!.outChannels, 1]);
    expect(byName.get('b2')!.inChannels).toBe(byName.get('b0')!.outChannels);
  });

  it('honours an explicit budget', () => {
    const full = countCost(resnet).weights;
    const plan = precropSpec(resnet, uniformDensities(resnet, 0.5), { budget: full / 10 });
    expect(plan.targetWeights).toBe(full / 10);
    expect(Math.abs(plan.weights / plan.targetWeights - 1)).toBeLessThan(0.15);
  });
});
