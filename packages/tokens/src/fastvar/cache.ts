import { type MapSize, PruneError, type Tensor, areaInterpolate, dispose } from '@prune/core';
import { pivotalTokens } from './pivotal.js';
import { checkMapSize, gatherTokens, readTokens, scatterHost, toTensorLike } from './token-map.js';

/** A scale FastVAR prunes, with the fraction of its tokens that skip the branches. */
export interface PrunedScale extends MapSize {
  /** Fraction of the map's tokens pruned, in [0, 1). */
  ratio: number;
}

/** Which scales, ratios and layers FastVAR prunes. */
export interface FastVarSchedule {
  /** The unpruned scale whose branch outputs are cached to restore pruned tokens later. */
  cacheScale: MapSize;
  /** Scales after the cache scale whose branches run on the pivotal tokens only. */
  prunedScales: readonly PrunedScale[];
  /** Scales whose forward pass the generation loop skips entirely (see {@link FastVarCache.skips}). */
  skippedScales: readonly MapSize[];
  /** Blocks that prune: indices `from ≤ layer < to`; the others always run the full map. */
  layers: { from: number; to: number };
}

/**
 * The schedule of the reference implementation for Infinity-2B at 1024² (scales up to
 * 64×64): cache at 24×24, prune 40% at 32×32 and 50% at 40×40, skip 48×48 and 64×64, in
 * blocks 3–27. Smaller models need their own scales; pass them to {@link FastVarCache}.
 */
export const FASTVAR_INFINITY_2B_SCHEDULE: FastVarSchedule = {
  cacheScale: { height: 24, width: 24 },
  prunedScales: [
    { height: 32, width: 32, ratio: 0.4 },
    { height: 40, width: 40, ratio: 0.5 },
  ],
  skippedScales: [
    { height: 48, width: 48 },
    { height: 64, width: 64 },
  ],
  layers: { from: 3, to: 28 },
};

/**
 * A residual branch (self-attention, cross-attention or feed-forward) run on a token map:
 * receives the tokens to process and, when pruned, their positions in the full map (for
 * position embeddings); returns one output row per input token.
 */
export type FastVarBranch = (tokens: Tensor, positions: Int32Array | undefined) => Tensor;

/** Tokens forwarded through branches vs. tokens in the maps, counted by a {@link FastVarCache}. */
export interface FastVarStats {
  /** Branch calls made. */
  branches: number;
  /** Tokens the branches computed. */
  forwardedTokens: number;
  /** Tokens in the maps those branches were called on. */
  totalTokens: number;
}

/**
 * FastVAR's cached token pruning for one generation: around each residual branch of a
 * block, at a pruned scale, only the pivotal tokens go through the branch; the branch's
 * output for the whole map is its cached output at the cache scale, area-resized to the
 * current scale, with the computed outputs of the kept tokens scattered into it. One cache
 * per (block, branch). Call {@link FastVarCache.reset} before each new generation.
 *
 * @example
 * ```ts
 * const fastvar = new FastVarCache({ cacheScale: { height: 7, width: 7 }, prunedScales: [{ height: 14, width: 14, ratio: 0.5 }], layers: { from: 1, to: 4 } });
 * const y = fastvar.branch(layer, 'ffn', x, { height: 14, width: 14 }, (t) => ffn(norm(t)));
 * ```
 */
export class FastVarCache {
  /** The schedule in force (defaults filled in). */
  readonly schedule: FastVarSchedule;
  readonly #cache = new Map<string, { output: Float32Array; batch: number; channels: number; size: MapSize }>();
  #stats: FastVarStats = { branches: 0, forwardedTokens: 0, totalTokens: 0 };

