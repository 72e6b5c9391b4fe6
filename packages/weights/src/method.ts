import type { PrunableLayer, Tensor } from '@prune/core';
import type { LayerwisePlanner } from './tamp-observation.js';

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

/** What {@link PruningMethod.prepare} gets: every prunable layer and read access to its weight. */
export interface PrepareContext {
  /** Every prunable layer of the model, in execution order. */
  readonly layers: readonly PrunableLayer[];
  /** The pattern the run prunes to. */
  readonly target: SparsityTarget;
  /** Reads the current weight of `layer` as float32 `[d_out, d_in]`; the caller disposes it. */
  readWeight(layer: string): Promise<Tensor>;
  /** Aborts the pass when signalled. */
  readonly signal?: AbortSignal;
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
  /**
   * The method's options as plain JSON values, copied into the pipeline's report so a run
   * can be reproduced (e.g. `{ variant: false }`).
   * @defaultValue none (the report shows `{}`)
   */
  readonly options?: Readonly<Record<string, unknown>>;
  /**
   * A model-wide pass before any layer is pruned, for methods whose per-layer decision
   * depends on every weight (global magnitude's shared threshold). It may read weights but
   * never writes. Returns the method to use for this run (often a copy bound to what the
   * pass found), so the method object itself stays reusable.
   * @defaultValue none: layers are pruned independently
   */
  prepare?(context: PrepareContext): Promise<PruningMethod<S>>;
  /**
   * A whole-model planning step that sets each layer's target from a dense calibration pass
   * (TAMP's diversity-aware sparsity). `pruneModel` runs it when no per-layer or per-block
   * targets are given.
   * @defaultValue none: every layer gets the run's target
   */
  readonly planner?: LayerwisePlanner;
  /** Creates the statistic for `layer`; absent for data-free methods. */
  createStatistic?(layer: PrunableLayer): S;
  /**
   * Prunes `weight` (`[d_out, d_in]`) of `layer` to `target`, using `statistic` when the
   * method has one. Must not modify `weight`.
   */
  pruneLayer(layer: PrunableLayer, weight: Tensor, target: SparsityTarget, statistic: S | undefined): PrunedLayer;
  /**
   * The memory-lean form of {@link PruningMethod.pruneLayer} for data-free methods: prunes
   * the float32 `[d_out, d_in]` weights in `values` in place (no new weight, no mask) and
   * returns how many it pruned. `pruneModel` uses it when the adapter hands out host
   * (reference-backend) weights, so that pruning a checkpoint larger than memory allows
   * twice stays within a small multiple of its largest tensor. Must prune exactly the
   * weights `pruneLayer` prunes.
   * @defaultValue none: the pipeline always calls `pruneLayer`
   */
  pruneLayerInPlace?(layer: PrunableLayer, values: Float32Array, target: SparsityTarget): number;
}
