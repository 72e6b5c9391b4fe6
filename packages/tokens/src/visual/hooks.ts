import { PruneError, Random, type Tensor, type TokenAction, type TokenHook, type TokenLayerView, slice } from '@prune/core';
import { attentionReceived } from './attention.js';
import { uniformGridKeep, randomKeep } from './baselines.js';
import { checkKeep, topKIndices, withClsToken } from './common.js';
import { gprune, type GpruneScoreOptions } from './gprune.js';
import { hipruneSelect } from './hiprune.js';
import { bipartiteSoftMatching, mergeWeightedAverage } from './tome.js';

/**
 * A token pruner as a vision transformer's {@link TokenHook} (the contract in `@prune/core`):
 * the model calls `afterAttention` in every block, between the attention branch and the MLP,
 * and applies the returned action (if any) before the MLP. A hook serves one forward pass at a
 * time; layer 0 starts a new image.
 */
export interface TokenPruningHook extends TokenHook {
  /** Name used in reports. */
  readonly name: string;
}

/** Options shared by the hooks that prune once, at one block. */
export interface PruneAtLayerOptions {
  /** Patch tokens kept (CLS is always kept on top). */
  keep: number;
  /** Block at which the tokens are dropped (after its attention, before its MLP). */
  layer: number;
}

function checkView(where: string, view: TokenLayerView): number {
  const n = view.tokens.shape[0] - 1;
  if (n !== view.gridHeight * view.gridWidth) {
    throw new PruneError('SHAPE_MISMATCH', `${where}: block ${view.layer} has ${n} patch tokens, not the full ${view.gridHeight}×${view.gridWidth} grid; prune with one method at one block`);
  }
  return n;
}

function checkLayer(where: string, layer: number, name = 'layer'): void {
  if (!Number.isInteger(layer) || layer < 0) {
    throw new PruneError('OUT_OF_RANGE', `${where}: ${name} ${layer} must be a block index ≥ 0`);
  }
}

/** Options of {@link hipruneHook}. */
export interface HipruneHookOptions {
  /** Patch tokens kept, N′. */
  keep: number;
  /** The object (middle) block whose attention picks the anchors. */
  objectLayer: number;
  /** The deep block whose attention picks the registers; tokens are dropped here. */
  deepLayer: number;
  /**
   * α, the budget share of anchors and buffers.
   * @defaultValue `0.1`
   */
  alpha?: number;
  /**
   * Drop left/right neighbours that wrap onto another row.
   * @defaultValue `false`
   */
  noRowWrap?: boolean;
}

/**
 * HiPrune as a ViT hook: records the attention received per patch at `objectLayer`, and at
 * `deepLayer` keeps anchors, their buffers and registers ({@link hipruneSelect}).
 * @param options - budget, layers, α
 * @returns the hook
 */
export function hipruneHook(options: HipruneHookOptions): TokenPruningHook {
  checkLayer('hipruneHook', options.objectLayer, 'objectLayer');
  checkLayer('hipruneHook', options.deepLayer, 'deepLayer');
  if (options.objectLayer > options.deepLayer) {
    throw new PruneError('INVALID_ARGUMENT', `hipruneHook: objectLayer ${options.objectLayer} comes after deepLayer ${options.deepLayer}; the object layer is the middle one`);
  }
  let objectScores: Float32Array | undefined;
  return {
    name: 'HiPrune',
    afterAttention(view) {
      if (view.layer === 0) objectScores = undefined;
      if (view.layer !== options.objectLayer && view.layer !== options.deepLayer) return undefined;
      checkView('hipruneHook', view);
      const scores = attentionReceived(view.attention, { clsToken: true });
      if (view.layer === options.objectLayer) objectScores = scores;
      if (view.layer !== options.deepLayer) return undefined;
      const selection = hipruneSelect(objectScores ?? scores, scores, { keep: options.keep, gridWidth: view.gridWidth, alpha: options.alpha, noRowWrap: options.noRowWrap });
      return { keep: withClsToken(selection.kept) };
    },
  };
}

/** Options of {@link fastvHook}. */
export interface FastvHookOptions extends PruneAtLayerOptions {
  /**
   * Query row that ranks the tokens. In a ViT classifier the CLS row (0) is the readout, the
   * counterpart of FastV's last text token.
   * @defaultValue `0`
   */
  queryRow?: number | 'all';
}

/**
 * FastV as a ViT hook: at `layer`, keeps the patch tokens that receive the most attention
 * from the query row (head-averaged) and drops the rest for all later blocks.
 * @param options - budget, layer, query row
 * @returns the hook
 */
export function fastvHook(options: FastvHookOptions): TokenPruningHook {
  checkLayer('fastvHook', options.layer);
  return {
    name: 'FastV',
    afterAttention(view) {
      if (view.layer !== options.layer) return undefined;
      const scores = attentionReceived(view.attention, { queryRows: options.queryRow ?? 0, clsToken: true });
      checkKeep('fastvHook', options.keep, scores.length);
      return { keep: withClsToken(topKIndices(scores, options.keep)) };
    },
  };
}

