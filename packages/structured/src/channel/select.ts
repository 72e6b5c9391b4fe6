import { PruneError } from '@prune/core';
import type { ChannelGraph } from './graph.js';
import type { ChannelScores } from './importance.js';

/** Options of {@link selectChannels}. */
export interface ChannelSelectionOptions {
  /** Fraction of channels to remove, in [0, 1): of every group, or of all channels together with `global`. */
  ratio: number;
  /**
   * Rank all groups' (normalised) scores together and remove the lowest `ratio` of all
   * channels, so groups lose different fractions. Otherwise every group loses `ratio` of its own.
   * @defaultValue `false`
   */
  global?: boolean;
  /**
   * Per-layer ratios by producer layer name; they apply to that layer's whole group (which is
   * then left out of the global ranking). Two producers of one group must not disagree.
   * @defaultValue none
   */
  layerRatios?: Readonly<Record<string, number>>;
  /**
   * Round each layer's remaining width (kept + fixed channels) to the nearest multiple of this
   * (at least one multiple), e.g. 8 for SIMD-friendly shapes.
   * @defaultValue `1`
   */
  roundTo?: number;
  /**
   * Fewest removable channels a group keeps.
   * @defaultValue `1`
   */
  minChannels?: number;
  /**
   * With `global`: the largest fraction of any one group that may go.
   * @defaultValue `1` (capped by `minChannels`)
   */
  maxGroupRatio?: number;
}

/** Which channels go: for each group, the sorted indices of its removed channels. */
export interface ChannelPlan {
  /** `removed[g]`: removed channel indices of group g, ascending. */
  readonly removed: readonly Int32Array[];
}

function checkRatio(what: string, r: unknown): number {
  if (typeof r !== 'number' || !(r >= 0 && r < 1)) throw new PruneError('OUT_OF_RANGE', `selectChannels: ${what} must be a number in [0, 1), got ${String(r)}`);
  return r;
}

function checkCount(what: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw new PruneError('INVALID_ARGUMENT', `selectChannels: ${what} must be a positive integer, got ${String(v)}`);
  return v as number;
}

/** Channels of a group ordered least important first; unscored channels last (never chosen). */
function ascending(scores: Float64Array): number[] {
  const idx = Array.from(scores, (_, u) => u).filter((u) => !Number.isNaN(scores[u]));
  return idx.sort((a, b) => scores[a] - scores[b] || a - b);
}

/** Kept count after rounding the layer's width (kept + fixed) to a multiple of `roundTo`. */
function roundKept(kept: number, size: number, fixed: number, roundTo: number, minKeep: number): number {
  // A group nothing was taken from stays whole: rounding never prunes on its own.
  if (roundTo > 1 && kept < size) {
    const width = kept + fixed;
    const target = Math.max(roundTo, Math.round(width / roundTo) * roundTo);
    kept = Math.min(size, target - fixed);
  }
  return Math.min(size, Math.max(kept, minKeep));
}

/**
 * Chooses the channels to remove from importance scores: per group (every group loses `ratio`
 * of its channels, or its `layerRatios` entry) or globally (the lowest-scoring `ratio` of all
 * channels). A group always keeps at least `minChannels`; widths can be rounded to a multiple
 * of `roundTo`; a group without scores (e.g. no BN layer under `bnScale`) is left whole. Ties
 * go to the lower channel index.
 *
 * @param graph - the channel graph
 * @param scores - from `scoreChannels`
 * @param options - ratio, global ranking, per-layer ratios, rounding
 * @returns the channels to remove
 * @throws PruneError `OUT_OF_RANGE` for ratios outside [0, 1); `INVALID_ARGUMENT` for unknown
 *   layer names, conflicting ratios in one group, or scores of the wrong shape
 */