  /**
   * @param schedule - cache scale, pruned scales, skipped scales and block range; omitted
   *   fields take {@link FASTVAR_INFINITY_2B_SCHEDULE}'s values.
   */
  constructor(schedule: Partial<FastVarSchedule> = {}) {
    const full: FastVarSchedule = { ...FASTVAR_INFINITY_2B_SCHEDULE, ...schedule };
    checkMapSize('FastVarCache: cacheScale', full.cacheScale);
    for (const s of full.prunedScales) {
      checkMapSize('FastVarCache: prunedScales', s);
      if (!(s.ratio >= 0 && s.ratio < 1)) {
        throw new PruneError('OUT_OF_RANGE', `FastVarCache: ratio ${s.ratio} at ${s.height}×${s.width} is outside [0, 1)`);
      }
      if (s.height * s.width <= full.cacheScale.height * full.cacheScale.width) {
        throw new PruneError(
          'INVALID_ARGUMENT',
          `FastVarCache: pruned scale ${s.height}×${s.width} is not larger than the cache scale ${full.cacheScale.height}×${full.cacheScale.width}; pruned tokens are restored from a smaller, earlier scale`,
        );
      }
    }
    for (const s of full.skippedScales) checkMapSize('FastVarCache: skippedScales', s);
    const { from, to } = full.layers;
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < from) {
      throw new PruneError('INVALID_ARGUMENT', `FastVarCache: layers {from: ${from}, to: ${to}} must be integers with 0 ≤ from ≤ to`);
    }
    this.schedule = full;
  }

  /** Forgets the cached branch outputs and the counters (call before each generation). */
  reset(): void {
    this.#cache.clear();
    this.#stats = { branches: 0, forwardedTokens: 0, totalTokens: 0 };
  }

  /** Whether the generation loop should skip the forward pass at this scale entirely. */
  skips(size: MapSize): boolean {
    return this.schedule.skippedScales.some((s) => sameSize(s, size));
  }

  /** The pruning ratio that applies to `layer` at `size` (0 when that branch runs in full). */
  ratioAt(layer: number, size: MapSize): number {
    const { from, to } = this.schedule.layers;
    if (layer < from || layer >= to) return 0;
    return this.schedule.prunedScales.find((s) => sameSize(s, size))?.ratio ?? 0;
  }

  /** Counters since the last {@link FastVarCache.reset}. */
  stats(): FastVarStats {
    return { ...this.#stats };
  }

  /**
   * Runs one residual branch on a scale's token map with cached token pruning.
   *
   * @param layer - block index
   * @param name - which branch of the block (e.g. `attn`, `cross`, `ffn`); one cache each
   * @param x - the branch input `[batch, tokens, channels]` (or `[tokens, channels]`) before
   *   the branch's own normalisation: pivotal scores are computed on it
   * @param size - the scale's map size (`height·width = tokens`)
   * @param run - the branch
   * @returns the branch output for every token of the map (not yet added to `x`)
   */
  branch(layer: number, name: string, x: Tensor, size: MapSize, run: FastVarBranch): Tensor {
    const tokens = x.shape[x.rank - 2];
    checkMapSize(`FastVarCache.branch(${layer}, ${name})`, size, tokens);
    const key = `${layer}\u0000${name}`;
    const scale = this.#inLayers(layer) ? this.schedule.prunedScales.find((s) => sameSize(s, size)) : undefined;
    this.#stats.branches++;
    this.#stats.totalTokens += tokens;
    if (!scale) {
      const y = run(x, undefined);
      this.#stats.forwardedTokens += tokens;
      if (sameSize(size, this.schedule.cacheScale)) {
        // A host copy: the caller owns (and may dispose) y.
        const { data, batch, channels } = readTokens('FastVarCache.branch', 'branch output', y);
        this.#cache.set(key, { output: Float32Array.from(data), batch, channels, size });
      }
      return y;
    }
    const cached = this.#cache.get(key);
    if (!cached) {
      throw new PruneError(
        'INVALID_ARGUMENT',
        `FastVarCache: branch "${name}" of block ${layer} reached the pruned scale ${size.height}×${size.width} without a cached output of the cache scale ${this.schedule.cacheScale.height}×${this.schedule.cacheScale.width}; run that scale first (and reset() only between generations)`,
      );
    }
    const positions = pivotalTokens(x, scale.ratio);
    const kept = gatherTokens(x, positions);
    const computed = run(kept, positions);
    const part = readTokens('FastVarCache.branch', 'branch output', computed);
    const keptPerSample = positions.length / part.batch;
    if (part.batch !== cached.batch || part.channels !== cached.channels || part.tokens !== keptPerSample) {
      throw new PruneError(
        'SHAPE_MISMATCH',
        `FastVarCache: branch "${name}" of block ${layer} returned ${part.batch}×${part.tokens}×${part.channels} for ${keptPerSample} kept tokens; the cached output is ${cached.batch}×…×${cached.channels}`,
      );
    }
    const full = areaInterpolate(cached.output, cached.batch, cached.channels, cached.size, size);
    scatterHost(full, tokens, part.channels, positions, part.data, part.batch, keptPerSample);
    this.#stats.forwardedTokens += keptPerSample;
    dispose([kept, computed]);
    return toTensorLike(x, full, part.batch, tokens, part.channels);
  }

  #inLayers(layer: number): boolean {
    return layer >= this.schedule.layers.from && layer < this.schedule.layers.to;
  }
}

function sameSize(a: MapSize, b: MapSize): boolean {
  return a.height === b.height && a.width === b.width;
}
