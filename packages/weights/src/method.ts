import type { PrunableLayer, Tensor } from '@prune/core';

/**
 * The sparsity pattern a layer is pruned to: unstructured at a fraction, or N:M (in every
 * group of `m` consecutive input weights of a row, `n` are pruned — the reference code's
 * "2:4" — so `m − n` are kept).
 */
export type SparsityTarget =
  | { readonly kind: 'unstructured'; readonly sparsity: number }
  | { readonly kind: 'nm'; readonly prune: number; readonly group: number };

/**
 * A calibration statistic accumulated for one layer from its inputs, streamed batch by batch
 * (e.g. Wanda's column norms, SparseGPT's Hessian).
 */
export interface LayerStatistic {
  /** Adds one batch of the layer's inputs, `[tokens, d_in]`. */
  update(input: Tensor): void;
  /** Releases the statistic's storage. */
  dispose(): void;
}

/** The result of pruning one weight matrix. */
export interface PrunedLayer {
  /** New weight `[d_out, d_in]`: zeros where pruned (and, for reconstruction methods, updated survivors). */
  readonly weight: Tensor;
  /** bool keep mask `[d_out, d_in]` (true = kept). */
  readonly mask: Tensor;
}

/**
 * A weight-pruning method as the pipeline drives it: optionally a per-layer calibration
 * statistic, then one call per layer that scores, selects and applies. Data-free methods
 * omit {@link PruningMethod.createStatistic}.
 *
 * @typeParam S - the statistic type
 */
export interface PruningMethod<S extends LayerStatistic = LayerStatistic> {
  /** Method name for reports, e.g. `wanda`. */
  readonly name: string;
  /** Creates the statistic for `layer`; absent for data-free methods. */
  createStatistic?(layer: PrunableLayer): S;
  /**
   * Prunes `weight` (`[d_out, d_in]`) of `layer` to `target`, using `statistic` when the
   * method has one. Must not modify `weight`.
   */
  pruneLayer(layer: PrunableLayer, weight: Tensor, target: SparsityTarget, statistic: S | undefined): PrunedLayer;
}
