import {
  ColumnNormAccumulator,
  type ModelAdapter,
  type ProgressCallback,
  PruneError,
  Tensor,
  dispose,
  progressStage,
} from '@prune/core';
import { type CalibrationSource, checkCalibration, checkSampleCount, embedSamples, runBlockOver } from './calibration-pass.js';
import type { LayerStatistic } from './method.js';
import { wandaScore } from './wanda.js';

/** Default outlier multiple M of OWL: a score is an outlier when it exceeds M × the block mean. */
export const OWL_DEFAULT_M = 5;
/** Default λ of OWL: block densities spread over [1 − s − λ, 1 − s + λ]. */
export const OWL_DEFAULT_LAMBDA = 0.08;

/**
 * Layerwise outlier distribution (LOD) of one block (Yin et al., 2024, "Outlier Weighed
 * Layerwise Sparsity"; luuyin/OWL `check_outlier_mean`): with S the Wanda scores of all the
 * block's linears concatenated, `LOD = 100 · #{S > M · mean(S)} / #S`, in percent.
 *
 * The mean is taken in float64 over every score and rounded to float32, then multiplied by
 * M in float32, as the reference's float32 tensors do.
 *
 * @param scores - the block's score tensors (float32, any shapes)
 * @param m - outlier multiple M
 * @returns the outlier percentage
 */
export function outlierRatio(scores: readonly Tensor[], m: number = OWL_DEFAULT_M): number {
  if (!Array.isArray(scores) || scores.length === 0 || !scores.every((s) => s instanceof Tensor && s.dtype === 'float32')) {
    throw new PruneError('INVALID_ARGUMENT', 'outlierRatio: scores must be a non-empty array of float32 tensors (one per linear of the block)');
  }
  if (typeof m !== 'number' || !Number.isFinite(m) || m <= 0) {
    throw new PruneError('OUT_OF_RANGE', `outlierRatio: the outlier multiple M must be a positive number (OWL uses 5), got ${String(m)}`);
  }
  const data = scores.map((s) => s.dataSync() as Float32Array);
  let sum = 0;
  let count = 0;
  for (const d of data) {
    for (let i = 0; i < d.length; i++) sum += d[i];
    count += d.length;
  }
  if (count === 0) return 0;
  const limit = Math.fround(Math.fround(sum / count) * Math.fround(m));
  let outliers = 0;
  for (const d of data) for (let i = 0; i < d.length; i++) if (d[i] > limit) outliers++;
  return (outliers / count) * 100;
}

/** Options of {@link owlSparsities}. */
export interface OwlSparsitiesOptions {
  /** The model's overall target sparsity s ∈ [0, 1). */
  sparsity: number;
  /**
   * λ: densities spread over [1 − s − λ, 1 − s + λ].
   * @defaultValue 0.08
   */
  lambda?: number;
}

/**
 * OWL's per-block sparsities from the blocks' outlier ratios (luuyin/OWL
 * `prune_wanda_outlier`): `r = (LOD − min)/(max − min) · 2λ`,
 * `density_l = r_l − mean(r) + (1 − s)`, `sparsity_l = 1 − density_l`: blocks with more
 * outliers are pruned less, and the mean sparsity stays s. As in the reference's pruning
 * step, a sparsity ≤ 0 becomes 0.01. When all LODs are equal (the reference would divide by
 * zero) every block gets s.
 *
 * @param lod - outlier ratio of each block, e.g. from {@link outlierRatio}
 * @param options - s and λ
 * @returns sparsity per block
 * @throws PruneError `OUT_OF_RANGE` when a block's sparsity would reach 1 (lower s or λ)
 */
export function owlSparsities(lod: readonly number[], options: OwlSparsitiesOptions): number[] {
  const s = options?.sparsity;
  const lambda = options?.lambda ?? OWL_DEFAULT_LAMBDA;
  if (typeof s !== 'number' || !Number.isFinite(s) || s < 0 || s >= 1) {
    throw new PruneError('OUT_OF_RANGE', `owlSparsities: sparsity must be a number in [0, 1), got ${String(s)}`);
  }
  if (typeof lambda !== 'number' || !Number.isFinite(lambda) || lambda < 0) {
    throw new PruneError('OUT_OF_RANGE', `owlSparsities: lambda must be a non-negative number (OWL uses 0.08), got ${String(lambda)}`);
  }
  if (!Array.isArray(lod) || lod.length === 0 || !lod.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new PruneError('INVALID_ARGUMENT', 'owlSparsities: lod must be a non-empty array of finite numbers, one per block');
  }
  const lo = Math.min(...lod);
  const hi = Math.max(...lod);
  const r = lod.map((v) => (hi === lo ? 0 : ((v - lo) / (hi - lo)) * lambda * 2));
  const meanR = r.reduce((a, v) => a + v, 0) / r.length;
  return r.map((v, i) => {
    const sparsity = 1 - (v - meanR + (1 - s));
    if (sparsity >= 1) {
      throw new PruneError(
        'OUT_OF_RANGE',
        `owlSparsities: block ${i} would be pruned to sparsity ${sparsity.toFixed(4)} ≥ 1 (s = ${s}, λ = ${lambda}); lower the sparsity or λ so that s + 2λ < 1`,
      );
    }
    return sparsity <= 0 ? 0.01 : sparsity;
  });
}

