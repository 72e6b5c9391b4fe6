import { PruneError } from '@prune/core';
import { layoutOf, weightCount, withGroupWidths } from './architecture.js';
import type { ConvNetLayout, ConvNetSpec, WeightLayer } from './architecture.js';

/**
 * The channel groups whose keep ratios scale a layer's weight count: P_l(r) = P_l·Π r_g over
 * this list. A convolution or dense layer scales with its input and output groups (twice the
 * same group when a residual chain couples them); a depthwise convolution only with its one
 * group, since c_in = c_out = groups.
 */
export function scalingGroups(layer: WeightLayer): number[] {
  return layer.kind === 'depthwise' ? [layer.outGroup] : [layer.inGroup, layer.outGroup];
}

/** Options of {@link channelKeepRatios}. */
export interface KeepRatioOptions {
  /**
   * Kernel entries the narrow network may keep, Σ_l P_l·Π r_g.
   * @defaultValue Σ_l d_l·P_l, what the unstructured mask keeps
   */
  budget?: number;
  /** Coordinate-descent sweeps of the least-squares fit. @defaultValue 500 */
  sweeps?: number;
}

/**
 * Channel keep ratio r_g per channel group from layerwise densities d_l — the width-mapping
 * rule of PreCropping:
 *
 * 1. Fit in log space: minimise Σ_l P_l·(Σ_{g∈G_l} log r_g − log d_l)² subject to log r_g ≤ 0,
 *    where G_l is {@link scalingGroups} (d_l floored at one weight, 1/P_l). Weighting by the
 *    layer size P_l makes the big layers, which hold the parameters, follow their densities
 *    most closely. Fixed groups (input image, classifier outputs) have r = 1. The problem is
 *    convex; exact coordinate descent solves it.
 * 2. Meet the budget: shift every free log r_g by one common t (r_g = min(1, e^{x_g+t})),
 *    found by bisection, so Σ_l P_l·Π r_g equals the budget. The shift keeps the fitted
 *    shape of the density profile.
 *
 * @param layout - the layers and groups of the network ({@link layoutOf})
 * @param densities - d_l in [0, 1] per weight layer, by layer name
 * @param options - budget and sweeps
 * @returns r_g per channel group (1 for fixed groups)
 * @throws PruneError for a missing or out-of-range density
 */
export function channelKeepRatios(layout: ConvNetLayout, densities: ReadonlyMap<string, number>, options: KeepRatioOptions = {}): number[] {
  const { layers, groups } = layout;
  const sizes = layers.map(weightCount);
  const totalWeights = sizes.reduce((a, b) => a + b, 0);
  const target = layers.map((layer, i) => {
    const d = densities.get(layer.name);
    if (d === undefined) throw new PruneError('NOT_FOUND', `no density for layer "${layer.name}"; pass one per weight layer (layerDensities(masks))`);
    if (!(d >= 0 && d <= 1)) throw new PruneError('OUT_OF_RANGE', `density of "${layer.name}" must be in [0, 1], got ${d}`);
    return Math.log(Math.max(d, 1 / sizes[i]));
  });
  const budget = options.budget ?? layers.reduce((acc, layer, i) => acc + (densities.get(layer.name) as number) * sizes[i], 0);
  if (!(budget > 0) || !Number.isFinite(budget)) throw new PruneError('OUT_OF_RANGE', `the weight budget must be a positive number, got ${budget}`);
  const sweeps = options.sweeps ?? 500;
  if (!Number.isInteger(sweeps) || sweeps < 1) throw new PruneError('INVALID_ARGUMENT', `sweeps must be a positive integer, got ${sweeps}`);

  const x = new Float64Array(groups.length);
  const scaling = layers.map(scalingGroups);
  const touching = groups.map((g) => layers.map((_, l) => l).filter((l) => !g.fixed && scaling[l].includes(g.id)));
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let change = 0;
    for (const g of groups) {
      if (g.fixed || touching[g.id].length === 0) continue;
      // Minimise Σ_l w_l (m_lg·x_g + rest_l − y_l)² in x_g alone, then project onto x_g ≤ 0.
      let num = 0;
      let den = 0;
      for (const l of touching[g.id]) {
        const w = sizes[l] / totalWeights;
        let m = 0;
        let rest = 0;
        for (const h of scaling[l]) {
          if (h === g.id) m++;
          else rest += x[h];
        }
        num += w * m * (target[l] - rest);
        den += w * m * m;
      }
      const next = Math.min(0, num / den);
      change = Math.max(change, Math.abs(next - x[g.id]));
      x[g.id] = next;
    }
    if (change < 1e-12) break;
  }

  const kept = (t: number): number =>
    layers.reduce((acc, _, l) => acc + sizes[l] * scaling[l].reduce((p, g) => p * (groups[g].fixed ? 1 : Math.min(1, Math.exp(x[g] + t))), 1), 0);
  let lo = -60;
  let hi = 60;
  if (kept(hi) <= budget) return groups.map(() => 1);
  for (let i = 0; i < 200 && hi - lo > 1e-13; i++) {
    const mid = (lo + hi) / 2;
    if (kept(mid) > budget) hi = mid;
    else lo = mid;
  }
  return groups.map((g) => (g.fixed ? 1 : Math.min(1, Math.exp(x[g.id] + lo))));
}