export function selectChannels(graph: ChannelGraph, scores: ChannelScores, options: ChannelSelectionOptions): ChannelPlan {
  if (options === null || typeof options !== 'object') throw new PruneError('INVALID_ARGUMENT', 'selectChannels: pass options such as { ratio: 0.3 }');
  const ratio = checkRatio('ratio', options.ratio);
  const roundTo = checkCount('roundTo', options.roundTo, 1);
  const minKeep = checkCount('minChannels', options.minChannels, 1);
  const maxGroupRatio = options.maxGroupRatio ?? 1;
  if (typeof maxGroupRatio !== 'number' || !(maxGroupRatio > 0 && maxGroupRatio <= 1)) {
    throw new PruneError('OUT_OF_RANGE', `selectChannels: maxGroupRatio must be in (0, 1], got ${String(options.maxGroupRatio)}`);
  }
  if (!Array.isArray(scores) || scores.length !== graph.groups.length || scores.some((s, g) => s.length !== graph.groups[g].size)) {
    throw new PruneError('INVALID_ARGUMENT', 'selectChannels: scores do not match the graph; compute them with scoreChannels on the same graph');
  }
  const groupRatio = new Map<number, number>();
  const groupOf = new Map<string, number>();
  for (const g of graph.groups) for (const p of g.producers) groupOf.set(p, g.id);
  for (const [layer, r] of Object.entries(options.layerRatios ?? {})) {
    checkRatio(`layerRatios[${JSON.stringify(layer)}]`, r);
    const g = groupOf.get(layer);
    if (g === undefined) {
      const known = graph.model.layers.some((l) => l.name === layer);
      throw new PruneError('INVALID_ARGUMENT', known ? `selectChannels: layer ${layer} has no removable output channels (they are coupled to the model's input or output, or to a kept layer)` : `selectChannels: the model has no layer ${layer}`);
    }
    const prev = groupRatio.get(g);
    if (prev !== undefined && prev !== r) {
      throw new PruneError('INVALID_ARGUMENT', `selectChannels: layers ${graph.groups[g].producers.join(', ')} share one dependency group but were given ratios ${prev} and ${r}; give them one ratio`);
    }
    groupRatio.set(g, r);
  }
  const orders = scores.map(ascending);
  const keptCount = graph.groups.map((g, i) => (orders[i].length === 0 ? g.size : g.size - Math.floor((groupRatio.get(i) ?? ratio) * g.size)));
  if (options.global === true) {
    const pool: { g: number; u: number; s: number }[] = [];
    let total = 0;
    for (const g of graph.groups) {
      if (groupRatio.has(g.id) || orders[g.id].length === 0) continue;
      keptCount[g.id] = g.size;
      total += g.size;
      for (const u of orders[g.id]) pool.push({ g: g.id, u, s: scores[g.id][u] });
    }
    pool.sort((a, b) => a.s - b.s || a.g - b.g || a.u - b.u);
    let left = Math.floor(ratio * total);
    for (const { g } of pool) {
      if (left === 0) break;
      const size = graph.groups[g].size;
      const cap = Math.min(size - minKeep, Math.floor(maxGroupRatio * size));
      if (size - keptCount[g] >= cap) continue;
      keptCount[g]--;
      left--;
    }
  }
  const removed = graph.groups.map((g) => {
    const order = orders[g.id];
    if (order.length === 0) return new Int32Array(0);
    const kept = roundKept(keptCount[g.id], g.size, g.fixed, roundTo, Math.min(minKeep, g.size));
    // Unscored channels are never removed.
    const go = order.slice(0, Math.min(order.length, g.size - kept));
    return Int32Array.from(go).sort();
  });
  return { removed };
}

/** Removed channels per group as membership masks (`1` = removed). */
export function removedMasks(graph: ChannelGraph, plan: ChannelPlan): Uint8Array[] {
  if (plan === null || typeof plan !== 'object' || !Array.isArray(plan.removed) || plan.removed.length !== graph.groups.length) {
    throw new PruneError('INVALID_ARGUMENT', 'the channel plan does not match the graph; make it with selectChannels on the same graph');
  }
  return graph.groups.map((g) => {
    const mask = new Uint8Array(g.size);
    for (const u of plan.removed[g.id]) {
      if (!(Number.isSafeInteger(u) && u >= 0 && u < g.size)) throw new PruneError('OUT_OF_RANGE', `channel plan: group ${g.id} has ${g.size} channels, got index ${u}`);
      mask[u] = 1;
    }
    return mask;
  });
}