/** Options of {@link owlLayerSparsity}. */
export interface OwlOptions {
  /** The model's overall target sparsity s ∈ [0, 1). */
  sparsity: number;
  /** Calibration samples (streamed; the first `nsamples` are read). */
  calibration: CalibrationSource;
  /**
   * Samples to use.
   * @defaultValue 128
   */
  nsamples?: number;
  /**
   * Outlier multiple M.
   * @defaultValue 5
   */
  m?: number;
  /**
   * λ.
   * @defaultValue 0.08
   */
  lambda?: number;
  /**
   * Progress reports: stages `'embed'` and `'owl'` (block runs over samples).
   * @defaultValue no reporting
   */
  onProgress?: ProgressCallback;
  /**
   * Stops the pass.
   * @defaultValue none
   */
  signal?: AbortSignal;
}

/** What {@link owlLayerSparsity} found. */
export interface OwlResult {
  /** Block names, in order. */
  readonly blocks: readonly string[];
  /** Outlier ratio (percent) per block. */
  readonly lod: readonly number[];
  /** Sparsity per block: pass it as `layerSparsity` to `pruneModel`. */
  readonly sparsity: readonly number[];
  /** M and λ used. */
  readonly m: number;
  /** λ used. */
  readonly lambda: number;
}

/**
 * OWL's first pass over the whole model, as the reference runs it before pruning: the
 * calibration samples go through the DENSE model block by block (nothing is pruned, each
 * block's dense outputs feed the next), each linear's Wanda statistic is collected, and the
 * block's LOD is computed over the concatenated Wanda scores of its linears. The per-block
 * sparsities ({@link owlSparsities}) then go to `pruneModel` as `layerSparsity`, with Wanda,
 * SparseGPT or any method. The model is only read.
 *
 * Memory: one hidden state per sample, plus one block's score tensors at a time.
 *
 * @param adapter - the model (needs a runner)
 * @param options - s, calibration, M, λ
 * @returns LOD and sparsity per block
 *
 * @example
 * ```ts
 * const owl = await owlLayerSparsity(model, { sparsity: 0.7, calibration: windows, nsamples: 128 });
 * await pruneModel(model, { method: wanda(), target: { kind: 'unstructured', sparsity: 0.7 }, calibration: windows, layerSparsity: owl.sparsity });
 * ```
 */
export async function owlLayerSparsity(adapter: ModelAdapter, options: OwlOptions): Promise<OwlResult> {
  const op = 'owlLayerSparsity';
  if (options === null || typeof options !== 'object') {
    throw new PruneError('INVALID_ARGUMENT', `${op}: needs options such as { sparsity: 0.7, calibration }`);
  }
  const m = options.m ?? OWL_DEFAULT_M;
  const lambda = options.lambda ?? OWL_DEFAULT_LAMBDA;
  // Validate s and λ before the (long) pass.
  owlSparsities([0], { sparsity: options.sparsity, lambda });
  if (typeof m !== 'number' || !Number.isFinite(m) || m <= 0) {
    throw new PruneError('OUT_OF_RANGE', `${op}: the outlier multiple m must be a positive number (OWL uses 5), got ${String(m)}`);
  }
  const nsamples = checkSampleCount(op, options.nsamples ?? 128);
  const runner = checkCalibration(op, adapter, options.calibration, 'OWL');
  const blocks = adapter.blocks();
  if (!blocks.some((b) => b.layers.length > 0)) {
    throw new PruneError('NOT_FOUND', `${op}: the model ${adapter.description} has no prunable layer`);
  }
  const { signal, onProgress } = options;
  const hidden = await embedSamples(op, runner, options.calibration, nsamples, signal, progressStage(onProgress, 'embed', nsamples, 'samples'));
  const progress = progressStage(onProgress, 'owl', nsamples * blocks.length, 'samples');
  const lod: number[] = [];
  const names: string[] = [];
  try {
    for (let b = 0; b < blocks.length; b++) {
      const block = blocks[b];
      const statistics = new Map<string, ColumnNormAccumulator>();
      const scores: Tensor[] = [];
      try {
        for (const layer of block.layers) statistics.set(layer.name, new ColumnNormAccumulator(layer.shape[1]));
        runBlockOver(runner, b, hidden, statistics as Map<string, LayerStatistic>, true, signal, progress, block);
        if (block.layers.length === 0) continue;
        for (const layer of block.layers) {
          const w = await adapter.readWeight(layer.name);
          const s = statistics.get(layer.name)!.value();
          try {
            scores.push(wandaScore(w, s));
          } finally {
            dispose([w, s]);
          }
        }
        lod.push(outlierRatio(scores, m));
        names.push(block.name);
      } finally {
        dispose(scores);
        for (const s of statistics.values()) s.dispose();
      }
    }
  } finally {
    dispose(hidden);
  }
  const perBlock = owlSparsities(lod, { sparsity: options.sparsity, lambda });
  // Blocks without prunable layers get the plain target (they prune nothing anyway).
  const sparsity = blocks.map((b) => (b.layers.length === 0 ? options.sparsity : perBlock[names.indexOf(b.name)]));
  return { blocks: blocks.map((b) => b.name), lod: blocks.map((b) => (b.layers.length === 0 ? 0 : lod[names.indexOf(b.name)])), sparsity, m, lambda };
}