/** Options of {@link gpruneHook}. */
export type GpruneHookOptions = PruneAtLayerOptions & GpruneScoreOptions;

/**
 * G-Prune as a ViT hook: at `layer`, scores the patch tokens by propagation over the
 * similarity graph of their hidden states and keeps the top `keep`.
 * @param options - budget, layer, graph options
 * @returns the hook
 */
export function gpruneHook(options: GpruneHookOptions): TokenPruningHook {
  checkLayer('gpruneHook', options.layer);
  return {
    name: 'G-Prune',
    afterAttention(view) {
      if (view.layer !== options.layer) return undefined;
      const [n1, d] = view.tokens.shape;
      const patches = slice(view.tokens, [1, 0], [n1 - 1, d]);
      try {
        return { keep: withClsToken(gprune(patches, options)) };
      } finally {
        patches.dispose();
      }
    },
  };
}

/** Options of {@link randomHook}. */
export interface RandomHookOptions extends PruneAtLayerOptions {
  /** Seed of the draws; successive images get successive draws. */
  seed: number;
}

/**
 * Random baseline as a ViT hook: keeps `keep` patch tokens drawn uniformly at `layer`.
 * @param options - budget, layer, seed
 * @returns the hook
 */
export function randomHook(options: RandomHookOptions): TokenPruningHook {
  checkLayer('randomHook', options.layer);
  const rng = new Random(options.seed);
  return {
    name: 'random',
    afterAttention(view) {
      if (view.layer !== options.layer) return undefined;
      return { keep: withClsToken(randomKeep({ count: view.tokens.shape[0] - 1, keep: options.keep, random: rng })) };
    },
  };
}

/**
 * Uniform-grid baseline as a ViT hook: keeps the same evenly spread patches of every image
 * ({@link uniformGridKeep}).
 * @param options - budget, layer
 * @returns the hook
 */
export function uniformGridHook(options: PruneAtLayerOptions): TokenPruningHook {
  checkLayer('uniformGridHook', options.layer);
  return {
    name: 'uniform grid',
    afterAttention(view) {
      if (view.layer !== options.layer) return undefined;
      checkView('uniformGridHook', view);
      return { keep: withClsToken(uniformGridKeep({ gridHeight: view.gridHeight, gridWidth: view.gridWidth, keep: options.keep })) };
    },
  };
}

/** Options of {@link tomeHook}. */
export interface TomeHookOptions {
  /** Tokens merged away in each block (see `tomeSchedule`, `tomeScheduleToKeep`). */
  schedule: readonly number[];
}

/**
 * ToMe as a ViT hook: in every block with r > 0, bipartite soft matching on the head-averaged
 * keys (CLS protected) and size-weighted merging. The model adds log(size) to the attention
 * logits of later blocks (proportional attention) because the action carries sizes.
 * @param options - r per block
 * @returns the hook
 */
export function tomeHook(options: TomeHookOptions): TokenPruningHook {
  for (const r of options.schedule) {
    if (!Number.isInteger(r) || r < 0) {
      throw new PruneError('OUT_OF_RANGE', `tomeHook: schedule entry ${r} must be a non-negative integer`);
    }
  }
  return {
    name: 'ToMe',
    afterAttention(view) {
      const r = options.schedule[view.layer] ?? 0;
      if (r === 0) return undefined;
      const matching = bipartiteSoftMatching(view.keys, r, { classToken: true });
      if (matching.r === 0) return undefined;
      const merged = mergeWeightedAverage(matching, view.tokens, view.sizes);
      // A merged token is placed at its B token's position (the one that absorbed the others).
      const t = view.positions.length;
      const positions = Int32Array.from([...Array.from(matching.unmerged, (a) => view.positions[2 * a]), ...Array.from({ length: Math.floor(t / 2) }, (_, b) => view.positions[2 * b + 1])]);
      return { tokens: merged.tokens, sizes: merged.sizes, positions };
    },
  };
}

/**
 * A hook that keeps fixed token indices at one block (for tests and custom selections).
 * @param keep - token indices to keep at `layer`, CLS included explicitly
 * @param layer - block index
 * @returns the hook
 */
export function fixedKeepHook(keep: ArrayLike<number>, layer: number): TokenPruningHook {
  checkLayer('fixedKeepHook', layer);
  const indices = Int32Array.from(keep);
  return {
    name: 'fixed',
    afterAttention(view) {
      if (view.layer !== layer) return undefined;
      const n = view.tokens.shape[0];
      for (const i of indices) {
        if (i < 0 || i >= n) throw new PruneError('OUT_OF_RANGE', `fixedKeepHook: token ${i} is outside [0, ${n})`);
      }
      return { keep: indices };
    },
  };
}