/** Options of {@link precropSpec}. */
export interface PrecropOptions extends KeepRatioOptions {
  /** Round every free width to a multiple of this (never above the full width, never below one multiple). @defaultValue 1 */
  multipleOf?: number;
}

/** A PreCropped architecture and how it was derived. */
export interface PrecropPlan {
  /** The narrower dense network: the same description with the new widths. */
  spec: ConvNetSpec;
  /** Keep ratio r_g per channel group before rounding. */
  ratios: number[];
  /** Width per channel group after rounding. */
  widths: number[];
  /** Kernel entries the plan aimed at (the budget). */
  targetWeights: number;
  /** Kernel entries of the narrow network. */
  weights: number;
}

/**
 * PreCropping: turns the layerwise densities of a pruning-at-initialization mask into a
 * narrower dense network of about the same number of weights. Keep ratios come from
 * {@link channelKeepRatios}; widths are round(r_g·C_g), at least 1 (or one multiple), and
 * coupled layers share their group's width, so residual additions and depthwise layers stay
 * consistent; the input and classifier widths never change.
 *
 * @param spec - the full-width architecture
 * @param densities - d_l per weight layer (e.g. `layerDensities(masks)`)
 * @param options - budget, rounding
 * @returns the narrow spec, ratios, widths and weight counts
 */
export function precropSpec(spec: ConvNetSpec, densities: ReadonlyMap<string, number>, options: PrecropOptions = {}): PrecropPlan {
  const layout = layoutOf(spec);
  const multipleOf = options.multipleOf ?? 1;
  if (!Number.isInteger(multipleOf) || multipleOf < 1) throw new PruneError('INVALID_ARGUMENT', `multipleOf must be a positive integer, got ${multipleOf}`);
  const ratios = channelKeepRatios(layout, densities, options);
  const widths = layout.groups.map((g, i) => {
    if (g.fixed) return g.width;
    const rounded = Math.round((ratios[i] * g.width) / multipleOf) * multipleOf;
    return Math.min(g.width, Math.max(Math.min(multipleOf, g.width), rounded, 1));
  });
  const narrow = withGroupWidths(spec, widths);
  const weights = layoutOf(narrow).layers.reduce((acc, l) => acc + weightCount(l), 0);
  const targetWeights =
    options.budget ?? layout.layers.reduce((acc, l) => acc + (densities.get(l.name) as number) * weightCount(l), 0);
  return { spec: narrow, ratios, widths, targetWeights, weights };
}
